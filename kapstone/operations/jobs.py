"""The background jobs: what runs, how often, and the one entry point the worker calls.

Each job is a function of no arguments that does its work through the services of its own app
and returns a short account of it made of counts (never PHI). ``run`` is what the schedules name:
it hands the job to :func:`kapstone.operations.services.job_run`, which makes the run happen once
per schedule slot whatever the number of workers, in one transaction, retried with back-off.

A FHIR bulk export runs as a chain of its own queued steps (kapstone/interop/fhir/bulk.py);
the ``fhir_bulk_exports`` job below only takes up a chain that broke and deletes expired files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from django.conf import settings

Every = Literal["minute", "hour", "day"]


@dataclass(frozen=True)
class Job:
    name: str  # stable code: schedules, JobRun rows, logs and docs
    title: str  # plain words for the jobs page
    every: Every
    work: Callable[[], str]
    #: Daily jobs: the hour (in the server's time zone, KAPSTONE_TIME_ZONE) they run at.
    at_hour: int = 0


def vitals_overdue_sweep() -> str:
    from kapstone.monitoring.services import vitals_overdue_sweep as sweep

    raised = sweep()
    return f"{len(raised)} overdue-check alert(s) raised"


def follow_up_reminders() -> str:
    from kapstone.outcomes.reminders import reminder_sources_run
    from kapstone.outcomes.services import follow_up_reminders_send

    results = follow_up_reminders_send(within_days=7, base_url=settings.BASE_URL)
    others = reminder_sources_run(base_url=settings.BASE_URL, dry_run=False)
    patients = others.get("patients", {})
    sent = sum(1 for r in results if r.sent)
    return f"{sent} clinic(s) e-mailed; {patients.get('emailed', 0)} patient reminder(s) e-mailed"


def referrals_purge() -> str:
    from kapstone.portal.services import referrals_purge as purge

    result = purge()
    return f"{result['anonymised']} referral(s) anonymised, {result['rate_counters']} old counter(s) removed"


def audit_checkpoint() -> str:
    from kapstone.audit.checkpoints import audit_checkpoint_write

    written = audit_checkpoint_write()
    return f"checkpoint written at event {written.checkpoint.last_id}"


def fhir_bulk_exports() -> str:
    from kapstone.interop.fhir.bulk import exports_sweep

    result = exports_sweep()
    return f"{result['requeued']} export(s) queued again, {result['expired']} expired export(s) deleted"


def heartbeat() -> str:
    from kapstone.operations.services import worker_heartbeat_beat, worker_id

    worker_heartbeat_beat(worker=worker_id())
    return "the queue answered"


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job("vitals_overdue_sweep", "Overdue vital-sign checks", "minute", vitals_overdue_sweep),
        Job("heartbeat", "Worker heartbeat", "minute", heartbeat),
        Job(
            "fhir_bulk_exports",
            "FHIR bulk exports: resume and delete expired files",
            "minute",
            fhir_bulk_exports,
        ),
        Job("audit_checkpoint", "Audit trail checkpoint", "hour", audit_checkpoint),
        Job("follow_up_reminders", "Follow-up reminder e-mails", "day", follow_up_reminders, at_hour=7),
        Job("referrals_purge", "Removal of old referrals", "day", referrals_purge, at_hour=3),
    )
}


def run(job: str, scheduled_for: str | None = None, slot: str | None = None) -> str:
    """The function every schedule names (django-q2 passes ``scheduled_for``, the schedule's
    intended time; a retry passes the ``slot`` it retries). Returns what happened, for
    django-q2's own record."""
    from kapstone.operations.services import job_run

    when = slot or scheduled_for
    return job_run(job=JOBS[job], when=datetime.fromisoformat(when) if when else None)
