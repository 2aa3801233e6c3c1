"""Concurrent appends on PostgreSQL: one chain, every place taken once, in commit order."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from kapstone.audit.models import AuditEvent
from kapstone.audit.services import audit_record
from tests.audit.kit import run_verify

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory lock: PostgreSQL only"),
    pytest.mark.django_db(transaction=True),
]

THREADS, EACH = 6, 8


def test_concurrent_appends_keep_one_unbroken_chain(settings):
    settings.AUDIT_CHECKPOINT_EVERY = 10
    barrier = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            barrier.wait(timeout=10)
            for n in range(EACH):
                audit_record(actor=None, action="read", object_type="x", object_id=f"{worker}-{n}")
        except BaseException as error:  # reported by the main thread
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=append, args=(worker,)) for worker in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    total = THREADS * EACH
    assert list(AuditEvent.objects.order_by("id").values_list("seq", flat=True)) == list(range(1, total + 1))
    code, payload = run_verify()
    assert code == 0, payload
    assert payload["checked"] == total
    # The first event and every 10th were checkpointed after their commits, whichever thread wrote them.
    assert payload["checkpoints"] == {
        "file": str(settings.AUDIT_CHECKPOINT_FILE),
        "lines": 1 + total // 10,
        "matched": 1 + total // 10,
    }
