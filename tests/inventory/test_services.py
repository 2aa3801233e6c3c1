"""The register's services: each transaction, every refusal (nothing written), audit rows,
database constraints, append-only entries, and the last-vial race on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, IntegrityError, connection, connections, transaction

from kapstone.accounts.models import Role
from kapstone.accounts.services import membership_set
from kapstone.audit.models import AuditEvent
from kapstone.care.services import day_of_checks_record, session_transition
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.inventory import services
from kapstone.inventory.models import CountLine, CountSession, Lot, RegisterEntry
from kapstone.patients.services import clinic_today
from tests.care.conftest import first_dosing, move_dosing_session
from tests.care.test_sessions import SERVICE_INPUTS
from tests.conftest import audit_count, make_user

pytestmark = pytest.mark.django_db
D = Decimal


def snapshot(*lots):
    """Everything a refused request must leave as it was."""
    return (
        RegisterEntry.objects.count(),
        Lot.objects.count(),
        AuditEvent.objects.filter(object_type="register_entry").count(),
        tuple(Lot.objects.get(pk=lot.pk).balance_mg for lot in lots),
    )


def refused(error_type, code, before, func, **kwargs):
    with pytest.raises(error_type) as info:
        func(**kwargs)
    assert info.value.code == code, info.value
    assert snapshot(*[v for v in kwargs.values() if isinstance(v, Lot)]) == before
    return info.value


class TestReceive:
    def test_lot_receive_creates_the_lot_and_its_receipt(self, adam, lot_a):
        assert lot_a.balance_mg == D("1000")
        entry = RegisterEntry.objects.get(lot=lot_a)
        assert (entry.kind, entry.amount_mg, entry.stock_effect_mg, entry.balance_after_mg) == (
            "receive",
            D("1000"),
            D("1000"),
            D("1000"),
        )
        assert (entry.balance_after_ml, entry.balance_after_vials) == (D("20.00"), D("2.00"))
        assert entry.actor == adam and entry.session is None
        event = AuditEvent.objects.get(object_type="register_entry", object_id=str(entry.pk))
        assert event.actor == adam and event.action == "create" and event.detail["kind"] == "receive"
        assert event.patient_id is None
        assert audit_count(object_type="lot", action="create", object_id=str(lot_a.pk)) == 1

    def test_receive_adds_to_an_existing_lot(self, adam, lot_a):
        entry = services.register_receive(actor=adam, lot=lot_a, amount_mg="500", reason="Invoice 4411")
        lot_a.refresh_from_db()
        assert (
            lot_a.balance_mg == D("1500")
            and entry.balance_after_vials == D("3.00")
            and entry.reason == "Invoice 4411"
        )

    def test_refuses_the_same_lot_twice_at_one_location(self, adam, clinic_a, safe_a, ketamine_50, lot_a):
        before = snapshot(lot_a)
        with pytest.raises(DomainError) as info:
            services.lot_receive(
                actor=adam,
                clinic=clinic_a,
                location=safe_a,
                product=ketamine_50,
                lot_number="KA-1001",
                expiry=lot_a.expiry,
                amount_mg="500",
            )
        assert info.value.code == "lot_exists"
        assert snapshot(lot_a) == before

    def test_refuses_receiving_an_expired_lot(self, adam, clinic_a, safe_a, ketamine_50):
        with pytest.raises(WorkflowConflict) as info:
            services.lot_receive(
                actor=adam,
                clinic=clinic_a,
                location=safe_a,
                product=ketamine_50,
                lot_number="OLD-1",
                expiry=clinic_today(clinic_a) - timedelta(days=1),
                amount_mg="500",
            )
        assert info.value.code == "lot_expired"
        assert Lot.objects.count() == 0 and RegisterEntry.objects.count() == 0

    def test_refuses_a_location_of_another_clinic(self, bella, clinic_b, safe_a, ketamine_50):
        with pytest.raises(DomainError) as info:
            services.lot_receive(
                actor=bella,
                clinic=clinic_b,
                location=safe_a,
                product=ketamine_50,
                lot_number="X-1",
                expiry=clinic_today(clinic_b) + timedelta(days=9),
                amount_mg="500",
            )
        assert info.value.code == "location_other_clinic"
        assert Lot.objects.count() == 0

    def test_a_nurse_cannot_receive(self, nina, lot_a):
        before = snapshot(lot_a)
        with pytest.raises(PermissionDenied):
            services.register_receive(actor=nina, lot=lot_a, amount_mg="500")
        assert snapshot(lot_a) == before


class TestDispense:
    def test_dispense_moves_stock_into_the_sessions_hands(self, nina, lot_a, session_a):
        entry = services.register_dispense(actor=nina, lot=lot_a, session=session_a, amount_mg="500")
        assert (entry.stock_effect_mg, entry.balance_after_mg, entry.in_hand_after_mg) == (
            D("-500"),
            D("500"),
            D("500"),
        )
        assert lot_a.balance_mg == D("500")  # the caller's object follows
        assert Lot.objects.get(pk=lot_a.pk).balance_mg == D("500")
        assert services.session_in_hand_mg(session_a) == D("500")
        assert services.session_in_hand_mg(session_a, lot_a) == D("500")
        event = AuditEvent.objects.get(object_type="register_entry", object_id=str(entry.pk))
        assert event.patient_id == session_a.patient_id and event.detail["session_id"] == session_a.pk
        assert "Zzyzxfield" not in str(event.detail)

    def test_refuses_more_than_the_stock_with_the_balance_in_the_message(self, nina, lot_a, session_a):
        before = snapshot(lot_a)
        error = refused(
            WorkflowConflict,
            "insufficient_stock",
            before,
            services.register_dispense,
            actor=nina,
            lot=lot_a,
            session=session_a,
            amount_mg="1000.1",
        )
        assert "1000.0 mg" in error.message

    def test_refuses_an_expired_lot_and_writes_nothing(self, nina, lot_a, session_a):
        Lot.objects.filter(pk=lot_a.pk).update(expiry=clinic_today(lot_a.clinic) - timedelta(days=1))
        lot_a.refresh_from_db()
        before = snapshot(lot_a)
        error = refused(
            WorkflowConflict,
            "lot_expired",
            before,
            services.register_dispense,
            actor=nina,
            lot=lot_a,
            session=session_a,
            amount_mg="100",
        )
        assert "KA-1001" in error.message
        assert services.session_in_hand_mg(session_a) == 0

    def test_expiry_is_judged_on_the_day_the_drug_was_drawn(self, adam, nina, safe_a, ketamine_50, session_a):
        """A dose drawn the day before the lot expired, recorded the day after (a late entry),
        was drawn from a lot in date: accepted. Drawn after the expiry: refused."""
        from datetime import datetime, time
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(safe_a.clinic.timezone)
        today = clinic_today(safe_a.clinic)
        lot = services.lot_receive(
            actor=adam, clinic=safe_a.clinic, location=safe_a, product=ketamine_50, lot_number="KA-OLD",
            expiry=today - timedelta(days=1), amount_mg=D("500"),
            received_at=datetime.combine(today - timedelta(days=3), time(9), tzinfo=zone),
        )  # fmt: skip
        drawn = datetime.combine(today - timedelta(days=2), time(10), tzinfo=zone)
        entry = services.register_dispense(actor=nina, lot=lot, session=session_a, amount_mg="50", at=drawn)
        assert entry.kind == "dispense"
        with pytest.raises(WorkflowConflict) as caught:
            services.register_dispense(actor=nina, lot=lot, session=session_a, amount_mg="50")
        assert caught.value.code == "lot_expired"

    def test_a_lot_can_be_dispensed_on_its_expiry_day(self, nina, lot_a, session_a):
        Lot.objects.filter(pk=lot_a.pk).update(expiry=clinic_today(lot_a.clinic))
        services.register_dispense(actor=nina, lot=lot_a, session=session_a, amount_mg="100")

    def test_refuses_a_session_not_checked_in(self, nina, lot_a, course_a):
        before = snapshot(lot_a)
        error = refused(
            WorkflowConflict,
            "session_not_ready",
            before,
            services.register_dispense,
            actor=nina,
            lot=lot_a,
            session=first_dosing(course_a),
            amount_mg="100",
        )
        assert "scheduled" in error.message

    def test_refuses_a_therapy_session(self, nina, terry, lot_a, course_a):
        prep = session_transition(
            actor=terry, session=course_a.sessions.filter(kind="preparation").first(), to="checked_in"
        )
        refused(
            WorkflowConflict,
            "session_not_dosing",
            snapshot(lot_a),
            services.register_dispense,
            actor=nina,
            lot=lot_a,
            session=prep,
            amount_mg="100",
        )

    def test_refuses_a_session_of_another_clinic(self, clinic_b, lot_b, session_a):
        both = make_user("nell", session_a.clinic, Role.NURSE)
        membership_set(actor=None, user=both, clinic=clinic_b, role=Role.NURSE)
        refused(
            DomainError,
            "session_other_clinic",
            snapshot(lot_b),
            services.register_dispense,
            actor=both,
            lot=lot_b,
            session=session_a,
            amount_mg="100",
        )

    def test_refuses_amount_finer_than_a_tenth(self, nina, lot_a, session_a):
        refused(
            DomainError,
            "amount_precision",
            snapshot(lot_a),
            services.register_dispense,
            actor=nina,
            lot=lot_a,
            session=session_a,
            amount_mg="10.05",
        )

    def test_an_admin_or_therapist_cannot_dispense(self, adam, terry, lot_a, session_a):
        for actor in (adam, terry):
            with pytest.raises(PermissionDenied):
                services.register_dispense(actor=actor, lot=lot_a, session=session_a, amount_mg="100")
        assert RegisterEntry.objects.filter(kind="dispense").count() == 0


@pytest.fixture
def dispensed(nina, alice, lot_a, session_a):
    """500 mg dispensed to a session that is then cleared and in progress."""
    services.register_dispense(actor=nina, lot=lot_a, session=session_a, amount_mg="500")
    day_of_checks_record(actor=nina, session=session_a, inputs=SERVICE_INPUTS)
    return move_dosing_session(nina, session_a, "in_progress")


class TestAdministerWasteReturn:
    def test_administer_then_waste_then_return_balance_the_hand(self, nina, wanda, lot_a, dispensed):
        given = services.register_administer(actor=nina, lot=lot_a, session=dispensed, amount_mg="56")
        assert (given.stock_effect_mg, given.balance_after_mg, given.in_hand_after_mg) == (
            D("0"),
            D("500"),
            D("444"),
        )
        waste = services.register_waste(
            actor=nina,
            witness=wanda,
            lot=lot_a,
            session=dispensed,
            amount_mg="44",
            reason="residual in syringe",
        )
        assert waste.witness == wanda and waste.in_hand_after_mg == D("400")
        back = services.register_return(actor=nina, lot=lot_a, session=dispensed, amount_mg="400")
        assert (back.balance_after_mg, back.in_hand_after_mg) == (D("900"), D("0"))
        assert services.session_in_hand_mg(dispensed) == 0
        assert Lot.objects.get(pk=lot_a.pk).balance_mg == D("900")
        assert [e.kind for e in RegisterEntry.objects.filter(lot=lot_a).order_by("id")] == [
            "receive",
            "dispense",
            "administer",
            "waste",
            "return",
        ]

    def test_administration_before_clearance_is_refused(self, nina, lot_a, session_a):
        services.register_dispense(actor=nina, lot=lot_a, session=session_a, amount_mg="100")
        refused(
            WorkflowConflict,
            "session_not_ready",
            snapshot(lot_a),
            services.register_administer,
            actor=nina,
            lot=lot_a,
            session=session_a,
            amount_mg="50",
        )

    def test_refuses_administering_more_than_in_hand(self, nina, lot_a, dispensed):
        error = refused(
            WorkflowConflict,
            "insufficient_in_hand",
            snapshot(lot_a),
            services.register_administer,
            actor=nina,
            lot=lot_a,
            session=dispensed,
            amount_mg="500.1",
        )
        assert "500.0 mg" in error.message

    def test_in_hand_is_per_lot(self, adam, nina, clinic_a, safe_a, ketamine_50, lot_a, dispensed):
        other = services.lot_receive(
            actor=adam,
            clinic=clinic_a,
            location=safe_a,
            product=ketamine_50,
            lot_number="KA-2002",
            expiry=lot_a.expiry,
            amount_mg="500",
        )
        refused(
            WorkflowConflict,
            "insufficient_in_hand",
            snapshot(other),
            services.register_administer,
            actor=nina,
            lot=other,
            session=dispensed,
            amount_mg="10",
        )

    def test_waste_without_a_witness_is_refused_and_writes_nothing(self, nina, lot_a, dispensed):
        before = snapshot(lot_a)
        error = refused(
            DomainError,
            "witness_required",
            before,
            services.register_waste,
            actor=nina,
            witness=None,
            lot=lot_a,
            session=dispensed,
            amount_mg="10",
        )
        assert error.field == "witness"
        assert services.session_in_hand_mg(dispensed) == D("500")

    def test_waste_witnessed_by_oneself_is_refused(self, nina, lot_a, dispensed):
        refused(
            DomainError,
            "witness_same_as_actor",
            snapshot(lot_a),
            services.register_waste,
            actor=nina,
            witness=nina,
            lot=lot_a,
            session=dispensed,
            amount_mg="10",
        )

    def test_waste_witness_must_be_a_nurse_or_prescriber_of_the_clinic(
        self, nina, terry, adam, carol, lot_a, dispensed
    ):
        for witness in (terry, adam, carol):
            refused(
                DomainError,
                "witness_not_in_clinic",
                snapshot(lot_a),
                services.register_waste,
                actor=nina,
                witness=witness,
                lot=lot_a,
                session=dispensed,
                amount_mg="10",
            )

    def test_inactive_witness_is_refused(self, nina, wanda, lot_a, dispensed):
        wanda.is_active = False
        wanda.save(update_fields=["is_active"])
        refused(
            DomainError,
            "witness_not_in_clinic",
            snapshot(lot_a),
            services.register_waste,
            actor=nina,
            witness=wanda,
            lot=lot_a,
            session=dispensed,
            amount_mg="10",
        )

    def test_a_cancelled_session_can_still_return_its_drug(self, nina, lot_a, session_a):
        services.register_dispense(actor=nina, lot=lot_a, session=session_a, amount_mg="500")
        session_transition(actor=nina, session=session_a, to="cancelled", reason="BP too high on arrival")
        entry = services.register_return(actor=nina, lot=lot_a, session=session_a, amount_mg="500")
        assert entry.balance_after_mg == D("1000") and entry.in_hand_after_mg == 0


class TestTransferAndAdjust:
    def test_transfer_creates_the_lot_at_the_target_and_pairs_the_entries(self, adam, lot_a, cabinet_a):
        outgoing, incoming = services.register_transfer(
            actor=adam, lot=lot_a, to_location=cabinet_a, amount_mg="500", reason="Stock for today's sessions"
        )
        target = incoming.lot
        assert (target.location, target.lot_number, target.expiry, target.balance_mg) == (
            cabinet_a,
            "KA-1001",
            lot_a.expiry,
            D("500"),
        )
        assert (outgoing.stock_effect_mg, outgoing.balance_after_mg, outgoing.counterpart_location) == (
            D("-500"),
            D("500"),
            cabinet_a,
        )
        assert incoming.paired_entry == outgoing and incoming.counterpart_location == lot_a.location
        # A second transfer tops up the same row.
        services.register_transfer(
            actor=adam, lot=lot_a, to_location=cabinet_a, amount_mg="100", reason="more"
        )
        assert Lot.objects.filter(lot_number="KA-1001").count() == 2
        assert Lot.objects.get(pk=target.pk).balance_mg == D("600")
        assert audit_count(object_type="register_entry", actor=adam) == 5  # receipt + 2 × 2

    def test_transfer_refusals_write_nothing(self, adam, bella, lot_a, lot_b, safe_a):
        cabinet_b = lot_b.location
        refused(
            DomainError,
            "location_other_clinic",
            snapshot(lot_a),
            services.register_transfer,
            actor=adam,
            lot=lot_a,
            to_location=cabinet_b,
            amount_mg="100",
            reason="x",
        )
        refused(
            DomainError,
            "transfer_same_location",
            snapshot(lot_a),
            services.register_transfer,
            actor=adam,
            lot=lot_a,
            to_location=safe_a,
            amount_mg="100",
            reason="x",
        )
        refused(
            DomainError,
            "reason_required",
            snapshot(lot_a),
            services.register_transfer,
            actor=adam,
            lot=lot_a,
            to_location=safe_a,
            amount_mg="100",
            reason=" ",
        )

    def test_transfer_beyond_stock_creates_no_target_lot(self, adam, lot_a, cabinet_a):
        refused(
            WorkflowConflict,
            "insufficient_stock",
            snapshot(lot_a),
            services.register_transfer,
            actor=adam,
            lot=lot_a,
            to_location=cabinet_a,
            amount_mg="1000.1",
            reason="x",
        )

    def test_adjust_up_and_down_with_a_reason(self, adam, lot_a):
        down = services.register_adjust(
            actor=adam, lot=lot_a, amount_mg_signed="-12.5", reason="vial cracked"
        )
        assert (down.amount_mg, down.stock_effect_mg, down.balance_after_mg) == (
            D("12.5"),
            D("-12.5"),
            D("987.5"),
        )
        up = services.register_adjust(actor=adam, lot=lot_a, amount_mg_signed=D("2.5"), reason="recount")
        assert up.balance_after_mg == D("990.0")

    def test_adjust_refusals(self, adam, nina, lot_a):
        refused(
            DomainError,
            "reason_required",
            snapshot(lot_a),
            services.register_adjust,
            actor=adam,
            lot=lot_a,
            amount_mg_signed="-1",
            reason="",
        )
        refused(
            DomainError,
            "amount_out_of_range",
            snapshot(lot_a),
            services.register_adjust,
            actor=adam,
            lot=lot_a,
            amount_mg_signed="0",
            reason="x",
        )
        refused(
            WorkflowConflict,
            "insufficient_stock",
            snapshot(lot_a),
            services.register_adjust,
            actor=adam,
            lot=lot_a,
            amount_mg_signed="-1000.1",
            reason="x",
        )
        with pytest.raises(PermissionDenied):
            services.register_adjust(actor=nina, lot=lot_a, amount_mg_signed="-1", reason="x")


class TestCounts:
    def test_a_matching_count_has_no_discrepancy(self, nina, wanda, lot_a):
        count = services.count_record(
            actor=nina, location=lot_a.location, counted_mg_by_lot={lot_a.pk: "1000"}, witness=wanda
        )
        line = CountLine.objects.get(count=count)
        assert (line.expected_mg, line.counted_mg, line.discrepancy_mg, line.is_open) == (
            D("1000"),
            D("1000"),
            D("0"),
            False,
        )
        assert count.witness == wanda and count.finished_at >= count.started_at
        assert audit_count(object_type="count", action="create", object_id=str(count.pk)) == 1

    def test_a_discrepancy_stays_open_until_an_admin_resolves_it(self, nina, adam, lot_a):
        count = services.count_record(
            actor=nina, location=lot_a.location, counted_mg_by_lot={lot_a.pk: "990"}
        )
        line = CountLine.objects.get(count=count)
        assert line.discrepancy_mg == D("-10") and line.is_open
        entries = RegisterEntry.objects.count()
        with pytest.raises(PermissionDenied):
            services.count_line_resolve(actor=nina, line=line, explanation="spilled")
        resolved = services.count_line_resolve(
            actor=adam, line=line, explanation="Spill during draw-up, witnessed"
        )
        assert resolved.resolved_by == adam and resolved.adjustment is None and not resolved.is_open
        assert RegisterEntry.objects.count() == entries  # resolving never edits the register
        with pytest.raises(WorkflowConflict) as info:
            services.count_line_resolve(actor=adam, line=line, explanation="again")
        assert info.value.code == "discrepancy_already_resolved"

    def test_resolution_can_post_an_adjustment_which_it_references(self, nina, adam, lot_a):
        count = services.count_record(
            actor=nina, location=lot_a.location, counted_mg_by_lot={lot_a.pk: "990"}
        )
        line = CountLine.objects.get(count=count)
        resolved = services.count_line_resolve(
            actor=adam, line=line, explanation="Spill", adjust_mg_signed="-10"
        )
        adjustment = resolved.adjustment
        assert (adjustment.kind, adjustment.stock_effect_mg, adjustment.balance_after_mg) == (
            "adjust",
            D("-10"),
            D("990"),
        )
        assert "Spill" in adjustment.reason and str(count.pk) in adjustment.reason

    def test_resolution_refusals(self, nina, adam, lot_a):
        count = services.count_record(
            actor=nina, location=lot_a.location, counted_mg_by_lot={lot_a.pk: "1000"}
        )
        line = CountLine.objects.get(count=count)
        with pytest.raises(WorkflowConflict) as info:
            services.count_line_resolve(actor=adam, line=line, explanation="nothing")
        assert info.value.code == "no_discrepancy"
        short = CountLine.objects.get(
            count=services.count_record(
                actor=nina, location=lot_a.location, counted_mg_by_lot={lot_a.pk: "1"}
            )
        )
        with pytest.raises(DomainError) as info:
            services.count_line_resolve(actor=adam, line=short, explanation="  ")
        assert info.value.code == "explanation_required" and info.value.field == "explanation"
        with pytest.raises(WorkflowConflict) as info:
            services.count_line_resolve(actor=adam, line=short, explanation="x", adjust_mg_signed="-1000.1")
        assert info.value.code == "insufficient_stock"
        short.refresh_from_db()
        assert short.is_open and short.adjustment is None

    def test_every_lot_in_stock_must_be_counted(self, nina, adam, clinic_a, safe_a, ketamine_50, lot_a):
        other = services.lot_receive(
            actor=adam,
            clinic=clinic_a,
            location=safe_a,
            product=ketamine_50,
            lot_number="KA-3003",
            expiry=lot_a.expiry,
            amount_mg="500",
        )
        with pytest.raises(DomainError) as info:
            services.count_record(actor=nina, location=safe_a, counted_mg_by_lot={lot_a.pk: "1000"})
        assert info.value.code == "count_incomplete" and info.value.field == f"lot_{other.pk}"
        assert CountSession.objects.count() == 0 and CountLine.objects.count() == 0

    def test_count_refusals(self, nina, lot_a, lot_b):
        with pytest.raises(DomainError) as info:
            services.count_record(
                actor=nina, location=lot_a.location, counted_mg_by_lot={lot_a.pk: "1000", lot_b.pk: "1"}
            )
        assert info.value.code == "count_unknown_lot"
        with pytest.raises(DomainError) as info:
            services.count_record(actor=nina, location=lot_a.location, counted_mg_by_lot={lot_a.pk: "-1"})
        assert info.value.code == "amount_out_of_range"
        with pytest.raises(DomainError) as info:
            services.count_record(
                actor=nina, location=lot_a.location, counted_mg_by_lot={lot_a.pk: "1"}, witness=nina
            )
        assert info.value.code == "witness_same_as_actor"
        assert CountSession.objects.count() == 0


class TestDatabaseGuards:
    def test_the_database_refuses_a_negative_lot_balance(self, lot_a):
        with pytest.raises(IntegrityError), transaction.atomic():
            Lot.objects.filter(pk=lot_a.pk).update(balance_mg=D("-0.1"))
        assert Lot.objects.get(pk=lot_a.pk).balance_mg == D("1000")

    def test_the_database_refuses_an_unwitnessed_waste_row(self, nina, lot_a, dispensed):
        with pytest.raises(IntegrityError), transaction.atomic():
            RegisterEntry.objects.create(
                clinic=lot_a.clinic,
                lot=lot_a,
                kind="waste",
                amount_mg=1,
                stock_effect_mg=0,
                balance_after_mg=500,
                balance_after_ml=10,
                balance_after_vials=1,
                session=dispensed,
                in_hand_effect_mg=-1,
                in_hand_after_mg=499,
                actor=nina,
                occurred_at=lot_a.created_at,
            )

    def test_the_database_refuses_a_dispense_that_adds_stock(self, nina, lot_a, session_a):
        with pytest.raises(IntegrityError), transaction.atomic():
            RegisterEntry.objects.create(
                clinic=lot_a.clinic,
                lot=lot_a,
                kind="dispense",
                amount_mg=1,
                stock_effect_mg=1,
                balance_after_mg=1001,
                balance_after_ml=20,
                balance_after_vials=2,
                session=session_a,
                in_hand_effect_mg=1,
                in_hand_after_mg=1,
                actor=nina,
                occurred_at=lot_a.created_at,
            )

    def test_register_entries_cannot_be_updated(self, lot_a):
        with pytest.raises(DatabaseError), transaction.atomic():
            RegisterEntry.objects.filter(lot=lot_a).update(amount_mg=D("1"))
        assert RegisterEntry.objects.get(lot=lot_a).amount_mg == D("1000")

    def test_a_lot_with_entries_cannot_be_deleted(self, lot_a):
        from django.db.models import ProtectedError

        with pytest.raises(ProtectedError):
            lot_a.delete()

    def test_stored_balance_equals_the_sum_of_the_register(
        self, adam, nina, wanda, lot_a, cabinet_a, dispensed
    ):
        services.register_administer(actor=nina, lot=lot_a, session=dispensed, amount_mg="50")
        services.register_waste(actor=nina, witness=wanda, lot=lot_a, session=dispensed, amount_mg="50")
        services.register_return(actor=nina, lot=lot_a, session=dispensed, amount_mg="400")
        services.register_transfer(actor=adam, lot=lot_a, to_location=cabinet_a, amount_mg="300", reason="x")
        services.register_adjust(actor=adam, lot=lot_a, amount_mg_signed="-0.5", reason="x")
        for lot in Lot.objects.all():
            effects = [e.stock_effect_mg for e in lot.entries.order_by("id")]
            assert sum(effects) == lot.balance_mg
            assert lot.entries.order_by("-id").first().balance_after_mg == lot.balance_mg


@pytest.mark.postgres_only
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row locks (SELECT … FOR UPDATE) are what is tested: PostgreSQL only; "
    "SQLite serialises all writers with IMMEDIATE transactions",
)
@pytest.mark.django_db(transaction=True)
def test_two_nurses_dispensing_the_last_vial_at_once_exactly_one_wins(
    nina, wanda, adam, clinic_a, safe_a, ketamine_50, course_a, session_a
):
    # Two different sessions, so that only the lot's row lock can serialise the two dispenses.
    second = course_a.sessions.filter(kind="dosing").exclude(pk=session_a.pk).order_by("order").first()
    second = session_transition(actor=wanda, session=second, to="checked_in")
    lot = services.lot_receive(
        actor=adam,
        clinic=clinic_a,
        location=safe_a,
        product=ketamine_50,
        lot_number="LAST-1",
        expiry=clinic_today(clinic_a) + timedelta(days=30),
        amount_mg="500",
    )
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def dispense(actor, session):
        try:
            mine = Lot.objects.get(pk=lot.pk)
            barrier.wait(timeout=10)
            outcomes.append(
                services.register_dispense(actor=actor, lot=mine, session=session, amount_mg="500")
            )
        except DomainError as error:
            outcomes.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=dispense, args=pair) for pair in ((nina, session_a), (wanda, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    winners = [o for o in outcomes if isinstance(o, RegisterEntry)]
    losers = [o for o in outcomes if isinstance(o, WorkflowConflict)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert losers[0].code == "insufficient_stock" and "0.0 mg" in losers[0].message
    assert Lot.objects.get(pk=lot.pk).balance_mg == 0
    assert RegisterEntry.objects.filter(lot_id=lot.pk, kind="dispense").count() == 1
    assert audit_count(object_type="register_entry", detail__kind="dispense") == 1


def test_a_lot_emptied_exactly_after_fractional_draws_ends_at_zero(adam, nina, lot_a, session_a):
    """On SQLite decimals are binary floats: 1000 − 500 − 114.6 − 140 − 245.4 must still be exactly
    0 (it came out −2.8e-14 and the balance constraint refused the last, exact, posting)."""
    for amount in ("500", "114.6", "140"):
        services.register_dispense(actor=nina, lot=lot_a, session=session_a, amount_mg=amount)
    entry = services.register_adjust(
        actor=adam, lot=lot_a, amount_mg_signed="-245.4", reason="Count correction"
    )
    lot_a.refresh_from_db()
    assert lot_a.balance_mg == 0 and entry.kind == "adjust"
