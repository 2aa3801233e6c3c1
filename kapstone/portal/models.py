"""The public door: clinics' service profiles, referrals from the pre-screen, rate counters.

An anonymous pre-screen stores nothing. Only a submitted referral is stored, and from then on it
is PHI of the chosen clinic. A referral that never became a patient is anonymised after the
clinic's retention period (its contact details and answers are erased; the row, its reference,
status and result stay for the audit trail and the counts).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from kapstone.accounts.models import Clinic
from kapstone.domain.referrals import REFERRAL_STATUSES, STATUS_LABELS
from kapstone.patients.models import Patient

USER = settings.AUTH_USER_MODEL


class ServiceProfile(models.Model):
    """A clinic's public service profile. Versioned: a change is a new row; the latest is in force."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="service_profiles")
    version = models.PositiveIntegerField()
    display_name = models.CharField(max_length=120)
    regions = models.JSONField(default=list)  # ["NY"]
    languages = models.JSONField(default=list)  # ["en", "es"] (ISO 639-1)
    modalities = models.JSONField(default=list)  # ["in_person", "hybrid_follow_up"]
    protocol_slugs = models.JSONField(default=list)
    accepting_referrals = models.BooleanField(default=False)
    wait_weeks = models.PositiveSmallIntegerField(default=4)
    contact_line = models.CharField(max_length=200, blank=True)
    retention_days = models.PositiveIntegerField(default=180)
    contact_target_working_days = models.PositiveSmallIntegerField(default=2)
    reason = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["clinic", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "version"], name="service_profile_version_unique"),
            models.CheckConstraint(condition=Q(wait_weeks__lte=104), name="service_profile_wait_plausible"),
            models.CheckConstraint(
                condition=Q(retention_days__gte=30, retention_days__lte=3650),
                name="service_profile_retention_range",
            ),
            models.CheckConstraint(
                condition=Q(contact_target_working_days__lte=30), name="service_profile_target_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} v{self.version}"


class ReferralStatus(models.TextChoices):
    NEW = "new", STATUS_LABELS["new"]
    CONTACTED = "contacted", STATUS_LABELS["contacted"]
    INTAKE_BOOKED = "intake_booked", STATUS_LABELS["intake_booked"]
    DECLINED = "declined", STATUS_LABELS["declined"]
    CONVERTED = "converted", STATUS_LABELS["converted"]


assert tuple(ReferralStatus.values) == REFERRAL_STATUSES  # one list of states (domain)


class Referral(models.Model):
    """A person's request to be contacted by a clinic, with the pre-screen that led to it."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="referrals")
    reference = models.CharField(max_length=12, unique=True)
    status = models.CharField(max_length=20, choices=ReferralStatus.choices, default=ReferralStatus.NEW)
    # The validated pre-screen answers and the result they gave (erased when anonymised).
    answers = models.JSONField(default=dict, blank=True)
    result = models.CharField(max_length=20)
    reasons = models.JSONField(default=list, blank=True)
    crisis = models.BooleanField(default=False)
    contact_name = models.CharField(max_length=120, blank=True)
    contact_email = models.EmailField(max_length=254, blank=True)
    contact_phone = models.CharField(max_length=40, blank=True)
    preferred_time = models.CharField(max_length=120, blank=True)
    language = models.CharField(max_length=8, default="en")  # the language the person used
    consent_to_contact = models.BooleanField()
    created_at = models.DateTimeField()
    status_changed_at = models.DateTimeField()
    contacted_at = models.DateTimeField(null=True, blank=True)
    # When the clinic's staff were told of it by e-mail (a count, no PHI); None until then.
    notified_at = models.DateTimeField(null=True, blank=True)
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="referrals"
    )
    anonymised_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=REFERRAL_STATUSES), name="referral_status_valid"),
            models.CheckConstraint(condition=Q(consent_to_contact=True), name="referral_consented"),
            models.CheckConstraint(
                condition=Q(anonymised_at__isnull=False) | ~Q(contact_email="") | ~Q(contact_phone=""),
                name="referral_has_a_way_to_contact",
            ),
            models.CheckConstraint(
                condition=~Q(status="converted") | Q(patient__isnull=False),
                name="referral_converted_has_patient",
            ),
        ]
        indexes = [models.Index(fields=["clinic", "status", "created_at"], name="referral_queue")]

    def __str__(self) -> str:
        return f"referral {self.reference} ({self.status})"

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)


class ReferralEvent(models.Model):
    """Every status change, conversion and anonymisation of a referral: who, when, why."""

    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    reason = models.CharField(max_length=500, blank=True)
    actor = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()

    class Meta:
        ordering = ["referral", "at", "id"]

    def __str__(self) -> str:
        return f"{self.referral_id}: {self.from_status} → {self.to_status}"

    @property
    def to_label(self) -> str:
        return STATUS_LABELS.get(self.to_status, self.to_status)


class RateCounter(models.Model):
    """Requests counted per source and window for the public endpoints (in the database, so every
    app server sees the same counts). ``source`` is a keyed hash of the address, never the address."""

    scope = models.CharField(max_length=30)
    source = models.CharField(max_length=64)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "source", "window_start"], name="rate_counter_unique")
        ]
        indexes = [models.Index(fields=["window_start"], name="rate_counter_window")]

    def __str__(self) -> str:
        return f"{self.scope} {self.window_start:%H:%M} {self.count}"


# --- Patient accounts ----------------------------------------------------------------------------


class PatientAccount(models.Model):
    """The portal account of one patient: one user (``is_patient``), one patient record.

    Invited by staff; active once the patient has accepted an invitation and set a password;
    disabled by staff (the user can then no longer sign in). Never deleted.
    """

    user = models.OneToOneField(USER, on_delete=models.PROTECT, related_name="patient_account")
    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="portal_account")
    email = models.EmailField(max_length=254)
    created_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    disabled_reason = models.CharField(max_length=500, blank=True)
    reminders_enabled = models.BooleanField(default=True)
    language = models.CharField(max_length=8, default="en")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(disabled_at__isnull=True) | ~Q(disabled_reason=""),
                name="patient_account_disable_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"portal account of patient {self.patient_id}"

    @property
    def is_active(self) -> bool:
        return self.accepted_at is not None and self.disabled_at is None


class PortalInvitation(models.Model):
    """One invitation e-mail: a single-use link (only its SHA-256 is kept) that expires."""

    account = models.ForeignKey(PatientAccount, on_delete=models.PROTECT, related_name="invitations")
    token_hash = models.CharField(max_length=64, unique=True)
    sent_to = models.EmailField(max_length=254)
    created_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    # A re-sent invitation replaces the earlier ones: their links stop working.
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["account", "-created_at", "-id"]

    def __str__(self) -> str:
        return f"invitation {self.pk} for account {self.account_id}"


class PortalReminder(models.Model):
    """One thing a patient was reminded of by e-mail (a questionnaire that fell due, a session
    tomorrow), so that ``send_reminders`` never e-mails the same thing twice, however often it
    runs. ``item`` names the thing without PHI (``questionnaire:phq-9:3:2026-12-06``,
    ``session:812:2026-12-07``); ``sent_on`` is the clinic's date."""

    account = models.ForeignKey(PatientAccount, on_delete=models.PROTECT, related_name="reminders")
    item = models.CharField(max_length=120)
    sent_on = models.DateField()
    sent_at = models.DateTimeField()

    class Meta:
        ordering = ["account", "-sent_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "item"], name="portal_reminder_once_per_item")
        ]

    def __str__(self) -> str:
        return f"reminder {self.item} for account {self.account_id}"
