"""Races on PostgreSQL: a double-submitted signature and two reminder runs at once."""

from __future__ import annotations

import threading

import pytest
from django.core import mail
from django.db import connection

from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.patients.models import Consent
from kapstone.patients.services import consent_document_publish
from kapstone.portal import outcome_selectors
from kapstone.portal.consent import consent_sign
from kapstone.portal.models import PortalReminder
from kapstone.portal.reminders import patient_reminders_send
from tests.portal.patient_fixtures import *  # noqa: F403 - fixtures

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL only"),
    pytest.mark.django_db(transaction=True),
]


def race(target, count=2):
    barrier = threading.Barrier(count)
    outcomes: list[object] = []

    def run():
        try:
            barrier.wait(timeout=10)
            outcomes.append(target())
        except DomainError as error:
            outcomes.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_a_signature_submitted_twice_at_once_is_recorded_once(pat, adam, clinic_a):
    document = consent_document_publish(actor=adam, clinic=clinic_a, kind="research", title="T", body="Text")
    outcomes = race(lambda: consent_sign(actor=pat, document_id=document.pk, text_sha256=document.text_sha256,
                                         typed_name="Avery Zzyzxfield", agreed=True))  # fmt: skip
    assert len([o for o in outcomes if isinstance(o, Consent)]) == 1, outcomes
    losers = [o for o in outcomes if isinstance(o, WorkflowConflict)]
    assert len(losers) == 1 and losers[0].code == "consent_already_signed"
    assert Consent.objects.filter(source="patient").count() == 1


def test_two_reminder_runs_at_once_send_one_e_mail(pat, monkeypatch, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    patient = pat.patient_account.patient
    monkeypatch.setattr(
        outcome_selectors,
        "due_for_patient",
        lambda p, today: (
            [outcome_selectors.DueQuestionnaire("phq-9", "PHQ-9", today, 1)] if p.pk == patient.pk else []
        ),
    )
    mail.outbox = []
    outcomes = race(lambda: patient_reminders_send(base_url="https://kap.example.org"))
    assert sorted(o["emailed"] for o in outcomes) == [0, 1], outcomes
    assert PortalReminder.objects.count() == 1 and len(mail.outbox) == 1
