from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kapstone.dosing.services import administration_start, dose_order_create, dose_order_verify
from kapstone.monitoring.services import vitals_record
from tests.care.conftest import course_a, eligible_a  # noqa: F401 - shared fixtures
from tests.dosing.conftest import cleared_session, lot_50  # noqa: F401 - shared fixtures

NORMAL = {
    "systolic_bp": 124,
    "diastolic_bp": 78,
    "heart_rate": 72,
    "spo2": 98,
    "respiratory_rate": 14,
    "temperature": "36.8",
    "moaas": 5,
}


def vitals_set(at, **changes):
    values = NORMAL | changes
    return [
        {"code": code, "value": value, "observed_at": at}
        for code, value in values.items()
        if value is not None
    ]


def start_dosing(*, prescriber, nurse, session, lot, minutes_ago: int = 20, baseline: bool = True):
    """Order, verify and start a 40-min infusion ``minutes_ago`` (each step before the next);
    with ``baseline``, a full set of vital signs 5 min before the start."""
    started = timezone.now() - timedelta(minutes=minutes_ago)
    order = dose_order_create(
        actor=prescriber,
        session=session,
        mg_per_kg="0.8",
        concentration_mg_per_ml="50",
        bag_ml="100",
        at=started - timedelta(minutes=15),
    )
    dose_order_verify(
        actor=nurse,
        order=order,
        weight_kg=order.weight_kg,
        concentration_mg_per_ml="50",
        at=started - timedelta(minutes=10),
    )
    if baseline:
        vitals_record(actor=nurse, session=session, observations=vitals_set(started - timedelta(minutes=5)))
    return administration_start(actor=nurse, order=order, lot=lot, started_at=started)


@pytest.fixture
def running(alice, nina, cleared_session, lot_50):  # noqa: F811 - the imported fixtures, requested by name
    """A dosing session in progress: a baseline set 5 min before a 40-min infusion started 8 min
    ago (so no check is overdue yet)."""
    start_dosing(prescriber=alice, nurse=nina, session=cleared_session, lot=lot_50, minutes_ago=8)
    cleared_session.refresh_from_db()
    assert cleared_session.status == "in_progress"
    return cleared_session


@pytest.fixture
def administration(running):
    from kapstone.monitoring.selectors import administration_for_session

    return administration_for_session(running)
