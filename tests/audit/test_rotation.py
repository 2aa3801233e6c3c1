"""Key rotation and the unkeyed rows of before the key: segments of one chain, each verified."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from kapstone.audit.chain import GENESIS_HASH, legacy_chain_hash, payload_of
from kapstone.audit.keys import audit_key_from_text
from kapstone.audit.models import AuditEvent
from kapstone.audit.services import audit_record
from tests.audit.kit import run_audit, run_verify, sql, triggers_dropped

pytestmark = pytest.mark.django_db

KEY_ONE = "first-audit-key-" + "1" * 40
KEY_TWO = "second-audit-key-" + "2" * 40
ONE, TWO = audit_key_from_text(KEY_ONE).key_id, audit_key_from_text(KEY_TWO).key_id


def record(count: int) -> list[AuditEvent]:
    return [audit_record(actor=None, action="read", object_type="x", object_id=n) for n in range(count)]


def use_key(settings, key: str, *old: str) -> None:
    settings.AUDIT_KEY = key
    settings.AUDIT_OLD_KEYS = list(old)


def segments(payload: dict) -> list[tuple]:
    return [(s["key_id"], s["first_id"], s["last_id"], s["events"]) for s in payload["segments"]]


def test_two_key_segments_verify_given_both_keys(settings):
    use_key(settings, KEY_ONE)
    first = record(3)
    use_key(settings, KEY_TWO, KEY_ONE)
    second = record(4)
    assert [event.seq for event in first + second] == list(range(1, 8))
    assert second[0].prev_hash == first[-1].hash  # one chain across the change of key
    code, payload = run_verify()
    assert code == 0, payload
    assert segments(payload) == [(ONE, first[0].pk, first[-1].pk, 3), (TWO, second[0].pk, second[-1].pk, 4)]


def test_a_segment_whose_key_is_not_configured_is_named(settings):
    use_key(settings, KEY_ONE)
    first = record(2)
    use_key(settings, KEY_TWO)  # the old key was not kept in KAPSTONE_AUDIT_OLD_KEYS
    record(2)
    code, payload = run_verify()
    assert code == 1
    assert payload["broken_event_id"] == first[0].pk
    assert payload["reason"] == (
        f"signed with key id {ONE}, which is not configured (KAPSTONE_AUDIT_KEY, KAPSTONE_AUDIT_OLD_KEYS)"
    )


def test_a_replaced_key_that_signs_again_is_named(settings):
    use_key(settings, KEY_ONE)
    record(2)
    use_key(settings, KEY_TWO, KEY_ONE)
    record(2)
    use_key(settings, KEY_ONE, KEY_TWO)  # a server still holding the old key, or whoever stole it
    again = audit_record(actor=None, action="read", object_type="x", object_id="again")
    code, payload = run_verify()
    assert code == 1
    assert payload["broken_event_id"] == again.pk
    assert (
        payload["reason"] == f"signed with key id {ONE}, whose segment had ended: a replaced key signs again"
    )


def test_the_first_event_of_a_segment_is_checkpointed(settings, django_capture_on_commit_callbacks):
    use_key(settings, KEY_ONE)
    record(3)
    use_key(settings, KEY_TWO, KEY_ONE)
    with django_capture_on_commit_callbacks(execute=True):
        (start,) = record(1)
    (line,) = [json.loads(text) for text in settings.AUDIT_CHECKPOINT_FILE.read_text().splitlines()]
    assert (line["last_id"], line["count"], line["head"], line["key_id"]) == (start.pk, 4, start.hash, TWO)


class TestRotateCommand:
    def test_starts_the_new_segment_with_an_event_naming_the_change(self, settings):
        use_key(settings, KEY_ONE)
        record(2)
        use_key(settings, KEY_TWO, KEY_ONE)
        code, out, _err = run_audit("rotate", "--json")
        assert code == 0
        answer = json.loads(out)
        event = AuditEvent.objects.order_by("-id").first()
        assert answer == {"rotated": True, "event_id": event.pk, "key_id": TWO, "previous_key_id": ONE}
        assert (event.action, event.object_type, event.object_id, event.key_id) == (
            "update",
            "audit_key",
            TWO,
            TWO,
        )
        assert event.detail == {"previous_key_id": ONE}
        assert event.actor_label == "kapstone audit rotate"
        code, out, _err = run_audit("rotate")
        assert code == 0 and "nothing to rotate" in out
        assert AuditEvent.objects.order_by("-id").first() == event
        assert run_verify()[0] == 0

    def test_refuses_while_the_previous_key_is_not_kept(self, settings):
        use_key(settings, KEY_ONE)
        record(2)
        use_key(settings, KEY_TWO)
        before = AuditEvent.objects.count()
        code, out, _err = run_audit("rotate", "--json")
        assert code == 2
        error = json.loads(out)["error"]
        assert error["code"] == "audit_previous_key_missing"
        assert ONE in error["message"] and "KAPSTONE_AUDIT_OLD_KEYS" in error["message"]
        assert AuditEvent.objects.count() == before


def make_unkeyed_rows(count: int) -> list[AuditEvent]:
    """Rows as written before migration 0004: plain SHA-256, no key id, no place in the chain."""
    rows, prev = [], GENESIS_HASH
    for n in range(count):
        row = AuditEvent(
            at=datetime(2026, 1, 1, 9, n, 30, 123456, tzinfo=UTC),
            action="read",
            object_type="x",
            object_id=str(n),
            detail={"n": n},
            prev_hash=prev,
        )
        row.hash = prev = legacy_chain_hash(prev, payload_of(row))
        rows.append(row)
    return AuditEvent.objects.bulk_create(rows)


def test_unkeyed_rows_of_before_the_key_verify_as_the_first_segment(
    settings, django_capture_on_commit_callbacks
):
    unkeyed = make_unkeyed_rows(4)
    use_key(settings, KEY_ONE)
    with django_capture_on_commit_callbacks(execute=True):
        keyed = record(3)
    assert [event.seq for event in keyed] == [5, 6, 7]
    assert keyed[0].prev_hash == unkeyed[-1].hash
    code, payload = run_verify()
    assert code == 0, payload
    assert segments(payload) == [
        (None, unkeyed[0].pk, unkeyed[-1].pk, 4),
        (ONE, keyed[0].pk, keyed[-1].pk, 3),
    ]
    # The first keyed event pinned the unkeyed rows before it in a checkpoint.
    assert payload["checkpoints"]["matched"] == 1


def test_an_unkeyed_row_that_was_changed_is_named(settings):
    unkeyed = make_unkeyed_rows(3)
    use_key(settings, KEY_ONE)
    record(1)
    with triggers_dropped():
        sql("UPDATE audit_auditevent SET object_id = 'changed' WHERE id = %s", [unkeyed[1].pk])
    code, payload = run_verify()
    assert code == 1
    assert (payload["broken_event_id"], payload["reason"]) == (
        unkeyed[1].pk,
        "row contents do not match its hash",
    )
