"""Checkpoints: the chain's head written outside the database, and compared by `audit verify`."""

from __future__ import annotations

import json
import logging
import socket
import stat

import pytest
from django.db import transaction
from django.urls import reverse

from kapstone.audit import triggers
from kapstone.audit.models import AuditEvent
from kapstone.audit.services import audit_record
from tests.audit.kit import record_events, run_audit, run_verify, sql, triggers_dropped


def checkpoint_lines(settings) -> list[dict]:
    return [json.loads(line) for line in settings.AUDIT_CHECKPOINT_FILE.read_text().splitlines()]


def rewrite_checkpoint_file(settings, lines: list[str]) -> None:
    settings.AUDIT_CHECKPOINT_FILE.write_text("".join(line + "\n" for line in lines))


@pytest.mark.django_db(transaction=True)
def test_every_nth_event_and_each_segment_start_are_checkpointed_after_commit(settings):
    settings.AUDIT_CHECKPOINT_EVERY = 5
    events = [audit_record(actor=None, action="read", object_type="x", object_id=n) for n in range(14)]
    assert len(checkpoint_lines(settings)) == 3
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(actor=None, action="read", object_type="x", object_id="rolled back")
        raise RuntimeError("the caller's transaction fails: its event was never there")
    fifteenth = audit_record(actor=None, action="read", object_type="x", object_id=15)
    lines = checkpoint_lines(settings)
    # The first event starts the key's segment; then the 5th, 10th and 15th (not the rolled back one).
    assert [(line["count"], line["last_id"], line["head"]) for line in lines] == [
        (1, events[0].pk, events[0].hash),
        (5, events[4].pk, events[4].hash),
        (10, events[9].pk, events[9].hash),
        (15, fifteenth.pk, fifteenth.hash),
    ]
    assert {line["key_id"] for line in lines} == {events[0].key_id}
    assert stat.S_IMODE(settings.AUDIT_CHECKPOINT_FILE.stat().st_mode) == 0o600
    code, payload = run_verify()
    assert code == 0
    assert payload["checkpoints"] == {"file": str(settings.AUDIT_CHECKPOINT_FILE), "lines": 4, "matched": 4}


@pytest.mark.django_db
class TestTheCheckpointCommand:
    def test_writes_the_head(self, settings, alice):
        events = [audit_record(actor=alice, action="read", object_type="x", object_id=n) for n in range(3)]
        code, out, _err = run_audit("checkpoint", "--json")
        assert code == 0
        answer = json.loads(out)
        assert answer["last_id"] == events[-1].pk
        assert answer["count"] == events[-1].seq == AuditEvent.objects.count()
        assert answer["head"] == events[-1].hash
        assert answer["key_id"] == events[-1].key_id
        assert answer["syslog_sent"] is None
        (line,) = checkpoint_lines(settings)
        assert {name: line[name] for name in answer if name != "syslog_sent"} == {
            name: value for name, value in answer.items() if name != "syslog_sent"
        }
        code, payload = run_verify()
        assert (code, payload["checkpoints"]["matched"]) == (0, 1)

    def test_on_an_empty_table_records_that_it_was_empty(self, settings):
        code, out, _err = run_audit("checkpoint")
        assert code == 0 and "0 events up to event #0" in out
        audit_record(actor=None, action="read", object_type="x", object_id=1)
        code, payload = run_verify()
        assert code == 0 and payload["checkpoints"]["lines"] == 1

    def test_a_file_it_cannot_write_is_an_error_naming_it(self, settings, tmp_path):
        (tmp_path / "not-a-directory").write_text("")
        settings.AUDIT_CHECKPOINT_FILE = tmp_path / "not-a-directory" / "checkpoints.log"
        code, out, err = run_audit("checkpoint")
        assert code == 1
        assert "The audit checkpoint could not be written" in err and "not-a-directory" in err
        code, out, _err = run_audit("checkpoint", "--json")
        assert code == 1 and json.loads(out)["error"]["code"] == "checkpoint_file_unwritable"


@pytest.mark.django_db
class TestTamperedCheckpoints:
    def test_a_line_whose_hmac_fails_is_reported_as_tampered(self, settings, alice):
        events = [audit_record(actor=alice, action="read", object_type="x", object_id=n) for n in range(3)]
        run_audit("checkpoint")
        line = checkpoint_lines(settings)[0]
        # Someone who deleted events lowers the recorded count and head but cannot sign the line.
        line.update(count=1, last_id=events[0].pk - 1)
        rewrite_checkpoint_file(settings, [json.dumps(line)])
        code, payload = run_verify()
        assert code == 1
        assert payload["ok"] is False
        assert payload["broken_event_id"] is None
        assert payload["reason"] == "checkpoint line 1 has been tampered with: its HMAC does not match"
        assert payload["checkpoints"]["matched"] == 0

    def test_a_line_signed_with_an_unknown_key_is_reported(self, settings, alice):
        audit_record(actor=alice, action="read", object_type="x", object_id=1)
        run_audit("checkpoint")
        line = checkpoint_lines(settings)[0]
        line["key_id"] = "0123456789abcdef"
        rewrite_checkpoint_file(settings, [json.dumps(line)])
        code, payload = run_verify()
        assert code == 1
        assert payload["reason"].startswith(
            "checkpoint line 1 is signed with key id 0123456789abcdef, which is not configured"
        )

    def test_a_line_that_is_not_a_checkpoint_is_reported(self, settings, alice):
        audit_record(actor=alice, action="read", object_type="x", object_id=1)
        run_audit("checkpoint")
        text = settings.AUDIT_CHECKPOINT_FILE.read_text()
        settings.AUDIT_CHECKPOINT_FILE.write_text(text + text[: len(text) // 2] + "\n")
        code, payload = run_verify()
        assert code == 1
        assert [problem["reason"] for problem in payload["problems"]] == [
            "checkpoint line 2 is not a checkpoint: tampered with or cut short"
        ]

    def test_the_count_going_down_is_named(self, settings, alice, django_capture_on_commit_callbacks):
        settings.AUDIT_CHECKPOINT_EVERY = 5
        record_events(alice, 9, django_capture_on_commit_callbacks)
        first = AuditEvent.objects.order_by("id").first()
        fifth = AuditEvent.objects.get(seq=5)
        with triggers_dropped():
            sql(f"DELETE FROM {triggers.TABLE} WHERE id = %s", [first.pk])
        code, payload = run_verify()
        assert code == 1
        # The chain shows the break at the row after the deleted one; the checkpoints, the count.
        second = AuditEvent.objects.order_by("id").first()
        assert payload["broken_event_id"] == second.pk
        assert payload["reason"] == "previous-hash link does not match the row before it"
        reasons = [problem["reason"] for problem in payload["problems"]]
        assert any(
            reason.startswith("the count went down")
            and f"up to event #{fifth.pk}; the table now holds 4" in reason
            for reason in reasons
        ), reasons


@pytest.mark.django_db
def test_verify_without_a_checkpoint_file_passes_and_warns(settings, alice):
    audit_record(actor=alice, action="read", object_type="x", object_id=1)
    assert not settings.AUDIT_CHECKPOINT_FILE.exists()
    code, payload = run_verify()
    assert code == 0
    assert payload["warnings"] == [
        f"no checkpoint file at {settings.AUDIT_CHECKPOINT_FILE}: events deleted from the end of the table "
        "cannot be detected (run `kapstone audit checkpoint` hourly)"
    ]
    code, out, err = run_audit("verify")
    assert code == 0
    assert out.startswith("audit chain intact: ") and "0 of 0 checkpoints match" in out
    assert err.startswith("warning: no checkpoint file at ")


@pytest.mark.django_db
def test_a_checkpoint_that_cannot_be_written_after_commit_is_logged_not_a_500(
    settings, tmp_path, caplog, as_user, alice, patient_a, django_capture_on_commit_callbacks
):
    (tmp_path / "not-a-directory").write_text("")
    settings.AUDIT_CHECKPOINT_FILE = tmp_path / "not-a-directory" / "checkpoints.log"
    settings.AUDIT_CHECKPOINT_EVERY = 1
    caplog.set_level(logging.ERROR, logger="kapstone.audit")
    events_before = AuditEvent.objects.count()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = as_user(alice).get(reverse("patients:chart", args=[patient_a.pk]))
    assert response.status_code == 200
    assert callbacks  # the chart read's audit event was due a checkpoint
    assert AuditEvent.objects.count() > events_before
    assert "could not be written to" in caplog.text and "not-a-directory" in caplog.text


@pytest.mark.django_db
class TestSyslog:
    def test_the_checkpoint_line_is_sent_to_syslog_too(self, settings, alice):
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(10)  # a guard against hanging, not a timing assertion
        try:
            settings.AUDIT_CHECKPOINT_SYSLOG = receiver.getsockname()
            audit_record(actor=alice, action="read", object_type="x", object_id=1)
            code, out, _err = run_audit("checkpoint", "--json")
            datagram, _sender = receiver.recvfrom(65536)
        finally:
            receiver.close()
        assert code == 0 and json.loads(out)["syslog_sent"] is True
        (line,) = settings.AUDIT_CHECKPOINT_FILE.read_text().splitlines()
        # <facility auth (4) * 8 + info (6)>
        assert datagram == f"<38>kapstone-audit-checkpoint {line}\x00".encode()

    def test_a_syslog_that_cannot_be_reached_is_reported_after_the_file_is_written(
        self, settings, tmp_path, alice
    ):
        settings.AUDIT_CHECKPOINT_SYSLOG = str(tmp_path / "no-syslog-here")
        audit_record(actor=alice, action="read", object_type="x", object_id=1)
        code, _out, err = run_audit("checkpoint")
        assert code == 1
        assert "could not be sent to syslog" in err
        assert len(checkpoint_lines(settings)) == 1
