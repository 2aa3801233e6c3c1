"""Gates on a new dose order, and the ASRA rule that safety registers as one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.dosing import gates
from kapstone.dosing.models import DoseOrder
from kapstone.dosing.services import dose_order_create
from kapstone.safety.dosing_gate import GATE_KEY, asra_order_gate
from kapstone.safety.models import DependenceDecision, MisuseDocumentation
from kapstone.safety.services import dependence_decision_record, misuse_document
from tests.api.test_patients_api import Api, error_of
from tests.conftest import audit_count

pytestmark = pytest.mark.django_db


def order(alice, session):
    return dose_order_create(
        actor=alice, session=session, mg_per_kg="0.8", concentration_mg_per_ml="50", bag_ml="100"
    )


def refused(alice, session, code: str) -> DomainError:
    before = (DoseOrder.objects.count(), audit_count(action="create", object_type="dose_order"))
    with pytest.raises(WorkflowConflict) as error:
        order(alice, session)
    assert error.value.code == code
    assert (DoseOrder.objects.count(), audit_count(action="create", object_type="dose_order")) == before
    return error.value


def document_misuse(nina, patient, note="Ketamine-positive urine outside treatment; admits use."):
    return misuse_document(actor=nina, patient=patient, active=True, note=note)


class TestRegistry:
    def test_safety_registers_its_gate_at_startup(self):
        assert gates._GATES[GATE_KEY] is asra_order_gate

    def test_the_first_refusal_is_raised_and_a_gate_can_be_removed(self, alice, cleared_session):
        gates.register_order_gate("zz_test", lambda session: WorkflowConflict("test_gate", "no"))
        try:
            assert gates.order_refusal(cleared_session).code == "test_gate"
            refused(alice, cleared_session, "test_gate")
        finally:
            gates.unregister_order_gate("zz_test")
        assert gates.order_refusal(cleared_session) is None
        assert order(alice, cleared_session).status == "ordered"


class TestAsraRule:
    def test_no_misuse_no_objection(self, alice, nina, cleared_session):
        misuse_document(actor=nina, patient=cleared_session.patient, active=False, note="Screen negative.")
        assert order(alice, cleared_session).status == "ordered"

    def test_active_misuse_needs_a_decision_then_continue_allows_it_then_new_misuse_blocks_again(
        self, alice, nina, cleared_session
    ):
        patient = cleared_session.patient
        document_misuse(nina, patient)
        error = refused(alice, cleared_session, "prescriber_decision_required")
        assert "ASRA 2018" in error.message and "decision" in error.message
        dependence_decision_record(
            actor=alice,
            patient=patient,
            decision="continue",
            reason="Abstinent 2 weeks; benefit outweighs risk.",
        )
        assert gates.order_refusal(cleared_session) is None
        # New misuse documented after the decision: the old decision no longer counts.
        later = document_misuse(nina, patient, note="Craving and ketamine-positive urine again.")
        decision = DependenceDecision.objects.get()
        assert later.documented_at > decision.decided_at
        refused(alice, cleared_session, "prescriber_decision_required")
        dependence_decision_record(
            actor=alice, patient=patient, decision="continue", reason="Reviewed again."
        )
        assert order(alice, cleared_session).status == "ordered"

    def test_a_decision_before_the_misuse_does_not_count(self, alice, nina, cleared_session):
        patient = cleared_session.patient
        dependence_decision_record(
            actor=alice, patient=patient, decision="continue", reason="Routine review."
        )
        misuse = document_misuse(nina, patient)
        # Same instant counts (the watch's rule is "at or after"); one microsecond earlier does not.
        DependenceDecision.objects.update(decided_at=misuse.documented_at - timedelta(microseconds=1))
        refused(alice, cleared_session, "prescriber_decision_required")
        DependenceDecision.objects.update(decided_at=misuse.documented_at)
        assert gates.order_refusal(cleared_session) is None

    @pytest.mark.parametrize("decision", ["pause", "stop"])
    def test_a_decision_to_pause_or_stop_refuses_with_its_own_code(
        self, alice, nina, cleared_session, decision
    ):
        patient = cleared_session.patient
        document_misuse(nina, patient)
        dependence_decision_record(
            actor=alice, patient=patient, decision=decision, reason="Relapse; reassess."
        )
        error = refused(alice, cleared_session, "dosing_halted_by_decision")
        assert f"to {decision} dosing" in error.message and "Relapse; reassess." in error.message
        # Still halted once misuse is no longer active: only a decision to continue lifts it.
        misuse_document(actor=nina, patient=patient, active=False, note="Abstinent, urine negative.")
        refused(alice, cleared_session, "dosing_halted_by_decision")
        dependence_decision_record(actor=alice, patient=patient, decision="continue", reason="Resume.")
        assert order(alice, cleared_session).status == "ordered"

    def test_another_patient_is_not_affected(self, alice, nina, cleared_session, patient_a):
        from tests.conftest import new_patient

        other = new_patient(alice, cleared_session.clinic, mrn="A-OTHER")
        document_misuse(nina, other)
        assert MisuseDocumentation.objects.filter(patient=cleared_session.patient).count() == 0
        assert order(alice, cleared_session).status == "ordered"


class TestWebAndApi:
    def test_the_order_form_shows_the_reason_up_front_and_signing_is_refused(
        self, as_user, alice, nina, cleared_session
    ):
        document_misuse(nina, cleared_session.patient)
        client = as_user(alice)
        url = reverse("dosing:order_create", args=[cleared_session.pk])
        page = client.get(url)
        assert page.status_code == 200
        body = page.content.decode()
        assert "prescriber_decision_required" in body and "cannot be signed yet" in body
        assert 'name="sign" value="1" class="primary" disabled' in body
        response = client.post(
            url, {"mg_per_kg": "0.8", "concentration_mg_per_ml": "50", "bag_ml": "100", "sign": "1"}
        )
        assert response.status_code == 400
        assert "prescriber_decision_required" in response.content.decode()
        assert DoseOrder.objects.count() == 0

    def test_the_form_has_no_banner_without_a_refusal(self, as_user, alice, cleared_session):
        body = as_user(alice).get(reverse("dosing:order_create", args=[cleared_session.pk])).content.decode()
        assert "cannot be signed yet" not in body

    def test_api_answers_409_with_the_code(self, alice, nina, cleared_session):
        document_misuse(nina, cleared_session.patient)
        response = Api(alice).post(
            f"/sessions/{cleared_session.pk}/dose-orders", {"concentration_mg_per_ml": 50, "bag_ml": 100}
        )
        assert response.status_code == 409
        assert error_of(response)["code"] == "prescriber_decision_required"
        assert DoseOrder.objects.count() == 0
