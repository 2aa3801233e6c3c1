"""Adverse events: vocabularies, every validation rule and refusal, and the close rule."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapstone.domain.adverse_events import (
    ACTIONS_TAKEN,
    ADVERSE_EVENT_TERMS,
    ALERT_TO_TERM,
    GRADES,
    OUTCOMES,
    RELATEDNESS,
    SERIOUSNESS_CRITERIA,
    AdverseEvent,
    can_close_adverse_event,
    ensure_adverse_event_closable,
    validate_adverse_event,
)
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.monitoring import ALERT_RULES

NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
ONSET = NOW - timedelta(hours=2)


def event(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "term": "nausea",
        "onset_at": ONSET,
        "grade": 1,
        "serious": False,
        "relatedness": "probable",
        "action_taken": "dose_not_changed",
        "outcome": "resolved",
        "resolved_at": ONSET + timedelta(minutes=30),
        "now": NOW,
    }
    values.update(overrides)
    return values


def refusal(**overrides: object) -> DomainError:
    with pytest.raises(DomainError) as caught:
        validate_adverse_event(**event(**overrides))  # type: ignore[arg-type]
    return caught.value


# --- vocabularies --------------------------------------------------------------------------------


def test_term_list_holds_the_seed_and_label_terms() -> None:
    seed = {
        "dizziness",
        "fatigue",
        "altered_perception",
        "nausea",
        "vomiting",
        "anxiety",
        "headache",
        "blood_pressure_increased",
        "heart_rate_increased",
    }
    label = {"sedation", "dissociation", "respiratory_depression", "emergence_reaction", "urinary_symptoms"}
    assert seed | label | {"other"} <= set(ADVERSE_EVENT_TERMS)


def test_term_codes_are_local_snake_case_never_numeric_terminology_codes() -> None:
    for code, term in ADVERSE_EVENT_TERMS.items():
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", code) and term.code == code and term.name and term.source


def test_every_alert_that_suggests_a_term_names_a_real_term_and_alert() -> None:
    assert set(ALERT_TO_TERM) <= set(ALERT_RULES)
    assert set(ALERT_TO_TERM.values()) <= set(ADVERSE_EVENT_TERMS)


def test_grades_one_to_five_with_generic_definitions() -> None:
    assert sorted(GRADES) == [1, 2, 3, 4, 5]
    assert [GRADES[g].name for g in range(1, 6)] == [
        "Mild",
        "Moderate",
        "Severe",
        "Life-threatening",
        "Death",
    ]
    assert "intervention not indicated" in GRADES[1].definition
    assert "urgent intervention" in GRADES[4].definition


def test_vocabularies_are_complete() -> None:
    assert list(SERIOUSNESS_CRITERIA) == [
        "death",
        "life_threatening",
        "hospitalisation",
        "disability",
        "congenital_anomaly",
        "important_medical_event",
    ]
    assert {"not_related", "unlikely", "possible", "probable", "certain"} <= set(RELATEDNESS)
    assert {"dose_not_changed", "infusion_interrupted", "drug_withdrawn", "not_applicable"} <= set(
        ACTIONS_TAKEN
    )
    assert [c.fhir_code for c in OUTCOMES.values()] == [
        "resolved",
        "recovering",
        "ongoing",
        "resolvedWithSequelae",
        "fatal",
        "unknown",
    ]


# --- validation ----------------------------------------------------------------------------------


def test_valid_event_is_returned_normalised() -> None:
    result = validate_adverse_event(**event(term_text="  after the infusion  "))  # type: ignore[arg-type]
    assert isinstance(result, AdverseEvent)
    assert (
        result.term,
        result.term_text,
        result.grade,
        result.is_related,
        result.requires_prescriber_review,
    ) == (
        "nausea",
        "after the infusion",
        1,
        True,
        False,
    )


def test_serious_event_with_duplicated_criteria_keeps_each_once_and_needs_review() -> None:
    result = validate_adverse_event(
        **event(  # type: ignore[arg-type]
            grade=3,
            serious=True,
            seriousness_criteria=["hospitalisation", "hospitalisation", "life_threatening"],
        )
    )
    assert result.seriousness_criteria == ("hospitalisation", "life_threatening")
    assert result.requires_prescriber_review


def test_fatal_event_is_grade_5_serious_with_death() -> None:
    result = validate_adverse_event(
        **event(grade=5, serious=True, seriousness_criteria=["death"], outcome="fatal", resolved_at=None)  # type: ignore[arg-type]
    )
    assert result.outcome == "fatal"


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"term": "headache_severe"}, "unknown_adverse_event_term", "term"),
        ({"term": None}, "unknown_adverse_event_term", "term"),
        ({"term": "other"}, "term_text_required", "term_text"),
        ({"term": "other", "term_text": "   "}, "term_text_required", "term_text"),
        ({"term_text": 5}, "invalid_text", "term_text"),
        ({"term_text": "a\x00b"}, "invalid_text", "term_text"),
        ({"term_text": "x" * 501}, "text_too_long", "term_text"),
        ({"onset_at": NOW + timedelta(seconds=1)}, "onset_in_future", "onset_at"),
        ({"onset_at": datetime(2025, 3, 4, 10, 0)}, "naive_datetime", "onset_at"),
        ({"onset_at": "2025-03-04"}, "invalid_datetime", "onset_at"),
        ({"resolved_at": ONSET - timedelta(seconds=1)}, "resolution_before_onset", "resolved_at"),
        ({"resolved_at": NOW + timedelta(seconds=1)}, "resolution_in_future", "resolved_at"),
        ({"grade": 0}, "invalid_grade", "grade"),
        ({"grade": 6}, "invalid_grade", "grade"),
        ({"grade": True}, "invalid_grade", "grade"),
        ({"grade": "3"}, "invalid_grade", "grade"),
        ({"serious": "no"}, "invalid_argument", "serious"),
        ({"relatedness": "maybe"}, "invalid_choice", "relatedness"),
        ({"action_taken": "stopped"}, "invalid_choice", "action_taken"),
        ({"outcome": "better"}, "invalid_choice", "outcome"),
        ({"serious": True, "seriousness_criteria": ["scary"]}, "invalid_choice", "seriousness_criteria[0]"),
        ({"seriousness_criteria": "death"}, "invalid_choice", "seriousness_criteria"),
        ({"serious": True}, "serious_requires_criteria", "seriousness_criteria"),
        ({"seriousness_criteria": ["hospitalisation"]}, "criteria_require_serious", "serious"),
        (
            {"grade": 5, "serious": True, "seriousness_criteria": ["death"]},
            "grade_5_requires_fatal_outcome",
            "outcome",
        ),
        (
            {"grade": 4, "serious": True, "seriousness_criteria": ["death"], "outcome": "fatal"},
            "fatal_outcome_requires_grade_5",
            "grade",
        ),
        (
            {"grade": 5, "serious": True, "seriousness_criteria": ["life_threatening"], "outcome": "fatal"},
            "fatal_event_requires_death_criterion",
            "seriousness_criteria",
        ),
        ({"grade": 5, "outcome": "fatal"}, "fatal_event_requires_death_criterion", "seriousness_criteria"),
        (
            {
                "grade": 4,
                "serious": True,
                "seriousness_criteria": ["death"],
                "outcome": "recovering",
                "resolved_at": None,
            },
            "death_criterion_requires_fatal_outcome",
            "outcome",
        ),
        ({"resolved_at": None}, "resolution_date_required", "resolved_at"),
        (
            {"outcome": "resolved_with_sequelae", "resolved_at": None},
            "resolution_date_required",
            "resolved_at",
        ),
        ({"outcome": "recovering"}, "resolution_date_conflicts_with_outcome", "resolved_at"),
        ({"outcome": "ongoing"}, "resolution_date_conflicts_with_outcome", "resolved_at"),
    ],
)
def test_refusals(overrides: dict[str, object], code: str, field: str) -> None:
    error = refusal(**overrides)
    assert (error.code, error.field) == (code, field)


@pytest.mark.parametrize("outcome", ["recovering", "ongoing", "unknown"])
def test_unresolved_outcomes_need_no_resolution_date(outcome: str) -> None:
    assert validate_adverse_event(**event(outcome=outcome, resolved_at=None)).resolved_at is None  # type: ignore[arg-type]


def test_resolution_at_onset_is_allowed() -> None:
    assert validate_adverse_event(**event(resolved_at=ONSET)).resolved_at == ONSET  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(
    term=st.sampled_from([*ADVERSE_EVENT_TERMS, "bogus", None]),
    grade=st.one_of(st.integers(-1, 7), st.none(), st.text(max_size=2)),
    serious=st.one_of(st.booleans(), st.none()),
    criteria=st.lists(st.sampled_from([*SERIOUSNESS_CRITERIA, "bogus"]), max_size=3),
    relatedness=st.sampled_from([*RELATEDNESS, "bogus"]),
    action=st.sampled_from([*ACTIONS_TAKEN, "bogus"]),
    outcome=st.sampled_from([*OUTCOMES, "bogus"]),
    resolved_offset=st.one_of(st.none(), st.integers(-200, 200)),
    term_text=st.one_of(st.none(), st.text(max_size=20)),
)
def test_validation_returns_an_event_or_raises_domain_error(
    term, grade, serious, criteria, relatedness, action, outcome, resolved_offset, term_text
) -> None:  # type: ignore[no-untyped-def]
    resolved = None if resolved_offset is None else ONSET + timedelta(minutes=resolved_offset)
    try:
        result = validate_adverse_event(
            term=term,
            term_text=term_text,
            onset_at=ONSET,
            grade=grade,
            serious=serious,
            seriousness_criteria=criteria,
            relatedness=relatedness,
            action_taken=action,
            outcome=outcome,
            resolved_at=resolved,
            now=NOW,
        )
    except DomainError:
        return
    assert (result.grade == 5) == (result.outcome == "fatal") == ("death" in result.seriousness_criteria)
    assert result.serious == bool(result.seriousness_criteria)
    assert result.resolved_at is None or result.onset_at <= result.resolved_at <= NOW


# --- closing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("serious", "reviewed", "closable"),
    [(False, False, True), (False, True, True), (True, False, False), (True, True, True)],
)
def test_serious_event_closes_only_after_prescriber_review(
    serious: bool, reviewed: bool, closable: bool
) -> None:
    assert can_close_adverse_event(serious, reviewed) is closable


def test_ensure_closable_raises_a_workflow_conflict() -> None:
    with pytest.raises(WorkflowConflict) as caught:
        ensure_adverse_event_closable(serious=True, prescriber_reviewed=False)
    assert (caught.value.code, caught.value.field) == ("prescriber_review_required", "prescriber_reviewed")
    ensure_adverse_event_closable(serious=True, prescriber_reviewed=True)


def test_can_close_refuses_non_booleans() -> None:
    with pytest.raises(DomainError) as caught:
        can_close_adverse_event("yes", True)  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.field) == ("invalid_argument", "serious")
