"""The hash chain over audit events.

Each event's hash is an HMAC-SHA-256, under the audit key (``keys.py``; never in the database),
of the previous hash, the event's place in the chain (``seq``), the key's id and a canonical
serialisation of the event's own fields. Changing, removing or re-ordering any row breaks every
hash after it, and without the key nobody can compute the hashes again to hide it. Rows written
before the chain was keyed (key id ``""``, migration ``audit/0004``) keep their plain SHA-256
hash (``legacy_chain_hash``): history is never rewritten.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_payload(
    *,
    at: datetime,
    actor_id: int | None,
    actor_label: str,
    action: str,
    object_type: str,
    object_id: str,
    patient_id: int | None,
    clinic_id: int | None,
    remote_addr: str | None,
    outcome: str,
    detail: dict[str, Any],
) -> str:
    return json.dumps(
        [
            at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            actor_id,
            actor_label,
            action,
            object_type,
            object_id,
            patient_id,
            clinic_id,
            remote_addr,
            outcome,
            detail,
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )


def legacy_chain_hash(prev_hash: str, payload: str) -> str:
    """The unkeyed hash of rows written before the chain was keyed (anyone can compute it)."""
    return hashlib.sha256((prev_hash + "|" + payload).encode("ascii")).hexdigest()


def keyed_chain_hash(secret: bytes, *, prev_hash: str, seq: int, key_id: str, payload: str) -> str:
    """The HMAC-SHA-256 of a keyed row: only a holder of the key can compute it."""
    message = f"kapstone-audit-v2|{prev_hash}|{seq}|{key_id}|{payload}"
    return hmac.new(secret, message.encode("ascii"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    reason: str


def payload_of(event: Any) -> str:
    return canonical_payload(
        at=event.at,
        actor_id=event.actor_id,
        actor_label=event.actor_label,
        action=event.action,
        object_type=event.object_type,
        object_id=event.object_id,
        patient_id=event.patient_id,
        clinic_id=event.clinic_id,
        remote_addr=event.remote_addr,
        outcome=event.outcome,
        detail=event.detail,
    )
