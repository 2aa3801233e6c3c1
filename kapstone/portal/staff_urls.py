from django.urls import path

from kapstone.portal import views

app_name = "referrals"

urlpatterns = [
    path("", views.referral_list, name="list"),
    path("<int:referral_id>/", views.referral_detail, name="detail"),
    path("<int:referral_id>/status/", views.referral_status, name="status"),
    path("<int:referral_id>/convert/", views.referral_convert, name="convert"),
    path("profile/", views.service_profile, name="profile"),
]
