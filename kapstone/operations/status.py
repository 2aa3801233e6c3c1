"""Read-only answers about the background work, for ``/ready``, the jobs page and metrics.

``worker_heartbeat_age_seconds`` and ``job_queue_stats`` are the functions an exporter of metrics
calls; ``readiness`` is what ``/ready`` answers. None of them writes.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Max, Min
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ

from kapstone.operations.models import JobRun, RunStatus, WorkerHeartbeat

logger = logging.getLogger("kapstone.operations")

#: The checks of /ready, in the order they are made: a later one needs the earlier ones.
READY_CHECKS = ("database", "migrations", "worker")


def worker_heartbeat_age_seconds(*, now: datetime | None = None) -> float | None:
    """Seconds since the freshest heartbeat of any worker; None when no worker ever beat."""
    newest = WorkerHeartbeat.objects.aggregate(newest=Max("seen_at"))["newest"]
    if newest is None:
        return None
    return max(0.0, ((now or timezone.now()) - newest).total_seconds())


def job_queue_stats(*, now: datetime | None = None) -> dict[str, float | int | None]:
    """The queue at a glance: ``queue_depth`` (tasks waiting for a worker), ``in_progress``
    (handed to a worker, not yet acknowledged), ``oldest_queued_age_seconds`` (None: empty) and
    ``failures_24h`` (job attempts that failed in the last 24 hours, retried or given up)."""
    now = now or timezone.now()
    queue = OrmQ.objects.filter(key=Conf.CLUSTER_NAME)
    # The ORM broker's lock is the time of enqueueing until a worker takes the task, then the
    # time it may be handed out again.
    waiting = queue.filter(lock__lte=now)
    oldest = waiting.aggregate(oldest=Min("lock"))["oldest"]
    return {
        "queue_depth": waiting.count(),
        "in_progress": queue.filter(lock__gt=now).count(),
        "oldest_queued_age_seconds": max(0.0, (now - oldest).total_seconds()) if oldest else None,
        "failures_24h": JobRun.objects.filter(
            status__in=(RunStatus.RETRYING, RunStatus.FAILED), finished_at__gte=now - timedelta(hours=24)
        ).count(),
    }


def database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.exception("ready check: the database does not answer")
        return False
    return True


#: The code's migrations as the database recorded them when this process first found none
#: missing: later checks only read the recorder's table (loading the migration files takes a
#: fifth of a second, and the code does not change while the process runs).
_migrations_required: frozenset[tuple[str, str]] | None = None


def migrations_applied() -> bool:
    """True when no migration of the code is missing from the database."""
    global _migrations_required
    try:
        if _migrations_required is None:
            executor = MigrationExecutor(connection)
            if executor.migration_plan(executor.loader.graph.leaf_nodes()):
                return False
            recorded = set(executor.recorder.applied_migrations())
            _migrations_required = frozenset(recorded & set(executor.loader.graph.nodes))
            return True
        return _migrations_required <= set(MigrationRecorder(connection).applied_migrations())
    except DatabaseError:
        logger.exception("ready check: the applied migrations could not be read")
        return False


def worker_fresh(*, now: datetime | None = None) -> bool:
    age = worker_heartbeat_age_seconds(now=now)
    return age is not None and age <= settings.READY_HEARTBEAT_S


def readiness(*, now: datetime | None = None) -> dict[str, str]:
    """Each check of /ready: ``ok``, ``failed``, or ``not_checked`` (an earlier one failed)."""
    results: dict[str, str] = dict.fromkeys(READY_CHECKS, "not_checked")
    results["database"] = "ok" if database_answers() else "failed"
    if results["database"] != "ok":
        return results
    results["migrations"] = "ok" if migrations_applied() else "failed"
    try:
        results["worker"] = "ok" if worker_fresh(now=now) else "failed"
    except DatabaseError:  # the table itself missing: the migrations check says why
        logger.exception("ready check: the worker heartbeat could not be read")
        results["worker"] = "failed"
    return results
