"""Checkpoints: the audit chain's head, written outside the database.

The chain alone cannot show that its newest rows, or all of them, were deleted: what is left is
still a valid chain. So the head is also written down elsewhere, as one line of JSON appended to
``settings.AUDIT_CHECKPOINT_FILE`` (and sent to syslog when ``AUDIT_CHECKPOINT_SYSLOG`` is set)::

    {"at":"2026-12-07T10:00:00.000000Z","count":1000,"head":"<hash of the event>","hmac":"…",
     "key_id":"<id of the key>","last_id":1000,"v":1}

``count`` is the number of events up to and including event ``last_id``, ``head`` that event's
hash, and ``hmac`` an HMAC-SHA-256 of the other fields under the audit key, so that a line cannot
be forged or edited without the key. A line is written after the commit of every
``AUDIT_CHECKPOINT_EVERY``-th event and of the first event of each key segment
(``services.audit_record``), and by ``kapstone audit checkpoint`` (run hourly by a timer).
``kapstone audit verify`` compares the table with every line (``verify.py``).
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from logging.handlers import SysLogHandler
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from kapstone.audit.chain import GENESIS_HASH
from kapstone.audit.keys import AuditKey, audit_key_current
from kapstone.audit.models import AuditEvent

logger = logging.getLogger("kapstone.audit")

FORMAT_VERSION = 1
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class Checkpoint:
    last_id: int  # 0: the table was empty
    count: int
    head: str
    at: datetime
    key_id: str


@dataclass(frozen=True)
class CheckpointLine:
    """One line of the checkpoint file as read: a checkpoint whose HMAC matched, or a problem."""

    line_number: int
    checkpoint: Checkpoint | None
    problem: str | None = None


def _signed_fields(checkpoint: Checkpoint) -> dict:
    return {
        "v": FORMAT_VERSION,
        "last_id": checkpoint.last_id,
        "count": checkpoint.count,
        "head": checkpoint.head,
        "at": checkpoint.at.astimezone(UTC).strftime(_TIME_FORMAT),
        "key_id": checkpoint.key_id,
    }


def _canonical(fields: dict) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _mac(key: AuditKey, fields: dict) -> str:
    message = "kapstone-audit-checkpoint|" + _canonical(fields)
    return hmac.new(key.secret, message.encode("ascii"), hashlib.sha256).hexdigest()


def checkpoint_line(checkpoint: Checkpoint, *, key: AuditKey) -> str:
    """The line for ``checkpoint``, signed with ``key`` (whose id the checkpoint names)."""
    if checkpoint.key_id != key.key_id:
        raise ValueError("a checkpoint is signed with the key it names")
    fields = _signed_fields(checkpoint)
    return _canonical({**fields, "hmac": _mac(key, fields)})


def checkpoint_parse(line: str, *, line_number: int, keys: dict[str, AuditKey]) -> CheckpointLine:
    """Read one line and check its HMAC with the key it names."""
    try:
        data = json.loads(line)
        fields = {name: data[name] for name in ("v", "last_id", "count", "head", "at", "key_id")}
        mac = data["hmac"]
        if set(data) != {*fields, "hmac"} or fields["v"] != FORMAT_VERSION:
            raise ValueError("unexpected fields")
        if not all(isinstance(fields[name], int) and fields[name] >= 0 for name in ("last_id", "count")):
            raise ValueError("last_id and count are whole numbers")
        if not all(isinstance(value, str) for value in (fields["head"], fields["key_id"], mac)):
            raise ValueError("head, key_id and hmac are text")
        at = datetime.strptime(fields["at"], _TIME_FORMAT).replace(tzinfo=UTC)
    except (ValueError, KeyError, TypeError):
        return CheckpointLine(line_number, None, "is not a checkpoint: tampered with or cut short")
    key = keys.get(fields["key_id"])
    if key is None:
        return CheckpointLine(
            line_number,
            None,
            f"is signed with key id {fields['key_id']}, which is not configured "
            "(KAPSTONE_AUDIT_KEY, KAPSTONE_AUDIT_OLD_KEYS)",
        )
    if not hmac.compare_digest(_mac(key, fields), mac):
        return CheckpointLine(line_number, None, "has been tampered with: its HMAC does not match")
    checkpoint = Checkpoint(fields["last_id"], fields["count"], fields["head"], at, fields["key_id"])
    return CheckpointLine(line_number, checkpoint)


def checkpoint_file_read(path: Path, *, keys: dict[str, AuditKey]) -> list[CheckpointLine] | None:
    """Every non-empty line of the checkpoint file, checked; None when there is no file."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    return [
        checkpoint_parse(line, line_number=number, keys=keys)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]


@dataclass(frozen=True)
class CheckpointWritten:
    checkpoint: Checkpoint
    line: str
    syslog_sent: bool | None  # None: syslog is not configured


def checkpoint_append(checkpoint: Checkpoint, *, key: AuditKey) -> CheckpointWritten:
    """Append the checkpoint's line to the file (created 0600 if missing), then send it to syslog
    when configured. Raises OSError when the file cannot be written; a syslog failure is logged
    and reported in the result, not raised (the file is the record, syslog a copy elsewhere)."""
    line = checkpoint_line(checkpoint, key=key)
    path = Path(settings.AUDIT_CHECKPOINT_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (line + "\n").encode("ascii")
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        # Appends from several processes (app servers, the hourly timer) stay whole lines.
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        written = 0
        while written < len(data):
            written += os.write(descriptor, data[written:])
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    sent = None
    if settings.AUDIT_CHECKPOINT_SYSLOG:
        sent = checkpoint_syslog_send(line, address=settings.AUDIT_CHECKPOINT_SYSLOG)
    return CheckpointWritten(checkpoint, line, sent)


def checkpoint_syslog_send(line: str, *, address: str | tuple[str, int]) -> bool:
    """Send one checkpoint line to syslog (facility auth); False, and an error logged, on failure."""
    try:
        handler = SysLogHandler(address=address, facility=SysLogHandler.LOG_AUTH)
    except OSError as error:
        logger.error("audit checkpoint not sent to syslog at %s: %s", address, error)
        return False
    # One datagram (or NUL-terminated stream record), as SysLogHandler.emit builds it, but with
    # failures reported to the caller instead of printed by logging's error handler.
    priority = handler.encodePriority(handler.facility, "info")
    message = f"<{priority}>kapstone-audit-checkpoint {line}\000".encode("ascii")
    try:
        if handler.unixsocket:
            handler.socket.send(message)
        else:
            handler.socket.sendto(message, handler.address)
    except OSError as error:
        logger.error("audit checkpoint not sent to syslog at %s: %s", address, error)
        return False
    finally:
        handler.close()
    return True


def checkpoint_of_head(*, key: AuditKey, now: datetime | None = None) -> Checkpoint:
    """The checkpoint of the newest committed event (or of the empty table)."""
    now = now or timezone.now()
    head = AuditEvent.objects.order_by("-id").values("id", "hash", "seq").first()
    if head is None:
        return Checkpoint(0, 0, GENESIS_HASH, now, key.key_id)
    count = head["seq"]
    if count is None:  # the newest row predates the keyed chain: count the rows
        count = AuditEvent.objects.filter(id__lte=head["id"]).count()
    return Checkpoint(head["id"], count, head["hash"], now, key.key_id)


def audit_checkpoint_write(*, now: datetime | None = None) -> CheckpointWritten:
    """Write a checkpoint of the current head (``kapstone audit checkpoint``, hourly)."""
    key = audit_key_current()
    return checkpoint_append(checkpoint_of_head(key=key, now=now), key=key)


def checkpoint_after_commit(checkpoint: Checkpoint, key: AuditKey) -> None:
    """Run by ``audit_record`` after the commit of an event that is due a checkpoint.

    The event and the clinical write it records have committed by now; failing here must not turn
    them into an error page. A file that cannot be written is logged as an error; the hourly
    ``kapstone audit checkpoint`` writes the next line.
    """
    try:
        checkpoint_append(checkpoint, key=key)
    except OSError as error:
        logger.error(
            "audit checkpoint for event #%s could not be written to %s: %s",
            checkpoint.last_id,
            settings.AUDIT_CHECKPOINT_FILE,
            error,
        )
