"""Concurrent writes on PostgreSQL: batches of one session are evaluated one after the other."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from kapstone.domain.errors import DomainError
from kapstone.monitoring.models import Alert, Observation
from kapstone.monitoring.services import alert_acknowledge, observation_void, vitals_record

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL only"),
    pytest.mark.django_db(transaction=True),
]


def _together(work, actors) -> list[object]:
    barrier = threading.Barrier(len(actors))
    outcomes: list[object] = []

    def run(actor):
        try:
            barrier.wait(timeout=10)
            outcomes.append(work(actor))
        except DomainError as error:
            outcomes.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(actor,)) for actor in actors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_two_high_readings_at_once_raise_one_alert(alice, nina, running):
    def record(actor):
        at = timezone.now() - timedelta(seconds=30 if actor == nina else 20)
        return vitals_record(
            actor=actor,
            session=running,
            observations=[
                {"code": "systolic_bp", "value": 186, "observed_at": at},
                {"code": "diastolic_bp", "value": 90, "observed_at": at},
            ],
        )

    outcomes = _together(record, [nina, alice])
    assert all(isinstance(o, list) for o in outcomes), outcomes
    assert Observation.objects.filter(session=running, code="systolic_bp", value=186).count() == 2
    assert Alert.objects.filter(session=running, code="hypertension_critical").count() == 1
    assert sorted(len(o) for o in outcomes)[0] == 0  # the second batch found the episode open


def test_two_acknowledgements_at_once_exactly_one_wins(alice, nina, running):
    vitals_record(
        actor=nina,
        session=running,
        observations=[{"code": "spo2", "value": 88, "observed_at": timezone.now() - timedelta(seconds=5)}],
    )
    alert_id = Alert.objects.get(session=running).pk

    def acknowledge(actor):
        return alert_acknowledge(actor=actor, alert=Alert.objects.get(pk=alert_id), action="observed")

    outcomes = _together(acknowledge, [nina, alice])
    winners = [o for o in outcomes if isinstance(o, Alert)]
    losers = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert losers[0].code == "alert_already_acknowledged"


def test_two_nurses_mark_the_same_value_at_once_exactly_one_wins(alice, nina, running):
    vitals_record(
        actor=nina,
        session=running,
        observations=[{"code": "spo2", "value": 85, "observed_at": timezone.now() - timedelta(seconds=5)}],
    )
    observation_id = Observation.objects.get(session=running, code="spo2", value=85).pk

    def void(actor):
        return observation_void(
            actor=actor, observation=Observation.objects.get(pk=observation_id), reason=f"typo ({actor})"
        )

    outcomes = _together(void, [nina, alice])
    winners = [o for o in outcomes if isinstance(o, Observation)]
    losers = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert losers[0].code == "observation_already_voided"
    alert = Alert.objects.get(session=running, code="hypoxemia")
    assert alert.entered_in_error and alert.events.filter(kind="resolved").count() == 1


def test_a_void_and_a_set_at_once_leave_the_alert_state_of_the_valid_record(alice, nina, running):
    """Whichever goes first, the other sees it: the session's lock orders them."""
    vitals_record(
        actor=nina,
        session=running,
        observations=[{"code": "spo2", "value": 85, "observed_at": timezone.now() - timedelta(seconds=30)}],
    )
    typo = Observation.objects.get(session=running, code="spo2", value=85)

    def work(actor):
        if actor == nina:
            return observation_void(actor=nina, observation=typo, reason="Typed 85 for 95")
        return vitals_record(
            actor=alice,
            session=running,
            observations=[
                {"code": "spo2", "value": 92, "observed_at": timezone.now() - timedelta(seconds=10)}
            ],
        )

    outcomes = _together(work, [nina, alice])
    assert not [o for o in outcomes if isinstance(o, DomainError)], outcomes
    # The valid record is SpO2 92 (warning level): exactly one open hypoxemia episode, a warning.
    assert list(
        Alert.objects.filter(session=running, resolved_at__isnull=True).values_list("code", "severity")
    ) == [("hypoxemia", "warning")]
