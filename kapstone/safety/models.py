"""Adverse events and the dependence and misuse watch.

An adverse event is never edited in place by a form: every change is an ``AdverseEventUpdate``
row (the new values, the old ones, the reason and who), and the event row caches the current
state, written by the service in the same transaction under a row lock. A serious event is
closed only after a prescriber's ``AdverseEventReview``.

The dependence watch itself is computed at run time (``kapstone.domain.monitoring
.evaluate_dependence``) from the given doses and the few records kept here: requests for extra or
earlier sessions, ketamine craving ratings, documented active substance misuse and the
prescriber's decisions about further dosing.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from kapstone.accounts.models import Clinic
from kapstone.care.models import CareSession
from kapstone.display import moment
from kapstone.domain.adverse_events import (
    ACTIONS_TAKEN,
    ADVERSE_EVENT_TERMS,
    OUTCOMES,
    RELATEDNESS,
    SERIOUSNESS_CRITERIA,
)
from kapstone.patients.models import Patient

USER = settings.AUTH_USER_MODEL


class EventStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class AdverseEvent(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="adverse_events")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(
        CareSession, null=True, blank=True, on_delete=models.PROTECT, related_name="adverse_events"
    )
    # The current state (cached; every change after the report is an AdverseEventUpdate).
    term = models.CharField(max_length=40)
    term_text = models.CharField(max_length=500, blank=True)
    onset_at = models.DateTimeField()
    grade = models.PositiveSmallIntegerField()
    serious = models.BooleanField(default=False)
    seriousness_criteria = models.JSONField(default=list, blank=True)
    relatedness = models.CharField(max_length=20)
    action_taken = models.CharField(max_length=30)
    outcome = models.CharField(max_length=30)
    resolved_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=EventStatus.choices, default=EventStatus.OPEN)
    reported_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    reported_at = models.DateTimeField()
    closed_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-onset_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(term__in=list(ADVERSE_EVENT_TERMS)), name="ae_term_valid"),
            models.CheckConstraint(condition=Q(grade__gte=1, grade__lte=5), name="ae_grade_1_to_5"),
            models.CheckConstraint(
                condition=Q(relatedness__in=list(RELATEDNESS)), name="ae_relatedness_valid"
            ),
            models.CheckConstraint(condition=Q(action_taken__in=list(ACTIONS_TAKEN)), name="ae_action_valid"),
            models.CheckConstraint(condition=Q(outcome__in=list(OUTCOMES)), name="ae_outcome_valid"),
            models.CheckConstraint(condition=Q(status__in=EventStatus.values), name="ae_status_valid"),
            models.CheckConstraint(condition=~Q(term="other") | ~Q(term_text=""), name="ae_other_has_text"),
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True) | Q(resolved_at__gte=models.F("onset_at")),
                name="ae_resolved_after_onset",
            ),
            models.CheckConstraint(
                condition=Q(status="open", closed_at__isnull=True, closed_by__isnull=True)
                | Q(status="closed", closed_at__isnull=False, closed_by__isnull=False),
                name="ae_closure_complete",
            ),
        ]
        indexes = [models.Index(fields=["clinic", "status", "serious"], name="ae_clinic_open_serious")]

    def __str__(self) -> str:
        return f"{self.term} grade {self.grade} ({self.status})"

    @property
    def term_name(self) -> str:
        if self.term == "other":
            return self.term_text
        term = ADVERSE_EVENT_TERMS.get(self.term)
        return term.name if term else self.term

    @property
    def is_open(self) -> bool:
        return self.status == EventStatus.OPEN

    # The vocabularies' words for screens (the codes stay in the API, exports and the audit trail).
    @property
    def relatedness_label(self) -> str:
        return choice_label(RELATEDNESS, self.relatedness)

    @property
    def action_taken_label(self) -> str:
        return choice_label(ACTIONS_TAKEN, self.action_taken)

    @property
    def outcome_label(self) -> str:
        return choice_label(OUTCOMES, self.outcome)

    @property
    def seriousness_labels(self) -> list[str]:
        return [choice_label(SERIOUSNESS_CRITERIA, code) for code in self.seriousness_criteria or []]


def choice_label(vocabulary, code: str) -> str:
    """A code of one of the adverse-event vocabularies in words (the code itself if unknown)."""
    choice = vocabulary.get(code)
    return choice.label if choice is not None else str(code)


# How a field of an update is named and its value worded on screen.
_UPDATE_FIELDS = {
    "term": ("Term", lambda v: ADVERSE_EVENT_TERMS[v].name if v in ADVERSE_EVENT_TERMS else str(v)),
    "term_text": ("Description", str),
    "onset_at": ("Onset", moment),
    "resolved_at": ("Resolved", moment),
    "grade": ("Grade", str),
    "serious": ("Serious", lambda v: "yes" if v else "no"),
    "seriousness_criteria": (
        "Seriousness",
        lambda v: "; ".join(choice_label(SERIOUSNESS_CRITERIA, c) for c in v or []) or "none",
    ),
    "relatedness": ("Relatedness to ketamine", lambda v: choice_label(RELATEDNESS, v)),
    "action_taken": ("Action taken", lambda v: choice_label(ACTIONS_TAKEN, v)),
    "outcome": ("Outcome", lambda v: choice_label(OUTCOMES, v)),
}


class AdverseEventUpdate(models.Model):
    """One change of an adverse event: the fields' new and previous values, why and who."""

    event = models.ForeignKey(AdverseEvent, on_delete=models.PROTECT, related_name="updates")
    values = models.JSONField()
    previous = models.JSONField()
    reason = models.CharField(max_length=500)
    updated_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["event", "updated_at", "id"]
        constraints = [models.CheckConstraint(condition=~Q(reason=""), name="ae_update_has_reason")]

    def __str__(self) -> str:
        return f"update of adverse event {self.event_id}"

    @property
    def changes(self) -> list[tuple[str, str]]:
        """The new values as (label, value) in words, in the order of the form."""
        rows = []
        for name, value in self.values.items():
            label, word = _UPDATE_FIELDS.get(name, (name.replace("_", " ").capitalize(), str))
            rows.append((label, "—" if value in (None, "") else word(value)))
        return rows


class AdverseEventReview(models.Model):
    """A prescriber's review of an adverse event (required before a serious one is closed)."""

    event = models.ForeignKey(AdverseEvent, on_delete=models.PROTECT, related_name="reviews")
    reviewer = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    note = models.TextField()
    reviewed_at = models.DateTimeField()

    class Meta:
        ordering = ["event", "reviewed_at", "id"]
        constraints = [models.CheckConstraint(condition=~Q(note=""), name="ae_review_has_note")]

    def __str__(self) -> str:
        return f"review of adverse event {self.event_id}"


class ExtraSessionRequest(models.Model):
    """A patient's request for an extra or earlier dosing session (a dependence signal)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="extra_session_requests")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    note = models.CharField(max_length=500, blank=True)
    recorded_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["patient", "-requested_at", "-id"]

    def __str__(self) -> str:
        return f"extra session request of patient {self.patient_id}"


class KetamineCravingScore(models.Model):
    """Craving for ketamine on a 0–10 numeric rating (not a validated scale; see monitoring.md)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="ketamine_cravings")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    rated_on = models.DateField()
    score = models.DecimalField(max_digits=3, decimal_places=1)
    recorded_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["patient", "-rated_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(score__gte=0, score__lte=10), name="craving_score_0_to_10"),
        ]

    def __str__(self) -> str:
        return f"ketamine craving {self.score} on {self.rated_on}"


class MisuseDocumentation(models.Model):
    """A clinician's documentation that active substance misuse is (or is no longer) present.

    The latest row is the current state: "no longer active" is a new row, never an edit. This is
    the ASRA 2018 input (serial dosing with active substance misuse needs a documented decision).
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="misuse_documentation")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    active = models.BooleanField()
    note = models.CharField(max_length=500)
    documented_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    documented_at = models.DateTimeField()

    class Meta:
        ordering = ["patient", "-documented_at", "-id"]
        constraints = [models.CheckConstraint(condition=~Q(note=""), name="misuse_has_note")]

    def __str__(self) -> str:
        return f"misuse {'active' if self.active else 'not active'} for patient {self.patient_id}"


class DecisionKind(models.TextChoices):
    CONTINUE = "continue", "Continue dosing"
    PAUSE = "pause", "Pause dosing"
    STOP = "stop", "Stop dosing"


class DependenceDecision(models.Model):
    """A prescriber's documented decision about further dosing given the dependence watch."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="dependence_decisions")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=10, choices=DecisionKind.choices)
    reason = models.CharField(max_length=500)
    prescriber = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField()

    class Meta:
        ordering = ["patient", "-decided_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(decision__in=DecisionKind.values), name="decision_kind_valid"),
            models.CheckConstraint(condition=~Q(reason=""), name="decision_has_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} for patient {self.patient_id}"


class SafetyPlan(models.Model):
    """A prescriber's documented safety plan (Stanley & Brown's safety planning intervention,
    Cogn Behav Pract 2012;19:256–264: warning signs, coping strategies, people and places for
    distraction, people to ask for help, professionals and crisis lines, making the environment
    safe). A plan documented at or after a C-SSRS at the high level lifts the hold on dosing that
    level places (``safety.dosing_gate``). Kept as written; a new plan is a new row."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="safety_plans")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    plan = models.TextField()
    prescriber = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    documented_at = models.DateTimeField()

    class Meta:
        ordering = ["patient", "-documented_at", "-id"]
        constraints = [models.CheckConstraint(condition=~Q(plan=""), name="safety_plan_has_text")]

    def __str__(self) -> str:
        return f"safety plan for patient {self.patient_id}"
