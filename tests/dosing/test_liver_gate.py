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
from kapstone.patients.services import liver_test_void
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
