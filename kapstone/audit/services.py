"""Writing audit events. The only code that inserts into the audit table."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from kapstone.audit.chain import GENESIS_HASH, canonical_payload, chain_hash
from kapstone.audit.context import remote_addr as current_remote_addr
from kapstone.audit.models import AuditAction, AuditEvent, AuditOutcome

# An arbitrary constant key for the PostgreSQL advisory lock that serialises the chain.
_CHAIN_LOCK_KEY = 7_311_951


def _lock_chain() -> None:
    """Serialise appends so that every row links to the row committed before it.

    PostgreSQL: a transaction-scoped advisory lock, released at commit. SQLite: transactions are
    opened IMMEDIATE (settings), so the writer already holds the database's single write lock.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])


def audit_record(
    *,
    actor: Any | None,
    action: str,
    object_type: str = "",
    object_id: Any = "",
    patient_id: int | None = None,
    clinic_id: int | None = None,
    outcome: str = AuditOutcome.SUCCESS,
    detail: dict[str, Any] | None = None,
    actor_label: str | None = None,
) -> AuditEvent:
    """Append one audit event, in the caller's transaction when there is one.

    ``detail`` must hold no PHI: field names, counts, flags, codes.
    """
    if action not in AuditAction.values:
        raise ValueError(f"unknown audit action {action!r}")
    if outcome not in AuditOutcome.values:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    detail = dict(detail or {})
    label = actor_label if actor_label is not None else (actor.get_username() if actor is not None else "")
    with transaction.atomic():
        _lock_chain()
        last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
        prev_hash = last or GENESIS_HASH
        at = timezone.now()
        fields = {
            "at": at,
            "actor_id": actor.pk if actor is not None else None,
            "actor_label": label[:150],
            "action": action,
            "object_type": object_type,
            "object_id": str(object_id) if object_id is not None else "",
            "patient_id": patient_id,
            "clinic_id": clinic_id,
            "remote_addr": current_remote_addr.get(),
            "outcome": outcome,
            "detail": detail,
        }
        digest = chain_hash(prev_hash, canonical_payload(**fields))
        return AuditEvent.objects.create(prev_hash=prev_hash, hash=digest, **fields)
