"""E-mail reminders to patients: no PHI, once per thing, honouring the opt-out."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.management import call_command

from kapstone.audit.models import AuditEvent
from kapstone.care.models import CareSession
from kapstone.patients.services import clinic_today
from kapstone.portal import outcome_selectors
from kapstone.portal.models import PatientAccount, PortalReminder
from kapstone.portal.patient_services import portal_reminders_set
from kapstone.portal.reminders import patient_reminders_send
from tests.portal.patient_fixtures import *  # noqa: F403 - fixtures
from tests.portal.patient_fixtures import ROOMS

pytestmark = pytest.mark.django_db
BASE = "https://kap.example.org/"


@pytest.fixture
def phq9_due(monkeypatch, pat):
    patient = pat.patient_account.patient

    def due(p, today):
        return [outcome_selectors.DueQuestionnaire("phq-9", "PHQ-9", today, 1)] if p.pk == patient.pk else []

    monkeypatch.setattr(outcome_selectors, "due_for_patient", due)


@pytest.fixture
def nothing_due(monkeypatch):
    """For tests of session reminders: no questionnaire open (the fixture patient's baseline
    questionnaires are open until the first ketamine session)."""
    monkeypatch.setattr(outcome_selectors, "due_for_patient", lambda p, today: [])


def test_the_baseline_questionnaires_open_are_reminded(pat, django_capture_on_commit_callbacks):
    """The real schedule, not a stand-in: the fixture patient's course starts with a baseline."""
    patient = pat.patient_account.patient
    due = outcome_selectors.due_for_patient(patient, clinic_today(patient.clinic))
    assert due and all(d.time_point_months == 0 for d in due)
    summary = send(django_capture_on_commit_callbacks)
    assert (summary["emailed"], summary["reminders"]) == (1, len(due))
    (message,) = mail.outbox
    assert message.subject == "You have something to fill in at Clinic A"


def session_tomorrow(user):
    patient = user.patient_account.patient
    session = CareSession.objects.get(patient=patient, room=ROOMS[user.username.split("@")[0]])
    session.scheduled_date = clinic_today(patient.clinic) + timedelta(days=1)
    session.save(update_fields=["scheduled_date"])
    return session


def send(capture, **kwargs):
    with capture(execute=True):
        return patient_reminders_send(base_url=BASE, **kwargs)


def phi_of(user) -> list[str]:
    patient = user.patient_account.patient
    values = [
        patient.given_name,
        patient.family_name,
        patient.mrn,
        "PHQ",
        "phq",
        "Ketamine",
        "ketamine",
        "09:30",
    ]
    session = CareSession.objects.get(patient=patient, room=ROOMS[user.username.split("@")[0]])
    return [*values, session.scheduled_date.isoformat(), f"{session.scheduled_date.day} "]


def test_a_due_questionnaire_is_e_mailed_once_without_phi(pat, phq9_due, django_capture_on_commit_callbacks):
    summary = send(django_capture_on_commit_callbacks)
    assert summary == {"accounts": 1, "emailed": 1, "reminders": 1, "opted_out": 0}
    (message,) = mail.outbox
    assert message.to == ["pat@example.org"]
    assert message.subject == "You have something to fill in at Clinic A"
    assert "https://kap.example.org/portal/" in message.body
    for value in phi_of(pat):
        assert value not in message.subject and value not in message.body, value
    event = AuditEvent.objects.get(object_type="portal_reminder")
    assert event.actor_id is None and event.actor_label == "send_reminders"
    assert event.patient_id == pat.patient_account.patient_id and event.detail == {
        "reminders": 1,
        "kinds": ["questionnaire"],
    }
    # Again the same day (or an hour later): nothing new, nothing sent.
    assert send(django_capture_on_commit_callbacks)["emailed"] == 0
    assert len(mail.outbox) == 1 and PortalReminder.objects.count() == 1


def test_the_day_before_a_session_without_phi(pat, nothing_due, django_capture_on_commit_callbacks):
    session_tomorrow(pat)
    send(django_capture_on_commit_callbacks)
    (message,) = mail.outbox
    assert message.subject == "A reminder from Clinic A"
    assert "how to prepare" in message.body
    for value in phi_of(pat):
        assert value not in message.subject and value not in message.body, value
    assert PortalReminder.objects.get().item.startswith("session:")
    send(django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1


def test_nothing_due_nothing_sent(pat, nothing_due, django_capture_on_commit_callbacks):
    assert send(django_capture_on_commit_callbacks) == {
        "accounts": 0,
        "emailed": 0,
        "reminders": 0,
        "opted_out": 0,
    }
    assert mail.outbox == []


def test_the_opt_out_is_honoured(pat, phq9_due, django_capture_on_commit_callbacks):
    session_tomorrow(pat)
    portal_reminders_set(actor=pat, enabled=False)
    summary = send(django_capture_on_commit_callbacks)
    assert summary["opted_out"] == 1 and summary["emailed"] == 0
    assert mail.outbox == [] and PortalReminder.objects.count() == 0
    # Turned on again: what is still due is sent.
    portal_reminders_set(actor=pat, enabled=True)
    assert send(django_capture_on_commit_callbacks)["reminders"] == 2
    (message,) = mail.outbox
    assert message.subject == "You have something to fill in at Clinic A"


def test_a_disabled_account_gets_nothing(pat, phq9_due, django_capture_on_commit_callbacks):
    from django.utils import timezone

    PatientAccount.objects.filter(user=pat).update(disabled_at=timezone.now(), disabled_reason="Left")
    send(django_capture_on_commit_callbacks)
    assert mail.outbox == []


def test_a_session_of_a_paused_course_is_not_reminded(
    pat, alice, nothing_due, django_capture_on_commit_callbacks
):
    from kapstone.care.services import course_change_status

    session = session_tomorrow(pat)
    course_change_status(actor=alice, course=session.course, action="pause", reason="Unwell")
    send(django_capture_on_commit_callbacks)
    assert mail.outbox == []


def test_in_the_patients_language(pat, phq9_due, django_capture_on_commit_callbacks):
    PatientAccount.objects.filter(user=pat).update(language="es")
    send(django_capture_on_commit_callbacks)
    assert mail.outbox[0].subject == "Tiene algo que completar en Clinic A"


def test_tomorrow_is_the_clinics_tomorrow(pat, nothing_due, django_capture_on_commit_callbacks):
    session = session_tomorrow(pat)
    zone = ZoneInfo(pat.patient_account.patient.clinic.timezone)
    # Late in the evening two days before, it is not yet "the day before" at the clinic.
    before = datetime.combine(session.scheduled_date - timedelta(days=2), time(23, 30), tzinfo=zone)
    assert send(django_capture_on_commit_callbacks, now=before)["emailed"] == 0
    on_the_day_before = datetime.combine(session.scheduled_date - timedelta(days=1), time(0, 30), tzinfo=zone)
    assert send(django_capture_on_commit_callbacks, now=on_the_day_before)["emailed"] == 1


def test_dry_run_sends_and_stores_nothing(pat, phq9_due, django_capture_on_commit_callbacks):
    assert send(django_capture_on_commit_callbacks, dry_run=True)["emailed"] == 1
    assert mail.outbox == [] and PortalReminder.objects.count() == 0
    assert AuditEvent.objects.filter(object_type="portal_reminder").count() == 0


def test_the_command_covers_patients(pat, phq9_due, django_capture_on_commit_callbacks, capsys):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("send_reminders", "--json", "--base-url", BASE)
    result = json.loads(capsys.readouterr().out)
    assert result["patients"] == {"accounts": 1, "emailed": 1, "reminders": 1, "opted_out": 0}
    assert [m.to for m in mail.outbox] == [["pat@example.org"]]
    with django_capture_on_commit_callbacks(execute=True):
        call_command("send_reminders")
    assert "patients: accounts 0, emailed 0" in capsys.readouterr().out
    assert len(mail.outbox) == 1
