from django.urls import path

from kapstone.portal import account_views, outcome_views, patient_views, public_views

app_name = "portal"

urlpatterns = [
    path("start/", public_views.start, name="start"),
    path("start/contact/", public_views.contact, name="contact"),
    path("start/privacy/", public_views.privacy, name="privacy"),
    path("portal/", patient_views.home, name="home"),
    path("portal/sessions/", patient_views.sessions, name="sessions"),
    path("portal/consents/", patient_views.consents, name="consents"),
    path("portal/consents/<slug:kind>/", patient_views.consent, name="consent"),
    path("portal/settings/", patient_views.portal_settings, name="settings"),
    path("portal/invitation/<str:token>/", account_views.invitation, name="invitation"),
    path("portal/questionnaires/", outcome_views.questionnaires, name="questionnaires"),
    path("portal/questionnaires/<slug:instrument>/", outcome_views.questionnaire, name="questionnaire"),
    path(
        "portal/questionnaires/<slug:instrument>/done/",
        outcome_views.questionnaire_done,
        name="questionnaire_done",
    ),
    path("portal/calendar/", outcome_views.calendar, name="calendar"),
    path("portal/progress/", outcome_views.progress, name="progress"),
]
