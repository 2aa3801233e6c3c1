from django.urls import path

from kapstone.portal import account_views

app_name = "portal_accounts"

urlpatterns = [
    path("invite/", account_views.invite, name="invite"),
    path("disable/", account_views.disable, name="disable"),
]
