"""Migration audit/0004 keys the chain without rewriting the rows already there."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import DatabaseError, connection, transaction

from kapstone.audit import triggers
from kapstone.audit.chain import GENESIS_HASH, canonical_payload, legacy_chain_hash
from kapstone.audit.models import AuditEvent
from kapstone.audit.services import audit_record
from tests.audit.kit import run_verify
from tests.migrations_kit import migrate, migrate_to_newest

BEFORE = ("audit", "0003_disclosures")

pytestmark = pytest.mark.django_db(transaction=True)


def write_rows_the_old_way(OldEvent, count: int) -> list[int]:
    """What `audit_record` wrote before the key: plain SHA-256 over the previous hash and the row."""
    prev, ids = GENESIS_HASH, []
    for n in range(count):
        fields = {
            "at": datetime(2026, 11, 1, 8, n, 0, 250000, tzinfo=UTC),
            "actor_id": None,
            "actor_label": "nurse.north",
            "action": "read",
            "object_type": "patient",
            "object_id": str(n),
            "patient_id": n,
            "clinic_id": 1,
            "remote_addr": "10.0.0.7",
            "outcome": "success",
            "detail": {"fields": ["name"], "n": n},
        }
        digest = legacy_chain_hash(prev, canonical_payload(**fields))
        ids.append(OldEvent.objects.create(prev_hash=prev, hash=digest, **fields).pk)
        prev = digest
    return ids


def test_rows_of_before_stay_as_they_were_and_verify_and_the_table_stays_append_only():
    try:
        old = migrate(BEFORE)
        old_ids = write_rows_the_old_way(old.get_model("audit", "AuditEvent"), 5)
        migrate_to_newest()
    except BaseException:
        migrate_to_newest()
        raise
    rows = list(AuditEvent.objects.order_by("id"))
    assert [row.pk for row in rows] == old_ids
    assert {(row.key_id, row.seq) for row in rows} == {("", None)}
    # The triggers survived the table being rebuilt (SQLite) for the new columns.
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=old_ids[0]).update(object_id="changed")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {triggers.TABLE} WHERE id = %s", [old_ids[-1]])
    event = audit_record(actor=None, action="read", object_type="x", object_id=1)
    assert (event.prev_hash, event.seq) == (rows[-1].hash, 6)
    code, payload = run_verify()
    assert code == 0, payload
    assert [(s["key_id"], s["events"]) for s in payload["segments"]] == [(None, 5), (event.key_id, 1)]
    assert payload["checkpoints"]["matched"] == 1  # the first keyed event pinned the old rows


def test_reversal_is_refused_once_rows_are_keyed():
    audit_record(actor=None, action="read", object_type="x", object_id=1)
    try:
        with pytest.raises(RuntimeError, match="keyed"):
            migrate(BEFORE)
    finally:
        migrate_to_newest()
    assert AuditEvent.objects.get().key_id != ""
