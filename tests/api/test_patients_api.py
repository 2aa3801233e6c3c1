"""The patients API: bearer tokens, scoping, the error shape, audit."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from kapstone.accounts.models import ApiToken
from kapstone.accounts.services import api_token_create, api_token_revoke, membership_set
from kapstone.audit.models import AuditEvent
from kapstone.patients.models import BodyMeasurement, Patient
from tests.conftest import audit_count

pytestmark = pytest.mark.django_db

VALID = {
    "mrn": "A-5001",
    "given_name": "Sage",
    "family_name": "Underhillow",
    "birth_date": "1969-12-01",
    "sex": "female",
    "weight_kg": 64.2,
}


class Api:
    def __init__(self, user=None, token: str | None = None) -> None:
        self.client = Client()
        if token is None and user is not None:
            _, token = api_token_create(actor=None, user=user)
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def get(self, path: str, **params):
        return self.client.get("/api/v1" + path, params, **self.headers)

    def post(self, path: str, body, raw: bool = False):
        data = body if raw else json.dumps(body)
        return self.client.post("/api/v1" + path, data=data, content_type="application/json", **self.headers)


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "field"}, body
    return body["error"]


def counts():
    return Patient.objects.count(), BodyMeasurement.objects.count()


class TestCreate:
    def test_it_creates_and_audits(self, nina, clinic_a):
        response = Api(nina).post("/patients", VALID)
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["mrn"] == "A-5001" and body["weight_kg"] == 64.2 and body["clinic_id"] == clinic_a.pk
        assert isinstance(body["id"], int)
        assert audit_count(action="create", object_type="patient", patient_id=body["id"], actor=nina) == 1

    @pytest.mark.parametrize(
        ("change", "status", "code", "field"),
        [
            ({"birth_date": "2999-01-01"}, 422, "birth_date_in_future", "birth_date"),
            ({"weight_kg": 0.5}, 422, "weight_out_of_range", "weight_kg"),
            ({"weight_kg": "NaN"}, 422, "invalid_value", "weight_kg"),
            ({"sex": "robot"}, 422, "invalid_value", "sex"),
            ({"birth_date": "yesterday"}, 422, "invalid_value", "birth_date"),
            ({"given_name": ""}, 422, "given_name_required", "given_name"),
            ({"given_name": "Null\x00Byte"}, 422, "invalid_text", "given_name"),
            ({"family_name": "x" * 101}, 422, "text_too_long", "family_name"),
            ({"mrn": "has space"}, 422, "mrn_invalid", "mrn"),
            ({"clinic": 2}, 422, "unknown_field", "clinic"),
            ({"created_by": 1}, 422, "unknown_field", "created_by"),
        ],
    )
    def test_bad_input_is_refused_with_code_and_writes_nothing(
        self, nina, clinic_a, change, status, code, field
    ):
        before = counts()
        response = Api(nina).post("/patients", VALID | change)
        assert response.status_code == status, response.content
        error = error_of(response)
        assert error["code"] == code
        assert error["field"] == field
        assert error["message"]
        assert counts() == before

    def test_missing_field(self, nina, clinic_a):
        body = dict(VALID)
        del body["family_name"]
        response = Api(nina).post("/patients", body)
        assert response.status_code == 422
        assert error_of(response) == {
            "code": "missing_field",
            "message": error_of(response)["message"],
            "field": "family_name",
        }

    @pytest.mark.parametrize("raw", ["{not json", "", "[1, 2]", '"a string"', "null"])
    def test_malformed_body_is_a_4xx_not_a_500(self, nina, clinic_a, raw):
        response = Api(nina).post("/patients", raw, raw=True)
        assert response.status_code in (400, 422)
        assert error_of(response)["code"] in ("invalid_json", "invalid_body", "missing_field")
        assert Patient.objects.count() == 0

    def test_duplicate_mrn(self, nina, patient_a):
        response = Api(nina).post("/patients", VALID | {"mrn": "A-1001"})
        assert response.status_code == 422
        assert error_of(response)["code"] == "mrn_taken"
        assert Patient.objects.count() == 1

    def test_user_in_two_clinics_must_choose(self, nina, clinic_a, clinic_b):
        membership_set(actor=None, user=nina, clinic=clinic_b, role="nurse")
        api = Api(nina)
        refused = api.post("/patients", VALID)
        assert refused.status_code == 422 and error_of(refused)["code"] == "clinic_required"
        created = api.post("/patients", VALID | {"clinic_id": clinic_b.pk})
        assert created.status_code == 201 and created.json()["clinic_id"] == clinic_b.pk

    def test_clinic_not_yours_is_not_found(self, nina, clinic_a, clinic_b):
        response = Api(nina).post("/patients", VALID | {"clinic_id": clinic_b.pk})
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"
        assert Patient.objects.count() == 0

    def test_researcher_is_forbidden(self, bob, clinic_a):
        response = Api(bob).post("/patients", VALID)
        assert response.status_code == 403
        assert error_of(response)["code"] == "forbidden"
        assert Patient.objects.count() == 0


class TestRead:
    def test_search_is_scoped_to_own_clinic(self, nina, patient_a, patient_b):
        api = Api(nina)
        everything = api.get("/patients")
        assert [p["mrn"] for p in everything.json()["items"]] == ["A-1001"]
        assert everything.json()["count"] == 1
        assert api.get("/patients", search="Qorvan").json() == {"items": [], "count": 0}
        assert api.get("/patients", search="B-2001").json() == {"items": [], "count": 0}
        assert [p["mrn"] for p in api.get("/patients", search="zzyz").json()["items"]] == ["A-1001"]

    def test_get_other_clinic_patient_is_404_like_a_missing_one(self, nina, patient_a, patient_b):
        api = Api(nina)
        theirs = api.get(f"/patients/{patient_b.pk}")
        missing = api.get("/patients/987654")
        assert theirs.status_code == missing.status_code == 404
        assert theirs.content == missing.content
        assert b"Qorvanhollow" not in theirs.content and b"B-2001" not in theirs.content

    def test_get_is_audited(self, nina, patient_a):
        response = Api(nina).get(f"/patients/{patient_a.pk}")
        assert response.status_code == 200
        assert response.json()["family_name"] == "Zzyzxfield"
        assert audit_count(action="read", object_type="patient", patient_id=patient_a.pk, actor=nina) == 1

    def test_requires_a_token(self, patient_a):
        response = Api().get(f"/patients/{patient_a.pk}")
        assert response.status_code == 401
        assert error_of(response)["code"] == "unauthorized"
        assert b"Zzyzxfield" not in response.content

    def test_revoked_token_is_refused(self, nina, patient_a):
        row, token = api_token_create(actor=None, user=nina)
        api = Api(token=token)
        assert api.get(f"/patients/{patient_a.pk}").status_code == 200
        api_token_revoke(actor=None, token=row)
        assert api.get(f"/patients/{patient_a.pk}").status_code == 401

    def test_tokens_are_stored_hashed(self, nina):
        _, token = api_token_create(actor=None, user=nina)
        row = ApiToken.objects.get(user=nina)
        assert token not in (row.token_hash, row.prefix)
        assert len(row.token_hash) == 64

    def test_nonsense_tokens_are_401(self, patient_a):
        for token in ("x", "kap_" + "A" * 43, "a" * 500):
            assert Api(token=token).get(f"/patients/{patient_a.pk}").status_code == 401


class TestAuditApi:
    def test_admin_sees_read_and_create_events_of_own_clinic_patient(self, adam, nina, clinic_a):
        created = Api(nina).post("/patients", VALID).json()
        Api(nina).get(f"/patients/{created['id']}")
        response = Api(adam).get("/audit/events", patient_id=created["id"])
        assert response.status_code == 200
        events = response.json()["items"]
        actions = {(e["action"], e["actor"], e["object_type"]) for e in events}
        assert ("create", "nina", "patient") in actions
        assert ("read", "nina", "patient") in actions
        assert all(e["patient_id"] == created["id"] for e in events)
        assert set(events[0]) == {"action", "actor", "object_type", "object_id", "patient_id", "at_utc"}

    def test_admin_does_not_see_other_clinics_events(self, adam, patient_b):
        events = Api(adam).get("/audit/events", patient_id=patient_b.pk).json()
        assert events == {"items": [], "count": 0}

    def test_nurse_cannot_read_the_audit_trail(self, nina, patient_a):
        response = Api(nina).get("/audit/events", patient_id=patient_a.pk)
        assert response.status_code == 403
        assert AuditEvent.objects.filter(action="denied", actor=nina).count() == 1

    def test_openapi_schema_is_served(self, client):
        response = client.get("/api/v1/openapi.json")
        assert response.status_code == 200
        paths = response.json()["paths"]
        assert "/api/v1/patients" in paths and "/api/v1/audit/events" in paths
