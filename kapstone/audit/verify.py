"""Checking the audit hash chain."""

from __future__ import annotations

from kapstone.audit.chain import GENESIS_HASH, ChainBreak, chain_hash, payload_of
from kapstone.audit.models import AuditEvent


def audit_chain_verify(*, batch_size: int = 5000) -> tuple[int, ChainBreak | None]:
    """Walk every event in id order; return (rows checked, the first break or None)."""
    expected_prev = GENESIS_HASH
    checked = 0
    last_id = 0
    while True:
        batch = list(AuditEvent.objects.filter(id__gt=last_id).order_by("id")[:batch_size])
        if not batch:
            return checked, None
        for event in batch:
            if event.prev_hash != expected_prev:
                return checked, ChainBreak(event.pk, "previous-hash link does not match the row before it")
            if chain_hash(event.prev_hash, payload_of(event)) != event.hash:
                return checked, ChainBreak(event.pk, "row contents do not match its hash")
            expected_prev = event.hash
            checked += 1
            last_id = event.pk
