"""What a database owner can do to the audit trail, and what `kapstone audit verify` says about it.

A database owner can drop the append-only triggers. Then the newest rows can be deleted, every row
deleted, or a row changed and every hash after it recomputed with the published algorithm. Each
must make `audit verify` exit 1 naming what is wrong (issue 15).
"""

from __future__ import annotations

import hashlib

import pytest

from kapstone.audit import triggers
from kapstone.audit.chain import GENESIS_HASH, keyed_chain_hash, legacy_chain_hash, payload_of
from kapstone.audit.models import AuditEvent
from kapstone.audit.services import audit_record
from tests.audit.kit import record_events, run_audit, run_verify, sql, triggers_dropped

pytestmark = pytest.mark.django_db


@pytest.fixture
def checkpoint_every_ten(settings):
    settings.AUDIT_CHECKPOINT_EVERY = 10


def test_deleting_the_newest_50_rows_is_named(
    alice, checkpoint_every_ten, django_capture_on_commit_callbacks
):
    events = record_events(alice, 100, django_capture_on_commit_callbacks)
    kept, deleted = events[:50], events[50:]
    with triggers_dropped():
        sql(f"DELETE FROM {triggers.TABLE} WHERE id >= %s", [deleted[0].pk])
    code, payload = run_verify()
    assert code == 1
    assert payload["ok"] is False
    assert payload["broken_event_id"] in {event.pk for event in deleted}
    assert "missing" in payload["reason"]
    assert f"#{kept[-1].pk}" in payload["reason"]  # where the table now ends


def test_deleting_every_row_is_named(alice, checkpoint_every_ten, django_capture_on_commit_callbacks):
    events = record_events(alice, 100, django_capture_on_commit_callbacks)
    with triggers_dropped():
        sql(f"DELETE FROM {triggers.TABLE}")
    assert AuditEvent.objects.count() == 0
    code, payload = run_verify()
    assert code == 1
    assert payload["ok"] is False
    assert payload["broken_event_id"] in {event.pk for event in events}
    assert "missing" in payload["reason"]


def test_a_changed_row_with_every_later_hash_recomputed_is_named(
    alice, checkpoint_every_ten, django_capture_on_commit_callbacks
):
    events = record_events(alice, 30, django_capture_on_commit_callbacks)
    target = events[10]
    prev = AuditEvent.objects.filter(id__lt=target.pk).order_by("-id").values_list("hash", flat=True).first()
    with triggers_dropped():
        # The attacker knows the published algorithm (SHA-256 over the previous hash and the
        # row's fields) but not the key.
        for row in AuditEvent.objects.filter(id__gte=target.pk).order_by("id"):
            if row.pk == target.pk:
                row.action = "create"
            digest = hashlib.sha256((prev + "|" + payload_of(row)).encode("ascii")).hexdigest()
            sql(
                f"UPDATE {triggers.TABLE} SET action = %s, prev_hash = %s, hash = %s WHERE id = %s",
                [row.action, prev, digest, row.pk],
            )
            prev = digest
    code, payload = run_verify()
    assert code == 1
    assert payload["ok"] is False
    assert payload["broken_event_id"] == target.pk
    assert "hash" in payload["reason"]


def test_the_text_answer_names_the_missing_events(
    alice, checkpoint_every_ten, django_capture_on_commit_callbacks
):
    events = record_events(alice, 20, django_capture_on_commit_callbacks)
    with triggers_dropped():
        sql(f"DELETE FROM {triggers.TABLE} WHERE id > %s", [events[4].pk])
    code, out, err = run_audit("verify")
    assert code == 1
    assert out == ""
    assert f"events after #{events[4].pk} are missing" in err
    assert "audit trail does not match its checkpoints" in err


def test_the_hourly_checkpoint_alone_shows_a_truncation(alice):
    """No event was the N-th (default 1000): the hourly `kapstone audit checkpoint` anchors them."""
    events = [audit_record(actor=alice, action="read", object_type="x", object_id=n) for n in range(60)]
    code, out, _err = run_audit("checkpoint")
    assert code == 0 and f"up to event #{events[-1].pk}" in out
    with triggers_dropped():
        sql(f"DELETE FROM {triggers.TABLE} WHERE id >= %s", [events[10].pk])
    code, payload = run_verify()
    assert code == 1
    assert payload["broken_event_id"] == events[-1].pk
    assert payload["reason"].startswith(f"events after #{events[9].pk} are missing")
    assert f"recorded {events[-1].seq} events up to event #{events[-1].pk}" in payload["reason"]


def test_a_rewrite_under_a_guessed_key_is_named(alice, settings):
    events = [audit_record(actor=alice, action="read", object_type="x", object_id=n) for n in range(5)]
    target = events[2]
    guessed = b"kapstone-audit-key-guessed-by-an-attacker"
    prev = events[1].hash
    with triggers_dropped():
        for row in AuditEvent.objects.filter(id__gte=target.pk).order_by("id"):
            if row.pk == target.pk:
                row.object_id = "999"
            digest = keyed_chain_hash(
                guessed, prev_hash=prev, seq=row.seq, key_id=row.key_id, payload=payload_of(row)
            )
            sql(
                f"UPDATE {triggers.TABLE} SET object_id = %s, prev_hash = %s, hash = %s WHERE id = %s",
                [row.object_id, prev, digest, row.pk],
            )
            prev = digest
    code, payload = run_verify()
    assert code == 1
    assert (payload["broken_event_id"], payload["reason"]) == (
        target.pk,
        "row contents do not match its hash",
    )


def test_an_unkeyed_row_appended_after_keyed_rows_is_named(alice):
    events = [audit_record(actor=alice, action="read", object_type="x", object_id=n) for n in range(3)]
    forged = AuditEvent(
        at=events[-1].at, actor_label="mallory", action="read", object_type="x", object_id="9"
    )
    forged.prev_hash = events[-1].hash
    forged.hash = legacy_chain_hash(forged.prev_hash, payload_of(forged))
    forged.save()  # an INSERT, which the triggers allow (they must: that is how events are written)
    code, payload = run_verify()
    assert code == 1
    assert payload["broken_event_id"] == forged.pk
    assert payload["reason"].startswith("an unkeyed row after keyed rows")


def test_the_whole_table_rewritten_as_unkeyed_rows_is_caught_by_the_checkpoints(
    alice, checkpoint_every_ten, django_capture_on_commit_callbacks
):
    """Unkeyed rows are accepted only as the first segment (rows of before the key). An attacker
    who rewrites every row as such a chain passes the chain check: the checkpoints catch it."""
    events = record_events(alice, 25, django_capture_on_commit_callbacks)
    target = events[7]
    prev = GENESIS_HASH
    with triggers_dropped():
        for row in AuditEvent.objects.order_by("id"):
            if row.pk == target.pk:
                row.action = "create"
            digest = legacy_chain_hash(prev, payload_of(row))
            sql(
                f"UPDATE {triggers.TABLE} SET action = %s, prev_hash = %s, hash = %s, key_id = '', seq = NULL "
                "WHERE id = %s",
                [row.action, prev, digest, row.pk],
            )
            prev = digest
    code, payload = run_verify()
    assert code == 1
    assert payload["checked"] == AuditEvent.objects.count()  # the chain itself is consistent
    first = AuditEvent.objects.order_by("id").first()
    assert payload["segments"] == [
        {"key_id": None, "first_id": first.pk, "last_id": events[-1].pk, "events": AuditEvent.objects.count()}
    ]
    assert "no longer matches checkpoint line" in payload["reason"]
