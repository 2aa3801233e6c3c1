"""POST/GET /api/v1/patients/{id}/measurements, and the weight the patients API reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from kapstone.patients.models import BodyMeasurement
from kapstone.patients.services import measurement_record, measurement_void
from tests.api.test_patients_api import Api, error_of
from tests.conftest import audit_count

pytestmark = pytest.mark.django_db


def path(patient) -> str:
    return f"/patients/{patient.pk}/measurements"


class TestRecord:
    def test_records_a_weight_now_by_default_and_audits(self, nina, patient_a):
        before = timezone.now().replace(second=0, microsecond=0)
        response = Api(nina).post(path(patient_a), {"weight_kg": 72.0})
        assert response.status_code == 201, response.content
        body = response.json()
        assert set(body) == {"id", "weight_kg", "height_cm", "measured_at"}
        assert (body["weight_kg"], body["height_cm"]) == (72.0, None)
        taken = datetime.fromisoformat(body["measured_at"])
        assert before <= taken <= timezone.now()
        row = BodyMeasurement.objects.get(pk=body["id"])
        assert (row.weight_kg, row.recorded_by) == (Decimal("72.0"), nina)
        assert audit_count(action="create", object_type="body_measurement", object_id=str(row.pk)) == 1

    def test_records_when_it_was_taken_to_the_minute(self, nina, patient_a):
        taken = (timezone.now() - timedelta(hours=3)).astimezone(UTC)
        response = Api(nina).post(
            path(patient_a), {"weight_kg": 70.0, "height_cm": 168, "measured_at": taken.isoformat()}
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert datetime.fromisoformat(body["measured_at"]) == taken.replace(second=0, microsecond=0)
        assert body["height_cm"] == 168.0

    @pytest.mark.parametrize(
        ("body", "code", "field"),
        [
            ({}, "measurement_empty", "weight_kg"),
            ({"weight_kg": None, "height_cm": None}, "measurement_empty", "weight_kg"),
            ({"weight_kg": 25}, "weight_out_of_range", "weight_kg"),
            ({"weight_kg": 300.1}, "weight_out_of_range", "weight_kg"),
            ({"height_cm": 99}, "height_out_of_range", "height_cm"),
            ({"weight_kg": 70, "measured_at": "2026-01-01T09:00:00"}, "naive_datetime", "measured_at"),
            ({"weight_kg": 70, "measured_at": "2999-01-01T09:00:00Z"}, "measured_in_future", "measured_at"),
            ({"weight_kg": 70, "measured_at": "yesterday"}, "invalid_value", "measured_at"),
            ({"weight_kg": "heavy"}, "invalid_value", "weight_kg"),
            ({"weight_kg": 70, "patient_id": 2}, "unknown_field", "patient_id"),
            ({"weight_kg": 70, "voided_at": None}, "unknown_field", "voided_at"),
        ],
    )
    def test_refusals_have_a_stable_code_and_write_nothing(self, nina, patient_a, body, code, field):
        before = BodyMeasurement.objects.count()
        response = Api(nina).post(path(patient_a), body)
        assert response.status_code == 422, response.content
        error = error_of(response)
        assert (error["code"], error["field"]) == (code, field) and error["message"]
        assert BodyMeasurement.objects.count() == before
        assert audit_count(action="create", object_type="body_measurement") == 0

    @pytest.mark.parametrize("raw", ["{not json", "[1]", "null"])
    def test_malformed_body_is_4xx(self, nina, patient_a, raw):
        response = Api(nina).post(path(patient_a), raw, raw=True)
        assert response.status_code in (400, 422)
        assert BodyMeasurement.objects.count() == 1

    def test_another_clinics_patient_is_404_without_phi_and_audited(self, carol, patient_a):
        response = Api(carol).post(path(patient_a), {"weight_kg": 70})
        assert response.status_code == 404
        assert b"Zzyzxfield" not in response.content and b"A-1001" not in response.content
        assert error_of(response)["code"] == "not_found"
        assert audit_count(action="denied", patient_id=patient_a.pk, actor=carol) == 1
        assert BodyMeasurement.objects.count() == 1

    def test_researcher_is_403_and_audited(self, bob, patient_a):
        for response in (Api(bob).post(path(patient_a), {"weight_kg": 70}), Api(bob).get(path(patient_a))):
            assert response.status_code == 403
            assert error_of(response)["code"] == "forbidden"
            assert b"Zzyzxfield" not in response.content
        assert audit_count(action="denied", object_type="api", actor=bob) == 2
        assert BodyMeasurement.objects.count() == 1


class TestList:
    def test_lists_newest_first_with_voids_and_audits_the_read(self, nina, patient_a):
        now = timezone.now()
        older = measurement_record(
            actor=nina,
            patient=patient_a,
            weight_kg="70.0",
            height_cm=None,
            measured_at=now - timedelta(days=2),
        )
        wrong = measurement_record(
            actor=nina,
            patient=patient_a,
            weight_kg="77.0",
            height_cm=None,
            measured_at=now - timedelta(days=1),
        )
        measurement_void(actor=nina, measurement=wrong, reason="another patient's weight")
        response = Api(nina).get(path(patient_a))
        assert response.status_code == 200
        assert response.json()["count"] == 3
        rows = response.json()["items"]
        assert [r["weight_kg"] for r in rows] == [72.5, 77.0, 70.0]
        voided = rows[1]
        assert voided["voided_by"] == "nina" and voided["void_reason"] == "another patient's weight"
        assert voided["voided_at"] is not None
        assert rows[2]["id"] == older.pk and rows[2]["voided_at"] is None and rows[2]["void_reason"] is None
        assert set(rows[0]) == {
            "id",
            "weight_kg",
            "height_cm",
            "measured_at",
            "recorded_at",
            "voided_at",
            "voided_by",
            "void_reason",
        }
        assert audit_count(action="read", object_type="body_measurement_list", patient_id=patient_a.pk) == 1

    def test_another_clinics_patient_is_404(self, carol, patient_a):
        response = Api(carol).get(path(patient_a))
        assert response.status_code == 404 and b"Zzyzxfield" not in response.content
        assert audit_count(action="denied", patient_id=patient_a.pk, actor=carol) == 1


class TestPatientsReportTheWeightInForce:
    def test_list_and_detail(self, nina, patient_a):
        measurement_record(actor=nina, patient=patient_a, weight_kg="70.0", height_cm=None)
        wrong = measurement_record(actor=nina, patient=patient_a, weight_kg="72.0", height_cm=None)
        api = Api(nina)
        assert api.get(f"/patients/{patient_a.pk}").json()["weight_kg"] == 72.0
        assert api.get("/patients").json()["items"][0]["weight_kg"] == 72.0
        measurement_void(actor=nina, measurement=wrong, reason="scale not zeroed")
        assert api.get(f"/patients/{patient_a.pk}").json()["weight_kg"] == 70.0
        assert api.get("/patients").json()["items"][0]["weight_kg"] == 70.0
