"""Questionnaire responses, clinical flags, the use calendar (TLFB), toxicology results and
follow-up records.

Nothing here is edited in place. A questionnaire response keeps the answers exactly as given,
the item scores, total, band and flags the domain computed and the scoring version that
computed them. A flag is acknowledged by a separate row (at most one per flag). A use-calendar
day entered again is a new row; the current value of a day is its latest row, and the older
rows stay as history. What is due for follow-up is computed at run time from each course's
protocol snapshot; only the follow-ups actually done are stored.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from kapstone.accounts.models import Clinic
from kapstone.care.models import TreatmentCourse
from kapstone.domain import tlfb
from kapstone.patients.models import Patient

USER = settings.AUTH_USER_MODEL


class EntrySource(models.TextChoices):
    """Who entered a questionnaire or a calendar day: clinic staff, or the patient in the portal."""

    STAFF = "staff", "Staff"
    PATIENT = "patient", "Patient"


class QuestionnaireResponse(models.Model):
    """One completed questionnaire.

    The answers are a JSON list in item order rather than one row per item: a response is
    always written, read and scored as a whole, the item meaning is pinned by
    ``instrument`` + ``form_version`` (the domain definition), and a 9-item row set per
    PHQ-9 would multiply the rows of the busiest table for no query we need. Research exports
    unpack the list into one row per item.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="questionnaire_responses")
    instrument = models.CharField(max_length=20)
    # Raw answers as given, in item order; item_scores after reverse scoring (DAST-10 item 3).
    answers = models.JSONField()
    item_scores = models.JSONField()
    total = models.IntegerField()
    band = models.CharField(max_length=30, blank=True)
    flags = models.JSONField(default=list, blank=True)
    scoring_version = models.CharField(max_length=40)
    form_version = models.CharField(max_length=200)
    # The sex the bands were chosen by (AUDIT-C); blank where the instrument does not need it.
    sex_for_scoring = models.CharField(max_length=10, blank=True)
    course = models.ForeignKey(
        TreatmentCourse, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # 0 = baseline, n = the n-month follow-up of ``course``; null = not tied to a time point.
    time_point_months = models.PositiveSmallIntegerField(null=True, blank=True)
    administered_on = models.DateField()
    entered_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    entered_at = models.DateTimeField()
    # The database default too: a row written outside the ORM (a bulk load, a console fix) is staff's.
    source = models.CharField(
        max_length=10, choices=EntrySource.choices, default=EntrySource.STAFF, db_default=EntrySource.STAFF
    )

    class Meta:
        ordering = ["patient", "-administered_on", "-entered_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(source__in=EntrySource.values), name="questionnaire_source_valid"
            ),
            models.CheckConstraint(
                condition=~Q(scoring_version=""), name="questionnaire_scoring_version_present"
            ),
            models.CheckConstraint(
                condition=Q(time_point_months__isnull=True) | Q(course__isnull=False),
                name="questionnaire_time_point_needs_course",
            ),
        ]
        indexes = [
            models.Index(
                fields=["patient", "instrument", "-administered_on"], name="questionnaire_patient_latest"
            )
        ]

    def __str__(self) -> str:
        return f"{self.instrument} {self.total} of patient {self.patient_id}"


class ClinicalFlag(models.Model):
    """An alert for the patient's clinicians raised by a questionnaire (PHQ-9 item 9 > 0)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="clinical_flags")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    code = models.CharField(max_length=40)
    description = models.CharField(max_length=300)
    response = models.ForeignKey(
        QuestionnaireResponse, on_delete=models.PROTECT, related_name="clinical_flags"
    )
    raised_at = models.DateTimeField()

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["response", "code"], name="clinical_flag_once_per_response"),
        ]
        indexes = [models.Index(fields=["clinic", "-raised_at"], name="clinical_flag_clinic_latest")]

    def __str__(self) -> str:
        return f"{self.code} for patient {self.patient_id}"


class FlagAcknowledgement(models.Model):
    """A clinician's acknowledgement of one flag, with what they did; at most one per flag."""

    flag = models.OneToOneField(ClinicalFlag, on_delete=models.PROTECT, related_name="acknowledgement")
    note = models.TextField()
    acknowledged_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    acknowledged_at = models.DateTimeField()

    class Meta:
        constraints = [models.CheckConstraint(condition=~Q(note=""), name="flag_acknowledgement_has_note")]

    def __str__(self) -> str:
        return f"acknowledgement of flag {self.flag_id}"


class UseDay(models.Model):
    """One Timeline Followback entry: a patient's use of one substance on one day, as reported.

    The current value of a day is its latest row (``entered_at``, then ``id``).
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="use_days")
    substance = models.CharField(max_length=40)
    day = models.DateField()
    used = models.BooleanField()
    standard_drinks = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    amount = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    amount_unit = models.CharField(max_length=20, blank=True)
    marker = models.CharField(max_length=100, blank=True)
    entered_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    entered_at = models.DateTimeField()
    # The database default too: a row written outside the ORM (a bulk load, a console fix) is staff's.
    source = models.CharField(
        max_length=10, choices=EntrySource.choices, default=EntrySource.STAFF, db_default=EntrySource.STAFF
    )

    class Meta:
        ordering = ["patient", "substance", "day", "-entered_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(source__in=EntrySource.values), name="use_day_source_valid"),
            models.CheckConstraint(
                condition=~Q(substance=tlfb.ALCOHOL) | Q(standard_drinks__isnull=False),
                name="use_day_alcohol_has_drinks",
            ),
            models.CheckConstraint(
                condition=Q(standard_drinks__isnull=True) | Q(standard_drinks__gte=0),
                name="use_day_drinks_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0), name="use_day_amount_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["patient", "substance", "day"], name="use_day_patient_substance_day")]

    def __str__(self) -> str:
        return f"{self.substance} {self.day}: {'used' if self.used else 'none'}"


class ToxicologyMethod(models.TextChoices):
    URINE_DRUG_SCREEN = "urine_drug_screen", "Urine drug screen"
    ETG = "etg", "Urine ethyl glucuronide (EtG)"


class ToxicologyResultValue(models.TextChoices):
    POSITIVE = "positive", "Positive"
    NEGATIVE = "negative", "Negative"
    INCONCLUSIVE = "inconclusive", "Inconclusive"


class ToxicologyTest(models.Model):
    """One result of a urine drug screen or alcohol biomarker for one substance on one day."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="toxicology_tests")
    collected_on = models.DateField()
    substance = models.CharField(max_length=40)
    method = models.CharField(max_length=20, choices=ToxicologyMethod.choices)
    result = models.CharField(max_length=12, choices=ToxicologyResultValue.choices)
    # A confirmatory (laboratory) result rather than a presumptive point-of-care screen.
    confirmed = models.BooleanField()
    entered_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    entered_at = models.DateTimeField()

    class Meta:
        ordering = ["patient", "-collected_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(method__in=ToxicologyMethod.values), name="toxicology_method_valid"
            ),
            models.CheckConstraint(
                condition=Q(result__in=ToxicologyResultValue.values), name="toxicology_result_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "substance", "collected_on"], name="toxicology_patient_day")
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.substance} {self.collected_on}: {self.result}"


class FollowUp(models.Model):
    """A follow-up time point of a course that was done (the due ones are computed, not stored)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="follow_ups")
    course = models.ForeignKey(TreatmentCourse, on_delete=models.PROTECT, related_name="follow_ups")
    months = models.PositiveSmallIntegerField()
    done_on = models.DateField()
    recorded_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["course", "months"]
        constraints = [
            models.UniqueConstraint(fields=["course", "months"], name="follow_up_once_per_time_point"),
            models.CheckConstraint(condition=Q(months__gte=1), name="follow_up_months_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.months}-month follow-up of course {self.course_id}"


class CalendarVersion(models.Model):
    """A per-patient counter that the database raises whenever a row of the patient's use
    calendar or toxicology results is inserted, updated or deleted (triggers, installed by
    migration 0002 from ``kapstone.outcomes.calendar_triggers``; statement-level on PostgreSQL).

    Anything derived from a patient's calendar (the research outcome summaries) records the
    version it was derived from, read in the same statement as the rows; a summary whose version
    is not the current one is stale. Kept by the database, not by the services, so that no write
    path (a bulk load, a console fix, a future import) can leave a summary silently out of date.
    A patient with no row has never had a calendar or test row (version 0).
    """

    # No foreign-key constraint in the database: the triggers write this row whenever a calendar
    # row changes, also while a whole database is emptied table by table (Django's flush on
    # SQLite), when the patient may already be gone. A row without its patient is inert.
    patient = models.OneToOneField(
        Patient,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="calendar_version",
        db_constraint=False,
    )
    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"calendar version {self.version} of patient {self.patient_id}"


#: The time to complete the C-SSRS after a PHQ-9 item 9 above 0, when the clinic has not set
#: one: 24 h. Local policy: the Columbia screener's triage says what each level needs, not how
#: soon a screener must follow a positive PHQ-9 item 9 (clinical.md §4.4: "needs a safety check
#: whatever the total"; §8); a day matches the alert e-mail's "needs a clinician's attention today".
CSSRS_DUE_HOURS_DEFAULT = 24
#: A clinic may set 1 h to 7 days.
CSSRS_DUE_HOURS_BOUNDS = (1, 168)


class CssrsTaskSetting(models.Model):
    """A clinic's time to complete the C-SSRS after a positive PHQ-9 item 9 (one row per clinic;
    none: :data:`CSSRS_DUE_HOURS_DEFAULT`). Changed by a clinic admin, audited."""

    clinic = models.OneToOneField(Clinic, on_delete=models.PROTECT, related_name="+")
    due_hours = models.PositiveSmallIntegerField()
    set_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    set_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    due_hours__gte=CSSRS_DUE_HOURS_BOUNDS[0], due_hours__lte=CSSRS_DUE_HOURS_BOUNDS[1]
                ),
                name="cssrs_task_setting_hours_valid",
            )
        ]

    def __str__(self) -> str:
        return f"C-SSRS within {self.due_hours} h at clinic {self.clinic_id}"


class CssrsTask(models.Model):
    """A task for the care team: complete the C-SSRS screener, opened by a PHQ-9 whose item 9 is
    above 0 (staff or portal entry), due ``due_at``; closed by the next C-SSRS recorded for the
    patient. At most one open task per patient (a second positive PHQ-9 keeps the earlier due
    time). Opened and closed in the transaction of the response that opens or closes it."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="cssrs_tasks")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    opened_by = models.ForeignKey(QuestionnaireResponse, on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField()
    due_at = models.DateTimeField()
    closed_by = models.ForeignKey(
        QuestionnaireResponse, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(closed_at__isnull=True),
                name="cssrs_task_one_open_per_patient",
            ),
            models.CheckConstraint(
                condition=Q(closed_at__isnull=True, closed_by__isnull=True)
                | Q(closed_at__isnull=False, closed_by__isnull=False),
                name="cssrs_task_close_complete",
            ),
        ]
        indexes = [models.Index(fields=["clinic", "closed_at", "due_at"], name="cssrs_task_clinic_open")]

    def __str__(self) -> str:
        return f"C-SSRS task for patient {self.patient_id}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None
