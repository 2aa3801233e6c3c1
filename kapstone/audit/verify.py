"""Checking the audit trail: the chain row by row, then the table against the checkpoints.

The chain (``chain.py``) shows a row changed, inserted or removed in the middle, even with every
later hash recomputed, because nobody without the key can compute a keyed hash. The checkpoints
(``checkpoints.py``) show what the chain cannot: rows gone from the end, or all of them.

Rules of the chain, as built (``services.audit_record``):

- rows link to the row before them (``prev_hash``), the first to ``GENESIS_HASH``;
- unkeyed rows (key id ``""``, plain SHA-256) may only come first: they are the rows written
  before migration 0004, and an unkeyed row after a keyed one is an insertion;
- each keyed row's hash is the HMAC under the key its ``key_id`` names, which must be configured,
  and its ``seq`` is its place in the table (1, 2, 3, …);
- the rows of one key are one run (a segment): a key that was replaced never signs again.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from kapstone.audit.chain import GENESIS_HASH, ChainBreak, keyed_chain_hash, legacy_chain_hash, payload_of
from kapstone.audit.checkpoints import CheckpointLine, checkpoint_file_read
from kapstone.audit.keys import AuditKey, audit_keys_known
from kapstone.audit.models import AuditEvent

KEYS_NAMED = "KAPSTONE_AUDIT_KEY, KAPSTONE_AUDIT_OLD_KEYS"
_CONTENTS = "row contents do not match its hash"


@dataclass(frozen=True)
class Segment:
    """A run of rows under one key; ``key_id`` "" for the unkeyed rows of before migration 0004."""

    key_id: str
    first_id: int
    last_id: int
    events: int


@dataclass(frozen=True)
class CheckpointProblem:
    line_number: int
    event_id: int | None
    reason: str


@dataclass(frozen=True)
class AuditVerification:
    checked: int
    broken: ChainBreak | None
    segments: tuple[Segment, ...]
    checkpoint_file: str
    checkpoint_lines: int
    checkpoints_matched: int
    checkpoint_problems: tuple[CheckpointProblem, ...]
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.broken is None and not self.checkpoint_problems


@dataclass
class _Walk:
    checked: int = 0
    total: int = 0
    max_id: int | None = None
    broken: ChainBreak | None = None


def _row_break(
    event, *, expected_prev: str, position: int, keys: dict[str, AuditKey], segments
) -> str | None:
    """Why this row breaks the chain, or None."""
    if event.prev_hash != expected_prev:
        return "previous-hash link does not match the row before it"
    current = segments[-1] if segments else None
    if event.key_id == "":
        if current is not None and current.key_id != "":
            return "an unkeyed row after keyed rows (only rows written before the audit key are unkeyed)"
        if event.seq is not None:
            return "an unkeyed row carries a sequence number"
        return None if legacy_chain_hash(event.prev_hash, payload_of(event)) == event.hash else _CONTENTS
    if (current is None or current.key_id != event.key_id) and any(
        s.key_id == event.key_id for s in segments
    ):
        return f"signed with key id {event.key_id}, whose segment had ended: a replaced key signs again"
    key = keys.get(event.key_id)
    if key is None:
        return f"signed with key id {event.key_id}, which is not configured ({KEYS_NAMED})"
    if event.seq is None:
        return "a keyed row without a sequence number"
    digest = keyed_chain_hash(
        key.secret, prev_hash=event.prev_hash, seq=event.seq, key_id=event.key_id, payload=payload_of(event)
    )
    if digest != event.hash:
        return _CONTENTS
    if event.seq != position:
        return f"sequence number {event.seq} where {position} was expected"
    return None


def _walk_chain(
    keys: dict[str, AuditKey], wanted_ids: set[int], *, batch_size: int
) -> tuple[_Walk, list[Segment], dict[int, tuple[int, str]]]:
    """Every row in id order: verified up to the first break, counted to the end. Returns the
    walk, the segments verified, and (place, hash) of each row in ``wanted_ids`` that exists."""
    walk = _Walk()
    segments: list[Segment] = []
    found: dict[int, tuple[int, str]] = {}
    expected_prev = GENESIS_HASH
    last_id = 0
    while True:
        batch = list(AuditEvent.objects.filter(id__gt=last_id).order_by("id")[:batch_size])
        if not batch:
            return walk, segments, found
        for event in batch:
            walk.total += 1
            walk.max_id = last_id = event.pk
            if event.pk in wanted_ids:
                found[event.pk] = (walk.total, event.hash)
            if walk.broken is not None:
                continue
            reason = _row_break(
                event, expected_prev=expected_prev, position=walk.total, keys=keys, segments=segments
            )
            if reason is not None:
                walk.broken = ChainBreak(event.pk, reason)
                continue
            if segments and segments[-1].key_id == event.key_id:
                last = segments[-1]
                segments[-1] = Segment(last.key_id, last.first_id, event.pk, last.events + 1)
            else:
                segments.append(Segment(event.key_id, event.pk, event.pk, 1))
            expected_prev = event.hash
            walk.checked += 1


def audit_chain_verify(*, batch_size: int = 5000) -> tuple[int, ChainBreak | None]:
    """Walk every event in id order; return (rows checked, the first break or None)."""
    walk, _segments, _found = _walk_chain(audit_keys_known(), set(), batch_size=batch_size)
    return walk.checked, walk.broken


def _checkpoint_problem(line: CheckpointLine, walk: _Walk, found: dict[int, tuple[int, str]]) -> str | None:
    checkpoint = line.checkpoint
    if checkpoint is None:
        return f"checkpoint line {line.line_number} {line.problem}"
    if checkpoint.last_id == 0:  # written while the table was empty: nothing to compare
        return None
    where = f"checkpoint line {line.line_number} ({checkpoint.at:%Y-%m-%d %H:%M:%S} UTC)"
    recorded = f"{where} recorded {checkpoint.count} events up to event #{checkpoint.last_id}"
    if checkpoint.last_id not in found:
        if walk.max_id is None:
            return f"every event is missing: {recorded}; the table is empty"
        if checkpoint.last_id > walk.max_id:
            return (
                f"events after #{walk.max_id} are missing: {recorded}; "
                f"the table now ends at event #{walk.max_id} with {walk.total} events"
            )
        return f"event #{checkpoint.last_id} is missing: {recorded}"
    place, digest = found[checkpoint.last_id]
    if digest != checkpoint.head:
        return (
            f"event #{checkpoint.last_id} no longer matches {where}: its hash is not the head recorded then"
        )
    if place < checkpoint.count:
        return f"the count went down: {recorded}; the table now holds {place} up to that event"
    if place > checkpoint.count:
        return f"the count went up: {recorded}; the table now holds {place} up to that event"
    return None


def audit_trail_verify(*, batch_size: int = 5000) -> AuditVerification:
    """Verify the chain and compare the table with every checkpoint line.

    Raises ``AuditKeyMissing`` without a key, and OSError when the checkpoint file exists but
    cannot be read.
    """
    keys = audit_keys_known()
    path = settings.AUDIT_CHECKPOINT_FILE
    # Read the checkpoints first: every line names a row committed before it was written.
    lines = checkpoint_file_read(path, keys=keys)
    wanted = {line.checkpoint.last_id for line in lines or [] if line.checkpoint is not None}
    walk, segments, found = _walk_chain(keys, wanted, batch_size=batch_size)
    problems: list[tuple[tuple[int, int], CheckpointProblem]] = []
    matched = 0
    for line in lines or []:
        reason = _checkpoint_problem(line, walk, found)
        if reason is None:
            matched += 1
            continue
        event_id = line.checkpoint.last_id if line.checkpoint is not None else None
        # Lines that are not genuine first, then the newest checkpoint (the largest loss).
        order = (0, -line.line_number) if event_id is None else (1, -event_id)
        problems.append((order, CheckpointProblem(line.line_number, event_id, reason)))
    warnings = []
    if lines is None and walk.total:
        warnings.append(
            f"no checkpoint file at {path}: events deleted from the end of the table cannot be "
            "detected (run `kapstone audit checkpoint` hourly)"
        )
    return AuditVerification(
        checked=walk.checked,
        broken=walk.broken,
        segments=tuple(segments),
        checkpoint_file=str(path),
        checkpoint_lines=len(lines or []),
        checkpoints_matched=matched,
        checkpoint_problems=tuple(problem for _order, problem in sorted(problems, key=lambda p: p[0])),
        warnings=tuple(warnings),
    )
