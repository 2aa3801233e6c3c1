"""The jobs page: clinic admins see each job's last run, last success, failures in words and the
next run; nobody else does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from kapstone.operations import jobs
from kapstone.operations.models import JobRun, RunStatus
from kapstone.operations.services import job_run, schedules_ensure, worker_heartbeat_beat
from tests.test_screen_words import page_problems

pytestmark = pytest.mark.django_db

URL = "/operations/jobs/"


def test_the_route_is_the_jobs_page():
    assert reverse("operations:jobs") == URL


def test_an_admin_sees_every_job_its_runs_and_failures_in_words(as_user, adam, monkeypatch):
    schedules_ensure()
    worker_heartbeat_beat(worker="host:1")
    now = timezone.now()
    job_run(job=jobs.JOBS["heartbeat"], when=now)

    def broken() -> str:
        raise ValueError("Smith A-1")  # a message that must not reach the page

    monkeypatch.setitem(
        jobs.JOBS,
        "referrals_purge",
        jobs.Job("referrals_purge", "Removal of old referrals", "day", broken, 3),
    )
    for attempt in range(4):
        job_run(job=jobs.JOBS["referrals_purge"], when=now, now=now + timedelta(minutes=15 * attempt))
    assert JobRun.objects.get(job="referrals_purge").status == RunStatus.FAILED

    response = as_user(adam).get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    for job in jobs.JOBS.values():
        assert job.title in body
    assert "Worker running" in body and "Every minute" in body and "Every day at 03:00" in body
    assert "Failed, given up: An unexpected error stopped the job" in body
    assert "<code>ValueError</code>" in body
    assert "Smith" not in body and "A-1" not in body
    assert "the queue answered" in body  # the heartbeat's last run
    problems, _ = page_problems(body)
    assert not problems, problems
    assert f'href="{URL}"' in body  # in the admin's navigation


def test_the_page_says_when_no_worker_runs(as_user, adam):
    body = as_user(adam).get(URL).content.decode()
    assert "No worker has ever run" in body and "never" in body


def test_clinicians_and_researchers_are_refused(as_user, alice, nina, bob):
    for user in (alice, nina, bob):
        client = as_user(user)
        assert client.get(URL).status_code == 403
        assert f'href="{URL}"' not in client.get("/patients/").content.decode()


def test_a_visitor_is_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
