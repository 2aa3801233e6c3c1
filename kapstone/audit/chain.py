"""The hash chain over audit events.

Each event's hash is SHA-256 over the previous hash and a canonical serialisation of the event's
own fields, so changing, removing or re-ordering any row breaks every hash after it.
"""

from __future__ import annotations

import hashlib
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


def chain_hash(prev_hash: str, payload: str) -> str:
    return hashlib.sha256((prev_hash + "|" + payload).encode("ascii")).hexdigest()


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
