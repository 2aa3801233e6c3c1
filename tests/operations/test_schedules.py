"""The schedules follow the code: each job once, its interval kept in line, nothing duplicated."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django_q.models import Schedule

from kapstone.operations import jobs
from kapstone.operations.services import ENTRY_POINT, RETRY_PREFIX, SCHEDULE_PREFIX, schedules_ensure

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 10, 15, 20, tzinfo=UTC)


def ours():
    return Schedule.objects.filter(name__startswith=SCHEDULE_PREFIX)


def test_each_job_is_scheduled_once_however_often_the_worker_starts():
    assert schedules_ensure(now=T0) == {"created": len(jobs.JOBS), "updated": 0, "removed": 0}
    assert schedules_ensure(now=T0 + timedelta(hours=1)) == {"created": 0, "updated": 0, "removed": 0}
    assert sorted(ours().values_list("name", flat=True)) == sorted(SCHEDULE_PREFIX + n for n in jobs.JOBS)
    sweep = ours().get(name=SCHEDULE_PREFIX + "vitals_overdue_sweep")
    assert (sweep.schedule_type, sweep.minutes, sweep.func) == (Schedule.MINUTES, 1, ENTRY_POINT)
    assert sweep.intended_date_kwarg == "scheduled_for"
    assert sweep.next_run == datetime(2026, 3, 2, 10, 16, tzinfo=UTC)
    assert ours().get(name=SCHEDULE_PREFIX + "audit_checkpoint").schedule_type == Schedule.HOURLY


def test_a_daily_job_first_runs_at_its_hour_in_the_servers_time_zone(settings):
    settings.TIME_ZONE = "America/New_York"
    schedules_ensure(now=T0)  # 05:15 in New York
    reminders = ours().get(name=SCHEDULE_PREFIX + "follow_up_reminders")
    assert reminders.schedule_type == Schedule.DAILY
    assert reminders.next_run == datetime(2026, 3, 2, 12, tzinfo=UTC)  # 07:00 EST


def test_an_interval_changed_in_the_code_updates_the_row(monkeypatch):
    schedules_ensure(now=T0)
    monkeypatch.setitem(jobs.JOBS, "heartbeat", replace(jobs.JOBS["heartbeat"], every="hour"))
    assert schedules_ensure(now=T0)["updated"] == 1
    beat = ours().get(name=SCHEDULE_PREFIX + "heartbeat")
    assert (beat.schedule_type, beat.minutes) == (Schedule.HOURLY, None)
    assert beat.next_run == datetime(2026, 3, 2, 11, tzinfo=UTC)
    assert ours().count() == len(jobs.JOBS)


def test_duplicates_and_removed_jobs_go_and_pending_retries_stay(monkeypatch):
    schedules_ensure(now=T0)
    Schedule.objects.create(
        name=SCHEDULE_PREFIX + "heartbeat", func=ENTRY_POINT, schedule_type=Schedule.MINUTES
    )
    retry = Schedule.objects.create(
        name=RETRY_PREFIX + "referrals_purge 2026-03-02 00:00 #2",
        func=ENTRY_POINT,
        schedule_type=Schedule.ONCE,
    )
    monkeypatch.delitem(jobs.JOBS, "referrals_purge")
    assert schedules_ensure(now=T0) == {"created": 0, "updated": 0, "removed": 2}
    assert ours().count() == len(jobs.JOBS)
    assert not ours().filter(name=SCHEDULE_PREFIX + "referrals_purge").exists()
    assert Schedule.objects.filter(pk=retry.pk).exists()
