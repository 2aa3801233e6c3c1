"""What the interoperability layer keeps of its own: the HL7 v2 messages it acknowledged, so that
a replayed message is acknowledged again without being stored twice; and the FHIR bulk exports,
with their files until they expire."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from kapstone.accounts.models import Clinic


class AckCode(models.TextChoices):
    """MSA-1 (HL7 v2.6 Table 0008), as far as a stored message can have it."""

    ACCEPT = "AA", "Accepted"
    ERROR = "AE", "Refused"


class Hl7Message(models.Model):
    """One HL7 v2 message a clinic's feed accepted, keyed by who sent it and its control id.

    Written in the same transaction as the vitals it carried, so a stored batch always has its
    replay record and the unique key decides between two copies arriving at once. Holds no PHI:
    the sender's application and facility (MSH-3/MSH-4), the control id (MSH-10), counts and the
    ACK (which names codes, never the patient).
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    sender = models.CharField(max_length=200)  # MSH-3|MSH-4 as sent
    control_id = models.CharField(max_length=199)  # MSH-10
    peer = models.CharField(max_length=100, blank=True)  # the transport's label (API user, address)
    received_at = models.DateTimeField()
    ack_code = models.CharField(max_length=2, choices=AckCode.choices)
    ack_text = models.TextField()
    stored = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    dropped = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "sender", "control_id"], name="hl7_message_once_per_sender"
            ),
            models.CheckConstraint(
                condition=models.Q(ack_code__in=AckCode.values), name="hl7_ack_code_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"HL7 {self.control_id} from {self.sender} · {self.ack_code}"


class ExportStatus(models.TextChoices):
    """The life of a bulk export (FHIR Bulk Data Access IG, "kick-off", "status", "complete")."""

    ACCEPTED = "accepted", "Accepted"
    RUNNING = "running", "In progress"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


class BulkExport(models.Model):
    """One FHIR bulk export asked for by a user (``GET /fhir/r4/$export``): what it covers, how
    far the worker has got, and where its files are. The id is random, for the status URL.

    ``patient_ids`` is frozen at the first step, so the files and the disclosure name the same
    patients whatever is added meanwhile; ``cursor`` is how many of them are done. Holds no PHI
    beyond record ids; the files (``BulkExportFile``) hold the records and are deleted when the
    export expires or is cancelled, this row stays as the account of what was asked.
    """

    id = models.UUIDField(primary_key=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    level = models.CharField(max_length=10)  # "system" or "group"
    clinic_ids = models.JSONField()  # the clinics it covers
    types = models.JSONField()  # FHIR resource types, in the registry's order
    since = models.DateTimeField(null=True, blank=True)
    request_url = models.CharField(max_length=2000)
    status = models.CharField(max_length=12, choices=ExportStatus.choices, default=ExportStatus.ACCEPTED)
    requested_at = models.DateTimeField()  # the manifest's transactionTime
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    patient_ids = models.JSONField(null=True, blank=True)
    cursor = models.PositiveIntegerField(default=0)
    #: The patients with at least one resource in the files: those the disclosure names.
    included_ids = models.JSONField(default=list)
    #: The worker holding a step, until when; a step whose holder died is taken again after it.
    lease_until = models.DateTimeField(null=True, blank=True)
    #: When a step last started or ended: the sweep hands out again an export idle too long.
    touched_at = models.DateTimeField()
    steps = models.PositiveIntegerField(default=0)
    failures = models.PositiveSmallIntegerField(default=0)
    counts = models.JSONField(default=dict)  # resource type → resources written
    error_code = models.CharField(max_length=50, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "requested_at"], name="bulk_export_status")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=ExportStatus.values), name="bulk_export_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(level__in=("system", "group")), name="bulk_export_level_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"FHIR bulk export {self.pk} · {self.status}"


class BulkExportFile(models.Model):
    """One NDJSON file of a bulk export: resources of one type, one per line (a type with many
    resources is cut into parts). Served only to the user who asked for the export."""

    id = models.UUIDField(primary_key=True)
    export = models.ForeignKey(BulkExport, on_delete=models.CASCADE, related_name="files")
    resource_type = models.CharField(max_length=40)
    part = models.PositiveIntegerField()
    count = models.PositiveIntegerField()
    content = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["export", "resource_type", "part"], name="bulk_export_file_part_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.resource_type} part {self.part} of export {self.export_id}"
