"""``GET /api/v1/portal/me``: the patient's own record, sessions and what is due, and nobody else's."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from kapstone.audit.models import AuditEvent
from kapstone.care.models import CareSession
from kapstone.patients.services import clinic_today
from kapstone.portal import outcome_selectors
from tests.api.test_patients_api import Api, error_of
from tests.portal.patient_fixtures import *  # noqa: F403 - fixtures
from tests.portal.patient_fixtures import ROOMS

pytestmark = pytest.mark.django_db


def test_me_gives_the_record_sessions_with_their_preparation_and_what_is_due(pat, monkeypatch):
    patient = pat.patient_account.patient
    monkeypatch.setattr(
        outcome_selectors,
        "due_for_patient",
        lambda p, today: (
            [outcome_selectors.DueQuestionnaire("phq-9", "PHQ-9", today, 1)] if p.pk == patient.pk else []
        ),
    )
    response = Api(pat).get("/portal/me")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"patient", "sessions", "due"}
    assert body["patient"] == {
        "mrn": "A-1001",
        "given_name": "Avery",
        "family_name": "Zzyzxfield",
        "clinic": "Clinic A",
    }
    assert len(body["sessions"]) == 10
    assert all(set(s) == {"id", "kind", "starts_at", "status", "instructions"} for s in body["sessions"])
    dosing = next(s for s in body["sessions"] if s["kind"] == "dosing")
    session = CareSession.objects.get(pk=dosing["id"])
    assert session.room == ROOMS["pat"] and dosing["status"] == "booked"
    assert dosing["starts_at"].startswith(f"{session.scheduled_date.isoformat()}T09:30:00")
    assert dosing["starts_at"][-6:] in ("-05:00", "-04:00", "+00:00")  # the clinic's offset
    codes = [i["code"] for i in dosing["instructions"]]
    assert codes[0] == "no_food" and "escort" in codes and codes[-1] == "contact"
    assert all(set(i) == {"code", "text"} for i in dosing["instructions"])
    first = body["sessions"][0]
    assert (
        first["kind"] == "preparation"
        and first["status"] == "awaiting_record"
        and first["instructions"] == []
    )
    assert len(first["starts_at"]) == 10  # no time booked: the date alone
    today = clinic_today(patient.clinic).isoformat()
    assert body["due"] == [{"instrument": "phq-9", "due_date": today, "time_point": 1}]
    assert "mg_per_kg" not in response.content.decode() and "dose" not in response.content.decode()
    event = AuditEvent.objects.filter(object_type="portal_me").latest("id")
    assert (event.actor_id, event.patient_id) == (pat.pk, patient.pk)


def test_me_is_each_patients_own(pat, quinn, bea):
    for user, mrn in ((pat, "A-1001"), (quinn, "A-1077"), (bea, "B-2001")):
        body = Api(user).get("/portal/me").json()
        assert body["patient"]["mrn"] == mrn
        own = set(
            CareSession.objects.filter(patient=user.patient_account.patient).values_list("pk", flat=True)
        )
        assert {s["id"] for s in body["sessions"]} == own


def test_me_needs_a_token_and_refuses_staff(alice, pat):
    assert error_of(Api().get("/portal/me"))["code"] == "unauthorized"
    response = Api(alice).get("/portal/me")
    assert response.status_code == 403 and error_of(response)["code"] == "forbidden"
    assert b"Zzyzxfield" not in response.content
    assert (
        AuditEvent.objects.filter(actor=alice, outcome="denied", object_type="api", object_id="me").count()
        == 1
    )


def test_a_patients_token_reaches_nothing_else(pat, patient_a):
    api = Api(pat)
    for path in ("/patients", f"/patients/{patient_a.pk}", "/sessions", "/referrals", "/audit/events"):
        assert api.get(path).status_code == 403, path


def test_other_methods_are_refused(pat):
    response = Api(pat).post("/portal/me", {})
    assert response.status_code == 405


def test_the_token_command_prints_a_token_the_portal_api_accepts(pat):
    out = StringIO()
    call_command("token", "create", pat.username, stdout=out)
    token = out.getvalue().strip()
    assert Api(token=token).get("/portal/me").json()["patient"]["mrn"] == "A-1001"
