"""The liver-test gate on a dose order (dosing/liver_gate.py) through the service, the order form
and the API; the rule's boundaries are tests/domain/test_liver.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from kapstone.domain.errors import WorkflowConflict
from kapstone.dosing import gates
from kapstone.dosing.liver_gate import GATE_KEY, liver_order_gate
from kapstone.dosing.models import DoseOrder
from kapstone.dosing.services import dose_order_create
from kapstone.patients.models import LiverTest
from kapstone.patients.services import clinic_today, liver_test_void
from tests.api.test_patients_api import Api, error_of
from tests.conftest import audit_count, record_liver_panel

pytestmark = pytest.mark.django_db


def order(alice, session):
    return dose_order_create(
        actor=alice, session=session, mg_per_kg="0.8", concentration_mg_per_ml="50", bag_ml="100"
    )


def refused(alice, session, code):
    before = (DoseOrder.objects.count(), audit_count(action="create", object_type="dose_order"))
    with pytest.raises(WorkflowConflict) as error:
        order(alice, session)
    assert error.value.code == code
    assert (DoseOrder.objects.count(), audit_count(action="create", object_type="dose_order")) == before
    return error.value


class TestGate:
    def test_registered_at_startup(self):
        assert gates._GATES[GATE_KEY] is liver_order_gate

    def test_no_results_defers_the_order(self, alice, cleared_session):
        LiverTest.objects.all().delete()  # the fixture's panel: this test needs none
        error = refused(alice, cleared_session, "liver_tests_missing")
        assert "ALT, AST, Total bilirubin" in error.message

    def test_a_voided_result_no_longer_counts(self, alice, nina, cleared_session):
        alt = LiverTest.objects.get(patient=cleared_session.patient, test="alt")
        liver_test_void(actor=nina, liver_test=alt, reason="Wrong patient's report.")
        refused(alice, cleared_session, "liver_tests_missing")

    def test_alt_above_three_times_defers_and_exactly_three_times_does_not(
        self, alice, nina, cleared_session
    ):
        record_liver_panel(nina, cleared_session.patient, alt="120.01")
        error = refused(alice, cleared_session, "liver_tests_above_limit")
        assert "ALT 120.01 U/L" in error.message and "120.00 U/L" in error.message
        record_liver_panel(nina, cleared_session.patient, alt="120")
        assert order(alice, cleared_session).status == "ordered"

    def test_baseline_n_days_passes_and_n_plus_one_is_due(self, alice, nina, cleared_session):
        LiverTest.objects.all().delete()
        day = cleared_session.scheduled_date
        record_liver_panel(nina, cleared_session.patient, taken_on=day - timedelta(days=31))
        refused(alice, cleared_session, "liver_tests_due")
        record_liver_panel(nina, cleared_session.patient, taken_on=day - timedelta(days=30))
        assert order(alice, cleared_session).status == "ordered"

    def test_api_answers_409_with_the_code(self, alice, nina, cleared_session):
        record_liver_panel(nina, cleared_session.patient, ast="500")
        response = Api(alice).post(
            f"/sessions/{cleared_session.pk}/dose-orders", {"concentration_mg_per_ml": 50, "bag_ml": 100}
        )
        assert response.status_code == 409
        assert error_of(response)["code"] == "liver_tests_above_limit"
        assert DoseOrder.objects.count() == 0

    def test_the_order_form_says_why_up_front(self, as_user, alice, nina, cleared_session):
        record_liver_panel(nina, cleared_session.patient, bilirubin="9")
        body = as_user(alice).get(reverse("dosing:order_create", args=[cleared_session.pk])).content.decode()
        assert "cannot be signed yet" in body and "Total bilirubin 9.00 mg/dL" in body


class TestRepeat:
    """The gate's own reading of the doses given (orders completed, stopped or being given, in
    any course) and of the course's first dose, on a course whose protocol repeats after 2."""

    def course(self, course_a):
        from kapstone.care.models import CareSession

        data = dict(course_a.protocol_data)
        data["liver"] = {**data.get("liver", {}), "repeat_after_sessions": 2}
        course_a.protocol_data = data
        course_a.save(update_fields=["protocol_data"])
        return list(CareSession.objects.filter(course=course_a, kind="dosing").order_by("order"))

    def test_repeat_after_m_doses_and_the_baseline_only_before_the_first(self, alice, nina, course_a, lot_50):
        from tests.safety.conftest import give_doses

        sessions = self.course(course_a)
        third = sessions[2]
        patient = course_a.patient
        give_doses(course_a, alice, nina, lot_50, [(14, "58"), (7, "58")])
        third.refresh_from_db()
        third.scheduled_date = clinic_today(patient.clinic)
        third.save(update_fields=["scheduled_date"])
        # Taken before both doses: 2 doses since, the repeat is due.
        record_liver_panel(nina, patient, taken_on=third.scheduled_date - timedelta(days=20))
        error = liver_order_gate(third)
        assert error.code == "liver_tests_due" and "2 doses" in error.message
        # A voided order is not a dose given.
        DoseOrder.objects.filter(session=sessions[1]).update(status="voided")
        assert liver_order_gate(third) is None
        DoseOrder.objects.filter(session=sessions[1]).update(status="completed")
        assert liver_order_gate(third).code == "liver_tests_due"
        # Taken between them: 1 dose since, and 10 days old does not matter after the first dose.
        record_liver_panel(nina, patient, taken_on=third.scheduled_date - timedelta(days=10))
        assert liver_order_gate(third) is None
