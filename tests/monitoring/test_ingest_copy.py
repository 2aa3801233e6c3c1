"""Large vitals batches go to PostgreSQL with COPY (services._copy_observations), smaller ones with
one INSERT. Both must store the same rows — the same an ORM create stores — and raise the same
alerts, audit alike, refuse a whole batch for one bad value, and return the right ids."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.utils import timezone

from kapstone.audit.models import AuditEvent
from kapstone.audit.verify import audit_chain_verify
from kapstone.care.models import CareSession
from kapstone.domain.errors import DomainError
from kapstone.domain.monitoring import OBSERVATION_DEFINITIONS
from kapstone.monitoring import services
from kapstone.monitoring.models import Alert, AlertEvent, Observation
from kapstone.monitoring.services import scale_record, vitals_record

pytestmark = pytest.mark.django_db

SOURCE = "monitor-copy"
BY_COPY, BY_INSERT = 1, 10**9
OBSERVATION_FIELDS = [f.attname for f in Observation._meta.concrete_fields if f.attname != "id"]
ALERT_FIELDS = [f.attname for f in Alert._meta.concrete_fields if f.attname != "id"]
EVENT_FIELDS = [f.attname for f in AlertEvent._meta.concrete_fields if f.attname not in ("id", "alert_id")]
# The audit row's time and hashes are the real clock's; an alert's row names its (new) id.
AUDIT_FIELDS = [
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "patient_id",
    "clinic_id",
    "outcome",
    "detail",
]

# Readings at each alert limit and one step inside it (alerts.AlertThresholds' defaults), then
# normal readings again, so episodes are raised, upgraded and ended within the batch.
BOUNDARY_SETS = [
    {"systolic_bp": 159, "diastolic_bp": 99, "heart_rate": 110, "spo2": 94, "respiratory_rate": 10},
    {"systolic_bp": 160, "diastolic_bp": 99, "heart_rate": 111, "spo2": 93, "respiratory_rate": 10},
    {"systolic_bp": 179, "diastolic_bp": 100, "heart_rate": 129, "spo2": 90, "respiratory_rate": 10},
    {"systolic_bp": 180, "diastolic_bp": 109, "heart_rate": 130, "spo2": 89, "respiratory_rate": 9},
    {"systolic_bp": 150, "diastolic_bp": 110, "heart_rate": 50, "spo2": 95, "respiratory_rate": 12},
    {"systolic_bp": 124, "diastolic_bp": 78, "heart_rate": 49, "spo2": 98, "respiratory_rate": 14},
]
NORMAL = {"systolic_bp": 124, "diastolic_bp": 78, "heart_rate": 72, "spo2": 98, "respiratory_rate": 14}


def boundary_batch(start, sets: int = 30, *, only: dict | None = None, skip: int = 0) -> list[dict]:
    """``sets`` readings 8 s apart from ``start``: the boundary sets (from the ``skip``-th), then
    normal ones (or ``only`` that set throughout); times in
    a zone other than UTC and with microseconds, a temperature with a third decimal (rounded by
    the column, numeric(6,2), on both paths)."""
    zone = ZoneInfo("America/Denver")
    batch = []
    boundaries = BOUNDARY_SETS[skip:]
    for i in range(sets):
        at = (start + timedelta(seconds=8 * i, microseconds=1237 * i)).astimezone(zone)
        values = only or (boundaries[i] if i < len(boundaries) else NORMAL)
        values = values | {"temperature": "36.855" if i % 2 else "37.1"}
        batch += [{"code": code, "value": value, "observed_at": at} for code, value in values.items()]
    return batch


def stored_since(session, last_audit_id: int) -> dict[str, list]:
    return {
        "observations": list(
            Observation.objects.filter(session=session, source=SOURCE)
            .order_by("id")
            .values(*OBSERVATION_FIELDS)
        ),
        "alerts": list(Alert.objects.filter(session=session).order_by("id").values(*ALERT_FIELDS)),
        "events": list(
            AlertEvent.objects.filter(alert__session=session).order_by("id").values(*EVENT_FIELDS)
        ),
        "audit": list(AuditEvent.objects.filter(id__gt=last_audit_id).order_by("id").values(*AUDIT_FIELDS)),
    }


def record_then_undo(monkeypatch, *, threshold: int, nurse, session, batches, now) -> tuple[list, dict]:
    """Record ``batches`` one after the other down one path, read back what they stored, and roll
    it all back."""
    monkeypatch.setattr(services, "COPY_MIN_OBSERVATIONS", threshold)
    last_audit_id = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    returned = []
    with transaction.atomic():
        for batch in batches:
            alerts = vitals_record(actor=nurse, session=session, observations=batch, source=SOURCE, now=now)
            returned.append(
                [(a.code, a.severity, a.message, a.raised_at, a.status, a.resolved_at) for a in alerts]
            )
        stored = stored_since(session, last_audit_id)
        transaction.set_rollback(True)
    return returned, stored


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY: PostgreSQL only")
def test_copy_and_insert_store_the_same_rows_and_raise_the_same_alerts(
    monkeypatch, nina, running, administration
):
    now = timezone.now()
    start = administration.started_at + timedelta(seconds=20)
    # Warnings held through the first batch, upgraded to critical and ended in the second.
    batches = [
        boundary_batch(start, sets=12, only=BOUNDARY_SETS[1]),
        boundary_batch(start + timedelta(seconds=100), skip=2),
    ]
    assert min(len(batch) for batch in batches) >= services.COPY_MIN_OBSERVATIONS
    by_copy = record_then_undo(
        monkeypatch, threshold=BY_COPY, nurse=nina, session=running, batches=batches, now=now
    )
    by_insert = record_then_undo(
        monkeypatch, threshold=BY_INSERT, nurse=nina, session=running, batches=batches, now=now
    )
    assert by_copy == by_insert
    alerts, stored = by_copy
    # The boundaries did raise, upgrade and end episodes (not a comparison of two empty lists).
    assert {"hypertension", "tachycardia", "hypoxemia"} <= {a[0] for a in alerts[0]}
    assert {"hypertension_critical", "tachycardia", "hypoxemia", "bradypnea", "bradycardia"} <= {
        a["code"] for a in stored["alerts"]
    }
    assert any(a["upgraded_at"] is not None for a in stored["alerts"])
    assert any(a["resolved_at"] is not None for a in stored["alerts"])
    assert {e["kind"] for e in stored["events"]} == {"raised", "upgraded", "resolved"}
    rows = stored["observations"]
    assert [r["observed_at"] for r in rows] == [b["observed_at"] for batch in batches for b in batch]
    assert {r["value"] for r in rows if r["code"] == "temperature"} == {Decimal("36.86"), Decimal("37.10")}
    assert all(r["entered_at"] == now and r["voided_at"] is None and r["void_reason"] == "" for r in rows)
    observations_audit = [a for a in stored["audit"] if a["object_type"] == "observations"]
    assert [a["detail"]["created"] for a in observations_audit] == [len(batch) for batch in batches]


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY: PostgreSQL only")
def test_copy_stores_what_the_orm_would(monkeypatch, nina, running, administration):
    now = timezone.now()
    batch = boundary_batch(administration.started_at + timedelta(seconds=20))
    _, stored = record_then_undo(
        monkeypatch, threshold=BY_COPY, nurse=nina, session=running, batches=[batch], now=now
    )
    with transaction.atomic():
        created = Observation.objects.bulk_create(
            Observation(
                session=running,
                patient_id=running.patient_id,
                clinic_id=running.clinic_id,
                code=sent["code"],
                loinc=OBSERVATION_DEFINITIONS[sent["code"]].loinc or "",
                value=Decimal(str(sent["value"])),
                unit=OBSERVATION_DEFINITIONS[sent["code"]].unit_ucum,
                observed_at=sent["observed_at"],
                source=SOURCE,
                entered_by=nina,
                entered_at=now,
            )
            for sent in batch
        )
        by_orm = list(
            Observation.objects.filter(pk__in=[o.pk for o in created])
            .order_by("id")
            .values(*OBSERVATION_FIELDS)
        )
        transaction.set_rollback(True)
    assert stored["observations"] == by_orm


def test_one_implausible_value_in_a_large_batch_stores_nothing(monkeypatch, nina, running, administration):
    monkeypatch.setattr(services, "COPY_MIN_OBSERVATIONS", 60)
    batch = boundary_batch(administration.started_at + timedelta(seconds=20), sets=40)
    batch[173] = batch[173] | {"code": "heart_rate", "value": 400}
    before = (Observation.objects.count(), Alert.objects.count(), AuditEvent.objects.count())
    with pytest.raises(DomainError) as refused:
        vitals_record(actor=nina, session=running, observations=batch, source=SOURCE)
    assert refused.value.code == "implausible_value"
    assert refused.value.field == "observations[173].value"
    assert (Observation.objects.count(), Alert.objects.count(), AuditEvent.objects.count()) == before


def test_a_failure_after_the_rows_are_written_leaves_none_of_them(monkeypatch, nina, running, administration):
    monkeypatch.setattr(services, "COPY_MIN_OBSERVATIONS", 1)

    def refuse(**kwargs):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(services, "audit_record", refuse)
    batch = boundary_batch(administration.started_at + timedelta(seconds=20))
    before = (Observation.objects.count(), Alert.objects.count(), AlertEvent.objects.count())
    with pytest.raises(RuntimeError):
        vitals_record(actor=nina, session=running, observations=batch, source=SOURCE)
    assert (Observation.objects.count(), Alert.objects.count(), AlertEvent.objects.count()) == before


def test_a_large_batch_is_audited_once_and_the_chain_holds(monkeypatch, nina, running, administration):
    monkeypatch.setattr(services, "COPY_MIN_OBSERVATIONS", 60)
    batch = boundary_batch(administration.started_at + timedelta(seconds=20), sets=20)
    last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    alerts = vitals_record(actor=nina, session=running, observations=batch, source=SOURCE)
    rows = list(AuditEvent.objects.filter(id__gt=last).order_by("id"))
    batch_rows = [r for r in rows if r.object_type == "observations"]
    assert len(batch_rows) == 1
    assert batch_rows[0].action == "create" and batch_rows[0].actor_id == nina.pk
    assert batch_rows[0].object_id == str(running.pk) and batch_rows[0].patient_id == running.patient_id
    assert batch_rows[0].detail["created"] == len(batch) and batch_rows[0].detail["source"] == SOURCE
    assert alerts and sorted(batch_rows[0].detail["alerts"]) == sorted(a.code for a in alerts)
    assert {r.object_type for r in rows} == {"observations", "alert"}
    assert audit_chain_verify()[1] is None


def test_the_returned_ids_are_the_rows_in_batch_order(monkeypatch, nina, running, administration):
    monkeypatch.setattr(services, "COPY_MIN_OBSERVATIONS", 1)
    batch = boundary_batch(administration.started_at + timedelta(seconds=20), sets=12)
    with transaction.atomic():
        session = (
            CareSession.objects.select_for_update().select_related("course", "clinic").get(pk=running.pk)
        )
        _, ids = services._store_batch(
            actor=nina, session=session, observations=batch, source=SOURCE, now=timezone.now()
        )
    stored = list(
        Observation.objects.filter(source=SOURCE).order_by("id").values_list("id", "code", "observed_at")
    )
    assert ids == [row[0] for row in stored] == sorted(ids)
    assert [(code, at) for _, code, at in stored] == [(b["code"], b["observed_at"]) for b in batch]


def test_a_scale_stored_by_copy_points_at_its_observation(monkeypatch, nina, running):
    monkeypatch.setattr(services, "COPY_MIN_OBSERVATIONS", 1)
    score = scale_record(actor=nina, session=running, scale="moaas", answers=4)
    observation = Observation.objects.get(pk=score.observation_id)
    assert (observation.code, observation.value, observation.session_id) == ("moaas", Decimal(4), running.pk)


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_two_large_batches_at_once_are_both_stored_and_raise_one_alert(
    monkeypatch, alice, nina, running, administration
):
    monkeypatch.setattr(services, "COPY_MIN_OBSERVATIONS", 60)
    barrier = threading.Barrier(2)
    outcomes: list[object] = []
    batches = {
        nina: boundary_batch(
            administration.started_at + timedelta(seconds=20), sets=20, only=BOUNDARY_SETS[3]
        ),
        alice: boundary_batch(
            administration.started_at + timedelta(seconds=25), sets=20, only=BOUNDARY_SETS[3]
        ),
    }

    def record(actor):
        try:
            barrier.wait(timeout=10)
            outcomes.append(
                vitals_record(actor=actor, session=running, observations=batches[actor], source=SOURCE)
            )
        except Exception as error:
            outcomes.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=record, args=(actor,)) for actor in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(outcomes) == 2 and all(isinstance(o, list) for o in outcomes), outcomes
    for actor, batch in batches.items():
        rows = list(
            Observation.objects.filter(source=SOURCE, entered_by=actor)
            .order_by("id")
            .values_list("code", "observed_at")
        )
        assert rows == [(b["code"], b["observed_at"]) for b in batch]
    # One episode per kind: the second batch found the first one's episodes open (session row lock).
    assert Alert.objects.filter(session=running, code="hypertension_critical").count() == 1
    assert sorted(len(o) for o in outcomes)[0] == 0
    assert (
        AuditEvent.objects.filter(
            object_type="observations", object_id=str(running.pk), detail__source=SOURCE
        ).count()
        == 2
    )
