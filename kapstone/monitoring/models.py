"""Session monitoring: observations (vitals and bedside scores), alert episodes, scales, discharge.

Observations are append-only: a wrong value is marked entered in error (voided) with a reason,
never edited. An alert row is one episode of one parameter family (``hypertension``,
``hypoxemia``…): raised once, upgraded in place when a critical reading meets a warning episode
(the upgrade is an ``AlertEvent``), acknowledged with the action taken, resolved by a normal
reading — or ended because the value it rested on was entered in error (``entered_in_error``).
The rules are in ``kapstone.domain.monitoring``; this module only stores what they decide.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from kapstone.accounts.models import Clinic
from kapstone.care.models import CareSession
from kapstone.patients.models import Patient

USER = settings.AUTH_USER_MODEL


class Observation(models.Model):
    session = models.ForeignKey(CareSession, on_delete=models.PROTECT, related_name="observations")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="observations")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    code = models.CharField(max_length=20)  # ours: systolic_bp, spo2, moaas…
    loinc = models.CharField(max_length=12, blank=True)  # blank for local codes (MOAA/S, Aldrete)
    value = models.DecimalField(max_digits=6, decimal_places=2)
    unit = models.CharField(max_length=12)  # UCUM
    observed_at = models.DateTimeField()
    source = models.CharField(max_length=60, default="manual")  # "manual" or a device id
    entered_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    entered_at = models.DateTimeField()
    voided_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["session", "observed_at", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(source=""), name="observation_source_given"),
            models.CheckConstraint(
                condition=Q(voided_at__isnull=True, voided_by__isnull=True, void_reason="")
                | Q(voided_at__isnull=False, voided_by__isnull=False) & ~Q(void_reason=""),
                name="observation_void_complete",
            ),
        ]
        indexes = [models.Index(fields=["session", "observed_at"])]

    def __str__(self) -> str:
        return f"{self.code} {self.value} {self.unit} at {self.observed_at:%H:%M}"

    @property
    def is_voided(self) -> bool:
        return self.voided_at is not None


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class AlertAction(models.TextChoices):
    OBSERVED = "observed", "Observed"
    INFUSION_PAUSED = "infusion_paused", "Infusion paused"
    INFUSION_STOPPED = "infusion_stopped", "Infusion stopped"
    MEDICATION_GIVEN = "medication_given", "Medication given"
    ESCALATED = "escalated", "Escalated to the prescriber"


SEVERITIES = ("warning", "critical")


class Alert(models.Model):
    """One alert episode. ``escalation_from`` is when the escalation clock started: the first
    abnormal reading, or the upgrade to critical (the domain's ``upgraded_at``)."""

    session = models.ForeignKey(CareSession, on_delete=models.PROTECT, related_name="alerts")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    code = models.CharField(max_length=30)
    episode = models.CharField(max_length=30)  # the parameter family of the domain's episode model
    severity = models.CharField(max_length=10)
    status = models.CharField(max_length=12, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    message = models.CharField(max_length=500)
    raised_at = models.DateTimeField()
    escalation_from = models.DateTimeField()
    upgraded_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    action = models.CharField(max_length=20, choices=AlertAction.choices, blank=True)
    note = models.CharField(max_length=500, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Ended because the value(s) it rested on were marked entered in error, not because the
    # patient recovered: kept in the history, but never a clinical event (the discharge's
    # "ready to leave" time and the alerts to acknowledge leave it out).
    entered_in_error = models.BooleanField(default=False)

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=AlertStatus.values), name="alert_status_valid"),
            models.CheckConstraint(condition=Q(severity__in=SEVERITIES), name="alert_severity_valid"),
            models.CheckConstraint(
                condition=Q(action="") | Q(action__in=AlertAction.values), name="alert_action_valid"
            ),
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True, acknowledged_by__isnull=True, action="")
                | Q(acknowledged_at__isnull=False, acknowledged_by__isnull=False) & ~Q(action=""),
                name="alert_acknowledgement_complete",
            ),
            models.CheckConstraint(
                condition=Q(status="resolved", resolved_at__isnull=False)
                | ~Q(status="resolved") & Q(resolved_at__isnull=True),
                name="alert_resolution_consistent",
            ),
            models.CheckConstraint(
                condition=Q(entered_in_error=False) | Q(status="resolved"),
                name="alert_entered_in_error_is_resolved",
            ),
            # The domain's episode model: at most one open episode per parameter family.
            models.UniqueConstraint(
                fields=["session", "episode"],
                condition=Q(resolved_at__isnull=True),
                name="alert_one_open_per_family",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.severity}, {self.status})"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def title(self) -> str:
        """The alert in words, as every screen shows it (the code stays in the API and audit)."""
        from kapstone.domain.monitoring import title_for

        return title_for(self.code)


class AlertEvent(models.Model):
    """The history of an alert: raised, upgraded (new code and severity), acknowledged, resolved."""

    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=15)
    code = models.CharField(max_length=30)
    severity = models.CharField(max_length=10)
    message = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField()
    # None: written by the overdue sweep (a timer), not by a person.
    actor = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["alert", "at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=("raised", "upgraded", "acknowledged", "resolved")),
                name="alert_event_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.code} {self.at:%H:%M}"


class ScaleScore(models.Model):
    """A bedside scale with its item answers: MOAA/S, modified Aldrete, CADSS (with its version).

    MOAA/S and the Aldrete total are also stored as observations (the sedation alert and the
    discharge rules read them with the vitals); ``observation`` links the two.
    """

    SCALES = ("moaas", "aldrete", "cadss")

    session = models.ForeignKey(CareSession, on_delete=models.PROTECT, related_name="scale_scores")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    scale = models.CharField(max_length=10)
    answers = models.JSONField()
    total = models.PositiveIntegerField()
    scoring_version = models.CharField(max_length=30)
    observation = models.OneToOneField(
        Observation, null=True, blank=True, on_delete=models.PROTECT, related_name="scale_score"
    )
    observed_at = models.DateTimeField()
    entered_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    entered_at = models.DateTimeField()

    class Meta:
        ordering = ["session", "observed_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(scale__in=("moaas", "aldrete", "cadss")), name="scale_known"),
        ]

    def __str__(self) -> str:
        return f"{self.scale} {self.total}"


class Discharge(models.Model):
    """The discharge of a dosing session: the criteria as evaluated, and who let the patient go.

    ``ready_at`` / ``ready_at_min_after_dosing_start``: when the patient "would have been ready to
    leave" (the REMS research variable), as the domain computed it at discharge.
    """

    session = models.OneToOneField(CareSession, on_delete=models.PROTECT, related_name="discharge")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    criteria = models.JSONField()
    criteria_met = models.BooleanField()
    observed_min = models.PositiveIntegerField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    ready_at_min_after_dosing_start = models.PositiveIntegerField(null=True, blank=True)
    override_reason = models.CharField(max_length=500, blank=True)
    escort_confirmed = models.BooleanField()
    driving_advice_given = models.BooleanField()
    discharged_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    discharged_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(criteria_met=True) | ~Q(override_reason=""),
                name="discharge_unmet_needs_override_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"discharge {self.discharged_at:%Y-%m-%d %H:%M}"


class DissociationAttestation(models.Model):
    """A clinician's attestation that the patient's dissociation has resolved, after the dose.

    Used by the discharge criterion ``dissociation_resolved`` when the course's protocol sets
    ``monitoring.dissociation_check`` to ``attestation`` (Spravato REMS: monitor until sedation,
    dissociation and respiratory depression have resolved). Append-only: a new attestation is a
    new row; who and when are kept, with an optional note.
    """

    session = models.ForeignKey(
        CareSession, on_delete=models.PROTECT, related_name="dissociation_attestations"
    )
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    attested_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    attested_at = models.DateTimeField()
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["session", "attested_at", "id"]

    def __str__(self) -> str:
        return f"dissociation resolved {self.attested_at:%Y-%m-%d %H:%M}"
