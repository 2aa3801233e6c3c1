"""The screening API: 201 shapes, domain refusals as 422/409, scoping, roles, strict bodies."""

from __future__ import annotations

import pytest

from kapstone.domain.screening import check_eligibility
from kapstone.screening import services
from kapstone.screening.models import Screening, ScreeningSignOff
from tests.conftest import audit_count
from tests.screening.conftest import Api, clean_answers, error_of, row_counts, screen

pytestmark = pytest.mark.django_db


def screenings_path(patient) -> str:
    return f"/patients/{patient.pk}/screenings"


def sign_off_path(screening_id: int) -> str:
    return f"/screenings/{screening_id}/sign-off"


class TestRecord:
    def test_201_with_id_decision_and_reasons(self, nina, patient_a):
        answers = clean_answers(stimulant_use=True, systolic_bp=145, diastolic_bp=88)
        response = Api(nina).post(screenings_path(patient_a), {"answers": answers})
        assert response.status_code == 201, response.content
        body = response.json()
        assert set(body) == {"id", "decision", "reasons"}
        assert {k: body[k] for k in ("decision", "reasons")} == check_eligibility(answers).as_dict()
        assert body["decision"] == "needs_review"
        assert set(body["reasons"][0]) == {"code", "severity", "message", "source"}
        screening = Screening.objects.get(pk=body["id"])
        assert screening.patient == patient_a and screening.entered_by == nina
        assert (
            audit_count(action="create", object_type="screening", object_id=str(body["id"]), actor=nina) == 1
        )

    def test_new_label_questions_and_protocol_inputs(self, nina, patient_a):
        answers = clean_answers(
            uncontrolled_hyperthyroidism=True, bmi_kg_m2=31.2, liver_tests_within_3x_uln="no"
        )
        response = Api(nina).post(screenings_path(patient_a), {"answers": answers})
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["decision"] == "deferred"
        assert [r["code"] for r in body["reasons"]] == ["uncontrolled_hyperthyroidism"]
        assert "Ketalar" in body["reasons"][0]["source"]
        stored = Screening.objects.get(pk=body["id"]).answers
        assert (stored["bmi_kg_m2"], stored["liver_tests_within_3x_uln"]) == ("31.2", "no")

    def test_eligible_has_no_reasons(self, terry, patient_a):
        response = Api(terry).post(screenings_path(patient_a), {"answers": clean_answers()})
        assert response.status_code == 201
        assert response.json()["decision"] == "eligible" and response.json()["reasons"] == []

    @pytest.mark.parametrize(
        ("answers", "code", "field"),
        [
            (clean_answers(systolic_bp=30), "implausible_value", "systolic_bp"),
            (clean_answers(systolic_bp=120, diastolic_bp=120), "implausible_value", "diastolic_bp"),
            (clean_answers(age_years=130), "implausible_value", "age_years"),
            (clean_answers(pregnant="yes"), "invalid_answer", "pregnant"),
            (clean_answers(pregnant=1), "invalid_answer", "pregnant"),
            (clean_answers(systolic_bp=120.5), "invalid_answer", "systolic_bp"),
            (clean_answers(systolic_bp="120"), "invalid_answer", "systolic_bp"),
            (clean_answers(age_years=None), "invalid_answer", "age_years"),
            ({"pregnant": False}, "missing_answer", "ketamine_hypersensitivity"),
            (clean_answers(shoe_size=42), "unknown_answer", "shoe_size"),
            (clean_answers(seizure_history="no"), "invalid_answer", "seizure_history"),
            (clean_answers(bmi_kg_m2="24.55"), "invalid_answer", "bmi_kg_m2"),
            (clean_answers(bdi_ii_total=64), "implausible_value", "bdi_ii_total"),
            (clean_answers(urine_drug_screen="clean"), "invalid_answer", "urine_drug_screen"),
        ],
    )
    def test_domain_refusals_are_422_with_the_code_and_write_nothing(
        self, nina, patient_a, answers, code, field
    ):
        before = row_counts()
        response = Api(nina).post(screenings_path(patient_a), {"answers": answers})
        assert response.status_code == 422, response.content
        error = error_of(response)
        assert (error["code"], error["field"]) == (code, field)
        assert error["message"]
        assert row_counts() == before

    @pytest.mark.parametrize(
        ("body", "code", "field"),
        [
            ({"answers": clean_answers(), "clinic_id": 2}, "unknown_field", "clinic_id"),
            ({"answers": clean_answers(), "decision": "eligible"}, "unknown_field", "decision"),
            ({}, "missing_field", "answers"),
            ({"answers": [1, 2]}, "invalid_body", "answers"),
        ],
    )
    def test_body_shape_is_strict(self, nina, patient_a, body, code, field):
        response = Api(nina).post(screenings_path(patient_a), body)
        assert response.status_code == 422, response.content
        assert (error_of(response)["code"], error_of(response)["field"]) == (code, field)
        assert Screening.objects.count() == 0

    @pytest.mark.parametrize("raw", ["{not json", "", "null"])
    def test_malformed_body_is_a_4xx_not_a_500(self, nina, patient_a, raw):
        response = Api(nina).post(screenings_path(patient_a), raw, raw=True)
        assert response.status_code in (400, 422)
        assert Screening.objects.count() == 0

    def test_other_clinic_is_404_like_a_missing_patient(self, nina, patient_b):
        api = Api(nina)
        theirs = api.post(screenings_path(patient_b), {"answers": clean_answers()})
        missing = api.post("/patients/987654/screenings", {"answers": clean_answers()})
        assert theirs.status_code == missing.status_code == 404
        assert theirs.content == missing.content
        assert b"Qorvanhollow" not in theirs.content and b"B-2001" not in theirs.content
        assert Screening.objects.count() == 0

    @pytest.mark.parametrize("actor", ["adam", "bob"])
    def test_non_clinicians_are_forbidden(self, request, patient_a, actor):
        user = request.getfixturevalue(actor)
        response = Api(user).post(screenings_path(patient_a), {"answers": clean_answers()})
        assert response.status_code == 403
        assert error_of(response)["code"] == "forbidden"
        assert audit_count(action="denied", actor=user, object_type="api") == 1
        assert Screening.objects.count() == 0

    def test_requires_a_token(self, patient_a):
        response = Api().post(screenings_path(patient_a), {"answers": clean_answers()})
        assert response.status_code == 401
        assert Screening.objects.count() == 0


class TestSignOff:
    def test_201_with_the_sign_off(self, alice, nina, patient_a):
        screening = screen(nina, patient_a, "needs_review")
        response = Api(alice).post(
            sign_off_path(screening.pk), {"approve": True, "reason": "Reviewed with patient."}
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert set(body) == {"id", "screening_id", "approve", "reason", "signed_by", "signed_at"}
        assert body["screening_id"] == screening.pk and body["approve"] is True
        assert body["reason"] == "Reviewed with patient." and body["signed_by"] == "alice"
        assert body["signed_at"].startswith(str(ScreeningSignOff.objects.get().signed_at.date()))
        assert audit_count(action="create", object_type="screening_sign_off", actor=alice) == 1

    def test_reason_may_be_omitted_for_an_eligible_approval(self, alice, nina, patient_a):
        screening = screen(nina, patient_a, "eligible")
        response = Api(alice).post(sign_off_path(screening.pk), {"approve": True})
        assert response.status_code == 201 and response.json()["reason"] == ""

    @pytest.mark.parametrize(
        ("decision", "body", "status", "code"),
        [
            ("ineligible", {"approve": True, "reason": "Accept."}, 409, "cannot_approve_ineligible"),
            ("deferred", {"approve": True, "reason": "Accept."}, 409, "cannot_approve_deferred"),
            ("needs_review", {"approve": True, "reason": " "}, 422, "reason_required"),
            ("needs_review", {"approve": True}, 422, "reason_required"),
            ("eligible", {"approve": False, "reason": ""}, 422, "reason_required"),
            ("eligible", {"approve": "true", "reason": "x"}, 422, "invalid_value"),
            ("eligible", {"approve": 1, "reason": "x"}, 422, "invalid_value"),
            ("eligible", {"reason": "x"}, 422, "missing_field"),
            ("eligible", {"approve": True, "reason": "x", "signed_by": 1}, 422, "unknown_field"),
            ("eligible", {"approve": True, "reason": "x" * 2001}, 422, "text_too_long"),
        ],
    )
    def test_refusals_have_their_status_and_code_and_write_nothing(
        self, alice, nina, patient_a, decision, body, status, code
    ):
        screening = screen(nina, patient_a, decision)
        before = row_counts()
        response = Api(alice).post(sign_off_path(screening.pk), body)
        assert response.status_code == status, response.content
        assert error_of(response)["code"] == code
        assert row_counts() == before

    def test_second_sign_off_is_409(self, alice, nina, patient_a):
        screening = screen(nina, patient_a, "needs_review")
        services.screening_sign_off(actor=alice, screening=screening, approve=True, reason="Reviewed.")
        response = Api(alice).post(sign_off_path(screening.pk), {"approve": False, "reason": "No."})
        assert response.status_code == 409
        assert error_of(response)["code"] == "already_signed_off"
        assert ScreeningSignOff.objects.count() == 1

    def test_superseded_is_409(self, alice, nina, patient_a):
        old = screen(nina, patient_a, "needs_review")
        screen(nina, patient_a, "eligible")
        response = Api(alice).post(sign_off_path(old.pk), {"approve": True, "reason": "Reviewed."})
        assert response.status_code == 409
        assert error_of(response)["code"] == "screening_superseded"
        assert ScreeningSignOff.objects.count() == 0

    def test_nurse_is_forbidden_and_audited(self, nina, patient_a):
        screening = screen(nina, patient_a, "needs_review")
        response = Api(nina).post(sign_off_path(screening.pk), {"approve": True, "reason": "x"})
        assert response.status_code == 403
        assert error_of(response)["code"] == "forbidden"
        assert audit_count(action="denied", actor=nina, object_type="api", outcome="denied") == 1
        assert ScreeningSignOff.objects.count() == 0

    def test_other_clinic_is_404_like_a_missing_screening(self, carol, nina, patient_a):
        screening = screen(nina, patient_a, "needs_review")
        api = Api(carol)
        theirs = api.post(sign_off_path(screening.pk), {"approve": True, "reason": "x"})
        missing = api.post(sign_off_path(987_654), {"approve": True, "reason": "x"})
        assert theirs.status_code == missing.status_code == 404
        assert theirs.content == missing.content
        assert b"Zzyzxfield" not in theirs.content
        assert ScreeningSignOff.objects.count() == 0
