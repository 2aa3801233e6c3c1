"""The patient's home page, their sessions and their settings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kapstone.audit.models import AuditEvent
from kapstone.care.models import CareSession
from kapstone.care.services import course_change_status
from kapstone.patients.services import clinic_today
from kapstone.portal import outcome_selectors
from kapstone.portal.models import PatientAccount
from tests.portal.patient_fixtures import *  # noqa: F403 - fixtures
from tests.portal.patient_fixtures import ROOMS, leaks, portal_client

pytestmark = pytest.mark.django_db

PAGES = [
    "/portal/",
    "/portal/sessions/",
    "/portal/consents/",
    "/portal/consents/research/",
    "/portal/settings/",
]


def due_today(monkeypatch, patient, today=None):
    """Make a PHQ-9 due for ``patient`` (the questionnaire helper's selector is stubbed here)."""

    def fake(p, day):
        if p.pk != patient.pk:
            return []
        return [outcome_selectors.DueQuestionnaire("phq-9", "PHQ-9 (mood)", today or day, 1)]

    monkeypatch.setattr(outcome_selectors, "due_for_patient", fake)


def test_home_shows_the_next_session_its_preparation_and_what_is_due(pat, monkeypatch):
    patient = pat.patient_account.patient
    due_today(monkeypatch, patient)
    page = portal_client(pat).get("/portal/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Hello, Avery" in text
    assert "Ketamine session" in text and "09:30" in text and ROOMS["pat"] in text
    session = CareSession.objects.get(patient=patient, room=ROOMS["pat"])
    assert session.scheduled_date.strftime("%A") in text
    # The preparation: from the protocol (6 h, 2 h) and the clinic's line.
    assert "no food after 03:30" in text and "until 07:30" in text
    assert "adult to take you home" in text and "until the next day" in text
    assert "Call 555-0100, weekdays 9–5." in text
    assert "Fill in the questionnaire “PHQ-9 (mood)”" in text
    # No dose, no notes, nothing clinical beyond the session.
    assert "mg/kg" not in text and "mg" not in text.split("Ketamine session")[1][:200]
    event = AuditEvent.objects.filter(object_type="portal_home").latest("id")
    assert (event.actor_id, event.patient_id, event.action) == (pat.pk, patient.pk, "read")


def test_home_without_a_booked_session(pat):
    patient = pat.patient_account.patient
    course = patient.courses.get()
    course_change_status(actor=patient.created_by, course=course, action="pause", reason="Travelling")
    text = portal_client(pat).get("/portal/").content.decode()
    assert "No session is booked for you at the moment" in text
    assert ROOMS["pat"] not in text


def test_home_in_spanish(pat):
    PatientAccount.objects.filter(user=pat).update(language="es")
    text = portal_client(pat).get("/portal/").content.decode()
    assert 'lang="es"' in text
    assert "Hola, Avery" in text and "Sesión de ketamina" in text
    assert "No coma nada durante las 6 horas antes de su sesión: nada de comida después de las 03:30." in text


def test_sessions_lists_upcoming_and_past_in_words_without_notes_or_doses(pat):
    patient = pat.patient_account.patient
    page = portal_client(pat).get("/portal/sessions/")
    assert page.status_code == 200
    text = page.content.decode()
    upcoming, past = text.split("Earlier and cancelled sessions")
    assert "Ketamine session" in upcoming and "Booked" in upcoming and ROOMS["pat"] in upcoming
    assert "Integration session" in upcoming
    # The preparation session three days ago was never recorded by the clinic.
    assert "Preparation session" in past and "Waiting for the clinic to update" in past
    assert "mg/kg" not in text and "dose" not in text.lower()
    assert "scheduled" not in text  # the clinic's codes stay off the page
    assert CareSession.objects.filter(patient=patient).count() == 10
    assert text.count('data-testid="upcoming-session"') == 9
    event = AuditEvent.objects.filter(object_type="portal_sessions").latest("id")
    assert (event.actor_id, event.patient_id) == (pat.pk, patient.pk)


def test_a_withdrawn_course_has_no_sessions_ahead(pat):
    patient = pat.patient_account.patient
    course_change_status(
        actor=patient.created_by, course=patient.courses.get(), action="withdraw", reason="Moved"
    )
    text = portal_client(pat).get("/portal/sessions/").content.decode()
    # Ending a course cancels its booked sessions (tests/care/test_course_end.py).
    assert 'data-testid="upcoming-session"' not in text and "Cancelled" in text


@pytest.mark.parametrize("url", PAGES)
def test_every_page_needs_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", PAGES)
def test_staff_are_refused(as_user, alice, url, pat):
    response = as_user(alice).get(url)
    assert response.status_code == 403
    assert b"Zzyzxfield" not in response.content and ROOMS["pat"].encode() not in response.content


@pytest.mark.parametrize("url", PAGES)
def test_a_patient_never_sees_another_patients_data(pat, quinn, bea, url):
    for viewer, others in ((pat, (quinn, bea)), (quinn, (pat, bea)), (bea, (pat, quinn))):
        response = portal_client(viewer).get(url)
        assert response.status_code == 200, (viewer, url)
        assert leaks(response.content, *others) == [], (viewer.username, url)


def test_a_disabled_account_is_refused(pat):
    PatientAccount.objects.filter(user=pat).update(disabled_at=timezone.now(), disabled_reason="Test")
    assert portal_client(pat).get("/portal/").status_code == 403


# --- Settings ---------------------------------------------------------------------------------


def test_settings_turn_reminders_off_and_choose_spanish(pat):
    client = portal_client(pat)
    page = client.get("/portal/settings/")
    assert page.status_code == 200 and b'name="reminders"' in page.content and b"checked" in page.content
    before = AuditEvent.objects.filter(object_type="portal_account", actor=pat).count()
    response = client.post("/portal/settings/", {"language": "es"})  # reminders unticked
    assert response.status_code == 302
    account = PatientAccount.objects.get(user=pat)
    assert (account.reminders_enabled, account.language) == (False, "es")
    assert AuditEvent.objects.filter(object_type="portal_account", actor=pat).count() == before + 2
    page = client.get(response["Location"]).content.decode()
    assert "Se guardó su configuración." in page and 'lang="es"' in page


@pytest.mark.parametrize("language", ["fr", "", "e" * 500])
def test_settings_refuse_an_unknown_language_keep_the_input_and_write_nothing(pat, language):
    before = AuditEvent.objects.filter(object_type="portal_account", action="update").count()
    response = portal_client(pat).post("/portal/settings/", {"language": language, "reminders": "on"})
    assert response.status_code == 400
    text = response.content.decode()
    assert "Choose English or Spanish." in text or "This field is required." in text
    assert 'name="reminders"' in text and "checked" in text.split('name="reminders"')[1][:80]
    account = PatientAccount.objects.get(user=pat)
    assert (account.reminders_enabled, account.language) == (True, "en")
    assert AuditEvent.objects.filter(object_type="portal_account", action="update").count() == before


def test_the_settings_read_is_audited(pat):
    portal_client(pat).get("/portal/settings/")
    assert AuditEvent.objects.filter(object_type="portal_settings", actor=pat).count() == 1


def test_times_are_the_clinics_and_the_next_session_follows_the_clock(pat):
    patient = pat.patient_account.patient
    session = CareSession.objects.get(patient=patient, room=ROOMS["pat"])
    assert session.scheduled_date == clinic_today(patient.clinic) + timedelta(days=4)
