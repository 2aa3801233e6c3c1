"""Session state machine and day-of checks."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from itertools import product
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.protocols import DayOfCheckRule, DayOfRules, get_protocol
from kapstone.domain.sessions import (
    FINAL_STATES,
    SESSION_STATES,
    SESSION_TRANSITIONS,
    DayOfResult,
    allowed_transitions,
    evaluate_day_of_checks,
    state_label,
    transition_session,
)

LEGAL = {
    ("scheduled", "checked_in"),
    ("scheduled", "no_show"),
    ("scheduled", "cancelled"),
    ("checked_in", "cleared"),
    ("checked_in", "cancelled"),
    ("cleared", "in_progress"),
    ("in_progress", "recovering"),
    ("in_progress", "stopped"),
    ("recovering", "discharged"),
    ("recovering", "stopped"),
}

# --- state machine -----------------------------------------------------------------------------


def test_transition_table_is_exactly_the_issue() -> None:
    assert {(a, b) for a, targets in SESSION_TRANSITIONS.items() for b in targets} == LEGAL
    assert set(FINAL_STATES) == {"discharged", "stopped", "no_show", "cancelled"}


def test_happy_path_through_a_dosing_session() -> None:
    state = "scheduled"
    for to in ("checked_in", "cleared", "in_progress", "recovering", "discharged"):
        state = transition_session(state, to)
    assert state == "discharged"


@pytest.mark.parametrize(("current", "to"), sorted(product(SESSION_STATES, SESSION_STATES)))
def test_every_pair_is_allowed_only_if_legal(current: str, to: str) -> None:
    if (current, to) in LEGAL:
        reason = "patient asked to stop" if to in ("stopped", "cancelled") else None
        assert transition_session(current, to, reason=reason) == to
    else:
        with pytest.raises(WorkflowConflict) as caught:
            transition_session(current, to, reason="any")
        assert caught.value.code == "invalid_transition"
        # In words, not codes: "from checked in to discharged".
        message = caught.value.message
        assert state_label(current).lower() in message and state_label(to).lower() in message
        assert "_" not in message


@pytest.mark.parametrize(
    ("current", "to"),
    [
        ("in_progress", "stopped"),
        ("recovering", "stopped"),
        ("scheduled", "cancelled"),
        ("checked_in", "cancelled"),
    ],
)
@pytest.mark.parametrize("reason", [None, "", "   "])
def test_stopping_and_cancelling_need_a_reason(current: str, to: str, reason: str | None) -> None:
    with pytest.raises(DomainError) as caught:
        transition_session(current, to, reason=reason)
    assert not isinstance(caught.value, WorkflowConflict)
    assert (caught.value.code, caught.value.field) == ("reason_required", "reason")


def test_illegal_stop_is_a_conflict_even_without_reason() -> None:
    with pytest.raises(WorkflowConflict) as caught:
        transition_session("scheduled", "stopped")
    assert caught.value.code == "invalid_transition"


def test_refuses_unknown_states_and_non_text_reason() -> None:
    with pytest.raises(DomainError) as caught:
        transition_session("asleep", "cleared")
    assert (caught.value.code, caught.value.field) == ("unknown_session_state", "current")
    with pytest.raises(DomainError) as caught:
        transition_session("scheduled", "done")
    assert (caught.value.code, caught.value.field) == ("unknown_session_state", "to")
    with pytest.raises(DomainError) as caught:
        transition_session("in_progress", "stopped", reason=42)  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.field) == ("invalid_text", "reason")
    with pytest.raises(DomainError) as caught:
        transition_session("in_progress", "stopped", reason="x" * 501)
    assert (caught.value.code, caught.value.field) == ("text_too_long", "reason")


def test_allowed_transitions() -> None:
    assert allowed_transitions("scheduled") == {"checked_in", "no_show", "cancelled"}
    assert allowed_transitions("discharged") == frozenset()
    with pytest.raises(DomainError):
        allowed_transitions("nope")


@settings(max_examples=100, deadline=None)
@given(moves=st.lists(st.sampled_from(SESSION_STATES), max_size=8))
def test_random_walks_only_follow_the_table(moves: list[str]) -> None:
    state = "scheduled"
    for to in moves:
        try:
            new = transition_session(state, to, reason="reason")
        except WorkflowConflict:
            assert (state, to) not in LEGAL
        else:
            assert (state, new) in LEGAL
            state = new


# --- day-of checks -----------------------------------------------------------------------------

RULES = get_protocol("kare-alcohol-grabski-2022").day_of


def passing(**overrides: Any) -> dict[str, Any]:
    checks: dict[str, Any] = {
        "breath_alcohol_g_per_210l": Decimal("0.00"),
        "urine_drug_screen_result": "positive",
        "childbearing_potential": True,
        "pregnancy_test_result": "negative",
        "systolic_bp": 130,
        "diastolic_bp": 80,
        "fasting_hours": Decimal("6"),
        "escort_confirmed": True,
        "consent_current": True,
        "ciwa_ar_total": 0,
        "benzodiazepine_use": False,
        "sedative_or_opioid_use": False,
        "stimulant_use": False,
        "maoi_use": False,
        "theophylline_use": False,
        "airway_clinician_present": True,
        "resuscitation_equipment_checked": True,
        "vital_signs_monitoring_available": True,
        "prescriber_on_site": True,
    }
    checks.update(overrides)
    return {k: v for k, v in checks.items() if v is not ...}


def evaluate(
    checks: dict[str, Any],
    *,
    sex: str = "female",
    overrides: Any = None,
    rules: DayOfRules = RULES,
    prescriber: bool = True,
) -> DayOfResult:
    return evaluate_day_of_checks(
        checks, protocol_checks=rules, sex_at_birth=sex, overrides=overrides, prescriber=prescriber
    )


def refusal(checks: dict[str, Any], **kwargs: Any) -> DomainError:
    with pytest.raises(DomainError) as caught:
        evaluate(checks, **kwargs)
    return caught.value


def test_all_checks_met_clears_and_reports_each_in_protocol_order() -> None:
    result = evaluate(passing())
    assert result.cleared is True
    assert [c.check for c in result.checks] == [r.check for r in RULES.checks]
    assert all(c.met and c.code is None for c in result.checks)
    assert result.failure_codes == ()


def test_a_positive_urine_screen_still_counts_as_entered() -> None:
    outcome = evaluate(passing(urine_drug_screen_result="positive")).checks[1]
    assert (outcome.met, outcome.value) == (True, "positive")


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"breath_alcohol_g_per_210l": Decimal("0.01")}, "breath_alcohol_positive"),
        ({"urine_drug_screen_result": None}, "urine_drug_screen_missing"),
        ({"urine_drug_screen_result": ...}, "urine_drug_screen_missing"),
        ({"pregnancy_test_result": "positive"}, "pregnancy_test_positive"),
        ({"pregnancy_test_result": None}, "pregnancy_test_missing"),
        ({"systolic_bp": 180}, "blood_pressure_too_high"),
        ({"diastolic_bp": 110}, "blood_pressure_too_high"),
        ({"fasting_hours": Decimal("5.9")}, "fasting_too_short"),
        ({"escort_confirmed": False}, "escort_not_confirmed"),
        ({"consent_current": False}, "consent_not_current"),
    ],
)
def test_each_failure_has_its_stable_code_and_blocks_clearing(overrides: dict[str, Any], code: str) -> None:
    result = evaluate(passing(**overrides))
    assert result.cleared is False
    assert result.failure_codes == (code,)
    assert result.blocking[0].code == code


@pytest.mark.parametrize(
    ("systolic", "diastolic", "met"),
    [
        (179, 80, True),
        (180, 80, False),
        (181, 80, False),
        (150, 109, True),
        (150, 110, False),
        (150, 111, False),
    ],
)
def test_blood_pressure_deferral_boundaries(systolic: int, diastolic: int, met: bool) -> None:
    outcome = evaluate(passing(systolic_bp=systolic, diastolic_bp=diastolic)).checks[3]
    assert outcome.check == "blood_pressure"
    assert outcome.met is met
    assert outcome.value == f"{systolic}/{diastolic}"


@pytest.mark.parametrize(
    ("hours", "met"), [("5.99", False), ("6", True), ("6.01", True), (7, True), (0, False)]
)
def test_fasting_boundary(hours: Any, met: bool) -> None:
    outcome = evaluate(passing(fasting_hours=hours)).checks[4]
    assert outcome.met is met


def test_fasting_requirement_is_a_protocol_parameter() -> None:
    rules = replace(RULES, fasting_min_hours=Decimal("2"))
    assert evaluate(passing(fasting_hours=Decimal("2")), rules=rules).cleared is True


@pytest.mark.parametrize(
    ("level", "met"), [("0", True), ("0.00", True), (0, True), (0.0, True), ("0.001", False)]
)
def test_breath_alcohol_must_be_exactly_zero(level: Any, met: bool) -> None:
    assert evaluate(passing(breath_alcohol_g_per_210l=level)).checks[0].met is met


def test_pregnancy_test_not_applicable_without_childbearing_potential() -> None:
    result = evaluate(passing(childbearing_potential=False, pregnancy_test_result=None))
    outcome = result.checks[2]
    assert (outcome.met, outcome.applicable) == (True, False)
    assert result.cleared is True


def test_pregnancy_test_not_applicable_for_male_sex_at_birth() -> None:
    checks = passing(childbearing_potential=..., pregnancy_test_result=...)
    outcome = evaluate(checks, sex="male").checks[2]
    assert (outcome.met, outcome.applicable) == (True, False)


def test_refuses_childbearing_potential_for_male_sex_at_birth() -> None:
    error = refusal(passing(childbearing_potential=True), sex="male")
    assert (error.code, error.field) == ("invalid_check_value", "childbearing_potential")


def test_needs_childbearing_potential_for_other_sexes() -> None:
    for sex in ("female", "intersex", "unknown"):
        error = refusal(passing(childbearing_potential=...), sex=sex)
        assert (error.code, error.field) == ("missing_check", "childbearing_potential")


def test_reports_every_failure_not_just_the_first() -> None:
    result = evaluate(passing(consent_current=False, escort_confirmed=False, systolic_bp=190))
    assert set(result.failure_codes) == {
        "consent_not_current",
        "escort_not_confirmed",
        "blood_pressure_too_high",
    }


# --- overrides ---------------------------------------------------------------------------------


def test_overridable_failure_with_reason_clears() -> None:
    result = evaluate(passing(fasting_hours=4), overrides={"fasting": "clear fluids only, prescriber agrees"})
    fasting = result.checks[4]
    assert (fasting.met, fasting.overridable, fasting.overridden) == (False, True, True)
    assert fasting.override_reason == "clear fluids only, prescriber agrees"
    assert fasting.code == "fasting_too_short"
    assert result.cleared is True
    assert result.blocking == ()


def test_override_does_not_clear_when_another_check_fails() -> None:
    result = evaluate(
        passing(fasting_hours=4, consent_current=False), overrides={"fasting": "clear fluids only"}
    )
    assert result.cleared is False
    assert [c.code for c in result.blocking] == ["consent_not_current"]


def test_override_of_a_met_check_is_ignored() -> None:
    result = evaluate(passing(), overrides={"fasting": "just in case"})
    assert result.cleared is True
    assert result.checks[4].overridden is False


@pytest.mark.parametrize("check", ["breath_alcohol", "pregnancy_test", "blood_pressure", "escort", "consent"])
def test_refuses_override_of_a_hard_check(check: str) -> None:
    error = refusal(passing(), overrides={check: "I insist"})
    assert (error.code, error.field) == ("override_not_allowed", f"overrides.{check}")


def test_overridable_flags_come_from_the_protocol() -> None:
    rules = DayOfRules(checks=(DayOfCheckRule("consent", overridable=True),))
    result = evaluate(passing(consent_current=False), rules=rules, overrides={"consent": "verbal consent"})
    assert result.cleared is True
    assert [c.check for c in result.checks] == ["consent"]
    error = refusal(passing(), rules=rules, overrides={"fasting": "x"})
    assert (error.code, error.field) == ("override_not_allowed", "overrides.fasting")


@pytest.mark.parametrize(
    ("reason", "code"),
    [("", "reason_required"), ("  ", "reason_required"), (None, "reason_required"), (3, "invalid_text"),
     ("fasted\x00", "invalid_text"), ("x" * 501, "text_too_long")],
)  # fmt: skip
def test_refuses_override_without_a_reason(reason: Any, code: str) -> None:
    error = refusal(passing(fasting_hours=1), overrides={"fasting": reason})
    assert (error.code, error.field) == (code, "overrides.fasting")


def test_refuses_unknown_override_and_non_mapping_overrides() -> None:
    error = refusal(passing(), overrides={"horoscope": "good"})
    assert (error.code, error.field) == ("unknown_override", "overrides.horoscope")
    error = refusal(passing(), overrides=["fasting"])
    assert error.code == "invalid_override"


# --- input refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"breath_alcohol_g_per_210l": ...}, "missing_check", "breath_alcohol_g_per_210l"),
        ({"systolic_bp": ...}, "missing_check", "systolic_bp"),
        ({"fasting_hours": None}, "missing_check", "fasting_hours"),
        ({"escort_confirmed": ...}, "missing_check", "escort_confirmed"),
        ({"consent_current": ...}, "missing_check", "consent_current"),
        ({"breath_alcohol_g_per_210l": "zero"}, "invalid_check_value", "breath_alcohol_g_per_210l"),
        ({"breath_alcohol_g_per_210l": True}, "invalid_check_value", "breath_alcohol_g_per_210l"),
        ({"breath_alcohol_g_per_210l": "Infinity"}, "invalid_check_value", "breath_alcohol_g_per_210l"),
        ({"breath_alcohol_g_per_210l": "-0.01"}, "implausible_value", "breath_alcohol_g_per_210l"),
        ({"urine_drug_screen_result": "maybe"}, "invalid_check_value", "urine_drug_screen_result"),
        ({"pregnancy_test_result": "inconclusive"}, "invalid_check_value", "pregnancy_test_result"),
        ({"childbearing_potential": "yes"}, "invalid_check_value", "childbearing_potential"),
        ({"systolic_bp": True}, "invalid_check_value", "systolic_bp"),
        ({"systolic_bp": 130.0}, "invalid_check_value", "systolic_bp"),
        ({"systolic_bp": 301}, "implausible_value", "systolic_bp"),
        ({"diastolic_bp": 19}, "implausible_value", "diastolic_bp"),
        ({"systolic_bp": 90, "diastolic_bp": 90}, "implausible_value", "diastolic_bp"),
        ({"fasting_hours": -1}, "implausible_value", "fasting_hours"),
        ({"escort_confirmed": 1}, "invalid_check_value", "escort_confirmed"),
        ({"consent_current": "true"}, "invalid_check_value", "consent_current"),
        ({"heart_rate": 80}, "unknown_check", "heart_rate"),
    ],
)
def test_refuses_bad_inputs(overrides: dict[str, Any], code: str, field: str) -> None:
    error = refusal(passing(**overrides))
    assert (error.code, error.field) == (code, field)


def test_refuses_unknown_sex_non_mapping_checks_and_wrong_rules() -> None:
    assert refusal(passing(), sex="F").code == "invalid_sex_at_birth"
    assert refusal([], sex="female").code == "invalid_check_value"  # type: ignore[arg-type]
    with pytest.raises(DomainError) as caught:
        evaluate_day_of_checks(passing(), protocol_checks=RULES.checks, sex_at_birth="female")  # type: ignore[arg-type]
    assert caught.value.code == "invalid_protocol_checks"


def test_inputs_for_checks_the_protocol_does_not_require_are_not_needed() -> None:
    rules = DayOfRules(checks=(DayOfCheckRule("consent"),))
    assert evaluate({"consent_current": True}, rules=rules).cleared is True


def test_as_dict_is_json_able() -> None:
    import json

    payload = evaluate(passing(fasting_hours=Decimal("4.5")), overrides={"fasting": "ok"}).as_dict()
    assert json.loads(json.dumps(payload)) == payload
    assert payload["checks"][4]["value"] == "4.5"
    assert payload["cleared"] is True


@settings(max_examples=100, deadline=None)
@given(
    flags=st.fixed_dictionaries(
        {
            "escort_confirmed": st.booleans(),
            "consent_current": st.booleans(),
            "fasting_hours": st.integers(0, 12),
            "systolic_bp": st.integers(100, 220),
        }
    ),
    override_fasting=st.booleans(),
)
def test_cleared_iff_every_failed_check_is_overridden(flags: dict[str, Any], override_fasting: bool) -> None:
    overrides = {"fasting": "prescriber reason"} if override_fasting else None
    result = evaluate(passing(**flags), overrides=overrides)
    assert result.cleared == all(c.met or (c.overridable and c.overridden) for c in result.checks)
    assert all(c.overridable for c in result.checks if c.overridden)


THERAPY_LEGAL = {
    ("scheduled", "checked_in"),
    ("scheduled", "no_show"),
    ("scheduled", "cancelled"),
    ("checked_in", "in_progress"),
    ("checked_in", "cancelled"),
    ("in_progress", "discharged"),
    ("in_progress", "stopped"),
}


@pytest.mark.parametrize(("current", "to"), sorted(product(SESSION_STATES, SESSION_STATES)))
def test_therapy_sessions_skip_clearance_and_recovery(current: str, to: str) -> None:
    if (current, to) in THERAPY_LEGAL:
        assert transition_session(current, to, reason="r", dosing=False) == to
    else:
        with pytest.raises(WorkflowConflict) as caught:
            transition_session(current, to, reason="r", dosing=False)
        assert caught.value.code == "invalid_transition"


def test_therapy_session_cannot_be_cleared_like_a_dosing_session() -> None:
    assert allowed_transitions("checked_in", dosing=False) == {"in_progress", "cancelled"}
    assert allowed_transitions("checked_in") == {"cleared", "cancelled"}


def test_each_check_reads_in_words_with_its_value() -> None:
    result = evaluate(passing(fasting_hours=Decimal("3")), overrides=None)
    words = {c.check: f"{c.label}: {c.value_text}" for c in result.checks}
    assert words["escort"] == "Escort home: yes"
    assert words["blood_pressure"] == "Blood pressure: 130/80 mmHg"
    assert words["fasting"] == "Fasting: 3 h"
    assert words["breath_alcohol"] == "Breath alcohol: 0.00 g/210 L"
    male = evaluate(passing(childbearing_potential=False), sex="male")
    pregnancy = next(c for c in male.checks if c.check == "pregnancy_test")
    assert pregnancy.value_text == "not applicable"
    assert all("_" not in text and "True" not in text for text in words.values())


def test_a_stored_result_reads_back_as_it_was() -> None:
    result = evaluate(passing(fasting_hours=Decimal("3")))
    again = DayOfResult.from_dict(result.as_dict())
    assert again.as_dict() == result.as_dict()
    assert [c.value_text for c in again.checks] == [c.value_text for c in result.checks]


def test_messages_about_entered_values_name_them_in_words() -> None:
    error = refusal(passing(fasting_hours=...))
    assert (error.code, error.field) == ("missing_check", "fasting_hours")
    assert error.message == "Hours fasted is needed for the fasting check."
    error = refusal(passing(systolic_bp=400))
    assert error.message == "Systolic blood pressure 400 mmHg is not plausible (expected 50–300)."
