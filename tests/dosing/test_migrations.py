"""The move from one lot per administration to lot lines keeps every record's lot and amounts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from kapstone.dosing.models import AdministrationLot
from kapstone.dosing.services import administration_complete, administration_start
from tests.dosing.helpers import verified_order
from tests.migrations_kit import migrate, migrate_to_newest

BEFORE = ("dosing", "0002_administration_lots_and_amendments")
LATEST = ("dosing", "0004_drop_administration_single_lot")


@pytest.mark.django_db(transaction=True)
def test_round_trip_through_the_single_lot_column(alice, nina, cleared_session, lot_50):
    start = timezone.now() - timedelta(minutes=50)
    order = verified_order(alice, nina, cleared_session, before=start)
    administration = administration_start(actor=nina, order=order, lot=lot_50, started_at=start)
    administration_complete(
        actor=nina,
        administration=administration,
        ended_at=start + timedelta(minutes=20),
        witness=alice,
        stopped_early=True,
        stop_reason="nausea",
    )
    try:
        old = migrate(BEFORE)  # unapplies 0004 and 0003: the lot goes back into its column
        row = old.get_model("dosing", "Administration").objects.get(pk=administration.pk)
        assert row.lot_id == lot_50.pk
        assert old.get_model("dosing", "AdministrationLot").objects.count() == 0
    finally:
        migrate_to_newest()  # through LATEST, and every app's later migrations
    line = AdministrationLot.objects.get(administration_id=administration.pk)
    assert (line.lot_id, line.position, line.dispensed_mg, line.given_mg, line.wasted_mg) == (
        lot_50.pk,
        1,
        Decimal("58.0"),
        Decimal("29.0"),
        Decimal("29.0"),
    )
