"""Several workers at once on PostgreSQL: one slot, one run; one stale claim, one taker."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from kapstone.operations import jobs
from kapstone.operations.jobs import Job
from kapstone.operations.models import JobRun, RunStatus
from kapstone.operations.services import job_run, slot_of

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent claims: PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]

WORKERS = 4


def together(work) -> list[object]:
    barrier = threading.Barrier(WORKERS)
    outcomes: list[object] = []

    def run():
        try:
            barrier.wait(timeout=10)
            outcomes.append(work())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.fixture
def counted(monkeypatch):
    calls: list[int] = []
    lock = threading.Lock()

    def work() -> str:
        with lock:
            calls.append(1)
        return "ran"

    job = Job("test_race", "Race", "minute", work)
    monkeypatch.setitem(jobs.JOBS, job.name, job)
    return job, calls


def test_four_workers_given_one_slot_run_it_once(counted):
    job, calls = counted
    when = timezone.now()
    outcomes = together(lambda: job_run(job=job, when=when))
    assert len(outcomes) == WORKERS
    assert outcomes.count("ran") == 1 and len(calls) == 1
    run = JobRun.objects.get(job=job.name)
    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)


def test_four_workers_finding_a_dead_workers_claim_take_it_over_once(counted, settings):
    job, calls = counted
    now = timezone.now()
    JobRun.objects.create(
        job=job.name,
        slot=slot_of(job, now),
        status=RunStatus.RUNNING,
        started_at=now - timedelta(seconds=settings.JOB_TIMEOUT_S + 60),
        claimed_until=now - timedelta(seconds=60),
        worker="gone:1",
    )
    outcomes = together(lambda: job_run(job=job, when=now))
    assert outcomes.count("ran") == 1 and len(calls) == 1
    run = JobRun.objects.get(job=job.name)
    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 2)
