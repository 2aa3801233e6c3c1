"""Shared steps of the dosing tests: a verified order and an ended two-lot administration."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from kapstone.dosing.services import (
    administration_complete,
    administration_start,
    dose_order_create,
    dose_order_verify,
)

#: A complete baseline set (blood pressure, heart rate, SpO2, respiratory rate, MOAA/S).
BASELINE = {
    "systolic_bp": 124,
    "diastolic_bp": 78,
    "heart_rate": 72,
    "spo2": 98,
    "respiratory_rate": 14,
    "moaas": 5,
}


def record_baseline(nurse, session, at, **changes):
    """The pre-dose set at ``at`` (a value of None leaves that parameter out)."""
    from kapstone.monitoring.services import vitals_record

    values = BASELINE | changes
    return vitals_record(
        actor=nurse,
        session=session,
        observations=[
            {"code": code, "value": value, "observed_at": at}
            for code, value in values.items()
            if value is not None
        ],
    )


def verified_order(alice, nina, session, *, before=None):
    """0.8 mg/kg × 72.5 kg = 58 mg IV over 40 min from a 100 mL bag, verified by the nurse.

    Ready to be given at ``before`` (default: 6 min ago) or later: ordered 10 min and verified
    5 min before it, with a baseline set 3 min before it."""
    before = before or timezone.now() - timedelta(minutes=6)
    order = dose_order_create(
        actor=alice,
        session=session,
        mg_per_kg="0.8",
        concentration_mg_per_ml="50",
        bag_ml="100",
        at=before - timedelta(minutes=10),
    )
    verified = dose_order_verify(
        actor=nina,
        order=order,
        weight_kg="72.5",
        concentration_mg_per_ml="50",
        at=before - timedelta(minutes=5),
    )
    record_baseline(nina, session, before - timedelta(minutes=3))
    return verified


def as_if_earlier(order, *, minutes: int):
    """Test set-up standing for time passing: the order was written and verified ``minutes``
    earlier than it was (so an administration can be recorded after it, in the past)."""
    from django.db.models import F

    from kapstone.dosing.models import DoseOrder

    shift = timedelta(minutes=minutes)
    DoseOrder.objects.filter(pk=order if isinstance(order, int) else order.pk).update(
        ordered_at=F("ordered_at") - shift, verified_at=F("verified_at") - shift
    )


def given_order(alice, nina, session, *, started_at):
    """:func:`verified_order` ready to start at ``started_at`` (ordered, verified, baseline)."""
    return verified_order(alice, nina, session, before=started_at)


def two_lot_administration(alice, nina, session, first, second, *, stop_after_min: int | None = 20):
    """58 mg drawn as 38 mg from ``first`` and 20 mg from ``second``; stopped early after
    ``stop_after_min`` (29 mg given: 29 from the first lot, 9 + 20 mg wasted) or, with None, given
    in full."""
    start = timezone.now() - timedelta(minutes=60)
    order = given_order(alice, nina, session, started_at=start)
    administration = administration_start(
        actor=nina, order=order, lots=[(first, "38"), (second, "20")], started_at=start
    )
    if stop_after_min is None:
        return administration_complete(
            actor=nina, administration=administration, ended_at=start + timedelta(minutes=40), witness=alice
        )
    return administration_complete(
        actor=nina,
        administration=administration,
        ended_at=start + timedelta(minutes=stop_after_min),
        witness=alice,
        stopped_early=True,
        stop_reason="emergence reaction",
    )
