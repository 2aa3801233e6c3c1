from django.urls import path

from kapstone.monitoring import views

app_name = "monitoring"

urlpatterns = [
    path("monitoring/", views.board, name="board"),
    path("monitoring/changes/", views.board_poll, name="board_poll"),
    path("sessions/<int:session_id>/vitals/", views.vitals_entry, name="vitals"),
    path("sessions/<int:session_id>/observations/", views.recorded_values, name="recorded_values"),
    path(
        "sessions/<int:session_id>/observations/<int:observation_id>/void/",
        views.observation_void,
        name="observation_void",
    ),
    path("sessions/<int:session_id>/discharge/", views.discharge, name="discharge"),
    path("sessions/<int:session_id>/aldrete/", views.aldrete_record, name="aldrete"),
    path("sessions/<int:session_id>/cadss/", views.cadss_record, name="cadss"),
    path(
        "sessions/<int:session_id>/dissociation-resolved/",
        views.dissociation_attest,
        name="dissociation_attest",
    ),
    path("alerts/<int:alert_id>/acknowledge/", views.alert_acknowledge, name="acknowledge"),
]
