"""A self-harm alert raised by a patient's own answers from home is e-mailed to the clinic's
clinicians when it is committed (no one from the clinic was with the patient), with no PHI.

Found when the portal's questionnaires landed: the alert only showed on lists a clinician might not
open over a weekend."""

from __future__ import annotations

import pytest
from django.core import mail

from kapstone.accounts.models import Role, User
from kapstone.audit.models import AuditEvent
from kapstone.outcomes.models import ClinicalFlag
from kapstone.outcomes.services import questionnaire_record
from tests.api.test_patients_api import Api
from tests.conftest import make_user
from tests.portal.outcome_fixtures import PHQ9_CALM, PHQ9_ITEM9, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(clinic_a, clinic_b, alice, nina, terry, adam, bob):
    """Clinic A's clinicians have addresses; its admin and researcher, and clinic B, are not told."""
    for user in (alice, nina, terry, adam, bob):
        User.objects.filter(pk=user.pk).update(email=f"{user.username}@clinic-a.example.org")
    away = make_user("away", clinic_a, Role.NURSE)
    User.objects.filter(pk=away.pk).update(email="away@clinic-a.example.org", is_active=False)
    other = make_user("other_clinic_nurse", clinic_b, Role.NURSE)
    User.objects.filter(pk=other.pk).update(email="nurse@clinic-b.example.org")
    return ["alice@clinic-a.example.org", "nina@clinic-a.example.org", "terry@clinic-a.example.org"]


def test_the_api_answer_with_item_9_tells_each_clinician_without_phi(
    pat, pat_course, patient_a, team, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = Api(pat).post("/portal/questionnaires", {"instrument": "phq-9", "answers": PHQ9_ITEM9})
    assert response.status_code == 201
    assert sorted(address for message in mail.outbox for address in message.to) == team
    assert all(len(message.to) == 1 for message in mail.outbox)  # colleagues' addresses not shared
    message = mail.outbox[0]
    assert message.subject == "Kapstone: an alert needs a clinician at Clinic A"
    assert "http://testserver/flags/" in message.body and "988" in message.body
    for value in (patient_a.given_name, patient_a.family_name, patient_a.mrn, "PHQ", "item 9", "ending"):
        assert value not in message.subject and value not in message.body, value
    flag = ClinicalFlag.objects.get(response_id=response.json()["id"])
    event = AuditEvent.objects.get(object_type="clinical_flag_notification")
    assert (event.object_id, event.patient_id, event.actor_label) == (
        str(flag.pk),
        patient_a.pk,
        "alert_notification",
    )
    assert event.detail == {"code": "self-harm-risk", "recipients": 3}


def test_the_page_answer_with_item_9_tells_the_clinicians_too(
    pat, pat_course, team, django_capture_on_commit_callbacks
):
    form = {f"item_{i}": str(v) for i, v in enumerate(PHQ9_ITEM9, start=1)}
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(pat).post("/portal/questionnaires/phq-9/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert len(mail.outbox) == 3


def test_no_item_9_no_message(pat, pat_course, team, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            Api(pat).post("/portal/questionnaires", {"instrument": "phq-9", "answers": PHQ9_CALM}).status_code
            == 201
        )
    assert (
        mail.outbox == [] and not AuditEvent.objects.filter(object_type="clinical_flag_notification").exists()
    )


def test_staff_entry_sends_nothing(nina, patient_a, team, django_capture_on_commit_callbacks):
    """The clinician entering the answers is with the patient; the alert opens as before."""
    with django_capture_on_commit_callbacks(execute=True):
        response = questionnaire_record(actor=nina, patient=patient_a, instrument="phq-9", answers=PHQ9_ITEM9)
    assert ClinicalFlag.objects.filter(response=response).count() == 1
    assert mail.outbox == []
