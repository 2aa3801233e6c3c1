from django.urls import path

from kapstone.accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("login/verify/", views.mfa_verify, name="mfa_verify"),
    path("login/setup/", views.mfa_setup, name="mfa_setup"),
    path("logout/", views.logout_view, name="logout"),
    path("password/", views.password_change, name="password_change"),
]
