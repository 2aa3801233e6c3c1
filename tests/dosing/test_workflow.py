"""Order → independent verification → administration, with the register written alongside."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from kapstone.care.models import CareSession
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.dosing.models import Administration, DoseOrder, RateEvent
from kapstone.dosing.services import (
    administration_complete,
    administration_rate_event,
    administration_start,
    dose_order_create,
    dose_order_verify,
    dose_order_void,
)
from kapstone.inventory.models import Lot, RegisterEntry
from kapstone.patients.services import measurement_record
from tests.conftest import audit_count
from tests.dosing.helpers import given_order

pytestmark = pytest.mark.django_db


def order(alice, session, **kw):
    return dose_order_create(
        actor=alice,
        session=session,
        mg_per_kg=kw.pop("mg_per_kg", "0.8"),
        concentration_mg_per_ml=kw.pop("concentration", "50"),
        bag_ml=kw.pop("bag_ml", "100"),
        **kw,
    )


class TestOrder:
    def test_order_computes_from_the_protocol_rule_and_latest_weight(self, alice, cleared_session):
        dose = order(alice, cleared_session)
        assert dose.weight_kg == Decimal("72.5")
        assert dose.dose_mg == Decimal("58.0")  # 0.8 mg/kg × 72.5 kg
        assert dose.route == "iv" and dose.over_min == Decimal("40")
        assert dose.rate_mg_per_min == Decimal("1.45")  # 58 mg over 40 min
        assert dose.volume_ml == Decimal("1.16")  # 58 mg at 50 mg/mL
        assert dose.rate_ml_per_h == Decimal("150.00")  # a 100 mL bag over 40 min
        assert dose.status == "ordered"
        assert audit_count(action="create", object_type="dose_order", actor=alice) == 1

    def test_adjusted_dose_needs_a_reason(self, alice, cleared_session):
        with pytest.raises(DomainError) as error:
            order(alice, cleared_session, mg_per_kg="0.7")
        assert error.value.code == "adjustment_reason_required"
        assert DoseOrder.objects.count() == 0
        dose = order(
            alice, cleared_session, mg_per_kg="0.7", adjustment_reason="strong dissociation last time"
        )
        assert dose.mg_per_kg == Decimal("0.7")

    def test_refuses_dose_above_the_rule_maximum(self, alice, cleared_session):
        with pytest.raises(DomainError) as error:
            order(alice, cleared_session, mg_per_kg="1.01", adjustment_reason="x")
        assert error.value.code == "dose_above_max"
        assert DoseOrder.objects.count() == 0

    def test_refuses_when_weight_is_too_old(self, alice, patient_a, cleared_session):
        from kapstone.patients.models import BodyMeasurement

        BodyMeasurement.objects.filter(patient=patient_a).update(
            measured_at=timezone.now() - timedelta(days=45)
        )
        with pytest.raises(WorkflowConflict) as error:
            order(alice, cleared_session)
        assert error.value.code == "weight_too_old"
        measurement_record(actor=alice, patient=patient_a, weight_kg="71", height_cm=None)
        assert order(alice, cleared_session).weight_kg == Decimal("71.0")

    def test_refuses_when_session_not_cleared(self, alice, course_a):
        from tests.care.conftest import first_dosing

        with pytest.raises(WorkflowConflict) as error:
            order(alice, first_dosing(course_a))
        assert error.value.code == "session_not_cleared"

    def test_one_live_order_per_session_and_void_allows_another(self, alice, cleared_session):
        first = order(alice, cleared_session)
        with pytest.raises(WorkflowConflict) as error:
            order(alice, cleared_session)
        assert error.value.code == "order_exists"
        dose_order_void(actor=alice, order=first, reason="wrong concentration")
        second = order(alice, cleared_session, concentration="10")
        assert second.volume_ml == Decimal("5.80")

    def test_nurse_cannot_order(self, nina, cleared_session):
        with pytest.raises(WorkflowConflict) as error:
            dose_order_create(
                actor=nina, session=cleared_session, mg_per_kg="0.8", concentration_mg_per_ml="50"
            )
        assert error.value.code == "prescriber_required"


class TestVerification:
    def test_second_clinician_verifies_matching_values(self, alice, nina, cleared_session):
        dose = order(alice, cleared_session)
        verified = dose_order_verify(actor=nina, order=dose, weight_kg="72.5", concentration_mg_per_ml="50")
        assert verified.status == "verified" and verified.verified_by == nina

    def test_orderer_cannot_verify_own_order(self, alice, cleared_session):
        dose = order(alice, cleared_session)
        with pytest.raises(WorkflowConflict) as error:
            dose_order_verify(actor=alice, order=dose, weight_kg="72.5", concentration_mg_per_ml="50")
        assert error.value.code == "verifier_must_differ"

    def test_mismatch_is_refused_audited_and_changes_nothing(self, alice, nina, cleared_session):
        dose = order(alice, cleared_session)
        with pytest.raises(DomainError) as error:
            dose_order_verify(actor=nina, order=dose, weight_kg="75.2", concentration_mg_per_ml="50")
        assert error.value.code == "verification_mismatch" and error.value.field == "weight_kg"
        assert "72.5" not in error.value.message  # the ordered value is not revealed
        dose.refresh_from_db()
        assert dose.status == "ordered" and dose.verified_by is None
        assert audit_count(action="denied", object_type="dose_order", actor=nina) == 1

    def test_unverified_order_cannot_be_given(self, alice, nina, cleared_session, lot_50):
        dose = order(alice, cleared_session)
        with pytest.raises(WorkflowConflict) as error:
            administration_start(actor=nina, order=dose, lot=lot_50, started_at=timezone.now())
        assert error.value.code == "order_not_verified"
        assert RegisterEntry.objects.filter(kind="dispense").count() == 0


class TestAdministration:
    def verified(self, alice, nina, session, start=None):
        """Ordered, verified and a baseline recorded before ``start`` (default: now)."""
        return given_order(alice, nina, session, started_at=start or timezone.now())

    def test_full_infusion_with_a_pause_writes_register_and_moves_session(
        self, alice, nina, cleared_session, lot_50
    ):
        start = timezone.now() - timedelta(minutes=50)
        dose = self.verified(alice, nina, cleared_session, start)
        administration = administration_start(actor=nina, order=dose, lot=lot_50, started_at=start)
        assert CareSession.objects.get(pk=cleared_session.pk).status == "in_progress"
        assert Lot.objects.get(pk=lot_50.pk).balance_mg == Decimal("942.0")  # 58 mg dispensed
        administration_rate_event(
            actor=nina,
            administration=administration,
            kind="pause",
            at=start + timedelta(minutes=20),
            reason="BP 172/98, waiting",
        )
        administration_rate_event(
            actor=nina, administration=administration, kind="resume", at=start + timedelta(minutes=25)
        )
        done = administration_complete(
            actor=nina, administration=administration, ended_at=start + timedelta(minutes=45), witness=alice
        )
        assert done.given_mg == Decimal("58.0")  # 40 min at the ordered rate
        assert done.wasted_mg == Decimal("0.0")
        assert CareSession.objects.get(pk=cleared_session.pk).status == "recovering"
        assert list(
            RegisterEntry.objects.filter(session=cleared_session)
            .order_by("id")
            .values_list("kind", flat=True)
        ) == ["dispense", "administer"]
        assert [e.kind for e in RateEvent.objects.filter(administration=done).order_by("at", "id")] == [
            "start",
            "pause",
            "resume",
            "stop",
        ]

    def test_stopped_early_wastes_the_rest_with_a_witness(self, alice, nina, terry, cleared_session, lot_50):
        start = timezone.now() - timedelta(minutes=30)
        dose = self.verified(alice, nina, cleared_session, start)
        administration = administration_start(actor=nina, order=dose, lot=lot_50, started_at=start)
        end = start + timedelta(minutes=20)
        with pytest.raises(DomainError) as error:
            administration_complete(
                actor=nina,
                administration=administration,
                ended_at=end,
                stopped_early=True,
                stop_reason="emergence reaction",
            )
        assert error.value.code == "witness_required"
        assert RegisterEntry.objects.filter(kind="waste").count() == 0
        done = administration_complete(
            actor=nina,
            administration=administration,
            ended_at=end,
            witness=alice,
            stopped_early=True,
            stop_reason="emergence reaction",
        )
        assert done.given_mg == Decimal("29.0")  # 20 min × 1.45 mg/min
        assert done.wasted_mg == Decimal("29.0")
        waste = RegisterEntry.objects.get(kind="waste")
        assert waste.witness == alice and waste.amount_mg == Decimal("29.0")
        assert DoseOrder.objects.get(pk=dose.pk).status == "stopped"

    def test_wrong_concentration_lot_is_refused(self, alice, nina, adam, clinic_a, cleared_session):
        from kapstone.inventory.services import location_create, lot_receive, product_create

        location = location_create(actor=adam, clinic=clinic_a, name="Second safe")
        product = product_create(
            actor=adam, name="Ketamine HCl", ndc="00000-0100-05", strength_mg_per_ml="100", vial_volume_ml="5"
        )
        lot = lot_receive(
            actor=adam,
            clinic=clinic_a,
            location=location,
            product=product,
            lot_number="K100",
            expiry=cleared_session.scheduled_date + timedelta(days=100),
            amount_mg="500",
        )
        dose = self.verified(alice, nina, cleared_session)
        with pytest.raises(DomainError) as error:
            administration_start(actor=nina, order=dose, lot=lot, started_at=timezone.now())
        assert error.value.code == "lot_concentration_mismatch"
        assert (
            Administration.objects.count() == 0 and RegisterEntry.objects.filter(kind="dispense").count() == 0
        )

    def test_rate_change_needs_reason_and_stays_near_the_order(self, alice, nina, cleared_session, lot_50):
        start = timezone.now() - timedelta(minutes=10)
        dose = self.verified(alice, nina, cleared_session, start)
        administration = administration_start(actor=nina, order=dose, lot=lot_50, started_at=start)
        with pytest.raises(DomainError) as error:
            administration_rate_event(
                actor=nina,
                administration=administration,
                kind="change",
                at=start + timedelta(minutes=5),
                rate="100",
            )
        assert error.value.code == "reason_required"
        with pytest.raises(DomainError) as error:
            administration_rate_event(
                actor=nina,
                administration=administration,
                kind="change",
                at=start + timedelta(minutes=5),
                rate="400",
                reason="faster",
            )
        assert error.value.code == "rate_above_order"
        assert RateEvent.objects.filter(administration=administration).count() == 1


class TestWeb:
    def test_order_page_is_blind_for_the_verifier(self, as_user, alice, nina, cleared_session):
        dose = order(alice, cleared_session)
        page = as_user(nina).get(reverse("dosing:order", args=[dose.pk]))
        assert page.status_code == 200
        assert b"hidden until your check is accepted" in page.content
        assert b"72.5" not in page.content
        own = as_user(alice).get(reverse("dosing:order", args=[dose.pk]))
        assert b"72.5 kg" in own.content

    def test_order_form_shows_arithmetic_and_signs(self, as_user, alice, cleared_session):
        client = as_user(alice)
        url = reverse("dosing:order_create", args=[cleared_session.pk])
        page = client.get(url)
        assert page.status_code == 200 and b"58.0 mg" in page.content and b"pk-figure" in page.content
        response = client.post(
            url, {"mg_per_kg": "0.8", "concentration_mg_per_ml": "50", "bag_ml": "100", "sign": "1"}
        )
        assert response.status_code == 302
        assert DoseOrder.objects.get().dose_mg == Decimal("58.0")

    def test_order_form_refusal_keeps_input(self, as_user, alice, cleared_session):
        response = as_user(alice).post(
            reverse("dosing:order_create", args=[cleared_session.pk]),
            {"mg_per_kg": "8", "concentration_mg_per_ml": "50", "bag_ml": "100", "sign": "1"},
        )
        assert response.status_code == 400
        assert b"dose_above_max" in response.content and b'value="8"' in response.content
        assert DoseOrder.objects.count() == 0

    def test_verify_mismatch_on_the_page(self, as_user, alice, nina, cleared_session):
        dose = order(alice, cleared_session)
        response = as_user(nina).post(
            reverse("dosing:verify", args=[dose.pk]), {"weight_kg": "27.5", "concentration_mg_per_ml": "50"}
        )
        assert response.status_code == 400
        assert b"verification_mismatch" in response.content
        dose.refresh_from_db()
        assert dose.status == "ordered"

    def test_other_clinic_404(self, as_user, alice, carol, cleared_session):
        dose = order(alice, cleared_session)
        client = as_user(carol)
        assert client.get(reverse("dosing:order", args=[dose.pk])).status_code == 404
        assert client.get(reverse("dosing:order_create", args=[cleared_session.pk])).status_code == 404
        response = client.post(
            reverse("dosing:verify", args=[dose.pk]), {"weight_kg": "72.5", "concentration_mg_per_ml": "50"}
        )
        assert response.status_code == 404 and b"Zzyzxfield" not in response.content

    def test_therapist_cannot_verify(self, as_user, alice, terry, cleared_session):
        dose = order(alice, cleared_session)
        response = as_user(terry).post(
            reverse("dosing:verify", args=[dose.pk]), {"weight_kg": "72.5", "concentration_mg_per_ml": "50"}
        )
        assert response.status_code == 403


def test_session_page_shows_the_order_and_its_pk_curve(as_user, alice, nina, cleared_session):
    dose = order(alice, cleared_session)
    page = as_user(alice).get(reverse("care:session", args=[cleared_session.pk]))
    assert page.status_code == 200
    assert b"58.0 mg IV" in page.content and b'id="pk-figure"' in page.content
    # Until the independent check, the verifier sees neither the curve nor the weight behind it.
    blind = as_user(nina).get(reverse("care:session", args=[cleared_session.pk]))
    assert b'id="pk-figure"' not in blind.content
    dose_order_verify(actor=nina, order=dose, weight_kg="72.5", concentration_mg_per_ml="50")
    assert b'id="pk-figure"' in as_user(nina).get(reverse("care:session", args=[cleared_session.pk])).content
