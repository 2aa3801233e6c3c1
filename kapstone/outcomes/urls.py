from django.urls import path

from kapstone.outcomes import views

app_name = "outcomes"

urlpatterns = [
    path("patients/<int:patient_id>/questionnaires/", views.questionnaire_list, name="questionnaires"),
    path(
        "patients/<int:patient_id>/questionnaires/new/<slug:instrument>/",
        views.questionnaire_new,
        name="questionnaire_new",
    ),
    path("patients/<int:patient_id>/use-calendar/", views.use_calendar, name="use_calendar"),
    path("patients/<int:patient_id>/urine-tests/", views.toxicology, name="tests"),
    path("flags/", views.flag_list, name="flags"),
    path("flags/cssrs-time/", views.cssrs_due_hours, name="cssrs_due_hours"),
    path("flags/<int:flag_id>/acknowledge/", views.flag_acknowledge, name="flag_acknowledge"),
    path("follow-ups/", views.follow_up_list, name="follow_ups"),
    path("courses/<int:course_id>/follow-ups/<int:months>/", views.follow_up_record, name="follow_up_record"),
]
