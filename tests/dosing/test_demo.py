"""The demo's doses: a record drawn from two vial lots with an amendment, and seeding twice adds
nothing."""

from __future__ import annotations

from datetime import datetime

import pytest

from kapstone.demo.seed import seed_demo
from kapstone.dosing.models import Administration, AdministrationAmendment, AdministrationLot
from kapstone.inventory.models import RegisterEntry
from kapstone.inventory.services import session_in_hand_mg

pytestmark = pytest.mark.django_db


def state():
    return (
        Administration.objects.count(),
        AdministrationLot.objects.count(),
        AdministrationAmendment.objects.count(),
        RegisterEntry.objects.count(),
    )


def test_two_lots_and_an_amendment_and_a_second_seed_adds_nothing():
    seed_demo(patients_per_clinic=6, follow_up_per_protocol=1)
    two_lot = Administration.objects.filter(lots__position=2).distinct()
    assert two_lot.exists()
    for administration in two_lot:
        lines = list(administration.lots.order_by("position"))
        assert sum(line.dispensed_mg for line in lines) == administration.dispensed_mg
        assert sum(line.given_mg for line in lines) == administration.given_mg
        session = administration.order.session
        for line in lines:
            assert line.given_mg + line.wasted_mg == line.dispensed_mg
            assert session_in_hand_mg(session, line.lot) == 0
    amendment = AdministrationAmendment.objects.select_related("administration").get(
        administration__in=two_lot, field="ended_at"
    )
    assert amendment.reason and amendment.old_value != amendment.new_value
    assert datetime.fromisoformat(amendment.new_value) == amendment.administration.ended_at
    first = state()
    seed_demo(patients_per_clinic=6, follow_up_per_protocol=1)
    assert state() == first
