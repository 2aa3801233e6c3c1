"""The public pre-screen and referral API (no token) and the clinic's referral queue API."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from kapstone.audit.models import AuditEvent
from kapstone.portal.models import Referral
from tests.api.test_patients_api import Api
from tests.portal.conftest import CONTACT, answers

pytestmark = pytest.mark.django_db

PUBLIC = Api()


def referral_body(clinic, **overrides):
    body = {
        "clinic_id": clinic.pk,
        "answers": answers(region="NY"),
        "contact": {"name": CONTACT["name"], "email": CONTACT["email"]},
        "consent_to_contact": True,
    }
    body.update(overrides)
    return body


def test_prescreen_gives_the_pinned_keys_and_stores_nothing(profiles, clinic_a):
    before = (AuditEvent.objects.count(), Referral.objects.count())
    response = PUBLIC.post("/public/prescreen", {"answers": answers(region="NY", language="es")})
    assert response.status_code == 200
    payload = response.json()
    assert set(payload) == {"result", "crisis", "reasons", "matches"}
    assert payload["result"] == "may_be_suitable" and payload["crisis"] is False
    (match,) = payload["matches"]
    assert set(match) == {"clinic_id", "clinic_name", "protocols", "why", "wait_weeks"}
    assert match["clinic_id"] == clinic_a.pk and "speaks Spanish" in match["why"]
    assert (AuditEvent.objects.count(), Referral.objects.count()) == before
    assert not response.cookies


def test_not_suitable_has_no_matches_and_crisis_is_flagged(profiles):
    payload = PUBLIC.post("/public/prescreen", {"answers": answers(ketamine_allergy=True)}).json()
    assert (payload["result"], payload["matches"]) == ("not_suitable", [])
    assert [r["code"] for r in payload["reasons"]] == ["ketamine_allergy"]
    urgent = PUBLIC.post("/public/prescreen", {"answers": answers(self_harm="now")}).json()
    assert (urgent["result"], urgent["crisis"]) == ("urgent_help", True)


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"answers": answers(age_years=None)}, "missing_answer", "age_years"),
        ({"answers": answers(favourite="x")}, "unknown_answer", "favourite"),
        ({"answers": answers(substances=[])}, "invalid_answer", "substances"),
        ({"answers": "yes"}, "invalid_answer", "answers"),
        ({"answers": answers(), "extra": 1}, "unknown_field", "extra"),
    ],
)
def test_prescreen_errors(profiles, body, code, field):
    response = PUBLIC.post("/public/prescreen", body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field)


def test_a_referral_returns_a_short_reference_not_the_id(profiles, clinic_a):
    response = PUBLIC.post("/public/referrals", referral_body(clinic_a))
    assert response.status_code == 201
    reference = response.json()["reference"]
    referral = Referral.objects.get()
    assert reference == referral.reference and reference.startswith("R-") and len(reference) == 8
    assert set(response.json()) == {"reference"}


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"consent_to_contact": False}, 422, "consent_required"),
        ({"consent_to_contact": None}, 422, "consent_required"),
        ({"contact": {"name": "Robin"}}, 422, "contact_required"),
        ({"contact": None}, 422, "name_required"),
        ({"answers": answers(psychosis_history=True)}, 409, "not_suitable"),
        ({"answers": answers(age_years=None)}, 422, "missing_answer"),
        ({"clinic_id": 424242}, 409, "clinic_not_accepting"),
        ({"clinic_id": None}, 422, "clinic_not_accepting"),
    ],
)
def test_referral_refusals_store_nothing(profiles, clinic_a, overrides, status, code):
    audit_before = AuditEvent.objects.count()
    response = PUBLIC.post("/public/referrals", referral_body(clinic_a, **overrides))
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert Referral.objects.count() == 0 and AuditEvent.objects.count() == audit_before


def test_not_suitable_refusal_gives_the_reasons(profiles, clinic_a):
    response = PUBLIC.post("/public/referrals", referral_body(clinic_a, answers=answers(age_years=16)))
    assert "adults" in response.json()["error"]["message"]


@override_settings(REFERRAL_RATE_PER_HOUR=10)
def test_the_eleventh_referral_in_an_hour_gets_429(profiles, clinic_a):
    for _ in range(10):
        assert PUBLIC.post("/public/referrals", referral_body(clinic_a)).status_code == 201
    response = PUBLIC.post("/public/referrals", referral_body(clinic_a))
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert Referral.objects.count() == 10


def test_malformed_json_is_refused_with_the_error_shape(profiles):
    response = PUBLIC.post("/public/referrals", "{oops", raw=True)
    assert response.status_code in (400, 422)
    assert "error" in response.json()


# --- Staff queue ------------------------------------------------------------------------------------


def test_the_queue_lists_the_clinics_referrals_with_the_pinned_keys(
    profiles, clinic_a, clinic_b, nina, carol
):
    PUBLIC.post("/public/referrals", referral_body(clinic_a))
    PUBLIC.post("/public/referrals", referral_body(clinic_b, answers=answers(region="NJ")))
    rows = Api(nina).get("/referrals").json()
    assert len(rows) == 1
    assert set(rows[0]) == {
        "id",
        "reference",
        "status",
        "result",
        "reasons",
        "created_at",
        "contact",
        "overdue",
    }
    assert rows[0]["contact"]["name"] == CONTACT["name"] and rows[0]["overdue"] is False
    assert Api(nina).get("/referrals", status="contacted").json() == []
    assert [r["status"] for r in Api(carol).get("/referrals").json()] == ["new"]
    assert AuditEvent.objects.filter(actor=nina, object_type="referral_list").count() == 2


def test_status_change_other_clinic_404_and_researcher_403(profiles, clinic_a, nina, carol, bob):
    PUBLIC.post("/public/referrals", referral_body(clinic_a))
    referral = Referral.objects.get()
    response = Api(carol).post(f"/referrals/{referral.pk}/status", {"to": "contacted"})
    assert response.status_code == 404 and CONTACT["name"] not in response.content.decode()
    assert Api(bob).get("/referrals").status_code == 403
    assert Api(bob).post(f"/referrals/{referral.pk}/status", {"to": "contacted"}).status_code == 403
    response = Api(nina).post(f"/referrals/{referral.pk}/status", {"to": "declined"})
    assert (response.status_code, response.json()["error"]["code"]) == (422, "reason_required")
    response = Api(nina).post(f"/referrals/{referral.pk}/status", {"to": "contacted"})
    assert response.status_code == 200 and response.json()["status"] == "contacted"
    referral.refresh_from_db()
    assert referral.status == "contacted"
    response = Api(nina).post(f"/referrals/{referral.pk}/status", {"to": "new"})
    assert (response.status_code, response.json()["error"]["code"]) == (409, "invalid_transition")


def test_the_openapi_schema_lists_the_public_operations_without_security():
    schema = json.loads(Api().get("/openapi.json").content)
    operation = schema["paths"]["/api/v1/public/prescreen"]["post"]
    assert not operation.get("security")


def test_convert_with_only_an_mrn_opens_the_record_and_a_screening_draft(
    profiles, clinic_a, nina, carol, bob
):
    from kapstone.patients.models import Patient
    from kapstone.screening.models import ScreeningDraft

    PUBLIC.post("/public/referrals", referral_body(clinic_a))
    referral = Referral.objects.get()
    assert Api(carol).post(f"/referrals/{referral.pk}/convert", {"mrn": "A-8001"}).status_code == 404
    assert Api(bob).post(f"/referrals/{referral.pk}/convert", {"mrn": "A-8001"}).status_code == 403
    response = Api(nina).post(f"/referrals/{referral.pk}/convert", {"mrn": "A-8001"})
    assert response.status_code == 200, response.content
    payload = response.json()
    assert set(payload) == {"patient_id", "screening_id"}
    patient = Patient.objects.get(pk=payload["patient_id"])
    assert (patient.mrn, patient.birth_date_estimated) == ("A-8001", True)
    assert ScreeningDraft.objects.get(pk=payload["screening_id"]).patient_id == patient.pk
    again = Api(nina).post(f"/referrals/{referral.pk}/convert", {"mrn": "A-8002"})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "referral_not_convertible")
    assert Patient.objects.count() == 1
