"""The vitals ingest reads the session's times and its BP-peak check in one query
(``selectors.ingest_reads``): it must give exactly what ``session_times`` and ``peak_check`` give,
in every state of a dosing session (no order, an order not begun, dosing, recovery, a voided
order replaced by another), and a batch's queries must not grow with its number of values."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kapstone.dosing.services import administration_complete, dose_order_create, dose_order_void
from kapstone.monitoring import selectors
from kapstone.monitoring.services import vitals_record
from tests.monitoring.conftest import NORMAL, vitals_set

pytestmark = pytest.mark.django_db


def both_ways(session):
    one = selectors.ingest_reads(session)
    apart = (selectors.session_times(session), selectors.peak_check(session))
    assert one == apart
    return one


def test_before_any_order_the_protocol_fallback(nina, cleared_session):
    times, _ = both_ways(cleared_session)
    assert times.dosing_started_at is None
    assert times.discharged_at is None


def test_an_order_not_yet_begun_places_the_peak_check_by_its_route(alice, cleared_session):
    both_ways(cleared_session)
    dose_order_create(
        actor=alice,
        session=cleared_session,
        mg_per_kg="0.8",
        concentration_mg_per_ml="50",
        bag_ml="100",
        at=timezone.now() - timedelta(minutes=3),
    )
    times, _ = both_ways(cleared_session)
    assert times.dosing_started_at is None


def test_during_dosing_and_in_recovery(alice, nina, running):
    times, _ = both_ways(running)
    assert times.dosing_started_at is not None and times.dosing_ended_at is None
    administration = selectors.administration_for_session(running)
    administration_complete(actor=nina, administration=administration, ended_at=timezone.now(), witness=alice)
    running.refresh_from_db()
    times, _ = both_ways(running)
    assert times.dosing_ended_at is not None


def test_a_voided_order_is_not_read(alice, cleared_session):
    order = dose_order_create(
        actor=alice,
        session=cleared_session,
        mg_per_kg="0.8",
        concentration_mg_per_ml="50",
        bag_ml="100",
        at=timezone.now() - timedelta(minutes=6),
    )
    dose_order_void(actor=alice, order=order, reason="wrong weight")
    both_ways(cleared_session)
    dose_order_create(
        actor=alice,
        session=cleared_session,
        mg_per_kg="0.8",
        concentration_mg_per_ml="50",
        at=timezone.now() - timedelta(minutes=2),
    )
    both_ways(cleared_session)


def test_a_batch_costs_the_same_queries_for_one_value_as_for_seven(nina, running):
    def queries(observations):
        with CaptureQueriesContext(connection) as captured:
            vitals_record(actor=nina, session=running, observations=observations)
        return [q["sql"] for q in captured.captured_queries]

    now = timezone.now()
    one = queries(vitals_set(now - timedelta(seconds=20), **dict.fromkeys(list(NORMAL)[1:], None)))
    seven = queries(vitals_set(now - timedelta(seconds=10)))
    assert len(one) == len(seven)
    assert sum("monitoring_observation" in sql and sql.startswith("INSERT") for sql in seven) == 1
