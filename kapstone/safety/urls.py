from django.urls import path

from kapstone.safety import views

app_name = "safety"

urlpatterns = [
    path("safety/", views.serious_list, name="serious_list"),
    path("patients/<int:patient_id>/adverse-events/", views.patient_events, name="patient_events"),
    path("patients/<int:patient_id>/adverse-events/new/", views.event_report, name="report"),
    path("adverse-events/<int:event_id>/", views.event_detail, name="event"),
    path("adverse-events/<int:event_id>/update/", views.event_update, name="event_update"),
    path("adverse-events/<int:event_id>/review/", views.event_review, name="review"),
    path("adverse-events/<int:event_id>/close/", views.event_close, name="close"),
    path("patients/<int:patient_id>/dependence/", views.dependence, name="dependence"),
    path(
        "patients/<int:patient_id>/dependence/extra-session-request/",
        views.extra_session_request,
        name="extra_request",
    ),
    path("patients/<int:patient_id>/dependence/craving/", views.craving, name="craving"),
    path("patients/<int:patient_id>/dependence/misuse/", views.misuse, name="misuse"),
    path("patients/<int:patient_id>/dependence/decision/", views.decision, name="decision"),
    path("patients/<int:patient_id>/safety-plans/", views.safety_plans, name="safety_plans"),
]
