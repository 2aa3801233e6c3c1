from django.urls import path

from kapstone.screening import views

app_name = "screening"

urlpatterns = [
    path("patients/<int:patient_id>/screenings/", views.screening_list, name="list"),
    path("patients/<int:patient_id>/screenings/new/", views.screening_new, name="new"),
    path("screenings/<int:screening_id>/sign-off/", views.screening_sign_off, name="sign_off"),
]
