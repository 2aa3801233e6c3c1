"""Reads for the jobs page: each job's last run, last success, failures and next run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django_q.models import Schedule

from kapstone.operations.jobs import JOBS, Job
from kapstone.operations.models import JobRun, RunStatus, WorkerHeartbeat
from kapstone.operations.services import SCHEDULE_PREFIX

#: How many failed runs of each job the page lists, and how far back.
FAILURES_SHOWN = 5
FAILURES_SINCE = timedelta(days=7)


@dataclass(frozen=True)
class JobOverview:
    job: Job
    every: str  # in words
    last_run: JobRun | None
    last_success: JobRun | None
    failures: list[JobRun]
    next_run: datetime | None
    retry_at: datetime | None


def every_in_words(job: Job) -> str:
    if job.every == "minute":
        return "Every minute"
    if job.every == "hour":
        return "Every hour"
    return f"Every day at {job.at_hour:02d}:00 ({settings.TIME_ZONE})"


def run_is_lost(run: JobRun, *, now: datetime) -> bool:
    """A run still marked running whose claim has expired: its worker stopped half-way."""
    return run.status == RunStatus.RUNNING and run.claimed_until is not None and run.claimed_until < now


def job_overview(*, now: datetime | None = None) -> list[JobOverview]:
    now = now or timezone.now()
    schedules = {
        s.name.removeprefix(SCHEDULE_PREFIX): s.next_run
        for s in Schedule.objects.filter(name__startswith=SCHEDULE_PREFIX)
    }
    rows = []
    for job in JOBS.values():
        runs = JobRun.objects.filter(job=job.name)
        last_run = runs.order_by("-slot").first()
        failures = list(
            runs.filter(
                slot__gte=now - FAILURES_SINCE, status__in=(RunStatus.RETRYING, RunStatus.FAILED)
            ).order_by("-slot")[:FAILURES_SHOWN]
        )
        retry = runs.filter(status=RunStatus.RETRYING).order_by("next_attempt_at").first()
        rows.append(
            JobOverview(
                job=job,
                every=every_in_words(job),
                last_run=last_run,
                last_success=runs.filter(status=RunStatus.SUCCEEDED).order_by("-slot").first(),
                failures=failures,
                next_run=schedules.get(job.name),
                retry_at=retry.next_attempt_at if retry else None,
            )
        )
    return rows


def workers_seen(
    *, since: timedelta = timedelta(hours=1), now: datetime | None = None
) -> list[WorkerHeartbeat]:
    now = now or timezone.now()
    return list(WorkerHeartbeat.objects.filter(seen_at__gte=now - since).order_by("-seen_at"))
