from django.urls import path

from kapstone.patients import views

app_name = "patients"

urlpatterns = [
    path("", views.patient_list, name="list"),
    path("new/", views.patient_create, name="create"),
    path("<int:patient_id>/", views.patient_chart, name="chart"),
    path("<int:patient_id>/amend/", views.patient_amend, name="amend"),
    path("<int:patient_id>/versions/", views.patient_versions, name="versions"),
    path("<int:patient_id>/measurements/new/", views.measurement_add, name="measurement_add"),
    path(
        "<int:patient_id>/measurements/<int:measurement_id>/void/",
        views.measurement_void,
        name="measurement_void",
    ),
    path("<int:patient_id>/liver-tests/new/", views.liver_test_add, name="liver_test_add"),
    path(
        "<int:patient_id>/liver-tests/<int:liver_test_id>/void/",
        views.liver_test_void,
        name="liver_test_void",
    ),
    path("<int:patient_id>/diagnoses/new/", views.diagnosis_add, name="diagnosis_add"),
    path("<int:patient_id>/diagnoses/<int:diagnosis_id>/void/", views.diagnosis_void, name="diagnosis_void"),
    path("<int:patient_id>/consents/new/", views.consent_add, name="consent_add"),
]
