"""Issue 11, defect 3: no ketamine without a complete baseline set of vital signs.

The monitoring app's start gate (``monitoring/baseline_gate.py``), consulted by
``dosing.services.administration_start`` through the registry of ``dosing/gates.py``: on the
order page before the nurse presses start, in the service, in the web form and in the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from kapstone.care.models import CareSession
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.dosing import gates
from kapstone.dosing.models import Administration, DoseOrder, StartOverride
from kapstone.dosing.services import administration_start
from kapstone.inventory.models import RegisterEntry
from kapstone.monitoring.baseline_gate import GATE_KEY, baseline_start_gate
from kapstone.monitoring.models import Observation
from kapstone.monitoring.services import observation_void
from tests.api.test_patients_api import Api, error_of
from tests.conftest import audit_count
from tests.dosing.helpers import record_baseline
from tests.dosing.test_step_order import order

pytestmark = pytest.mark.django_db

ALL_MISSING = "Blood pressure, heart rate, SpO2, respiratory rate, MOAA/S sedation score"


@pytest.fixture
def verified(alice, nina, cleared_session):
    """A verified order of the cleared session, written 30 and verified 25 min ago; no vitals."""
    from kapstone.dosing.services import dose_order_verify

    dose = order(alice, cleared_session, at=timezone.now() - timedelta(minutes=30))
    return dose_order_verify(
        actor=nina,
        order=dose,
        weight_kg="72.5",
        concentration_mg_per_ml="50",
        at=timezone.now() - timedelta(minutes=25),
    )


def nothing_written(dose, session) -> None:
    assert Administration.objects.count() == 0 and StartOverride.objects.count() == 0
    assert RegisterEntry.objects.filter(kind="dispense").count() == 0
    assert audit_count(action="create", object_type="administration") == 0
    assert audit_count(object_type="start_override") == 0
    assert DoseOrder.objects.get(pk=dose.pk).status == "verified"
    assert CareSession.objects.get(pk=session.pk).status == "cleared"


def refused(actor, dose, lot, *, code="baseline_vitals_required", **kwargs) -> DomainError:
    with pytest.raises(WorkflowConflict) as error:
        administration_start(actor=actor, order=dose, lot=lot, started_at=timezone.now(), **kwargs)
    assert error.value.code == code
    nothing_written(dose, dose.session)
    return error.value


def test_monitoring_registers_its_gate_at_startup():
    assert gates._START_GATES[GATE_KEY] is baseline_start_gate


class TestService:
    def test_no_vitals_at_all_is_refused_naming_every_item(self, nina, verified, lot_50):
        error = refused(nina, verified, lot_50)
        assert error.message.startswith(f"Baseline vital signs missing: {ALL_MISSING}.")
        assert error.field is None  # shown above the start form, not beside one field

    def test_names_only_what_is_missing(self, nina, cleared_session, verified, lot_50):
        record_baseline(
            nina,
            cleared_session,
            timezone.now() - timedelta(minutes=10),
            diastolic_bp=None,
            respiratory_rate=None,
        )
        error = refused(nina, verified, lot_50)
        assert error.message.startswith("Baseline vital signs missing: Blood pressure, respiratory rate.")

    def test_a_complete_set_in_the_window_lets_the_dose_start(self, nina, cleared_session, verified, lot_50):
        record_baseline(nina, cleared_session, timezone.now() - timedelta(minutes=59))
        administration = administration_start(
            actor=nina, order=verified, lot=lot_50, started_at=timezone.now()
        )
        assert administration.overrides.count() == 0
        assert CareSession.objects.get(pk=cleared_session.pk).status == "in_progress"

    def test_a_set_older_than_the_window_does_not_count(self, nina, cleared_session, verified, lot_50):
        record_baseline(nina, cleared_session, timezone.now() - timedelta(minutes=61))
        assert refused(nina, verified, lot_50).message.startswith(
            f"Baseline vital signs missing: {ALL_MISSING}."
        )

    def test_a_voided_reading_does_not_count(self, nina, cleared_session, verified, lot_50):
        record_baseline(nina, cleared_session, timezone.now() - timedelta(minutes=5))
        spo2 = Observation.objects.get(session=cleared_session, code="spo2")
        observation_void(actor=nina, observation=spo2, reason="probe off the finger")
        assert refused(nina, verified, lot_50).message.startswith("Baseline vital signs missing: SpO2.")

    def test_the_window_and_the_moaas_are_the_protocols(self, nina, cleared_session, verified, lot_50):
        course = cleared_session.course
        course.protocol_data["monitoring"] = {
            **course.protocol_data["monitoring"],
            "baseline_window_min": 30,
            "baseline_moaas": False,
        }
        course.save(update_fields=["protocol_data"])
        record_baseline(nina, cleared_session, timezone.now() - timedelta(minutes=45))
        assert refused(nina, verified, lot_50).message.endswith("recorded in the 30 minutes before it.")
        record_baseline(nina, cleared_session, timezone.now() - timedelta(minutes=20), moaas=None)
        assert administration_start(actor=nina, order=verified, lot=lot_50, started_at=timezone.now())

    def test_a_snapshot_without_the_parameters_uses_the_defaults(
        self, nina, cleared_session, verified, lot_50
    ):
        """Courses enrolled before the parameters existed: 60 min, MOAA/S required."""
        course = cleared_session.course
        for key in ("baseline_window_min", "baseline_moaas"):
            course.protocol_data["monitoring"].pop(key, None)
        course.save(update_fields=["protocol_data"])
        record_baseline(nina, cleared_session, timezone.now() - timedelta(minutes=50), moaas=None)
        assert refused(nina, verified, lot_50).message.startswith("Baseline vital signs missing: MOAA/S")


class TestOverride:
    def test_a_nurse_cannot_override(self, nina, verified, lot_50):
        error = refused(
            nina, verified, lot_50, code="override_requires_prescriber", override_reason="monitor broken"
        )
        assert error.field == "override_reason" and "Blood pressure" in error.message

    def test_a_prescriber_needs_a_reason(self, alice, verified, lot_50):
        refused(alice, verified, lot_50, override_reason="   ")

    def test_a_prescribers_override_is_stored_and_audited(
        self, alice, nina, cleared_session, verified, lot_50
    ):
        record_baseline(
            nina,
            cleared_session,
            timezone.now() - timedelta(minutes=5),
            systolic_bp=None,
            respiratory_rate=None,
        )
        administration = administration_start(
            actor=alice,
            order=verified,
            lot=lot_50,
            started_at=timezone.now(),
            override_reason="Cuff failed twice; manual pulse regular; benefit outweighs the risk.",
        )
        override = StartOverride.objects.get(administration=administration)
        assert (override.gate, override.code) == (GATE_KEY, "baseline_vitals_required")
        assert override.detail["missing"] == ["blood_pressure", "respiratory_rate"]
        assert override.detail["missing_words"] == "Blood pressure, respiratory rate"
        assert override.reason.startswith("Cuff failed twice")
        assert override.overridden_by == alice and override.overridden_at is not None
        assert (
            audit_count(
                action="create",
                object_type="start_override",
                object_id=str(override.pk),
                actor=alice,
                detail__missing=["blood_pressure", "respiratory_rate"],
            )
            == 1
        )
        with pytest.raises(ValueError, match="append-only"):
            override.save()

    def test_a_reason_without_an_objection_stores_nothing(
        self, alice, nina, cleared_session, verified, lot_50
    ):
        record_baseline(nina, cleared_session, timezone.now() - timedelta(minutes=5))
        administration = administration_start(
            actor=alice, order=verified, lot=lot_50, started_at=timezone.now(), override_reason="just in case"
        )
        assert administration.overrides.count() == 0
        assert audit_count(object_type="start_override") == 0


class TestWeb:
    def start_post(self, lot, **extra):
        now = timezone.localtime(timezone.now())
        return {"lot_1": lot.pk, "started_at": now.strftime("%Y-%m-%dT%H:%M"), **extra}

    def test_the_order_page_names_what_is_missing_before_start(self, as_user, nina, verified, lot_50):
        page = as_user(nina).get(reverse("dosing:order", args=[verified.pk])).content.decode()
        assert "Not ready to start." in page and f"Baseline vital signs missing: {ALL_MISSING}." in page
        assert "a prescriber may start anyway" in page
        assert 'name="override_reason"' not in page  # the nurse has no override

    def test_the_session_page_names_it_too(self, as_user, nina, cleared_session, verified):
        page = as_user(nina).get(reverse("care:session", args=[cleared_session.pk])).content.decode()
        assert f"Baseline vital signs missing: {ALL_MISSING}." in page

    def test_a_refused_start_keeps_the_input_and_writes_nothing(self, as_user, nina, verified, lot_50):
        with timezone.override(verified.session.clinic.timezone):
            post = self.start_post(lot_50)
        response = as_user(nina).post(reverse("dosing:start", args=[verified.pk]), post)
        assert response.status_code == 400
        body = response.content.decode()
        assert body.count(f"Baseline vital signs missing: {ALL_MISSING}.") == 1  # said once
        assert "Start refused." in body
        assert f'value="{post["started_at"]}"' in body
        nothing_written(verified, verified.session)

    def test_a_prescriber_starts_with_a_reason_and_the_session_shows_it(
        self, as_user, alice, cleared_session, verified, lot_50
    ):
        client = as_user(alice)
        page = client.get(reverse("dosing:order", args=[verified.pk])).content.decode()
        assert 'name="override_reason"' in page
        with timezone.override(cleared_session.clinic.timezone):
            post = self.start_post(lot_50, override_reason="Monitor failed; patient well; proceeding.")
        response = client.post(reverse("dosing:start", args=[verified.pk]), post)
        assert response.status_code == 302
        session_page = client.get(reverse("care:session", args=[cleared_session.pk])).content.decode()
        assert "Started without a complete baseline set of vital signs" in session_page
        assert f"Missing at the start: {ALL_MISSING}." in session_page
        assert "Reason: Monitor failed; patient well; proceeding." in session_page
        assert "baseline_vitals_required" not in session_page


class TestApi:
    def body(self, lot, **extra):
        return {"lot_id": lot.pk, "started_at": timezone.now().isoformat(), **extra}

    def test_409_with_the_code_and_the_missing_items(self, nina, verified, lot_50):
        response = Api(nina).post(f"/dose-orders/{verified.pk}/administrations", self.body(lot_50))
        assert response.status_code == 409
        error = error_of(response)
        assert error["code"] == "baseline_vitals_required" and ALL_MISSING in error["message"]
        nothing_written(verified, verified.session)

    def test_a_prescribers_override_is_in_the_answer(self, alice, verified, lot_50):
        response = Api(alice).post(
            f"/dose-orders/{verified.pk}/administrations",
            self.body(lot_50, override_reason="Monitor failed; patient well."),
        )
        assert response.status_code == 201, response.content
        (override,) = response.json()["overrides"]
        assert override["code"] == "baseline_vitals_required" and override["overridden_by"] == "alice"
        assert override["missing"] == ["blood_pressure", "heart_rate", "spo2", "respiratory_rate", "moaas"]
