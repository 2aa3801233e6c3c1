"""The public pre-screen: every reason, the precedence, the answer checks and the crisis lines."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.domain.errors import DomainError
from kapstone.domain.prescreen import (
    BOOLEAN_ANSWERS,
    EXCLUSION,
    INFO,
    MAY_BE_SUITABLE,
    NEEDS_REVIEW,
    NOT_SUITABLE,
    RESULTS,
    REVIEW,
    RULES,
    SUBSTANCES,
    URGENT,
    URGENT_HELP,
    assess_prescreen,
    crisis_help,
    result_for,
    treated_substances,
)


def answers(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "age_years": 42,
        "substances": ["alcohol"],
        "pregnant_or_breastfeeding": False,
        "psychosis_history": False,
        "ketamine_allergy": False,
        "heart_or_bp_problem": False,
        "ketamine_misuse_history": False,
        "withdrawal_risk": False,
        "self_harm": "no",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def codes(result) -> list[str]:
    return [r.code for r in result.reasons]


def test_no_reason_may_be_suitable():
    result = assess_prescreen(answers())
    assert (result.result, result.crisis, result.reasons) == (MAY_BE_SUITABLE, False, ())
    assert result.as_dict() == {"result": "may_be_suitable", "crisis": False, "reasons": []}


@pytest.mark.parametrize(
    ("overrides", "code", "severity", "result"),
    [
        ({"self_harm": "now"}, "self_harm_now", URGENT, URGENT_HELP),
        ({"age_years": 17}, "under_18", EXCLUSION, NOT_SUITABLE),
        ({"pregnant_or_breastfeeding": True}, "pregnant_or_breastfeeding", EXCLUSION, NOT_SUITABLE),
        ({"psychosis_history": True}, "psychosis_history", EXCLUSION, NOT_SUITABLE),
        ({"ketamine_allergy": True}, "ketamine_allergy", EXCLUSION, NOT_SUITABLE),
        ({"heart_or_bp_problem": True}, "heart_or_bp_problem", REVIEW, NEEDS_REVIEW),
        ({"ketamine_misuse_history": True}, "ketamine_misuse_history", REVIEW, NEEDS_REVIEW),
        ({"withdrawal_risk": True}, "withdrawal_risk", REVIEW, NEEDS_REVIEW),
        ({"self_harm": "past"}, "self_harm_past", REVIEW, NEEDS_REVIEW),
        ({"substances": ["cannabis"]}, "no_protocol_for_substance", REVIEW, NEEDS_REVIEW),
        ({"substances": ["methamphetamine", "other"]}, "no_protocol_for_substance", REVIEW, NEEDS_REVIEW),
        ({"substances": ["alcohol", "cannabis"]}, "substance_not_covered", INFO, MAY_BE_SUITABLE),
    ],
)
def test_each_reason_with_its_severity_and_result(overrides, code, severity, result):
    outcome = assess_prescreen(answers(**overrides))
    assert codes(outcome) == [code]
    (reason,) = outcome.reasons
    assert reason.severity == severity == RULES[code].severity
    assert reason.message and "_" not in reason.message
    assert outcome.result == result
    assert outcome.crisis is (result == URGENT_HELP)


@pytest.mark.parametrize(("age", "under"), [(17, True), (18, False), (0, True), (120, False)])
def test_age_boundary(age, under):
    assert ("under_18" in codes(assess_prescreen(answers(age_years=age)))) is under


def test_every_reason_that_applies_is_listed_most_severe_first():
    outcome = assess_prescreen(
        answers(
            self_harm="now",
            age_years=16,
            psychosis_history=True,
            heart_or_bp_problem=True,
            withdrawal_risk=True,
            substances=["cannabis"],
        )
    )
    assert outcome.result == URGENT_HELP and outcome.crisis
    assert codes(outcome) == [
        "self_harm_now",
        "under_18",
        "psychosis_history",
        "heart_or_bp_problem",
        "withdrawal_risk",
        "no_protocol_for_substance",
    ]


def test_precedence_exclusion_over_review_and_urgent_over_all():
    assert assess_prescreen(answers(ketamine_allergy=True, withdrawal_risk=True)).result == NOT_SUITABLE
    assert assess_prescreen(answers(self_harm="now", ketamine_allergy=True)).result == URGENT_HELP
    assert not assess_prescreen(answers(ketamine_allergy=True)).matching_runs
    assert assess_prescreen(answers(self_harm="now")).matching_runs
    assert assess_prescreen(answers(withdrawal_risk=True)).matching_runs


def test_the_treated_substances_are_the_shipped_protocols_indications():
    assert treated_substances() == {"alcohol", "opioids", "cocaine"}


# --- Adding a reason never makes the result more permissive -------------------------------------

RISKS: list[tuple[str, Any]] = [
    *((name, True) for name in BOOLEAN_ANSWERS),
    ("self_harm", "past"),
    ("self_harm", "now"),
    ("age_years", 16),
]

any_answers = st.fixed_dictionaries(
    {
        "age_years": st.integers(0, 120),
        "substances": st.lists(st.sampled_from(SUBSTANCES), min_size=1, max_size=6),
        **{name: st.booleans() for name in BOOLEAN_ANSWERS},
        "self_harm": st.sampled_from(["no", "past", "now"]),
    }
)


@given(any_answers, st.sampled_from(RISKS))
def test_adding_a_risk_never_makes_the_result_more_permissive(base, risk):
    name, worse = risk
    if name == "self_harm" and base["self_harm"] == "now":
        worse = "now"  # "past" is not worse than "now"
    if name == "age_years":
        worse = min(worse, base["age_years"])
    before = assess_prescreen(base)
    after = assess_prescreen({**base, name: worse})
    assert RESULTS.index(after.result) >= RESULTS.index(before.result)
    assert set(codes(before)) <= set(codes(after)) | {"self_harm_past"}


@given(
    st.lists(st.sampled_from([INFO, REVIEW, EXCLUSION, URGENT]), max_size=5),
    st.sampled_from([INFO, REVIEW, EXCLUSION, URGENT]),
)
def test_result_for_is_monotone(severities, extra):
    assert RESULTS.index(result_for([*severities, extra])) >= RESULTS.index(result_for(severities))


@given(any_answers)
def test_always_a_result_and_crisis_exactly_for_urgent_help(base):
    outcome = assess_prescreen(base)
    assert outcome.result in RESULTS
    assert outcome.crisis is (outcome.result == URGENT_HELP)
    assert outcome.crisis is (base["self_harm"] == "now")


# --- Answer checks ------------------------------------------------------------------------------


def refusal(value: Any) -> DomainError:
    with pytest.raises(DomainError) as caught:
        assess_prescreen(value)
    return caught.value


@pytest.mark.parametrize("missing", ["age_years", "substances", *BOOLEAN_ANSWERS, "self_harm"])
def test_each_required_answer_is_named_when_missing(missing):
    error = refusal(answers(**{missing: ...}))
    assert (error.code, error.field) == ("missing_answer", missing)
    error = refusal(answers(**{missing: None}))
    assert (error.code, error.field) == ("missing_answer", missing)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"age_years": 121}, "age_years"),
        ({"age_years": -1}, "age_years"),
        ({"age_years": "42"}, "age_years"),
        ({"age_years": True}, "age_years"),
        ({"age_years": 42.5}, "age_years"),
        ({"substances": []}, "substances"),
        ({"substances": "alcohol"}, "substances"),
        ({"substances": ["wine"]}, "substances"),
        ({"psychosis_history": "no"}, "psychosis_history"),
        ({"ketamine_allergy": 0}, "ketamine_allergy"),
        ({"self_harm": "sometimes"}, "self_harm"),
        ({"self_harm": True}, "self_harm"),
        ({"region": "New York"}, "region"),
        ({"region": 12}, "region"),
        ({"language": "spanish"}, "language"),
        ({"modality": "online"}, "modality"),
    ],
)
def test_each_invalid_answer_is_named(overrides, field):
    error = refusal(answers(**overrides))
    assert (error.code, error.field) == ("invalid_answer", field)
    assert error.message


def test_unknown_answers_and_a_non_object_are_refused():
    error = refusal(answers(favourite_colour="blue"))
    assert (error.code, error.field) == ("unknown_answer", "favourite_colour")
    assert refusal(["not", "an", "object"]).code == "invalid_answer"


def test_optional_answers_are_normalised_and_may_be_empty():
    outcome = assess_prescreen(answers(region=" ny ", language="ES", modality="in_person"))
    assert (outcome.answers.region, outcome.answers.language, outcome.answers.modality) == (
        "NY",
        "es",
        "in_person",
    )
    assert assess_prescreen(answers(region="", language=None)).answers.region is None
    assert assess_prescreen(answers(substances=["cocaine", "alcohol", "cocaine"])).answers.substances == (
        "alcohol",
        "cocaine",
    )


# --- Crisis lines -------------------------------------------------------------------------------


@pytest.mark.parametrize("region", [None, "NY", "US-NJ", "PR"])
def test_us_or_unknown_region_gets_988_and_911(region):
    help_now = crisis_help(region)
    text = " ".join(help_now.lines)
    assert "988" in text and "911" in text
    assert help_now.region_known is (region is not None)


@pytest.mark.parametrize("region", ["ON", "MX-CA", "CA-ON"])
def test_outside_the_us_the_local_emergency_number_comes_first(region):
    help_now = crisis_help(region)
    assert "local emergency number" in help_now.lines[0] and "911" not in help_now.lines[0]
    assert "988" in help_now.lines[1]
