"""What the background worker did: one row per job and schedule slot, and one per worker alive.

No PHI is ever stored here: a run keeps counts ("3 alerts raised") and, when it fails, the class
of the error and a message of our own, never the exception's text (which may quote a value).
"""

from __future__ import annotations

from django.db import models


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    RETRYING = "retrying", "Failed, will try again"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Failed, given up"


class JobRun(models.Model):
    """The run of one job for one schedule slot (the minute, hour or day it was due).

    The unique (job, slot) pair is the claim: the worker that inserts it runs the job; every
    other worker that sees the same slot finds the row and leaves it. A claim whose
    ``claimed_until`` has passed while still running belonged to a worker that died: it may be
    taken over (``attempts`` counts every start).
    """

    job = models.CharField(max_length=64)
    slot = models.DateTimeField()
    status = models.CharField(max_length=16, choices=RunStatus.choices)
    attempts = models.PositiveSmallIntegerField(default=1)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=128, blank=True, default="")
    outcome = models.CharField(max_length=200, blank=True, default="")
    error_class = models.CharField(max_length=200, blank=True, default="")
    error_message = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "slot"], name="operations_jobrun_one_per_slot"),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in RunStatus]),
                name="operations_jobrun_status_known",
            ),
            models.CheckConstraint(condition=models.Q(attempts__gte=1), name="operations_jobrun_attempted"),
        ]
        indexes = [models.Index(fields=["job", "-slot"], name="operations_jobrun_latest")]

    def __str__(self) -> str:
        return f"{self.job} @ {self.slot:%Y-%m-%d %H:%M} ({self.status})"


class WorkerHeartbeat(models.Model):
    """One row per ``kapstone worker`` process (host and process id), refreshed while its cluster
    runs. ``/ready`` looks at the newest ``seen_at``."""

    worker = models.CharField(max_length=128, unique=True)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.worker} seen {self.seen_at:%Y-%m-%d %H:%M:%S}"
