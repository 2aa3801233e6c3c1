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


def verified_order(alice, nina, session):
    """0.8 mg/kg × 72.5 kg = 58 mg IV over 40 min from a 100 mL bag, verified by the nurse."""
    order = dose_order_create(
        actor=alice, session=session, mg_per_kg="0.8", concentration_mg_per_ml="50", bag_ml="100"
    )
    return dose_order_verify(actor=nina, order=order, weight_kg="72.5", concentration_mg_per_ml="50")


def two_lot_administration(alice, nina, session, first, second, *, stop_after_min: int | None = 20):
    """58 mg drawn as 38 mg from ``first`` and 20 mg from ``second``; stopped early after
    ``stop_after_min`` (29 mg given: 29 from the first lot, 9 + 20 mg wasted) or, with None, given
    in full."""
    order = verified_order(alice, nina, session)
    start = timezone.now() - timedelta(minutes=60)
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
