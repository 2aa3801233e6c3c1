"""The patient record: identity, contacts, body measurements, diagnoses and consents.

Identity is amended, never overwritten without trace: each amendment stores the previous
version in ``PatientVersion`` with the reason and the actor. Measurements, diagnoses and
consents are append-only rows (a withdrawal or a voided diagnosis is a new fact, not a delete).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from kapstone.accounts.models import Clinic
from kapstone.domain.patients import SEXES_AT_BIRTH


class Patient(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField("MRN", max_length=32)
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    birth_date = models.DateField()
    # True when the birth date was estimated from an age (a referral gives only an age) and is
    # still to be confirmed with the patient; screens show it as estimated.
    birth_date_estimated = models.BooleanField(default=False)
    sex_at_birth = models.CharField(max_length=10, choices=[(s, s.capitalize()) for s in SEXES_AT_BIRTH])
    gender_identity = models.CharField(max_length=60, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)
    address = models.CharField(max_length=300, blank=True)
    emergency_contact_name = models.CharField(max_length=120, blank=True)
    emergency_contact_phone = models.CharField(max_length=40, blank=True)
    emergency_contact_relationship = models.CharField(max_length=60, blank=True)
    # Optimistic locking: an amendment names the version it was made from.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["family_name", "given_name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "mrn"], name="patient_mrn_unique_per_clinic"),
            models.CheckConstraint(condition=Q(sex_at_birth__in=SEXES_AT_BIRTH), name="patient_sex_valid"),
            models.CheckConstraint(
                condition=~Q(given_name="") & ~Q(family_name=""), name="patient_names_present"
            ),
        ]
        indexes = [
            models.Index(fields=["clinic", "family_name", "given_name"]),
        ]

    def __str__(self) -> str:
        return f"{self.family_name}, {self.given_name} ({self.mrn})"

    @classmethod
    def text_limit(cls, name: str) -> int:
        """The longest value the column ``name`` holds: the one limit of the field for the web
        form, the API and the service."""
        return cls._meta.get_field(name).max_length

    @property
    def display_name(self) -> str:
        """The one order for a patient's name on every page: "Family, Given"."""
        return f"{self.family_name}, {self.given_name}"

    IDENTITY_FIELDS = (
        "mrn",
        "given_name",
        "family_name",
        "birth_date",
        "birth_date_estimated",
        "sex_at_birth",
        "gender_identity",
        "phone",
        "email",
        "address",
        "emergency_contact_name",
        "emergency_contact_phone",
        "emergency_contact_relationship",
    )


class PatientVersion(models.Model):
    """A snapshot of the identity fields as they were at one version."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    data = models.JSONField()
    reason = models.CharField(max_length=500, blank=True)
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["patient", "-version"]
        constraints = [models.UniqueConstraint(fields=["patient", "version"], name="patient_version_unique")]

    def __str__(self) -> str:
        return f"patient {self.patient_id} v{self.version}"


class BodyMeasurement(models.Model):
    """A weight and/or height, taken at ``measured_at``; the id is the order of entry.

    The weight in force is the latest non-voided one taken at or before a moment, ties broken by
    the order of entry (:func:`kapstone.patients.selectors.weight_in_force`). A mistaken
    measurement is voided with a reason, never edited or deleted.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="measurements")
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    height_cm = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    # When the patient was weighed or measured (aware, stored in UTC).
    measured_at = models.DateTimeField()
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    void_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["patient", "-measured_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(weight_kg__isnull=False) | Q(height_cm__isnull=False),
                name="measurement_not_empty",
            ),
            # A backstop wider than the rule (domain.patients: 30–300 kg), so that rows recorded
            # under the earlier 20–400 kg rule stay valid; services refuse outside the rule.
            models.CheckConstraint(
                condition=Q(weight_kg__isnull=True) | Q(weight_kg__gte=20, weight_kg__lte=400),
                name="measurement_weight_plausible",
            ),
            models.CheckConstraint(
                condition=Q(height_cm__isnull=True) | Q(height_cm__gte=100, height_cm__lte=250),
                name="measurement_height_plausible",
            ),
            # A void has its time, its actor and its reason, or none of them.
            models.CheckConstraint(
                condition=Q(voided_at__isnull=True, voided_by__isnull=True, void_reason="")
                | (Q(voided_at__isnull=False, voided_by__isnull=False) & ~Q(void_reason="")),
                name="measurement_void_complete",
            ),
        ]
        indexes = [models.Index(fields=["patient", "measured_at"], name="measurement_patient_time")]

    def __str__(self) -> str:
        return f"{self.measured_at:%Y-%m-%d %H:%M}: {self.weight_kg} kg, {self.height_cm} cm"

    @property
    def is_voided(self) -> bool:
        return self.voided_at is not None


class Diagnosis(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="diagnoses")
    code = models.CharField("ICD-10-CM code", max_length=10)
    name = models.CharField(max_length=200)
    substance = models.CharField(max_length=30)
    is_primary = models.BooleanField(default=False)
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    void_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["patient", "-is_primary", "code"]
        verbose_name_plural = "diagnoses"
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(is_primary=True, voided_at__isnull=True),
                name="diagnosis_one_primary",
            ),
            models.UniqueConstraint(
                fields=["patient", "code"], condition=Q(voided_at__isnull=True), name="diagnosis_code_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class ConsentKind(models.TextChoices):
    TREATMENT = "treatment", "Treatment"
    RESEARCH = "research", "Research use of data"
    DATA_SHARING = "data_sharing", "Data sharing (42 CFR Part 2)"


class ConsentStatus(models.TextChoices):
    GRANTED = "granted", "Granted"
    WITHDRAWN = "withdrawn", "Withdrawn"


class ConsentDocument(models.Model):
    """One version of a clinic's consent document of one kind, as patients read it in the portal.

    Versioned: publishing a change makes a new row with the next ``version``; a published row is
    never edited (no service changes one). ``text_sha256`` is the fingerprint of the title and
    body (:func:`kapstone.domain.consent.consent_text_fingerprint`), which a patient's signature
    records.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="consent_documents")
    kind = models.CharField(max_length=20, choices=ConsentKind.choices)
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField()
    text_sha256 = models.CharField(max_length=64)
    published_at = models.DateTimeField()
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["clinic", "kind", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "kind", "version"], name="consent_document_version_unique"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=ConsentKind.values), name="consent_document_kind_valid"
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="consent_document_version_positive"),
            models.CheckConstraint(
                condition=~Q(title="") & ~Q(body="") & ~Q(text_sha256=""),
                name="consent_document_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} v{self.version} ({self.clinic_id})"


class ConsentSource(models.TextChoices):
    STAFF = "staff", "Recorded by staff"
    PATIENT = "patient", "Given by the patient in the portal"


class Consent(models.Model):
    """A consent decision; the latest row of a kind is the one in force.

    ``source`` says how it was given: recorded by staff (from a paper form or a conversation), or
    by the patient in the portal. A patient's signature keeps the document signed, the name typed
    and the fingerprint of the exact text shown; ``recorded_at`` is the moment of signing.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="consents")
    kind = models.CharField(max_length=20, choices=ConsentKind.choices)
    status = models.CharField(max_length=10, choices=ConsentStatus.choices)
    effective_on = models.DateField()
    document_version = models.CharField(max_length=40)
    note = models.CharField(max_length=500, blank=True)
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=10, choices=ConsentSource.choices, default=ConsentSource.STAFF)
    document = models.ForeignKey(
        ConsentDocument, null=True, blank=True, on_delete=models.PROTECT, related_name="consents"
    )
    typed_name = models.CharField(max_length=201, blank=True)
    text_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["patient", "kind", "-recorded_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=ConsentKind.values), name="consent_kind_valid"),
            models.CheckConstraint(condition=Q(status__in=ConsentStatus.values), name="consent_status_valid"),
            models.CheckConstraint(condition=Q(source__in=ConsentSource.values), name="consent_source_valid"),
            # A patient's grant is a signature: the document, the name typed, the text's fingerprint.
            models.CheckConstraint(
                condition=~Q(source="patient", status="granted")
                | (Q(document__isnull=False) & ~Q(typed_name="") & ~Q(text_sha256="")),
                name="consent_patient_signature_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.status} {self.effective_on}"


class LiverTestKind(models.TextChoices):
    ALT = "alt", "ALT"
    AST = "ast", "AST"
    BILIRUBIN = "bilirubin", "Total bilirubin"


class LiverTestUnit(models.TextChoices):
    UNITS_PER_LITRE = "U/L", "U/L"
    MG_PER_DL = "mg/dL", "mg/dL"
    UMOL_PER_L = "umol/L", "µmol/L"


class LiverTest(models.Model):
    """One liver test result (ALT, AST or total bilirubin) with the laboratory's upper limit of
    normal, taken on ``taken_on``; the id is the order of entry. A mistaken result is voided
    with a reason, never edited or deleted; the dosing rule reads only non-voided results
    (:mod:`kapstone.domain.liver`)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="liver_tests")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    test = models.CharField(max_length=12, choices=LiverTestKind.choices)
    value = models.DecimalField(max_digits=7, decimal_places=2)
    unit = models.CharField(max_length=8, choices=LiverTestUnit.choices)
    upper_limit = models.DecimalField("upper limit of normal", max_digits=7, decimal_places=2)
    taken_on = models.DateField()
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    void_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["patient", "-taken_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(test__in=LiverTestKind.values), name="liver_test_kind_valid"),
            models.CheckConstraint(
                condition=(Q(test__in=["alt", "ast"]) & Q(unit="U/L"))
                | (Q(test="bilirubin") & Q(unit__in=["mg/dL", "umol/L"])),
                name="liver_test_unit_matches",
            ),
            models.CheckConstraint(
                condition=Q(value__gte=0) & Q(upper_limit__gt=0), name="liver_test_values_positive"
            ),
            models.CheckConstraint(
                condition=Q(voided_at__isnull=True, voided_by__isnull=True, void_reason="")
                | (Q(voided_at__isnull=False, voided_by__isnull=False) & ~Q(void_reason="")),
                name="liver_test_void_complete",
            ),
        ]
        indexes = [models.Index(fields=["patient", "taken_on"], name="liver_test_patient_day")]

    def __str__(self) -> str:
        return f"{self.test} {self.value} {self.unit} on {self.taken_on}"

    @property
    def times_upper_limit(self):
        """The result as a multiple of the upper limit of normal, to 0.1 (for the screens)."""
        return (self.value / self.upper_limit).quantize(Decimal("0.1"))
