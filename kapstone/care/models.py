"""Treatment courses, their sessions, day-of checks, group sessions and therapy notes.

A course keeps a JSON snapshot of the protocol version it started on, so a clinic's later
protocol changes never alter a course already running. Session state changes, reschedules and
overrides are events (``SessionEvent``); the session row's ``status`` is the current state,
changed only by services under a row lock.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from kapstone.accounts.models import Clinic
from kapstone.domain.protocols import DOSING, FOLLOW_UP, INTEGRATION, PREPARATION, SESSION_KIND_LABELS
from kapstone.domain.sessions import SESSION_STATES, DayOfResult, state_label
from kapstone.patients.models import Patient

SESSION_KINDS = (PREPARATION, DOSING, INTEGRATION, FOLLOW_UP)
USER = settings.AUTH_USER_MODEL

# Events in the clinic's words (the codes stay in the API and the audit trail).
COURSE_EVENT_LABELS = {
    "enrolled": "Enrolled",
    "paused": "Paused",
    "resumed": "Resumed",
    "completed": "Completed",
    "withdrawn": "Withdrawn",
}
SESSION_EVENT_LABELS = {
    "transition": "State change",
    "rescheduled": "Rescheduled",
    "group_linked": "Joined a group session",
}


class ProtocolClone(models.Model):
    """A clinic's own version of a protocol, cloned from the library or from an earlier clone."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="protocols")
    slug = models.SlugField(max_length=80)
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    data = models.JSONField()
    based_on_version = models.PositiveIntegerField()
    note = models.CharField(max_length=500)
    created_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["slug", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "slug", "version"], name="protocol_clone_version_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.slug} v{self.version} ({self.clinic})"


class CourseStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    WITHDRAWN = "withdrawn", "Withdrawn"


class TreatmentCourse(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="courses")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="courses")
    protocol_slug = models.SlugField(max_length=80)
    protocol_version = models.PositiveIntegerField()
    protocol_title = models.CharField(max_length=200)
    protocol_data = models.JSONField()
    start_date = models.DateField()
    arm = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=12, choices=CourseStatus.choices, default=CourseStatus.ACTIVE)
    screening = models.ForeignKey("screening.Screening", on_delete=models.PROTECT, related_name="+")
    enrolled_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    enrolled_at = models.DateTimeField()

    class Meta:
        ordering = ["-start_date", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=CourseStatus.values), name="course_status_valid"),
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(status__in=["active", "paused"]),
                name="course_one_open_per_patient",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.protocol_slug} v{self.protocol_version} from {self.start_date}"


class CourseEvent(models.Model):
    course = models.ForeignKey(TreatmentCourse, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=20)  # enrolled, paused, resumed, completed, withdrawn
    reason = models.CharField(max_length=500, blank=True)
    actor = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()

    class Meta:
        ordering = ["course", "at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.at:%Y-%m-%d}"

    @property
    def kind_label(self) -> str:
        return COURSE_EVENT_LABELS.get(self.kind, self.kind.replace("_", " ").capitalize())


class GroupStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    HELD = "held", "Held"
    CANCELLED = "cancelled", "Cancelled"


class GroupSession(models.Model):
    """One group meeting (usually integration) with several patients of one clinic."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="group_sessions")
    kind = models.CharField(max_length=20, default=INTEGRATION)
    title = models.CharField(max_length=200)
    scheduled_date = models.DateField()
    start_time = models.TimeField(null=True, blank=True)
    duration_min = models.PositiveIntegerField(default=90)
    room = models.CharField(max_length=60, blank=True)
    facilitator = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=12, choices=GroupStatus.choices, default=GroupStatus.SCHEDULED)
    created_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-scheduled_date", "start_time", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=SESSION_KINDS), name="group_kind_valid"),
            models.CheckConstraint(condition=Q(status__in=GroupStatus.values), name="group_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.title} {self.scheduled_date}"

    @property
    def kind_phrase(self) -> str:
        """ "an integration session", "a preparation session"."""
        label = SESSION_KIND_LABELS.get(self.kind, self.kind).lower()
        article = "an" if label[:1] in "aeiou" else "a"
        return f"{article} {label} session".replace("session session", "session")


class CareSession(models.Model):
    course = models.ForeignKey(TreatmentCourse, on_delete=models.PROTECT, related_name="sessions")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="care_sessions")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="care_sessions")
    order = models.PositiveIntegerField()
    kind = models.CharField(max_length=20)
    title = models.CharField(max_length=200)
    is_group = models.BooleanField(default=False)
    scheduled_date = models.DateField(db_index=True)
    start_time = models.TimeField(null=True, blank=True)
    room = models.CharField(max_length=60, blank=True)
    duration_min = models.PositiveIntegerField()
    status = models.CharField(max_length=20, default="scheduled")
    dose_rule = models.JSONField(null=True, blank=True)
    group_session = models.ForeignKey(
        GroupSession, null=True, blank=True, on_delete=models.PROTECT, related_name="care_sessions"
    )

    class Meta:
        ordering = ["scheduled_date", "start_time", "order"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=SESSION_KINDS), name="session_kind_valid"),
            models.CheckConstraint(condition=Q(status__in=SESSION_STATES), name="session_status_valid"),
            models.CheckConstraint(
                condition=Q(kind=DOSING, dose_rule__isnull=False) | ~Q(kind=DOSING),
                name="session_dosing_has_dose_rule",
            ),
            models.UniqueConstraint(fields=["course", "order"], name="session_order_unique_in_course"),
        ]
        indexes = [models.Index(fields=["clinic", "scheduled_date", "status"])]

    def __str__(self) -> str:
        return f"{self.title} {self.scheduled_date}"

    @property
    def is_dosing(self) -> bool:
        return self.kind == DOSING

    @property
    def kind_label(self) -> str:
        return SESSION_KIND_LABELS.get(self.kind, self.kind)


class SessionEvent(models.Model):
    """Every state change, reschedule and override of a session, with who and why."""

    session = models.ForeignKey(CareSession, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=20)  # transition, rescheduled
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()

    class Meta:
        ordering = ["session", "at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.from_state}→{self.to_state}"

    @property
    def from_label(self) -> str:
        return state_label(self.from_state)

    @property
    def to_label(self) -> str:
        return state_label(self.to_state)

    @property
    def kind_label(self) -> str:
        return SESSION_EVENT_LABELS.get(self.kind, self.kind.replace("_", " ").capitalize())


class DayOfCheck(models.Model):
    """One recording of the day-of checks of a dosing session (a re-check is a new row)."""

    session = models.ForeignKey(CareSession, on_delete=models.PROTECT, related_name="day_of_checks")
    inputs = models.JSONField()
    outcomes = models.JSONField()
    overrides = models.JSONField(default=dict, blank=True)
    cleared = models.BooleanField()
    recorded_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["session", "-recorded_at", "-id"]

    def __str__(self) -> str:
        return f"checks {'cleared' if self.cleared else 'not cleared'} {self.recorded_at:%H:%M}"

    @property
    def result(self) -> DayOfResult:
        """The stored outcomes as the domain's result (labels and values in words for screens)."""
        return DayOfResult.from_dict(self.outcomes)


class AttendanceStatus(models.TextChoices):
    EXPECTED = "expected", "Expected"
    ATTENDED = "attended", "Attended"
    ABSENT = "absent", "Absent"
    EXCUSED = "excused", "Excused"


class GroupAttendance(models.Model):
    group_session = models.ForeignKey(GroupSession, on_delete=models.PROTECT, related_name="attendance")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="group_attendance")
    status = models.CharField(
        max_length=10, choices=AttendanceStatus.choices, default=AttendanceStatus.EXPECTED
    )
    recorded_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["group_session", "patient__family_name"]
        constraints = [
            models.UniqueConstraint(fields=["group_session", "patient"], name="attendance_once_per_group"),
            models.CheckConstraint(
                condition=Q(status__in=AttendanceStatus.values), name="attendance_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} {self.status}"


class TherapyNote(models.Model):
    """A structured therapist note: for one patient's session, for a group, or for one patient
    within a group. Editable while a draft; signed notes change only by addendum."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="therapy_notes"
    )
    session = models.ForeignKey(
        CareSession, null=True, blank=True, on_delete=models.PROTECT, related_name="notes"
    )
    group_session = models.ForeignKey(
        GroupSession, null=True, blank=True, on_delete=models.PROTECT, related_name="notes"
    )
    intentions = models.TextField(blank=True)
    themes = models.TextField("Themes for guided visualisation", blank=True)
    insights = models.TextField(blank=True)
    plan = models.TextField(blank=True)
    author = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    signed_at = models.DateTimeField(null=True, blank=True)
    signed_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(session__isnull=False) | Q(group_session__isnull=False),
                name="note_belongs_somewhere",
            ),
            models.CheckConstraint(
                condition=Q(group_session__isnull=False) | Q(patient__isnull=False),
                name="note_individual_has_patient",
            ),
            models.CheckConstraint(
                condition=Q(signed_at__isnull=True, signed_by__isnull=True)
                | Q(signed_at__isnull=False, signed_by__isnull=False),
                name="note_signature_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"note {self.pk}"

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None


class NoteAddendum(models.Model):
    note = models.ForeignKey(TherapyNote, on_delete=models.PROTECT, related_name="addenda")
    text = models.TextField()
    author = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["note", "created_at", "id"]

    def __str__(self) -> str:
        return f"addendum {self.pk}"
