"""The one wrapper every job runs through: once per slot, in one transaction, retried with
back-off, a dead worker's claim taken over."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from kapstone.operations import jobs
from kapstone.operations.jobs import Job
from kapstone.operations.models import JobRun, RunStatus, WorkerHeartbeat
from kapstone.operations.services import (
    MAX_ATTEMPTS,
    RETRY_DELAYS_S,
    RETRY_PREFIX,
    job_run,
    job_run_claim,
    slot_of,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 10, 15, 20, tzinfo=UTC)


class Counting:
    """A job's work that counts its calls and writes a row (so a rollback can be seen)."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.calls = 0
        self.fail_with = fail_with

    def __call__(self) -> str:
        self.calls += 1
        WorkerHeartbeat.objects.create(worker=f"written-by-job-{self.calls}", started_at=T0, seen_at=T0)
        if self.fail_with is not None:
            raise self.fail_with
        return f"call {self.calls}"


@pytest.fixture
def counting(monkeypatch):
    work = Counting()
    job = Job("test_counting", "Counting", "minute", work)
    monkeypatch.setitem(jobs.JOBS, job.name, job)
    return job, work


@pytest.fixture
def failing(monkeypatch):
    # The message quotes a value, as a database error quoting a row would: it must not be kept.
    work = Counting(fail_with=ValueError("patient Smith MRN A-1 is odd"))
    job = Job("test_failing", "Failing", "hour", work)
    monkeypatch.setitem(jobs.JOBS, job.name, job)
    return job, work


def test_a_slot_is_its_minute_hour_or_day():
    assert slot_of(Job("m", "m", "minute", str), T0) == datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
    assert slot_of(Job("h", "h", "hour", str), T0) == datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert slot_of(Job("d", "d", "day", str), T0) == datetime(2026, 3, 2, tzinfo=UTC)


def test_two_runs_of_one_slot_run_the_job_once(counting):
    job, work = counting
    assert job_run(job=job, when=T0, now=T0) == "call 1"
    second = job_run(job=job, when=T0 + timedelta(seconds=30), now=T0 + timedelta(seconds=31))
    assert second.startswith("not run")
    assert work.calls == 1
    run = JobRun.objects.get(job=job.name)
    assert (run.status, run.attempts, run.outcome) == (RunStatus.SUCCEEDED, 1, "call 1")
    assert run.slot == datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
    # The next minute is another slot.
    job_run(job=job, when=T0 + timedelta(minutes=1), now=T0 + timedelta(minutes=1))
    assert work.calls == 2 and JobRun.objects.filter(job=job.name).count() == 2


def test_the_entry_point_of_the_schedules_runs_the_slot_it_is_given(counting):
    job, work = counting
    jobs.run(job.name, scheduled_for="2026-03-02T10:15:00+00:00")
    jobs.run(job.name, scheduled_for="2026-03-02T10:15:00+00:00")
    assert work.calls == 1
    assert JobRun.objects.get(job=job.name).slot == datetime(2026, 3, 2, 10, 15, tzinfo=UTC)


def test_a_failed_run_keeps_none_of_its_writes_and_no_phi(failing):
    job, work = failing
    job_run(job=job, when=T0, now=T0)
    assert work.calls == 1
    assert not WorkerHeartbeat.objects.filter(worker__startswith="written-by-job").exists()
    run = JobRun.objects.get(job=job.name)
    assert run.status == RunStatus.RETRYING and run.error_class == "ValueError"
    assert "Smith" not in run.error_message and "A-1" not in run.error_message
    assert run.error_message.startswith("An unexpected error stopped the job")


def test_a_failing_job_is_retried_after_30_s_2_min_and_8_min_then_given_up(failing):
    job, work = failing
    now = T0
    job_run(job=job, when=T0, now=now)
    for attempt, delay_s in enumerate(RETRY_DELAYS_S, start=1):
        run = JobRun.objects.get(job=job.name)
        assert (run.status, run.attempts) == (RunStatus.RETRYING, attempt)
        assert run.next_attempt_at == now + timedelta(seconds=delay_s)
        retry = Schedule.objects.get(name__startswith=RETRY_PREFIX, name__endswith=f"#{attempt + 1}")
        assert retry.schedule_type == Schedule.ONCE and retry.next_run == run.next_attempt_at
        kwargs = ast.literal_eval(retry.kwargs)
        assert kwargs == {"job": job.name, "slot": run.slot.isoformat()}
        # Not before its time: the claim refuses.
        assert job_run_claim(job=job, slot=run.slot, now=run.next_attempt_at - timedelta(seconds=1)) is None
        now = run.next_attempt_at
        job_run(job=job, when=datetime.fromisoformat(kwargs["slot"]), now=now)
    run = JobRun.objects.get(job=job.name)
    assert (run.status, run.attempts, run.next_attempt_at) == (RunStatus.FAILED, MAX_ATTEMPTS, None)
    assert work.calls == MAX_ATTEMPTS == 4
    assert Schedule.objects.filter(name__startswith=RETRY_PREFIX).count() == len(RETRY_DELAYS_S)
    # Given up: no worker runs it again.
    assert job_run(job=job, when=T0, now=now + timedelta(hours=1)).startswith("not run")
    assert work.calls == 4


def test_a_retry_that_succeeds_clears_the_error(monkeypatch):
    outcomes = [RuntimeError("first"), None]

    def work() -> str:
        failure = outcomes.pop(0)
        if failure:
            raise failure
        return "done"

    job = Job("test_flaky", "Flaky", "day", work)
    monkeypatch.setitem(jobs.JOBS, job.name, job)
    job_run(job=job, when=T0, now=T0)
    job_run(job=job, when=T0, now=T0 + timedelta(seconds=30))
    run = JobRun.objects.get(job=job.name)
    assert (run.status, run.attempts, run.error_class, run.outcome) == (RunStatus.SUCCEEDED, 2, "", "done")


def test_a_claim_of_a_worker_that_died_is_taken_over_after_the_timeout(counting, settings):
    job, work = counting
    slot = slot_of(job, T0)
    JobRun.objects.create(
        job=job.name,
        slot=slot,
        status=RunStatus.RUNNING,
        started_at=T0,
        claimed_until=T0 + timedelta(seconds=settings.JOB_TIMEOUT_S),
        worker="gone:1",
    )
    # Still within its timeout: another worker leaves it.
    assert job_run(job=job, when=T0, now=T0 + timedelta(seconds=10)).startswith("not run")
    assert work.calls == 0
    later = T0 + timedelta(seconds=settings.JOB_TIMEOUT_S + 1)
    assert job_run(job=job, when=T0, now=later) == "call 1"
    run = JobRun.objects.get(job=job.name)
    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 2)
    assert run.worker != "gone:1"


def test_a_slot_whose_worker_died_every_time_is_given_up(counting):
    job, work = counting
    JobRun.objects.create(
        job=job.name,
        slot=slot_of(job, T0),
        status=RunStatus.RUNNING,
        attempts=MAX_ATTEMPTS,
        started_at=T0,
        claimed_until=T0 + timedelta(seconds=1),
    )
    assert job_run(job=job, when=T0, now=T0 + timedelta(minutes=10)).startswith("not run")
    run = JobRun.objects.get(job=job.name)
    assert run.status == RunStatus.FAILED and run.error_class == "WorkerLost" and work.calls == 0


def test_the_registered_jobs_run_through_the_wrapper(alice, nina, cleared_session, lot_50):
    from tests.monitoring.conftest import start_dosing

    start_dosing(prescriber=alice, nurse=nina, session=cleared_session, lot=lot_50, minutes_ago=30)
    now = timezone.now()
    outcome = job_run(job=jobs.JOBS["vitals_overdue_sweep"], when=now)
    assert outcome == "1 overdue-check alert(s) raised"
    for name in (
        "heartbeat",
        "audit_checkpoint",
        "referrals_purge",
        "follow_up_reminders",
        "fhir_bulk_exports",
    ):
        job_run(job=jobs.JOBS[name], when=now)
    runs = dict(JobRun.objects.values_list("job", "status"))
    assert runs == dict.fromkeys(jobs.JOBS, RunStatus.SUCCEEDED), runs
