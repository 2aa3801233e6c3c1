"""The append-only audit trail of every read and write of PHI.

Rows are never updated or deleted: database triggers refuse both (migration 0002), and each row
carries the hash of its predecessor, keyed with the audit key (``chain.py``, ``keys.py``), so that
``kapstone audit verify`` finds any tampering done with the triggers disabled; checkpoints outside
the database (``checkpoints.py``) show rows deleted from the end. The table sits below every other app: it references users through
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
    # The id of the key whose HMAC is ``hash`` (keys.py); "" for rows written before the chain was
    # keyed (plain SHA-256, migration 0004). A change of key id starts a new segment of the chain.
    key_id = models.CharField(max_length=16, blank=True, default="")
    # The row's place in the chain (1, 2, 3, …), under the HMAC: the count a checkpoint records.
    # NULL on unkeyed rows; unique so that two appends can never take the same place.
    seq = models.PositiveBigIntegerField(null=True, blank=True, unique=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["actor", "at"]), models.Index(fields=["action", "at"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.object_type}:{self.object_id}"


class AppendOnlyQuerySet(models.QuerySet):
    """Bulk UPDATE and DELETE are refused in the ORM (the triggers refuse them in SQL)."""

    def update(self, **kwargs):
        raise PermissionError(f"{self.model.__name__} rows are append-only: UPDATE refused")

    def delete(self):
        raise PermissionError(f"{self.model.__name__} rows are append-only: DELETE refused")


class AppendOnlyModel(models.Model):
    """A row is written once: saving an existing row or deleting one raises."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError(f"{type(self).__name__} rows are append-only: UPDATE refused")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError(f"{type(self).__name__} rows are append-only: DELETE refused")


class Disclosure(AppendOnlyModel):
    """One disclosure of patient records, for the accounting of disclosures (42 CFR §2.25;
    security.md §0 and §5B-13): who received what, when, for which purpose, with the patients
    included in ``DisclosurePatient``. Written by the disclosing service in the same transaction
    as its ``export`` audit event (``audit_event``); append-only like the audit table."""

    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    actor_label = models.CharField(max_length=150)
    # The recipient's role when the disclosure was made ("researcher", "prescriber", "admin").
    recipient_role = models.CharField(max_length=40)
    # Who received the records: for a download, the downloading user as named at the time.
    recipient = models.CharField(max_length=200)
    purpose = models.CharField(max_length=40)
    kind = models.CharField(max_length=50)
    row_count = models.PositiveIntegerField()
    patient_count = models.PositiveIntegerField()
    # The request that selected the records: codes and the user's own filter inputs, no PHI.
    filter_summary = models.JSONField(default=dict, blank=True)
    audit_event = models.OneToOneField(AuditEvent, on_delete=models.PROTECT, related_name="disclosure")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"disclosure #{self.pk} {self.at:%Y-%m-%d} {self.kind} to {self.recipient}"


class DisclosurePatient(AppendOnlyModel):
    """A patient whose records were in a disclosure (by id: audit sits below patients)."""

    disclosure = models.ForeignKey(Disclosure, on_delete=models.PROTECT, related_name="patients")
    patient_id = models.BigIntegerField(db_index=True)
    clinic_id = models.BigIntegerField()

    class Meta:
        ordering = ["disclosure", "patient_id"]
        constraints = [
            models.UniqueConstraint(fields=["disclosure", "patient_id"], name="disclosure_patient_once")
        ]

    def __str__(self) -> str:
        return f"disclosure #{self.disclosure_id}: patient {self.patient_id}"
