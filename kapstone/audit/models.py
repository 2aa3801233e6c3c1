"""The append-only audit trail of every read and write of PHI.

Rows are never updated or deleted: database triggers refuse both (migration 0002), and each row
carries the hash of its predecessor so that ``kapstone audit verify`` finds any tampering done
with the triggers disabled. The table sits below every other app: it references users through
``AUTH_USER_MODEL`` and patients and clinics by id only, so that any app may write to it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditAction(models.TextChoices):
    READ = "read", "read"
    CREATE = "create", "create"
    UPDATE = "update", "update"
    AMEND = "amend", "amend"
    VOID = "void", "void"
    EXPORT = "export", "export"
    LOGIN = "login", "login"
    LOGIN_FAILED = "login_failed", "login failed"
    LOGOUT = "logout", "logout"
    DENIED = "denied", "denied"


class AuditOutcome(models.TextChoices):
    SUCCESS = "success", "success"
    DENIED = "denied", "denied"
    FAILURE = "failure", "failure"


class AuditEvent(models.Model):
    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The username as it was at the time, or the name tried in a failed login.
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=20, choices=AuditAction.choices)
    object_type = models.CharField(max_length=50, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    patient_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    clinic_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=AuditOutcome.choices, default=AuditOutcome.SUCCESS)
    # Structured facts without PHI: field names changed, reason given, counts.
    detail = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["actor", "at"]), models.Index(fields=["action", "at"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.object_type}:{self.object_id}"
