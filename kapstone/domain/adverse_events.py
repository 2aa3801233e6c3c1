"""Adverse events: the term list, CTCAE-style grades, seriousness, relatedness, action and outcome.

Terms carry stable local codes and MedDRA-style plain names. They are **not** MedDRA terms and
carry no MedDRA codes (MedDRA is licensed); a site that holds a licence can map our codes.

Severity (grade) and seriousness are different questions and are not cross-checked: a grade 3
headache need not be serious, and a serious event may be grade 2 (ICH E2A distinguishes
severity from seriousness). Only death ties them: grade 5, outcome ``fatal`` and the ``death``
seriousness criterion always go together.

Sources:
- Seed risks: issue 5 (dizziness, fatigue, altered perception, nausea, vomiting, anxiety,
  headache, increased blood pressure and heart rate).
- Spravato label and REMS: sedation, dissociation, respiratory depression, loss of consciousness,
  BP increase, abuse and misuse, cystitis (clinical.md §3.2, §3.4; software.md §2.1).
- Grades: NCI CTCAE v5.0 (27 Nov 2017), general grade guideline.
- Seriousness: 21 CFR 312.32(a) "serious adverse drug experience" / ICH E2A; FHIR R4
  adverse-event-seriousness codes.
- Relatedness: WHO-UMC causality categories (FHIR adverse-event-causality-assess), plus "not related".
- Action taken: ICH E2B(R3) G.k.8 "Action(s) taken with drug", plus temporary interruption (HL7 v2
  table 0251 "product withdrawn temporarily").
- Outcome: FHIR R4 adverse-event-outcome code system.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.text import clean_text

# --- Vocabularies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdverseEventTerm:
    """A term of our list: stable code, plain (MedDRA-style) name, where it comes from."""

    code: str
    name: str
    source: str


_SEED = "Issue 5 seed risks"
_LABEL = "Spravato label / REMS (clinical.md §3.2)"

ADVERSE_EVENT_TERMS: Mapping[str, AdverseEventTerm] = {
    term.code: term
    for term in (
        AdverseEventTerm("dizziness", "Dizziness", _SEED),
        AdverseEventTerm("fatigue", "Fatigue", _SEED),
        AdverseEventTerm("altered_perception", "Altered perception", _SEED),
        AdverseEventTerm("nausea", "Nausea", _SEED),
        AdverseEventTerm("vomiting", "Vomiting", _SEED),
        AdverseEventTerm("anxiety", "Anxiety", _SEED),
        AdverseEventTerm("headache", "Headache", _SEED),
        AdverseEventTerm("blood_pressure_increased", "Blood pressure increased", _SEED + "; " + _LABEL),
        AdverseEventTerm("heart_rate_increased", "Heart rate increased", _SEED),
        AdverseEventTerm("sedation", "Sedation", _LABEL),
        AdverseEventTerm("loss_of_consciousness", "Loss of consciousness", _LABEL + " (MOAA/S 0)"),
        AdverseEventTerm("dissociation", "Dissociation", _LABEL),
        AdverseEventTerm(
            "respiratory_depression", "Respiratory depression", _LABEL + "; REMS (software.md §2.1)"
        ),
        AdverseEventTerm(
            "oxygen_saturation_decreased", "Oxygen saturation decreased", "Hypoxemia alert (issue 5)"
        ),
        AdverseEventTerm("emergence_reaction", "Emergence reaction", "Issue 5 (label terms)"),
        AdverseEventTerm(
            "urinary_symptoms",
            "Urinary symptoms (including cystitis)",
            _LABEL + "; cystitis (clinical.md §3.4)",
        ),
        AdverseEventTerm(
            "ketamine_misuse", "Ketamine misuse or abuse", _LABEL + "; ASRA 2018 (clinical.md §3.3)"
        ),
        AdverseEventTerm("other", "Other (describe)", "Free-text term"),
    )
}
"""Stable local codes → term. ``other`` requires a free-text description."""

ALERT_TO_TERM: Mapping[str, str] = {
    "hypertension_critical": "blood_pressure_increased",
    "hypertension": "blood_pressure_increased",
    "bp_rise_from_baseline": "blood_pressure_increased",
    "tachycardia": "heart_rate_increased",
    "hypoxemia": "oxygen_saturation_decreased",
    "bradypnea": "respiratory_depression",
    "sedation": "sedation",
}
"""The term a monitoring alert suggests when a nurse records it as an adverse event."""


@dataclass(frozen=True)
class Grade:
    """A CTCAE-style severity grade and its generic definition."""

    grade: int
    name: str
    definition: str


GRADES: Mapping[int, Grade] = {
    g.grade: g
    for g in (
        Grade(
            1,
            "Mild",
            "Asymptomatic or mild symptoms; clinical or diagnostic observations only; intervention not indicated.",
        ),
        Grade(
            2,
            "Moderate",
            "Minimal, local or noninvasive intervention indicated; limiting age-appropriate instrumental "
            "activities of daily living.",
        ),
        Grade(
            3,
            "Severe",
            "Severe or medically significant but not immediately life-threatening; hospitalisation or "
            "prolongation of hospitalisation indicated; disabling; limiting self-care activities of daily living.",
        ),
        Grade(4, "Life-threatening", "Life-threatening consequences; urgent intervention indicated."),
        Grade(5, "Death", "Death related to the adverse event."),
    )
}
"""Source: NCI CTCAE v5.0 general grade guideline."""


@dataclass(frozen=True)
class Choice:
    """One entry of a controlled vocabulary; ``fhir_code`` where FHIR R4 has one."""

    code: str
    label: str
    fhir_code: str | None = None


SERIOUSNESS_CRITERIA: Mapping[str, Choice] = {
    c.code: c
    for c in (
        Choice("death", "Results in death", "SeriousResultsInDeath"),
        Choice(
            "life_threatening",
            "Is life-threatening (at risk of death at the time)",
            "SeriousIsLifeThreatening",
        ),
        Choice(
            "hospitalisation",
            "Requires inpatient hospitalisation or prolongs an existing one",
            "SeriousResultsInHospitalization",
        ),
        Choice(
            "disability",
            "Results in persistent or significant disability or incapacity",
            "SeriousResultsInDisability",
        ),
        Choice("congenital_anomaly", "Is a congenital anomaly or birth defect", "SeriousIsBirthDefect"),
        Choice(
            "important_medical_event",
            "Important medical event: may jeopardise the patient and need intervention to prevent one of the above",
            None,
        ),
    )
}
"""Source: 21 CFR 312.32(a) / ICH E2A; FHIR adverse-event-seriousness codes."""

RELATEDNESS: Mapping[str, Choice] = {
    c.code: c
    for c in (
        Choice("not_related", "Not related: clearly due to another cause"),
        Choice(
            "unlikely", "Unlikely: timing makes a causal link improbable; other causes plausible", "Unlikely"
        ),
        Choice("possible", "Possible: reasonable timing, but other causes could explain it", "Possible"),
        Choice("probable", "Probable: reasonable timing, other causes unlikely", "Probably-Likely"),
        Choice("certain", "Certain: plausible timing, no other explanation", "Certain"),
        Choice("conditional", "Conditional: more data needed for assessment", "Conditional-Classified"),
        Choice(
            "unassessable",
            "Unassessable: information insufficient or contradictory",
            "Unassessable-Unclassifiable",
        ),
    )
}
"""Relatedness to ketamine. Source: WHO-UMC categories (FHIR adverse-event-causality-assess) plus
``not_related`` (trial practice)."""

RELATED_CATEGORIES = frozenset({"possible", "probable", "certain"})
"""Categories counted as "related" (a reasonable possibility of a causal link), as in trial practice."""

ACTIONS_TAKEN: Mapping[str, Choice] = {
    c.code: c
    for c in (
        Choice("dose_not_changed", "Dose not changed"),
        Choice("infusion_interrupted", "Infusion interrupted (paused, then resumed)"),
        Choice("drug_withdrawn", "Drug withdrawn (infusion stopped)"),
        Choice("dose_reduced", "Dose reduced"),
        Choice("dose_increased", "Dose increased"),
        Choice("not_applicable", "Not applicable (e.g. dosing already complete)"),
        Choice("unknown", "Unknown"),
    )
}
"""Action taken with ketamine. Source: ICH E2B(R3) G.k.8; HL7 v2 table 0251 (withdrawn temporarily)."""

OUTCOMES: Mapping[str, Choice] = {
    c.code: c
    for c in (
        Choice("resolved", "Resolved", "resolved"),
        Choice("recovering", "Recovering", "recovering"),
        Choice("ongoing", "Ongoing", "ongoing"),
        Choice("resolved_with_sequelae", "Resolved with sequelae", "resolvedWithSequelae"),
        Choice("fatal", "Fatal", "fatal"),
        Choice("unknown", "Unknown", "unknown"),
    )
}
"""Source: FHIR R4 adverse-event-outcome code system."""

_OUTCOMES_NEEDING_RESOLUTION = frozenset({"resolved", "resolved_with_sequelae"})
_OUTCOMES_WITHOUT_RESOLUTION = frozenset({"recovering", "ongoing"})
TERM_TEXT_MAX_LENGTH = 500


# --- Validation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdverseEvent:
    """A validated adverse event record (codes from the vocabularies above)."""

    term: str
    term_text: str | None
    onset_at: datetime
    grade: int
    serious: bool
    seriousness_criteria: tuple[str, ...]
    relatedness: str
    action_taken: str
    outcome: str
    resolved_at: datetime | None

    @property
    def is_related(self) -> bool:
        return self.relatedness in RELATED_CATEGORIES

    @property
    def requires_prescriber_review(self) -> bool:
        """A serious event notifies the prescriber and cannot be closed without their review."""
        return self.serious


def _aware(value: object, *, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise DomainError("invalid_datetime", f"{field} must be a datetime, got {value!r}.", field=field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise DomainError("naive_datetime", f"{field} must carry a time zone.", field=field)
    return value


def _choice(value: object, vocabulary: Mapping[str, Choice], *, field: str) -> str:
    if not isinstance(value, str) or value not in vocabulary:
        raise DomainError(
            "invalid_choice",
            f"{field} must be one of {', '.join(vocabulary)}; got {value!r}.",
            field=field,
        )
    return value


def validate_adverse_event(
    *,
    term: object,
    onset_at: object,
    grade: object,
    serious: object,
    relatedness: object,
    action_taken: object,
    outcome: object,
    now: datetime,
    term_text: object = None,
    seriousness_criteria: object = (),
    resolved_at: object = None,
) -> AdverseEvent:
    """Check an adverse event report and return it normalised.

    Rules (each refusal names the field):

    - ``unknown_adverse_event_term``: ``term`` not in :data:`ADVERSE_EVENT_TERMS`;
      ``term_text_required`` for ``other`` without a description; ``invalid_text`` (not text, a
      control character) or ``text_too_long`` (> 500 characters) for the description.
    - ``onset_in_future``; ``resolution_before_onset``; ``resolution_in_future``
      (plus ``invalid_datetime``/``naive_datetime``).
    - ``invalid_grade``: grade not an integer 1–5.
    - ``invalid_argument``: ``serious`` not a boolean; ``invalid_choice``: relatedness, action
      taken, outcome or a seriousness criterion outside its vocabulary.
    - ``serious_requires_criteria``: serious without a criterion; ``criteria_require_serious``:
      criteria on a non-serious event.
    - Death ties grade, outcome and seriousness: ``grade_5_requires_fatal_outcome``,
      ``fatal_outcome_requires_grade_5``, ``fatal_event_requires_death_criterion``,
      ``death_criterion_requires_fatal_outcome``.
    - ``resolution_date_required`` for outcome resolved / resolved with sequelae without
      ``resolved_at``; ``resolution_date_conflicts_with_outcome`` for recovering / ongoing with one.
      (For ``fatal``, ``resolved_at`` is optional: the date of death.)

    Source: CTCAE v5.0 grades; 21 CFR 312.32(a) / ICH E2A seriousness; FHIR adverse-event-outcome;
    issue 5.
    """
    now = _aware(now, field="now")
    if not isinstance(term, str) or term not in ADVERSE_EVENT_TERMS:
        raise DomainError(
            "unknown_adverse_event_term",
            f"Unknown adverse event term {term!r}; use a listed code or 'other' with a description.",
            field="term",
        )
    text = (
        clean_text(
            term_text,
            field="term_text",
            max_chars=TERM_TEXT_MAX_LENGTH,
            required=term == "other",
            label="The description",
            missing_message="Term 'other' needs a description in term_text.",
        )
        or None
    )

    onset = _aware(onset_at, field="onset_at")
    if onset > now:
        raise DomainError(
            "onset_in_future",
            f"onset_at {onset.isoformat()} is after now ({now.isoformat()}).",
            field="onset_at",
        )
    resolved = None if resolved_at is None else _aware(resolved_at, field="resolved_at")
    if resolved is not None and resolved < onset:
        raise DomainError(
            "resolution_before_onset",
            f"resolved_at {resolved.isoformat()} is before onset_at {onset.isoformat()}.",
            field="resolved_at",
        )
    if resolved is not None and resolved > now:
        raise DomainError(
            "resolution_in_future",
            f"resolved_at {resolved.isoformat()} is after now ({now.isoformat()}).",
            field="resolved_at",
        )

    if isinstance(grade, bool) or not isinstance(grade, int) or grade not in GRADES:
        raise DomainError("invalid_grade", f"grade must be an integer 1–5, got {grade!r}.", field="grade")
    if not isinstance(serious, bool):
        raise DomainError(
            "invalid_argument", f"serious must be true or false, got {serious!r}.", field="serious"
        )
    if isinstance(seriousness_criteria, str | bytes) or not isinstance(seriousness_criteria, Sequence):
        raise DomainError(
            "invalid_choice",
            "seriousness_criteria must be a list of criterion codes.",
            field="seriousness_criteria",
        )
    criteria: list[str] = []
    for index, criterion in enumerate(seriousness_criteria):
        code = _choice(criterion, SERIOUSNESS_CRITERIA, field=f"seriousness_criteria[{index}]")
        if code not in criteria:
            criteria.append(code)
    relation = _choice(relatedness, RELATEDNESS, field="relatedness")
    action = _choice(action_taken, ACTIONS_TAKEN, field="action_taken")
    result = _choice(outcome, OUTCOMES, field="outcome")

    if serious and not criteria:
        raise DomainError(
            "serious_requires_criteria",
            "A serious adverse event needs at least one seriousness criterion.",
            field="seriousness_criteria",
        )
    if not serious and criteria:
        raise DomainError(
            "criteria_require_serious",
            f"Seriousness criteria ({', '.join(criteria)}) were given for a non-serious event.",
            field="serious",
        )
    if grade == 5 and result != "fatal":
        raise DomainError(
            "grade_5_requires_fatal_outcome",
            f"Grade 5 (death) needs outcome 'fatal', got {result!r}.",
            field="outcome",
        )
    if result == "fatal" and grade != 5:
        raise DomainError(
            "fatal_outcome_requires_grade_5",
            f"Outcome 'fatal' needs grade 5, got grade {grade}.",
            field="grade",
        )
    if result == "fatal" and "death" not in criteria:
        raise DomainError(
            "fatal_event_requires_death_criterion",
            "A fatal event is serious with the 'death' criterion.",
            field="seriousness_criteria",
        )
    if "death" in criteria and result != "fatal":
        raise DomainError(
            "death_criterion_requires_fatal_outcome",
            f"The 'death' criterion needs outcome 'fatal', got {result!r}.",
            field="outcome",
        )
    if result in _OUTCOMES_NEEDING_RESOLUTION and resolved is None:
        raise DomainError(
            "resolution_date_required", f"Outcome {result!r} needs resolved_at.", field="resolved_at"
        )
    if result in _OUTCOMES_WITHOUT_RESOLUTION and resolved is not None:
        raise DomainError(
            "resolution_date_conflicts_with_outcome",
            f"Outcome {result!r} means the event has not resolved; remove resolved_at or change the outcome.",
            field="resolved_at",
        )
    return AdverseEvent(
        term=term,
        term_text=text,
        onset_at=onset,
        grade=grade,
        serious=serious,
        seriousness_criteria=tuple(criteria),
        relatedness=relation,
        action_taken=action,
        outcome=result,
        resolved_at=resolved,
    )


def can_close_adverse_event(serious: bool, prescriber_reviewed: bool) -> bool:
    """Whether an adverse event may be closed: a serious one only after a prescriber's review.

    Refuses non-boolean arguments with ``invalid_argument``.
    Source: issue 5 ("cannot be closed without a prescriber's review").
    """
    for name, value in (("serious", serious), ("prescriber_reviewed", prescriber_reviewed)):
        if not isinstance(value, bool):
            raise DomainError("invalid_argument", f"{name} must be true or false, got {value!r}.", field=name)
    return (not serious) or prescriber_reviewed


def ensure_adverse_event_closable(*, serious: bool, prescriber_reviewed: bool) -> None:
    """Raise ``WorkflowConflict("prescriber_review_required")`` when :func:`can_close_adverse_event` is False."""
    if not can_close_adverse_event(serious, prescriber_reviewed):
        raise WorkflowConflict(
            "prescriber_review_required",
            "A serious adverse event cannot be closed before a prescriber has reviewed it.",
            field="prescriber_reviewed",
        )
