"""What the interoperability layer keeps of its own: the HL7 v2 messages it acknowledged, so that
a replayed message is acknowledged again without being stored twice."""

from __future__ import annotations

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
