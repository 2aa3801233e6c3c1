"""Session state machine, day-of checks, rescheduling and the day board."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.urls import reverse

from kapstone.care.models import CareSession, DayOfCheck, SessionEvent
from kapstone.care.services import day_of_checks_record, session_transition
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.patients.models import Patient
from kapstone.patients.services import consent_record
from tests.care.conftest import PASSING_CHECKS, first_dosing, move_dosing_session
from tests.conftest import audit_count

pytestmark = pytest.mark.django_db

SERVICE_INPUTS = {
    "breath_alcohol_g_per_210l": 0,
    "urine_drug_screen_result": "negative",
    "childbearing_potential": False,
    "pregnancy_test_result": None,
    "systolic_bp": 128,
    "diastolic_bp": 80,
    "fasting_hours": 8,
    "escort_confirmed": True,
    "ciwa_ar_total": 3,
    "benzodiazepine_use": False,
    "sedative_or_opioid_use": False,
    "stimulant_use": False,
    "maoi_use": False,
    "theophylline_use": False,
    "airway_clinician_present": True,
    "resuscitation_equipment_checked": True,
    "vital_signs_monitoring_available": True,
    "prescriber_on_site": True,
}


def checked_in(nurse, course):
    session = first_dosing(course)
    return session_transition(actor=nurse, session=session, to="checked_in")


class TestStateMachine:
    def test_dosing_session_cannot_be_cleared_without_checks(self, nina, course_a):
        session = checked_in(nina, course_a)
        with pytest.raises(WorkflowConflict) as error:
            session_transition(actor=nina, session=session, to="cleared")
        assert error.value.code == "day_of_checks_not_passed"
        session.refresh_from_db()
        assert session.status == "checked_in"

    def test_illegal_transition_names_both_states(self, nina, course_a):
        session = first_dosing(course_a)
        before = SessionEvent.objects.count()
        with pytest.raises(WorkflowConflict) as error:
            session_transition(actor=nina, session=session, to="recovering")
        assert error.value.code == "invalid_transition"
        assert "scheduled" in error.value.message and "recovering" in error.value.message
        assert SessionEvent.objects.count() == before

    def test_transitions_record_actor_time_and_audit(self, nina, course_a):
        session = checked_in(nina, course_a)
        event = SessionEvent.objects.get(session=session)
        assert (event.from_state, event.to_state, event.actor) == ("scheduled", "checked_in", nina)
        assert audit_count(action="update", object_type="session", object_id=str(session.pk), actor=nina) == 1

    def test_therapy_session_runs_without_clearance(self, terry, course_a):
        session = course_a.sessions.filter(kind="preparation").first()
        for to in ("checked_in", "in_progress", "discharged"):
            session = session_transition(actor=terry, session=session, to=to)
        assert session.status == "discharged"

    def test_cancel_needs_a_reason(self, nina, course_a):
        session = first_dosing(course_a)
        with pytest.raises(DomainError) as error:
            session_transition(actor=nina, session=session, to="cancelled", reason="")
        assert error.value.code == "reason_required"
        assert (
            session_transition(actor=nina, session=session, to="cancelled", reason="patient unwell").status
            == "cancelled"
        )

    def test_paused_course_blocks_check_in(self, alice, nina, course_a):
        from kapstone.care.services import course_change_status

        course_change_status(actor=alice, course=course_a, action="pause", reason="hospital stay")
        with pytest.raises(WorkflowConflict) as error:
            session_transition(actor=nina, session=first_dosing(course_a), to="checked_in")
        assert error.value.code == "course_not_active"


class TestDayOfChecks:
    def test_passing_checks_clear_the_session(self, nina, course_a):
        session = checked_in(nina, course_a)
        row = day_of_checks_record(actor=nina, session=session, inputs=SERVICE_INPUTS)
        assert row.cleared
        session.refresh_from_db()
        assert session.status == "cleared"
        assert row.inputs["consent_current"] is True

    def test_failed_check_names_what_failed_and_keeps_session_checked_in(self, nina, course_a):
        session = checked_in(nina, course_a)
        row = day_of_checks_record(
            actor=nina, session=session, inputs=SERVICE_INPUTS | {"breath_alcohol_g_per_210l": "0.02"}
        )
        assert not row.cleared
        failed = [c["code"] for c in row.outcomes["checks"] if not c["met"]]
        assert failed == ["breath_alcohol_positive"]
        session.refresh_from_db()
        assert session.status == "checked_in"

    def test_withdrawn_treatment_consent_fails_the_consent_check(self, alice, nina, patient_a, course_a):
        consent_record(
            actor=alice,
            patient=patient_a,
            kind="treatment",
            status="withdrawn",
            effective_on=date(2026, 2, 1),
            document_version="2026-01",
        )
        session = checked_in(nina, course_a)
        row = day_of_checks_record(actor=nina, session=session, inputs=SERVICE_INPUTS)
        assert not row.cleared
        assert "consent_not_current" in [c["code"] for c in row.outcomes["checks"] if not c["met"]]

    def test_only_prescriber_may_override(self, nina, alice, course_a):
        session = checked_in(nina, course_a)
        inputs = SERVICE_INPUTS | {"fasting_hours": 2}
        with pytest.raises(WorkflowConflict) as error:
            day_of_checks_record(
                actor=nina, session=session, inputs=inputs, overrides={"fasting": "ate a biscuit"}
            )
        assert error.value.code == "override_requires_prescriber"
        row = day_of_checks_record(
            actor=alice,
            session=session,
            inputs=inputs,
            overrides={"fasting": "light snack 2 h ago; low aspiration risk"},
            actor_is_prescriber=True,
        )
        assert row.cleared

    def test_non_overridable_check_cannot_be_overridden(self, alice, nina, course_a):
        session = checked_in(nina, course_a)
        before = DayOfCheck.objects.count()
        with pytest.raises(DomainError) as error:
            day_of_checks_record(
                actor=alice,
                session=session,
                inputs=SERVICE_INPUTS | {"escort_confirmed": False},
                overrides={"escort": "will take a taxi"},
                actor_is_prescriber=True,
            )
        assert error.value.code == "override_not_allowed"
        assert DayOfCheck.objects.count() == before

    def test_checks_need_checked_in_session(self, nina, course_a):
        with pytest.raises(WorkflowConflict) as error:
            day_of_checks_record(actor=nina, session=first_dosing(course_a), inputs=SERVICE_INPUTS)
        assert error.value.code == "session_not_checked_in"


class TestWeb:
    def test_nurse_checks_in_and_clears_from_the_pages(self, as_user, nina, course_a):
        client = as_user(nina)
        session = first_dosing(course_a)
        response = client.post(reverse("care:transition", args=[session.pk]), {"to": "checked_in"})
        assert response.status_code == 302
        form = client.get(reverse("care:day_of_checks", args=[session.pk]))
        assert form.status_code == 200 and b"Breath alcohol" in form.content
        response = client.post(reverse("care:day_of_checks", args=[session.pk]), PASSING_CHECKS)
        assert response.status_code == 302
        session.refresh_from_db()
        assert session.status == "cleared"

    @pytest.mark.parametrize(
        ("sex", "ticked"), [("female", True), ("unknown", True), ("intersex", True), ("male", False)]
    )
    def test_child_bearing_potential_starts_ticked_unless_the_sex_at_birth_is_male(
        self, as_user, nina, course_a, sex, ticked
    ):
        """A patient whose sex at birth is not known (registered without it, or imported without
        the FHIR birth-sex extension) is asked the pregnancy test unless the nurse unticks it."""
        Patient.objects.filter(pk=course_a.patient_id).update(sex_at_birth=sex)
        client = as_user(nina)
        session = first_dosing(course_a)
        client.post(reverse("care:transition", args=[session.pk]), {"to": "checked_in"})
        page = client.get(reverse("care:day_of_checks", args=[session.pk])).content.decode()
        box = re.search(r'<input[^>]*name="childbearing_potential"[^>]*>', page).group(0)
        assert ("checked" in box) is ticked

    def test_failing_checks_show_what_failed_and_keep_input(self, as_user, nina, course_a):
        client = as_user(nina)
        session = checked_in(nina, course_a)
        response = client.post(
            reverse("care:day_of_checks", args=[session.pk]), PASSING_CHECKS | {"systolic_bp": "186"}
        )
        assert response.status_code == 400
        assert b"blood_pressure_too_high" in response.content
        assert b'value="186"' in response.content
        session.refresh_from_db()
        assert session.status == "checked_in"

    def test_implausible_check_value_is_refused_with_nothing_written(self, as_user, nina, course_a):
        session = checked_in(nina, course_a)
        before = DayOfCheck.objects.count()
        response = as_user(nina).post(
            reverse("care:day_of_checks", args=[session.pk]), PASSING_CHECKS | {"systolic_bp": "900"}
        )
        assert response.status_code == 400
        assert DayOfCheck.objects.count() == before

    def test_therapist_cannot_run_dosing_session(self, as_user, terry, course_a):
        session = first_dosing(course_a)
        response = as_user(terry).post(reverse("care:transition", args=[session.pk]), {"to": "checked_in"})
        assert response.status_code == 403
        session.refresh_from_db()
        assert session.status == "scheduled"

    def test_other_clinic_gets_404(self, as_user, carol, course_a):
        session = first_dosing(course_a)
        client = as_user(carol)
        for name in ("session", "day_of_checks", "reschedule"):
            response = client.get(reverse(f"care:{name}", args=[session.pk]))
            assert response.status_code == 404, name
            assert b"Zzyzxfield" not in response.content
        response = client.post(reverse("care:transition", args=[session.pk]), {"to": "checked_in"})
        assert response.status_code == 404

    def test_reschedule(self, as_user, nina, course_a):
        session = first_dosing(course_a)
        response = as_user(nina).post(
            reverse("care:reschedule", args=[session.pk]),
            {
                "scheduled_date": session.scheduled_date.isoformat(),
                "start_time": "09:30",
                "room": "Room 2",
                "reason": "room free",
            },
        )
        assert response.status_code == 302
        session.refresh_from_db()
        assert session.room == "Room 2" and session.start_time.hour == 9
        assert SessionEvent.objects.filter(session=session, kind="rescheduled").count() == 1

    def test_reschedule_without_reason_is_refused(self, as_user, nina, course_a):
        session = first_dosing(course_a)
        response = as_user(nina).post(
            reverse("care:reschedule", args=[session.pk]),
            {"scheduled_date": session.scheduled_date.isoformat(), "room": "Room 9", "reason": ""},
        )
        assert response.status_code == 400
        assert b'value="Room 9"' in response.content
        session.refresh_from_db()
        assert session.room == ""

    def test_day_board_shows_todays_sessions_of_own_clinic(self, as_user, nina, carol, course_a):
        today_session = course_a.sessions.order_by("scheduled_date").first()
        response = as_user(nina).get(
            reverse("care:board"), {"date": today_session.scheduled_date.isoformat()}
        )
        assert response.status_code == 200
        assert b"Zzyzxfield" in response.content
        other = as_user(carol).get(reverse("care:board"), {"date": today_session.scheduled_date.isoformat()})
        assert b"Zzyzxfield" not in other.content
        assert audit_count(action="read", object_type="session_list", actor=nina) == 1

    def test_day_board_refuses_researcher(self, as_user, bob):
        assert as_user(bob).get(reverse("care:board")).status_code == 403

    def test_session_rows_never_leak_to_unrelated_clinic_counts(self, as_user, carol, course_a):
        assert CareSession.objects.filter(clinic=course_a.clinic).count() > 0
        response = as_user(carol).get(
            reverse("care:board"), {"date": first_dosing(course_a).scheduled_date.isoformat()}
        )
        assert b"0 sessions" in response.content


def test_dosing_session_starts_only_through_its_administration(nina, course_a):
    from tests.care.test_sessions import SERVICE_INPUTS as inputs

    session = checked_in(nina, course_a)
    day_of_checks_record(actor=nina, session=session, inputs=inputs)
    before = SessionEvent.objects.count()
    with pytest.raises(WorkflowConflict) as error:
        session_transition(actor=nina, session=session, to="in_progress")
    assert error.value.code == "use_dose_administration"
    assert "register" in error.value.message
    assert SessionEvent.objects.count() == before
    session.refresh_from_db()
    assert session.status == "cleared"


def test_dosed_patient_is_discharged_only_through_the_discharge_check(nina, course_a):
    session = checked_in(nina, course_a)
    day_of_checks_record(actor=nina, session=session, inputs=SERVICE_INPUTS)
    session = move_dosing_session(nina, session, "in_progress")
    session = move_dosing_session(nina, session, "recovering")
    with pytest.raises(WorkflowConflict) as error:
        session_transition(actor=nina, session=session, to="discharged")
    assert error.value.code == "use_discharge_criteria"
    session.refresh_from_db()
    assert session.status == "recovering"
