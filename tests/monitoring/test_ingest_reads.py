"""The vitals ingest reads only what the rules need (baseline, open episodes, the first reading of
each check window) instead of the session's whole record. These reads must give exactly what the
rules computed from the whole record: compared here on records with voided values, ties, pre-dose
readings, missed and late checks, before dosing, during it and in recovery."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kapstone.domain.monitoring import OBSERVATION_DEFINITIONS
from kapstone.dosing.services import administration_complete
from kapstone.monitoring import selectors
from kapstone.monitoring.models import Observation
from kapstone.monitoring.services import observation_void, vitals_record
from tests.monitoring.conftest import vitals_set

pytestmark = pytest.mark.django_db


def whole_record(session, now):
    times = selectors.session_times(session)
    stored = selectors.observations_of(session)
    return selectors.baseline_of(session, stored, times), selectors.checks_of(session, stored, times, now)


def targeted(session, now):
    times = selectors.session_times(session)
    return selectors.baseline_in_db(session, times), selectors.checks_in_db(session, times, now)


def scatter(session, nurse, *, start, end, count, rng):
    """Readings at random times (some BP, some not, some sharing a time), written straight to the
    table: set-up of a record to compare reads on, not the ingest itself."""
    rows = []
    span = (end - start).total_seconds()
    for _ in range(count):
        at = start + timedelta(seconds=rng.uniform(0, span))
        for code in rng.sample(list(OBSERVATION_DEFINITIONS), rng.randint(1, 4)):
            definition = OBSERVATION_DEFINITIONS[code]
            value = rng.randint(int(definition.plausible_min), int(definition.plausible_max))
            rows.append(
                Observation(
                    session=session,
                    patient_id=session.patient_id,
                    clinic_id=session.clinic_id,
                    code=code,
                    value=value,
                    unit=definition.unit_ucum,
                    observed_at=at,
                    entered_by=nurse,
                    entered_at=at,
                )
            )
    Observation.objects.bulk_create(rows)


def void_some(session, nurse, rng, share=0.2):
    for obs in list(Observation.objects.filter(session=session, voided_at__isnull=True)):
        if rng.random() < share:
            observation_void(actor=nurse, observation=obs, reason="entered on the wrong patient")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_during_dosing_same_baseline_and_checks_as_from_the_whole_record(seed, nina, running, administration):
    rng = random.Random(seed)
    start = administration.started_at
    scatter(running, nina, start=start - timedelta(minutes=14), end=timezone.now(), count=40, rng=rng)
    # A tie at one instant: the later row wins, in both reads.
    tie = start - timedelta(minutes=2)
    vitals_record(actor=nina, session=running, observations=vitals_set(tie, systolic_bp=130))
    vitals_record(actor=nina, session=running, observations=vitals_set(tie, systolic_bp=150))
    void_some(running, nina, rng)
    now = timezone.now()
    for later in (0, 7, 16, 31, 44, 90):
        at = now + timedelta(minutes=later)
        assert targeted(running, at) == whole_record(running, at)
    assert targeted(running, now)[0]["systolic_bp"] == whole_record(running, now)[0]["systolic_bp"]


@pytest.mark.parametrize("seed", [4, 5])
def test_in_recovery_same_checks(seed, alice, nina, running, administration):
    rng = random.Random(seed)
    administration_complete(actor=nina, administration=administration, ended_at=timezone.now(), witness=alice)
    running.refresh_from_db()
    scatter(
        running,
        nina,
        start=administration.started_at - timedelta(minutes=10),
        end=timezone.now(),
        count=30,
        rng=rng,
    )
    void_some(running, nina, rng, share=0.1)
    now = timezone.now()
    for later in (0, 20, 61, 150, 300):
        at = now + timedelta(minutes=later)
        assert targeted(running, at) == whole_record(running, at)


def test_before_dosing_the_baseline_window_ends_now(nina, cleared_session):
    now = timezone.now()
    vitals_record(actor=nina, session=cleared_session, observations=vitals_set(now))
    for minutes in (0, 2, 20, 45):
        at = now + timedelta(minutes=minutes)
        assert targeted(cleared_session, at) == whole_record(cleared_session, at)
    # A device clock a little ahead: in the record, and counted alike by both reads.
    vitals_record(actor=nina, session=cleared_session, observations=vitals_set(now + timedelta(seconds=40)))
    assert targeted(cleared_session, now) == whole_record(cleared_session, now)
    assert targeted(cleared_session, now + timedelta(minutes=1)) == whole_record(
        cleared_session, now + timedelta(minutes=1)
    )


def test_ingest_queries_do_not_grow_with_the_record(nina, running, administration):
    def queries_for_one_batch():
        with CaptureQueriesContext(connection) as captured:
            vitals_record(actor=nina, session=running, observations=vitals_set(timezone.now()))
        return len(captured.captured_queries), max(len(q["sql"]) for q in captured.captured_queries)

    first = queries_for_one_batch()
    scatter(
        running, nina, start=administration.started_at, end=timezone.now(), count=500, rng=random.Random(9)
    )
    assert queries_for_one_batch() == first


def test_board_reads_the_same_latest_values_and_trends_as_the_whole_record(nina, running, administration):
    rng = random.Random(11)
    scatter(running, nina, start=administration.started_at, end=timezone.now(), count=60, rng=rng)
    void_some(running, nina, rng, share=0.3)
    whole = selectors.latest_by_code(selectors.observations_of(running))
    recent = selectors.recent_by_code(running)
    assert set(recent) == set(whole)
    for code, readings in whole.items():
        assert [o.pk for o in recent[code]] == [o.pk for o in readings[:2]]


def test_the_fast_insert_stores_what_the_orm_would(nina, running):
    """The ingest writes rows with one multi-row INSERT (services._insert_observations). Read back,
    each row has exactly the values an ORM create of the same reading gives, in batch order."""
    at = timezone.now().replace(microsecond=123456) - timedelta(seconds=30)
    batch = [
        {"code": "systolic_bp", "value": 131, "observed_at": at},
        {"code": "temperature", "value": "36.85", "observed_at": at + timedelta(seconds=1)},
        {"code": "spo2", "value": "97", "observed_at": at + timedelta(seconds=2)},
    ]
    vitals_record(actor=nina, session=running, observations=batch, source="monitor-7")
    stored = list(Observation.objects.filter(session=running, source="monitor-7").order_by("id"))
    assert [o.code for o in stored] == ["systolic_bp", "temperature", "spo2"]
    for obs, sent in zip(stored, batch, strict=True):
        definition = OBSERVATION_DEFINITIONS[obs.code]
        orm = Observation.objects.create(
            session=running,
            patient_id=running.patient_id,
            clinic_id=running.clinic_id,
            code=obs.code,
            loinc=definition.loinc or "",
            value=sent["value"],
            unit=definition.unit_ucum,
            observed_at=sent["observed_at"],
            source="orm",
            entered_by=nina,
            entered_at=obs.entered_at,
        )
        orm.refresh_from_db()
        fields = ("patient_id", "clinic_id", "loinc", "value", "unit", "observed_at", "entered_by_id")
        assert {f: getattr(obs, f) for f in fields} == {f: getattr(orm, f) for f in fields}
        assert obs.observed_at == sent["observed_at"]
        assert obs.voided_at is None and obs.voided_by_id is None and obs.void_reason == ""
    assert stored[1].value == Decimal("36.85")


def test_a_batch_larger_than_one_statement_is_stored_whole_and_in_order(nina, running):
    start = timezone.now() - timedelta(minutes=5)
    size = connection.features.max_query_params or 65535
    count = size // 12 * 2 + 5 if connection.vendor == "sqlite" else 6000
    batch = [
        {"code": "heart_rate", "value": 60 + i % 40, "observed_at": start + timedelta(milliseconds=40 * i)}
        for i in range(count)
    ]
    before = Observation.objects.count()
    vitals_record(actor=nina, session=running, observations=batch, source="bulk")
    stored = list(
        Observation.objects.filter(session=running, source="bulk")
        .order_by("id")
        .values_list("value", "observed_at")
    )
    assert Observation.objects.count() == before + count
    assert stored == [(Decimal(60 + i % 40), b["observed_at"]) for i, b in enumerate(batch)]
