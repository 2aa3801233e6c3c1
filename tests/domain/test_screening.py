"""Eligibility screening: every rule at its boundaries, every refusal, and monotonicity."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapstone.domain.errors import DomainError
from kapstone.domain.screening import (
    ANSWER_NAMES,
    BOOLEAN_ANSWERS,
    DECISIONS,
    INTEGER_ANSWERS,
    QUESTIONS,
    SCREENING_RULES,
    ScreeningThresholds,
    check_eligibility,
)


def clean(**overrides: object) -> dict[str, object]:
    """An answer set that matches no rule, with ``overrides`` applied."""
    answers: dict[str, object] = dict.fromkeys(BOOLEAN_ANSWERS, False)
    answers.update(systolic_bp=120, diastolic_bp=80, age_years=40)
    answers.update(overrides)
    return answers


def refusal(answers: object) -> DomainError:
    with pytest.raises(DomainError) as caught:
        check_eligibility(answers)  # type: ignore[arg-type]
    return caught.value


# --- the answer set and the form description --------------------------------------------------


def test_answer_names_match_the_issue() -> None:
    assert set(ANSWER_NAMES) == {
        "ketamine_hypersensitivity",
        "pregnant",
        "breastfeeding",
        "intoxicated_now",
        "psychotic_disorder",
        "aneurysmal_vascular_disease",
        "intracerebral_hemorrhage_history",
        "uncontrolled_cardiovascular_disease",
        "severe_hepatic_impairment",
        "raised_intracranial_or_intraocular_pressure",
        "active_ketamine_misuse",
        "current_mania",
        "maoi_use",
        "cns_depressant_use",
        "stimulant_use",
        "seizure_history",
        "uncontrolled_hyperthyroidism",
        "pre_eclampsia",
        "systolic_bp",
        "diastolic_bp",
        "age_years",
    }
    assert INTEGER_ANSWERS == ("systolic_bp", "diastolic_bp", "age_years")


def test_every_question_has_a_label_and_integers_have_unit_and_range() -> None:
    for question in QUESTIONS:
        assert question.label.strip()
        assert question.kind in ("boolean", "integer")
        if question.kind == "integer":
            assert question.unit and question.min_value is not None and question.max_value is not None


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("seizure_history", ("Ketalar", "theophylline", "aminophylline", "seizure threshold")),
        ("uncontrolled_hyperthyroidism", ("Ketalar", "hyperthyroidism")),
        ("pre_eclampsia", ("Ketalar SmPC", "4.3", "pre-eclampsia")),
        (
            "raised_intracranial_or_intraocular_pressure",
            ("Ketalar", "cerebrospinal fluid pressure", "intraocular"),
        ),
    ],
)
def test_the_label_rules_cite_the_ketamine_label(code: str, words: tuple[str, ...]) -> None:
    source = next(rule.source for rule in SCREENING_RULES if rule.code == code)
    assert all(word in source for word in words), source


def test_every_rule_has_a_source_and_a_known_severity() -> None:
    codes = [rule.code for rule in SCREENING_RULES]
    assert len(codes) == len(set(codes)) == 21
    for rule in SCREENING_RULES:
        assert rule.severity in ("absolute", "defer", "relative")
        assert rule.source.strip() and rule.message.strip()


# --- decisions -------------------------------------------------------------------------------


def test_clean_answers_are_eligible_with_no_reasons() -> None:
    result = check_eligibility(clean())
    assert result.decision == "eligible"
    assert result.reasons == ()
    assert result.as_dict() == {"decision": "eligible", "reasons": []}


@pytest.mark.parametrize(
    ("answer", "code", "severity", "decision"),
    [
        ("ketamine_hypersensitivity", "ketamine_hypersensitivity", "absolute", "ineligible"),
        ("pregnant", "pregnancy", "absolute", "ineligible"),
        ("breastfeeding", "breastfeeding", "absolute", "ineligible"),
        ("psychotic_disorder", "psychotic_disorder", "absolute", "ineligible"),
        ("aneurysmal_vascular_disease", "aneurysmal_vascular_disease", "absolute", "ineligible"),
        ("intracerebral_hemorrhage_history", "intracerebral_hemorrhage", "absolute", "ineligible"),
        (
            "uncontrolled_cardiovascular_disease",
            "uncontrolled_cardiovascular_disease",
            "absolute",
            "ineligible",
        ),
        ("severe_hepatic_impairment", "severe_hepatic_impairment", "absolute", "ineligible"),
        ("intoxicated_now", "intoxication", "defer", "deferred"),
        (
            "raised_intracranial_or_intraocular_pressure",
            "raised_intracranial_or_intraocular_pressure",
            "relative",
            "needs_review",
        ),
        ("active_ketamine_misuse", "active_ketamine_misuse", "relative", "needs_review"),
        ("current_mania", "current_mania", "relative", "needs_review"),
        ("maoi_use", "maoi_use", "relative", "needs_review"),
        ("cns_depressant_use", "cns_depressant_use", "relative", "needs_review"),
        ("stimulant_use", "stimulant_use", "relative", "needs_review"),
        ("seizure_history", "seizure_history", "relative", "needs_review"),
        ("uncontrolled_hyperthyroidism", "uncontrolled_hyperthyroidism", "defer", "deferred"),
        ("pre_eclampsia", "pre_eclampsia", "absolute", "ineligible"),
    ],
)
def test_each_yes_answer_gives_its_rule(answer: str, code: str, severity: str, decision: str) -> None:
    result = check_eligibility(clean(**{answer: True}))
    assert result.decision == decision
    assert [(r.code, r.severity) for r in result.reasons] == [(code, severity)]
    reason = result.reasons[0]
    assert reason.message.strip() and reason.source.strip()


def test_reports_every_matching_rule_not_just_the_first() -> None:
    result = check_eligibility(
        clean(pregnant=True, intoxicated_now=True, maoi_use=True, systolic_bp=150, age_years=17)
    )
    assert result.decision == "ineligible"
    assert set(result.codes) == {
        "pregnancy",
        "intoxication",
        "maoi_use",
        "blood_pressure_elevated",
        "under_18",
    }


def test_deferred_beats_needs_review() -> None:
    result = check_eligibility(clean(intoxicated_now=True, stimulant_use=True))
    assert result.decision == "deferred"
    assert result.codes == ("intoxication", "stimulant_use")


def test_as_dict_has_the_cli_and_api_shape() -> None:
    result = check_eligibility(clean(maoi_use=True))
    payload = result.as_dict()
    assert list(payload) == ["decision", "reasons"]
    assert list(payload["reasons"][0]) == ["code", "severity", "message", "source"]
    assert json.loads(json.dumps(payload)) == payload


# --- boundaries ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("systolic", "expected"),
    [
        (139, ()),
        (140, ()),
        (141, ("blood_pressure_elevated",)),
        (179, ("blood_pressure_elevated",)),
        (180, ("blood_pressure_severely_elevated",)),
        (181, ("blood_pressure_severely_elevated",)),
    ],
)
def test_systolic_boundaries(systolic: int, expected: tuple[str, ...]) -> None:
    assert check_eligibility(clean(systolic_bp=systolic, diastolic_bp=70)).codes == expected


@pytest.mark.parametrize(
    ("diastolic", "expected"),
    [
        (89, ()),
        (90, ()),
        (91, ("blood_pressure_elevated",)),
        (109, ("blood_pressure_elevated",)),
        (110, ("blood_pressure_severely_elevated",)),
        (111, ("blood_pressure_severely_elevated",)),
    ],
)
def test_diastolic_boundaries(diastolic: int, expected: tuple[str, ...]) -> None:
    assert check_eligibility(clean(systolic_bp=130, diastolic_bp=diastolic)).codes == expected


def test_elevated_bp_needs_review_and_severe_bp_defers() -> None:
    elevated = check_eligibility(clean(systolic_bp=141))
    assert elevated.decision == "needs_review"
    assert elevated.reasons[0].severity == "relative"
    assert "141/80" in elevated.reasons[0].message
    severe = check_eligibility(clean(systolic_bp=180))
    assert severe.decision == "deferred"
    assert severe.reasons[0].severity == "defer"


def test_severe_diastolic_with_elevated_systolic_reports_only_severe() -> None:
    assert check_eligibility(clean(systolic_bp=150, diastolic_bp=110)).codes == (
        "blood_pressure_severely_elevated",
    )


@pytest.mark.parametrize(("age", "expected"), [(17, ("under_18",)), (18, ()), (19, ())])
def test_age_boundary(age: int, expected: tuple[str, ...]) -> None:
    result = check_eligibility(clean(age_years=age))
    assert result.codes == expected
    assert result.decision == ("ineligible" if expected else "eligible")


def test_thresholds_are_parameters() -> None:
    stricter = ScreeningThresholds(elevated_systolic_above_mmhg=130)
    assert check_eligibility(clean(systolic_bp=131), thresholds=stricter).codes == (
        "blood_pressure_elevated",
    )
    assert check_eligibility(clean(systolic_bp=131)).codes == ()


def test_refuses_incoherent_thresholds() -> None:
    with pytest.raises(DomainError) as caught:
        ScreeningThresholds(elevated_systolic_above_mmhg=190)
    assert (caught.value.code, caught.value.field) == ("invalid_threshold", "elevated_systolic_above_mmhg")
    with pytest.raises(DomainError) as caught:
        ScreeningThresholds(elevated_diastolic_above_mmhg=110)
    assert (caught.value.code, caught.value.field) == ("invalid_threshold", "elevated_diastolic_above_mmhg")
    with pytest.raises(DomainError) as caught:
        ScreeningThresholds(adult_age_years=True)  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.field) == ("invalid_threshold", "adult_age_years")


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ANSWER_NAMES)
def test_refuses_missing_answer_naming_it(name: str) -> None:
    answers = clean()
    del answers[name]
    error = refusal(answers)
    assert (error.code, error.field) == ("missing_answer", name)
    assert name in error.message


def test_refuses_unknown_answer() -> None:
    error = refusal(clean(smoker=True))
    assert (error.code, error.field) == ("unknown_answer", "smoker")


def test_refuses_non_mapping_answers() -> None:
    error = refusal([("pregnant", True)])
    assert (error.code, error.field) == ("invalid_answer", "answers")


@pytest.mark.parametrize("name", BOOLEAN_ANSWERS)
@pytest.mark.parametrize("value", ["true", 1, 0, None])
def test_refuses_non_boolean_for_a_yes_no_answer(name: str, value: object) -> None:
    error = refusal(clean(**{name: value}))
    assert (error.code, error.field) == ("invalid_answer", name)


@pytest.mark.parametrize("name", INTEGER_ANSWERS)
@pytest.mark.parametrize("value", [True, False, "120", 120.0, None])
def test_refuses_non_integer_for_a_number_answer(name: str, value: object) -> None:
    error = refusal(clean(**{name: value}))
    assert (error.code, error.field) == ("invalid_answer", name)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"systolic_bp": 49, "diastolic_bp": 30}, "systolic_bp"),
        ({"systolic_bp": 301}, "systolic_bp"),
        ({"diastolic_bp": 19}, "diastolic_bp"),
        ({"systolic_bp": 250, "diastolic_bp": 201}, "diastolic_bp"),
        ({"systolic_bp": 100, "diastolic_bp": 100}, "diastolic_bp"),
        ({"systolic_bp": 100, "diastolic_bp": 101}, "diastolic_bp"),
        ({"age_years": -1}, "age_years"),
        ({"age_years": 121}, "age_years"),
    ],
)
def test_refuses_implausible_values(overrides: dict[str, object], field: str) -> None:
    error = refusal(clean(**overrides))
    assert (error.code, error.field) == ("implausible_value", field)


@pytest.mark.parametrize(
    "overrides",
    [
        {"systolic_bp": 50, "diastolic_bp": 20},
        {"systolic_bp": 300, "diastolic_bp": 200},
        {"systolic_bp": 101, "diastolic_bp": 100},
        {"age_years": 0},
        {"age_years": 120},
    ],
)
def test_accepts_plausible_extremes(overrides: dict[str, object]) -> None:
    assert check_eligibility(clean(**overrides)).decision in DECISIONS


def test_refused_value_is_named_in_the_message() -> None:
    assert "301" in refusal(clean(systolic_bp=301)).message


# --- properties ------------------------------------------------------------------------------


@st.composite
def answer_sets(draw: st.DrawFn) -> dict[str, object]:
    answers: dict[str, object] = {name: draw(st.booleans()) for name in BOOLEAN_ANSWERS}
    systolic = draw(st.integers(min_value=51, max_value=299))
    answers["systolic_bp"] = systolic
    answers["diastolic_bp"] = draw(st.integers(min_value=20, max_value=min(systolic - 1, 199)))
    answers["age_years"] = draw(st.integers(min_value=0, max_value=120))
    return answers


@settings(max_examples=150, deadline=None)
@given(answers=answer_sets(), flip=st.sampled_from(BOOLEAN_ANSWERS))
def test_a_yes_answer_never_improves_the_decision(answers: dict[str, object], flip: str) -> None:
    before = check_eligibility({**answers, flip: False})
    after = check_eligibility({**answers, flip: True})
    assert DECISIONS.index(after.decision) >= DECISIONS.index(before.decision)
    assert set(before.codes) <= set(after.codes)


@settings(max_examples=150, deadline=None)
@given(answers=answer_sets(), systolic_rise=st.integers(0, 250), diastolic_rise=st.integers(0, 180))
def test_higher_blood_pressure_never_improves_the_decision(
    answers: dict[str, object], systolic_rise: int, diastolic_rise: int
) -> None:
    before = check_eligibility(answers)
    systolic = min(int(answers["systolic_bp"]) + systolic_rise, 300)  # type: ignore[call-overload]
    diastolic = min(int(answers["diastolic_bp"]) + diastolic_rise, 200, systolic - 1)  # type: ignore[call-overload]
    diastolic = max(diastolic, int(answers["diastolic_bp"]))  # type: ignore[call-overload]
    after = check_eligibility({**answers, "systolic_bp": systolic, "diastolic_bp": diastolic})
    assert DECISIONS.index(after.decision) >= DECISIONS.index(before.decision)


@settings(max_examples=150, deadline=None)
@given(
    answers=st.dictionaries(
        st.sampled_from([*ANSWER_NAMES, "other"]),
        st.one_of(st.booleans(), st.integers(-10, 400), st.text(max_size=3), st.none(), st.floats()),
    )
)
def test_returns_a_decision_or_raises_domain_error(answers: dict[str, object]) -> None:
    try:
        result = check_eligibility(answers)
    except DomainError as error:
        assert error.code in {"missing_answer", "unknown_answer", "invalid_answer", "implausible_value"}
        assert error.field
    else:
        assert result.decision in DECISIONS


def test_a_partial_answer_set_checks_what_is_given():
    from kapstone.domain.screening import validate_answers

    assert validate_answers({"pregnant": False, "age_years": 30}, partial=True) == {
        "pregnant": False,
        "age_years": 30,
    }
    assert validate_answers({}, partial=True) == {}
    for bad, code in (
        ({"pregnant": "no"}, "invalid_answer"),
        ({"age_years": 400}, "implausible_value"),
        ({"shoe_size": 9}, "unknown_answer"),
        ({"systolic_bp": 120, "diastolic_bp": 130}, "implausible_value"),
    ):
        with pytest.raises(DomainError) as caught:
            validate_answers(bad, partial=True)
        assert caught.value.code == code
    with pytest.raises(DomainError) as caught:
        validate_answers({"pregnant": False})
    assert caught.value.code == "missing_answer"
