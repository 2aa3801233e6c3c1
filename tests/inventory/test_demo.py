"""The demo register: a month of history written through the register's own posting code."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest

from kapstone.care.services import course_enrol, day_of_checks_record, session_transition
from kapstone.demo.seed import seed_demo
from kapstone.domain.register import STOCK_EXPIRED, STOCK_EXPIRING, expiry_status
from kapstone.inventory import selectors
from kapstone.inventory.demo import seed_inventory, seed_inventory_counts
from kapstone.inventory.models import CountLine, CountSession, Lot, Product, RegisterEntry
from kapstone.inventory.services import lot_balances_at, session_in_hand_mg
from kapstone.patients.services import clinic_today
from tests.care.conftest import move_dosing_session
from tests.care.test_sessions import SERVICE_INPUTS

pytestmark = pytest.mark.django_db


def state():
    return (
        Lot.objects.count(),
        RegisterEntry.objects.count(),
        CountSession.objects.count(),
        Product.objects.count(),
    )


@pytest.fixture
def past_dosing(alice, nina, patient_a, eligible_a):
    """A course that started three weeks ago, its first dosing session done and discharged."""
    today = clinic_today(patient_a.clinic)
    course = course_enrol(
        actor=alice,
        patient=patient_a,
        protocol_slug="kare-alcohol-grabski-2022",
        start_date=today - timedelta(days=21),
    )
    session = course.sessions.filter(kind="dosing", scheduled_date__lt=today).order_by("order").first()
    session = session_transition(actor=nina, session=session, to="checked_in")
    day_of_checks_record(actor=nina, session=session, inputs=SERVICE_INPUTS)
    for to in ("in_progress", "recovering"):
        session = move_dosing_session(nina, session, to)
    session = session_transition(actor=nina, session=session, to="discharged", discharge_evaluated=True)
    return session


def run_in_order(later):
    """What the month held after its opening receipts, run as the demo's walk runs it."""
    for _at, action in later:
        action()


def test_seed_writes_a_consistent_month_and_is_idempotent(adam, nina, alice, clinic_a, past_dosing):
    today = clinic_today(clinic_a)
    run_in_order(
        seed_inventory(
            clinic=clinic_a, admin=adam, nurse=nina, prescriber=alice, today=today, rng=random.Random(7)
        )
    )
    seed_inventory_counts(clinic=clinic_a, admin=adam, nurse=nina, prescriber=alice, today=today)
    lots = list(Lot.objects.filter(clinic=clinic_a))
    statuses = {expiry_status(expiry=lot.expiry, today=today) for lot in lots}
    assert {STOCK_EXPIRING, STOCK_EXPIRED} <= statuses
    expired = next(lot for lot in lots if expiry_status(expiry=lot.expiry, today=today) == STOCK_EXPIRED)
    assert expired.balance_mg == 0
    kinds = set(RegisterEntry.objects.values_list("kind", flat=True))
    assert {"receive", "dispense", "administer", "waste", "return", "adjust"} <= kinds
    assert RegisterEntry.objects.filter(kind="waste", witness__isnull=True).count() == 0
    assert session_in_hand_mg(past_dosing) == 0
    oldest = RegisterEntry.objects.order_by("occurred_at").first().occurred_at
    assert oldest.date() <= today - timedelta(days=29)
    for lot in lots:  # the stored balance is the register's sum, and the last running balance
        rows = selectors.lot_register(lot=lot)
        assert sum(row.entry.stock_effect_mg for row in rows) == lot.balance_mg == rows[-1].balance_mg
        assert not any(row.late for row in rows)  # the month is posted in the order it happened
    discrepancies = CountLine.objects.exclude(discrepancy_mg=0)
    assert discrepancies.count() == 2
    assert discrepancies.filter(resolved_at__isnull=False, adjustment__isnull=False).count() == 1
    assert discrepancies.filter(resolved_at__isnull=True).count() == 1
    before = state()
    run_in_order(
        seed_inventory(
            clinic=clinic_a, admin=adam, nurse=nina, prescriber=alice, today=today, rng=random.Random(7)
        )
    )
    seed_inventory_counts(clinic=clinic_a, admin=adam, nurse=nina, prescriber=alice, today=today)
    assert state() == before


def test_seed_without_dosing_sessions_writes_receipts_and_adjustments_only(adam, nina, alice, clinic_a):
    run_in_order(
        seed_inventory(
            clinic=clinic_a,
            admin=adam,
            nurse=nina,
            prescriber=alice,
            today=clinic_today(clinic_a),
            rng=random.Random(1),
        )
    )
    assert set(RegisterEntry.objects.values_list("kind", flat=True)) == {"receive", "adjust"}
    assert Lot.objects.get(lot_number__contains="5C").balance_mg == Decimal("0")


def test_the_seeded_demo_register_never_goes_negative_and_its_counts_count_what_was_there():
    """The whole (small) demo: every lot's register, in its order, never below zero (stock or a
    session's hand) and ending at the lot's balance, with every entry recorded in the order it
    happened (no late entry: the demo walks the clinic's days in calendar order); every count
    counted each lot that held stock at its time, expecting the register's balance then."""
    seed_demo(patients_per_clinic=6, follow_up_per_protocol=2)
    for lot in Lot.objects.all():
        rows = selectors.lot_register(lot=lot)
        assert [row for row in rows if row.late] == [], lot
        assert all(row.balance_mg >= 0 for row in rows), lot
        assert all(row.in_hand_after_mg is None or row.in_hand_after_mg >= 0 for row in rows), lot
        assert rows[-1].balance_mg == lot.balance_mg
    counts = list(CountSession.objects.all())
    assert len(counts) == 4  # two per clinic
    for count in counts:
        held = lot_balances_at(lots=Lot.objects.filter(location=count.location), moment=count.finished_at)
        lines = {line.lot_id: line for line in count.lines.all()}
        assert {pk for pk, balance in held.items() if balance > 0} <= set(lines), count
        assert all(line.expected_mg == held[pk] for pk, line in lines.items()), count
