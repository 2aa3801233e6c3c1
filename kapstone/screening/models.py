"""Eligibility screenings and their prescriber sign-offs.

A screening is never edited: a new one supersedes it, and the patient's current screening is
the latest by ``entered_at`` (then ``id``). Each stores the answers, the decision and every
reason exactly as ``kapstone.domain.screening.check_eligibility`` gave them, with a fingerprint
of the rules that decided, so a later change of the rules stays traceable. A sign-off is a
separate row, at most one per screening.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from kapstone.domain import screening as rules
from kapstone.patients.models import Patient


class Decision(models.TextChoices):
    ELIGIBLE = rules.ELIGIBLE, "Eligible"
    NEEDS_REVIEW = rules.NEEDS_REVIEW, "Needs prescriber review"
    DEFERRED = rules.DEFERRED, "Deferred"
    INELIGIBLE = rules.INELIGIBLE, "Ineligible"


class Screening(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="screenings")
    answers = models.JSONField()
    decision = models.CharField(max_length=20, choices=Decision.choices)
    # [{"code", "severity", "message", "source"}, ...] as the domain reported them.
    reasons = models.JSONField(default=list)
    rules_version = models.CharField(max_length=40)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    entered_at = models.DateTimeField()

    class Meta:
        ordering = ["patient", "-entered_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(decision__in=Decision.values), name="screening_decision_valid"
            ),
            models.CheckConstraint(condition=~Q(rules_version=""), name="screening_rules_version_present"),
        ]
        indexes = [models.Index(fields=["patient", "-entered_at", "-id"], name="screening_patient_latest")]

    def __str__(self) -> str:
        return f"screening {self.pk} of patient {self.patient_id}: {self.decision}"


class ScreeningSignOff(models.Model):
    """A prescriber's approval or decline of one screening; the reason is the audited rationale."""

    # One-to-one: the unique index is the "one sign-off per screening" constraint.
    screening = models.OneToOneField(Screening, on_delete=models.PROTECT, related_name="sign_off")
    approve = models.BooleanField()
    reason = models.TextField(blank=True)
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField()

    class Meta:
        ordering = ["-signed_at", "-id"]
        constraints = [
            # A decline always says why (approving a needs_review does too; the service checks that,
            # since the decision lives on another table).
            models.CheckConstraint(
                condition=Q(approve=True) | ~Q(reason=""), name="screening_sign_off_decline_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"sign-off of screening {self.screening_id}: {'approved' if self.approve else 'declined'}"


class ScreeningDraft(models.Model):
    """Answers known before the full screening (a referral's pre-screen), offered to the clinician
    as the screening form's starting values. Never a screening: nothing is decided from it, and
    the clinician confirms or changes every answer. ``used_by`` links the screening recorded from it.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="screening_drafts")
    answers = models.JSONField()  # a subset of the screening's answers, checked by the domain
    source = models.CharField(max_length=20)  # "referral"
    source_reference = models.CharField(max_length=20, blank=True)
    note = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    used_by = models.OneToOneField(
        Screening, null=True, blank=True, on_delete=models.PROTECT, related_name="draft"
    )

    class Meta:
        ordering = ["patient", "-created_at", "-id"]

    def __str__(self) -> str:
        return f"screening draft {self.pk} of patient {self.patient_id}"
