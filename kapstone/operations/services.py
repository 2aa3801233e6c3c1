"""The writes of the background work: claiming a job's slot, recording how it ended, retrying it
with back-off, keeping the schedules in line with the code, and the workers' heartbeats.

Exactly once per slot, on any number of workers and machines: a run of a job is keyed by the job
and its *slot* (the minute, hour or day it was scheduled for), a unique pair in the database. The
worker that inserts the row runs the job; any other worker given the same slot (two schedulers
enqueueing it, a task handed out again) finds the row and does nothing. The job's writes and the
row's "done" commit in one transaction: a worker killed half-way leaves nothing of the job behind
and a claim that expires (``claimed_until``, the job timeout), which the task, handed out again
by the queue, takes over. A failure is retried 30 s, 2 min and 8 min later, then given up and
left on the jobs page.
"""

from __future__ import annotations

import logging
import os
import socket
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_q.models import Schedule

from kapstone.domain.errors import DomainError
from kapstone.operations.jobs import JOBS, Job
from kapstone.operations.models import JobRun, RunStatus, WorkerHeartbeat

logger = logging.getLogger("kapstone.operations")

#: Seconds to wait before the 2nd, 3rd and 4th attempt of a failed run; then it is given up.
RETRY_DELAYS_S = (30, 120, 480)
MAX_ATTEMPTS = len(RETRY_DELAYS_S) + 1

#: The function every schedule calls, and the prefixes of the schedules' names.
ENTRY_POINT = "kapstone.operations.jobs.run"
SCHEDULE_PREFIX = "kapstone job: "
RETRY_PREFIX = "kapstone retry: "

#: Set by ``kapstone worker`` before it starts its cluster (whose processes are forked from it).
CURRENT_WORKER: str | None = None


def worker_id() -> str:
    """This worker's name: host and process id of its ``kapstone worker`` command."""
    return CURRENT_WORKER or f"{socket.gethostname()}:{os.getpid()}"


def slot_of(job: Job, when: datetime) -> datetime:
    """The slot ``when`` falls in for ``job``: its minute, hour or (UTC) day."""
    when = when.astimezone(UTC)
    if job.every == "minute":
        return when.replace(second=0, microsecond=0)
    if job.every == "hour":
        return when.replace(minute=0, second=0, microsecond=0)
    return when.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Claim:
    job: str
    slot: datetime
    attempt: int


def job_run_claim(*, job: Job, slot: datetime, now: datetime | None = None) -> Claim | None:
    """Claim ``job``'s run of ``slot`` for this worker, or None when it is not ours to run: done,
    running elsewhere, waiting for its retry time, or given up.

    Safe under concurrency on both databases: the insert of the (job, slot) pair has one winner
    (a unique constraint); a second look at an existing row (a retry that is due, or a claim
    whose worker died) takes the row lock first, and PostgreSQL evaluates the condition again on
    the locked row, so two takers cannot both succeed.
    """
    now = now or timezone.now()
    lease = now + timedelta(seconds=settings.JOB_TIMEOUT_S)
    try:
        with transaction.atomic():
            JobRun.objects.create(
                job=job.name,
                slot=slot,
                status=RunStatus.RUNNING,
                attempts=1,
                started_at=now,
                claimed_until=lease,
                worker=worker_id(),
            )
        return Claim(job.name, slot, 1)
    except IntegrityError:
        pass
    due = Q(status=RunStatus.RETRYING, next_attempt_at__lte=now) | Q(
        status=RunStatus.RUNNING, claimed_until__lt=now
    )
    with transaction.atomic():
        run = JobRun.objects.select_for_update().filter(due, job=job.name, slot=slot).first()
        if run is None:
            return None
        if run.attempts >= MAX_ATTEMPTS:
            # Its worker died during every attempt (a job that kills its process, say).
            run.status = RunStatus.FAILED
            run.finished_at = now
            run.claimed_until = None
            run.error_class = "WorkerLost"
            run.error_message = "The worker stopped during every attempt; given up."
            run.save()
            return None
        run.attempts += 1
        run.status = RunStatus.RUNNING
        run.started_at = now
        run.finished_at = None
        run.claimed_until = lease
        run.next_attempt_at = None
        run.worker = worker_id()
        run.save()
        return Claim(job.name, slot, run.attempts)


class ClaimLost(Exception):
    """The run was taken over while this worker still ran it (it overran its timeout)."""


def job_run(*, job: Job, when: datetime | None = None, now: datetime | None = None) -> str:
    """Run ``job`` for the slot ``when`` falls in (default: now), once: claim, run and record
    success in one transaction, or record the failure and plan the retry. Never raises (the
    queue's own record and retry are not used): returns what happened."""
    now = now or timezone.now()
    slot = slot_of(job, when or now)
    claim = job_run_claim(job=job, slot=slot, now=now)
    if claim is None:
        return "not run: this slot is done, running elsewhere or not yet due again"
    try:
        with transaction.atomic():
            outcome = job.work()
            finished = JobRun.objects.filter(
                job=job.name, slot=slot, attempts=claim.attempt, status=RunStatus.RUNNING
            ).update(
                status=RunStatus.SUCCEEDED,
                finished_at=timezone.now(),
                claimed_until=None,
                outcome=outcome[:200],
                error_class="",
                error_message="",
            )
            if not finished:
                raise ClaimLost
    except ClaimLost:
        logger.warning("job %s slot %s: taken over by another worker; rolled back", job.name, slot)
        return "rolled back: taken over by another worker"
    except BaseException as error:  # TimeoutException is a SystemExit: record it too
        job_run_fail(claim=claim, error=error, now=now)
        if not isinstance(error, Exception):
            raise
        return f"failed ({type(error).__name__}), attempt {claim.attempt}"
    return outcome


def describe_error(error: BaseException) -> tuple[str, str]:
    """The class of ``error`` and a message in our own words: an exception's text may quote a
    value (a database error repeats the row), so it is never stored or shown."""
    name = type(error).__name__
    if isinstance(error, DomainError):
        return f"{name}:{error.code}"[:200], "A rule of Kapstone refused the job's work."
    if isinstance(error, ImproperlyConfigured):
        # Our own messages, naming the missing variable and nothing else.
        return name, str(error)[:300]
    if name == "TimeoutException":
        return name, f"The job ran longer than the {settings.JOB_TIMEOUT_S} s allowed and was stopped."
    if isinstance(error, DatabaseError):
        return name, "The database refused the job's work or could not be reached."
    if isinstance(error, OSError):
        return name, "A file or a network service the job needs could not be used."
    return name[:200], "An unexpected error stopped the job; the worker's log says where."


def job_run_fail(*, claim: Claim, error: BaseException, now: datetime | None = None) -> JobRun | None:
    """Record that ``claim``'s attempt failed: plan the next attempt after the back-off delay,
    or give up after :data:`MAX_ATTEMPTS`. The log gets the class and where it happened (the
    stack's file and line numbers), never the message."""
    now = now or timezone.now()
    error_class, message = describe_error(error)
    where = "".join(traceback.format_tb(error.__traceback__)[-3:])
    logger.error(
        "job %s slot %s attempt %s failed: %s\n%s", claim.job, claim.slot, claim.attempt, error_class, where
    )
    give_up = claim.attempt >= MAX_ATTEMPTS
    with transaction.atomic():
        run = (
            JobRun.objects.select_for_update()
            .filter(job=claim.job, slot=claim.slot, attempts=claim.attempt, status=RunStatus.RUNNING)
            .first()
        )
        if run is None:
            return None  # taken over meanwhile: the new holder records its own outcome
        run.finished_at = now
        run.claimed_until = None
        run.error_class = error_class
        run.error_message = message
        if give_up:
            run.status = RunStatus.FAILED
            run.next_attempt_at = None
        else:
            run.status = RunStatus.RETRYING
            run.next_attempt_at = now + timedelta(seconds=RETRY_DELAYS_S[claim.attempt - 1])
            Schedule.objects.create(
                name=f"{RETRY_PREFIX}{claim.job} {claim.slot:%Y-%m-%d %H:%M} #{claim.attempt + 1}"[:100],
                func=ENTRY_POINT,
                kwargs=repr({"job": claim.job, "slot": claim.slot.isoformat()}),
                schedule_type=Schedule.ONCE,
                repeats=-1,  # a ONCE schedule with negative repeats is deleted once enqueued
                next_run=run.next_attempt_at,
            )
        run.save()
        return run


# --- Schedules --------------------------------------------------------------------------------

_SCHEDULE_TYPES = {
    "minute": (Schedule.MINUTES, 1),
    "hour": (Schedule.HOURLY, None),
    "day": (Schedule.DAILY, None),
}


def first_run(job: Job, now: datetime) -> datetime:
    """When a new schedule of ``job`` first runs: the next minute, the next hour, or the next
    ``at_hour`` o'clock in the server's time zone."""
    if job.every == "minute":
        return now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    if job.every == "hour":
        return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    zone = ZoneInfo(settings.TIME_ZONE)
    local = now.astimezone(zone)
    at = datetime.combine(local.date(), time(job.at_hour), tzinfo=zone)
    if at <= local:
        at = datetime.combine(local.date() + timedelta(days=1), time(job.at_hour), tzinfo=zone)
    return at.astimezone(UTC)


def schedules_ensure(*, now: datetime | None = None) -> dict[str, int]:
    """Make the database's schedules those of :data:`JOBS`: one per job, created if missing,
    brought in line if its interval or hour changed in the code, duplicates and schedules of
    jobs that no longer exist removed. Safe to run at every worker start, on several machines
    at once (PostgreSQL: an advisory lock; SQLite: the write lock of an immediate transaction).
    Returns counts: ``created``, ``updated``, ``removed``."""
    now = now or timezone.now()
    counts = {"created": 0, "updated": 0, "removed": 0}
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext('kapstone.operations.schedules'))")
        existing: dict[str, list[Schedule]] = {}
        for schedule in (
            Schedule.objects.select_for_update().filter(name__startswith=SCHEDULE_PREFIX).order_by("pk")
        ):
            existing.setdefault(schedule.name, []).append(schedule)
        for job in JOBS.values():
            name = SCHEDULE_PREFIX + job.name
            schedule_type, minutes = _SCHEDULE_TYPES[job.every]
            wanted = {
                "func": ENTRY_POINT,
                "kwargs": repr({"job": job.name}),
                "args": None,
                "schedule_type": schedule_type,
                "minutes": minutes,
                "repeats": -1,
                "intended_date_kwarg": "scheduled_for",
            }
            rows = existing.pop(name, [])
            for extra in rows[1:]:
                extra.delete()
                counts["removed"] += 1
            if not rows:
                Schedule.objects.create(name=name, next_run=first_run(job, now), **wanted)
                counts["created"] += 1
                continue
            schedule = rows[0]
            changed = {field: value for field, value in wanted.items() if getattr(schedule, field) != value}
            # A new interval or hour: the next run follows it, not the old one.
            moved_hour = (
                job.every == "day"
                and schedule.next_run is not None
                and schedule.next_run.astimezone(ZoneInfo(settings.TIME_ZONE)).hour != job.at_hour
            )
            if "schedule_type" in changed or "minutes" in changed or schedule.next_run is None or moved_hour:
                changed["next_run"] = first_run(job, now)
            if changed:
                for field, value in changed.items():
                    setattr(schedule, field, value)
                schedule.save()
                counts["updated"] += 1
        for rows in existing.values():  # jobs removed from the code
            for schedule in rows:
                schedule.delete()
                counts["removed"] += 1
    return counts


# --- Heartbeats -------------------------------------------------------------------------------


def worker_heartbeat_beat(*, worker: str, now: datetime | None = None) -> WorkerHeartbeat:
    """Record that ``worker`` is alive now (its first beat also sets ``started_at``)."""
    now = now or timezone.now()
    beat, created = WorkerHeartbeat.objects.get_or_create(
        worker=worker[:128], defaults={"started_at": now, "seen_at": now}
    )
    if not created:
        WorkerHeartbeat.objects.filter(pk=beat.pk).update(seen_at=now)
        beat.seen_at = now
    return beat


def worker_heartbeat_start(*, worker: str, now: datetime | None = None) -> WorkerHeartbeat:
    """A worker (re)starting under this name: its row starts afresh."""
    now = now or timezone.now()
    beat, _ = WorkerHeartbeat.objects.update_or_create(
        worker=worker[:128], defaults={"started_at": now, "seen_at": now}
    )
    return beat


def worker_heartbeats_prune(*, older_than: timedelta = timedelta(days=7), now: datetime | None = None) -> int:
    """Forget workers not seen for a week (a restarted worker has a new process id)."""
    now = now or timezone.now()
    deleted, _ = WorkerHeartbeat.objects.filter(seen_at__lt=now - older_than).delete()
    return deleted
