"""Enrolment needs an approved screening and lays out the protocol's schedule."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kapstone.care.models import CareSession, CourseEvent, TreatmentCourse
from kapstone.care.services import course_change_status, course_enrol
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.protocols import build_schedule, get_protocol
from kapstone.patients.services import clinic_today
from tests.care.conftest import screen
from tests.conftest import audit_count

pytestmark = pytest.mark.django_db
KARE = "kare-alcohol-grabski-2022"


def rows():
    return TreatmentCourse.objects.count(), CareSession.objects.count(), CourseEvent.objects.count()


class TestService:
    def test_enrol_lays_out_the_protocol_schedule(self, alice, patient_a, eligible_a):
        start = clinic_today(patient_a.clinic)
        course = course_enrol(actor=alice, patient=patient_a, protocol_slug=KARE, start_date=start)
        planned = build_schedule(get_protocol(KARE), start)
        sessions = list(course.sessions.order_by("order"))
        assert [(s.kind, s.scheduled_date, s.title) for s in sessions] == [
            (p.kind, p.scheduled_date, p.title) for p in planned
        ]
        dosing = [s for s in sessions if s.kind == "dosing"]
        assert len(dosing) == 3 and all(s.dose_rule["mg_per_kg"] == "0.8" for s in dosing)
        assert course.protocol_version == 1 and course.protocol_data["slug"] == KARE
        assert course.screening == eligible_a
        assert audit_count(action="create", object_type="course", patient_id=patient_a.pk, actor=alice) == 1

    def test_refuses_without_screening(self, alice, patient_a):
        before = rows()
        with pytest.raises(WorkflowConflict) as error:
            course_enrol(
                actor=alice, patient=patient_a, protocol_slug=KARE, start_date=clinic_today(patient_a.clinic)
            )
        assert error.value.code == "screening_not_approved"
        assert rows() == before

    def test_refuses_needs_review_until_signed_off(self, alice, patient_a, needs_review_a, approve):
        today = clinic_today(patient_a.clinic)
        with pytest.raises(WorkflowConflict) as error:
            course_enrol(actor=alice, patient=patient_a, protocol_slug=KARE, start_date=today)
        assert error.value.code == "screening_not_approved"
        approve(alice, needs_review_a)
        course = course_enrol(actor=alice, patient=patient_a, protocol_slug=KARE, start_date=today)
        assert course.pk

    def test_an_approved_bp_above_140_90_still_fails_kares_own_limit(self, alice, patient_a, approve):
        approve(alice, screen(alice, patient_a, systolic_bp=150))
        before = rows()
        with pytest.raises(WorkflowConflict) as error:
            course_enrol(
                actor=alice, patient=patient_a, protocol_slug=KARE, start_date=clinic_today(patient_a.clinic)
            )
        assert (
            error.value.code == "protocol_criteria_not_met"
            and "150/78 mmHg is not below 140/90" in error.value.message
        )
        assert rows() == before

    @pytest.mark.parametrize("answers", [{"pregnant": True}, {"intoxicated_now": True}, {"systolic_bp": 185}])
    def test_refuses_ineligible_and_deferred(self, alice, patient_a, answers):
        screen(alice, patient_a, **answers)
        before = rows()
        with pytest.raises(WorkflowConflict) as error:
            course_enrol(
                actor=alice, patient=patient_a, protocol_slug=KARE, start_date=clinic_today(patient_a.clinic)
            )
        assert error.value.code == "screening_not_approved"
        assert rows() == before

    @pytest.mark.parametrize(
        ("changes", "reason_words"),
        [
            ({"age_years": 61}, "age 61 years is outside 18–60"),
            ({"systolic_bp": 140}, "not below 140/90"),
            ({"bdi_ii_total": 14}, "BDI-II total 14 is not above 14"),
            ({"detoxifications_count": 11}, "11 detoxifications"),
            ({"antidepressant_use": True}, "antidepressant"),
        ],
    )
    def test_kare_refuses_a_patient_outside_its_own_criteria(self, alice, patient_a, changes, reason_words):
        screening = screen(alice, patient_a, **changes)
        assert screening.decision in ("eligible", "needs_review")  # the general rules pass or need review
        if screening.decision == "needs_review":
            from kapstone.screening.services import screening_sign_off

            screening_sign_off(actor=alice, screening=screening, approve=True, reason="Reviewed.")
        before = rows()
        with pytest.raises(WorkflowConflict) as error:
            course_enrol(
                actor=alice, patient=patient_a, protocol_slug=KARE, start_date=clinic_today(patient_a.clinic)
            )
        assert error.value.code == "protocol_criteria_not_met"
        assert reason_words in error.value.message and "KARE" in error.value.message
        assert rows() == before
        # Another protocol for the same substance has no criteria of its own.
        course = course_enrol(
            actor=alice,
            patient=patient_a,
            protocol_slug="ketamine-met-alcohol-dakwar-2020",
            start_date=clinic_today(patient_a.clinic),
        )
        assert course.protocol_slug == "ketamine-met-alcohol-dakwar-2020"

    def test_kare_needs_its_inputs_answered(self, alice, patient_a):
        from tests.care.conftest import ELIGIBLE

        general_only = {k: v for k, v in ELIGIBLE.items() if k not in ("bdi_ii_total", "bmi_kg_m2")}
        from kapstone.screening.services import screening_record

        screening_record(actor=alice, patient=patient_a, answers=general_only)
        before = rows()
        with pytest.raises(WorkflowConflict) as error:
            course_enrol(
                actor=alice, patient=patient_a, protocol_slug=KARE, start_date=clinic_today(patient_a.clinic)
            )
        assert error.value.code == "protocol_screening_incomplete"
        assert "BDI-II total score" in error.value.message and "Body mass index" in error.value.message
        assert rows() == before

    def test_a_newer_refusing_screening_supersedes_an_approved_one(self, alice, patient_a, eligible_a):
        screen(alice, patient_a, intoxicated_now=True)
        with pytest.raises(WorkflowConflict):
            course_enrol(
                actor=alice, patient=patient_a, protocol_slug=KARE, start_date=clinic_today(patient_a.clinic)
            )

    def test_refuses_second_open_course(self, alice, patient_a, course_a):
        before = rows()
        with pytest.raises(WorkflowConflict) as error:
            course_enrol(
                actor=alice, patient=patient_a, protocol_slug=KARE, start_date=clinic_today(patient_a.clinic)
            )
        assert error.value.code == "course_already_open"
        assert rows() == before

    def test_unknown_protocol(self, alice, patient_a, eligible_a):
        with pytest.raises(DomainError) as error:
            course_enrol(
                actor=alice,
                patient=patient_a,
                protocol_slug="nope",
                start_date=clinic_today(patient_a.clinic),
            )
        assert (error.value.code, error.value.field) == ("unknown_protocol", "protocol")

    def test_course_status_moves_need_reasons(self, alice, course_a):
        with pytest.raises(DomainError) as error:
            course_change_status(actor=alice, course=course_a, action="pause", reason="")
        assert error.value.code == "reason_required"
        course = course_change_status(actor=alice, course=course_a, action="pause", reason="travelling")
        assert course.status == "paused"
        with pytest.raises(WorkflowConflict) as conflict:
            course_change_status(actor=alice, course=course, action="pause", reason="again")
        assert conflict.value.code == "invalid_course_transition"
        course = course_change_status(actor=alice, course=course, action="withdraw", reason="moved away")
        assert course.status == "withdrawn"
        assert [e.kind for e in course.events.all()] == ["enrolled", "paused", "withdrawn"]


class TestWeb:
    def test_prescriber_enrols_from_the_form(self, as_user, alice, patient_a, eligible_a):
        response = as_user(alice).post(
            reverse("care:enrol", args=[patient_a.pk]),
            {"protocol": f"{KARE}@1", "start_date": clinic_today(patient_a.clinic).isoformat(), "arm": ""},
        )
        course = TreatmentCourse.objects.get(patient=patient_a)
        assert response.status_code == 302 and response["Location"] == reverse(
            "care:course", args=[course.pk]
        )
        chart = as_user(alice).get(reverse("patients:chart", args=[patient_a.pk]))
        assert b"KARE" in chart.content or course.protocol_title.encode() in chart.content
        assert b"Infusion 1" in chart.content or b"infusion" in chart.content.lower()

    def test_refusal_is_shown_with_code_and_input_kept(self, as_user, alice, patient_a):
        before = rows()
        response = as_user(alice).post(
            reverse("care:enrol", args=[patient_a.pk]),
            {"protocol": f"{KARE}@1", "start_date": "2026-11-30", "arm": "B"},
        )
        assert response.status_code == 400
        assert b"screening_not_approved" in response.content
        assert b'value="B"' in response.content
        assert rows() == before

    def test_nurse_cannot_enrol(self, as_user, nina, patient_a, eligible_a):
        response = as_user(nina).get(reverse("care:enrol", args=[patient_a.pk]))
        assert response.status_code == 403

    def test_other_clinic_cannot_enrol_or_see(self, as_user, carol, patient_a, course_a):
        client = as_user(carol)
        assert client.get(reverse("care:enrol", args=[patient_a.pk])).status_code == 404
        response = client.get(reverse("care:course", args=[course_a.pk]))
        assert response.status_code == 404
        assert b"Zzyzxfield" not in response.content

    def test_course_page_shows_schedule_and_follow_ups(self, as_user, nina, course_a):
        response = as_user(nina).get(reverse("care:course", args=[course_a.pk]))
        assert response.status_code == 200
        assert b"Follow-ups" in response.content
        assert audit_count(action="read", object_type="course", actor=nina) == 1
