"""Writing audit events. The only code that inserts into the audit table."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from kapstone.audit.chain import GENESIS_HASH, canonical_payload, keyed_chain_hash
from kapstone.audit.checkpoints import Checkpoint, checkpoint_after_commit
from kapstone.audit.context import remote_addr as current_remote_addr
from kapstone.audit.keys import audit_key_current, audit_keys_known
from kapstone.audit.models import AuditAction, AuditEvent, AuditOutcome
from kapstone.domain.errors import DomainError

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

    ``detail`` must hold no PHI: field names, counts, flags, codes. Without an audit key
    (production misconfigured) this raises ``AuditKeyMissing`` and so the caller's whole
    transaction fails: nothing is read or written without its audit row.
    """
    if action not in AuditAction.values:
        raise ValueError(f"unknown audit action {action!r}")
    if outcome not in AuditOutcome.values:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    detail = dict(detail or {})
    label = actor_label if actor_label is not None else (actor.get_username() if actor is not None else "")
    key = audit_key_current()
    with transaction.atomic():
        _lock_chain()
        last = AuditEvent.objects.order_by("-id").values("hash", "seq", "key_id").first()
        if last is None:
            prev_hash, seq = GENESIS_HASH, 1
        elif last["seq"] is None:
            # The first keyed row after the unkeyed ones of before migration 0004: counted once.
            prev_hash, seq = last["hash"], AuditEvent.objects.count() + 1
        else:
            prev_hash, seq = last["hash"], last["seq"] + 1
        starts_segment = last is None or last["key_id"] != key.key_id
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
        digest = keyed_chain_hash(
            key.secret, prev_hash=prev_hash, seq=seq, key_id=key.key_id, payload=canonical_payload(**fields)
        )
        event = AuditEvent.objects.create(
            prev_hash=prev_hash, hash=digest, key_id=key.key_id, seq=seq, **fields
        )
        if starts_segment or seq % settings.AUDIT_CHECKPOINT_EVERY == 0:
            # Anchored outside the database once committed: every N-th event, and the first of
            # each key segment (which also pins the rows before it).
            checkpoint = Checkpoint(event.pk, seq, digest, at, key.key_id)
            transaction.on_commit(partial(checkpoint_after_commit, checkpoint, key))
        return event


def audit_key_rotate(*, actor: Any | None = None) -> AuditEvent | None:
    """Start the configured key's segment of the chain now, with an event that names the change.

    Run after the operator has put the new key in ``KAPSTONE_AUDIT_KEY`` and the old one in
    ``KAPSTONE_AUDIT_OLD_KEYS`` (otherwise the first event written under the new key starts the
    segment all the same, unnamed). Returns None when the newest event is already signed with the
    configured key. Refuses (``audit_previous_key_missing``) when the newest segment's key is not
    among the old keys: ``audit verify`` could then no longer check those events.
    """
    key = audit_key_current()
    with transaction.atomic():
        _lock_chain()
        previous = AuditEvent.objects.order_by("-id").values_list("key_id", flat=True).first()
        if previous is None or previous == key.key_id:
            return None
        if previous and previous not in audit_keys_known():
            raise DomainError(
                "audit_previous_key_missing",
                f"The newest audit events are signed with key id {previous}, which is not in "
                "KAPSTONE_AUDIT_OLD_KEYS (or KAPSTONE_AUDIT_OLD_KEYS_FILE): add the previous key there "
                "first, or `kapstone audit verify` can no longer check those events.",
            )
        return audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type="audit_key",
            object_id=key.key_id,
            detail={"previous_key_id": previous or None},
            actor_label=None if actor is not None else "kapstone audit rotate",
        )
