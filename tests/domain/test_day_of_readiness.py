"""Day-of checks of issue 14: the Ketalar label's readiness, concomitant medicines asked at every
dosing session, and withdrawal (CIWA-Ar, COWS) before the day's dose; hard and soft stops."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.protocols import (
    DEFAULT_DAY_OF_CHECKS,
    DayOfCheckRule,
    DayOfRules,
    clone_protocol,
    get_protocol,
    protocol_library,
)
from kapstone.domain.sessions import CHECK_LABELS, CheckOutcome, DayOfResult, evaluate_day_of_checks
from tests.domain.test_sessions import passing

KARE = get_protocol("kare-alcohol-grabski-2022")
HEROIN = get_protocol("kpt-heroin-krupitsky-2007")
COCAINE = get_protocol("ketamine-mbrp-cocaine-dakwar-2019")


def evaluate(checks: dict[str, Any], *, rules: DayOfRules = KARE.day_of, prescriber: bool = False, **kw: Any):
    return evaluate_day_of_checks(
        checks, protocol_checks=rules, sex_at_birth="female", prescriber=prescriber, **kw
    )


def outcome(result: DayOfResult, check: str) -> CheckOutcome:
    return next(c for c in result.checks if c.check == check)


# --- each check and its code ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "check", "code"),
    [
        ({"ciwa_ar_total": 10}, "alcohol_withdrawal", "alcohol_withdrawal_score_high"),
        ({"benzodiazepine_use": True}, "benzodiazepines", "benzodiazepine_taken"),
        ({"sedative_or_opioid_use": True}, "sedatives_opioids", "sedative_or_opioid_taken"),
        ({"stimulant_use": True}, "stimulants", "stimulant_taken"),
        ({"maoi_use": True}, "maoi", "maoi_taken"),
        ({"theophylline_use": True}, "theophylline", "theophylline_taken"),
        ({"airway_clinician_present": False}, "airway_clinician", "airway_clinician_absent"),
        ({"resuscitation_equipment_checked": False}, "resuscitation_equipment", "resuscitation_equipment_not_checked"),
        ({"vital_signs_monitoring_available": False}, "vital_signs_monitoring", "vital_signs_monitoring_unavailable"),
        ({"prescriber_on_site": False}, "prescriber_on_site", "prescriber_not_on_site"),
    ],
)  # fmt: skip
def test_each_new_check_fails_with_its_code_and_blocks(
    changes: dict[str, Any], check: str, code: str
) -> None:
    result = evaluate(passing(**changes))
    assert result.cleared is False
    assert result.failure_codes == (code,)
    failed = outcome(result, check)
    assert (failed.met, failed.code, failed.value) == (False, code, next(iter(changes.values())))
    assert failed.label == CHECK_LABELS[check] and "_" not in failed.label


def test_the_opioid_protocol_asks_the_cows_and_not_the_ciwa_ar() -> None:
    checks = passing(ciwa_ar_total=..., cows_total=13)
    result = evaluate(checks, rules=HEROIN.day_of)
    assert result.failure_codes == ("opioid_withdrawal_score_high",)
    assert "alcohol_withdrawal" not in [c.check for c in result.checks]
    error = _refusal(passing(ciwa_ar_total=...), rules=HEROIN.day_of)
    assert (error.code, error.field) == ("missing_check", "cows_total")


def test_which_withdrawal_scale_follows_the_protocols_substance() -> None:
    for protocol in protocol_library():
        listed = {rule.check for rule in protocol.day_of.checks}
        expected = {
            "alcohol": {"alcohol_withdrawal"},
            "opioids": {"opioid_withdrawal"},
        }.get(protocol.indication, set())
        assert listed & {"alcohol_withdrawal", "opioid_withdrawal"} == expected, protocol.slug
    assert "alcohol_withdrawal" not in {rule.check for rule in COCAINE.day_of.checks}
    assert evaluate(passing(ciwa_ar_total=...), rules=COCAINE.day_of).cleared is True


# --- withdrawal thresholds -----------------------------------------------------------------------


@pytest.mark.parametrize(("total", "met"), [(0, True), (9, True), (10, False), (11, False), (67, False)])
def test_ciwa_ar_threshold_boundaries(total: int, met: bool) -> None:
    result = evaluate(passing(ciwa_ar_total=total))
    check = outcome(result, "alcohol_withdrawal")
    assert (check.met, check.value) == (met, total)
    assert result.cleared is met


@pytest.mark.parametrize(("total", "met"), [(0, True), (12, True), (13, False), (14, False), (48, False)])
def test_cows_threshold_boundaries(total: int, met: bool) -> None:
    result = evaluate(passing(ciwa_ar_total=..., cows_total=total), rules=HEROIN.day_of)
    assert outcome(result, "opioid_withdrawal").met is met


def test_withdrawal_thresholds_are_protocol_parameters() -> None:
    rules = replace(KARE.day_of, ciwa_ar_stop_at=15)
    assert outcome(evaluate(passing(ciwa_ar_total=14), rules=rules), "alcohol_withdrawal").met is True
    assert outcome(evaluate(passing(ciwa_ar_total=15), rules=rules), "alcohol_withdrawal").met is False
    heroin = replace(HEROIN.day_of, cows_stop_at=5)
    result = evaluate(passing(ciwa_ar_total=..., cows_total=5), rules=heroin)
    assert outcome(result, "opioid_withdrawal").message.startswith("COWS 5 is at or above the protocol's 5")


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"ciwa_ar_total": -1}, "implausible_value", "ciwa_ar_total"),
        ({"ciwa_ar_total": 68}, "implausible_value", "ciwa_ar_total"),
        ({"ciwa_ar_total": 9.5}, "invalid_check_value", "ciwa_ar_total"),
        ({"ciwa_ar_total": True}, "invalid_check_value", "ciwa_ar_total"),
        ({"ciwa_ar_total": "9"}, "invalid_check_value", "ciwa_ar_total"),
        ({"ciwa_ar_total": ...}, "missing_check", "ciwa_ar_total"),
        ({"benzodiazepine_use": "no"}, "invalid_check_value", "benzodiazepine_use"),
        ({"theophylline_use": ...}, "missing_check", "theophylline_use"),
        ({"prescriber_on_site": 1}, "invalid_check_value", "prescriber_on_site"),
        ({"airway_clinician_present": None}, "missing_check", "airway_clinician_present"),
    ],
)
def test_refuses_bad_new_inputs(changes: dict[str, Any], code: str, field: str) -> None:
    error = _refusal(passing(**changes))
    assert (error.code, error.field) == (code, field)


@pytest.mark.parametrize(("total", "ok"), [(48, True), (49, False)])
def test_cows_total_range(total: int, ok: bool) -> None:
    checks = passing(ciwa_ar_total=..., cows_total=total)
    if ok:
        evaluate(checks, rules=HEROIN.day_of)
    else:
        assert _refusal(checks, rules=HEROIN.day_of).message == (
            "The COWS total 49 is not plausible (expected 0–48)."
        )


# --- hard and soft stops -------------------------------------------------------------------------


def test_shipped_stops() -> None:
    rules = {rule.check: rule for rule in KARE.day_of.checks}
    soft = {check for check, rule in rules.items() if rule.soft}
    assert soft == {"alcohol_withdrawal", "benzodiazepines", "sedatives_opioids", "stimulants"}
    prescriber_only = {check for check, rule in rules.items() if rule.overridable and not rule.soft}
    assert prescriber_only == {
        "urine_drug_screen",
        "fasting",
        "maoi",
        "theophylline",
        "airway_clinician",
        "resuscitation_equipment",
        "vital_signs_monitoring",
        "prescriber_on_site",
    }
    assert {r.check for r in DEFAULT_DAY_OF_CHECKS} == set(rules) - {"alcohol_withdrawal"}


@pytest.mark.parametrize(
    ("changes", "check"),
    [
        ({"ciwa_ar_total": 12}, "alcohol_withdrawal"),
        ({"benzodiazepine_use": True}, "benzodiazepines"),
        ({"sedative_or_opioid_use": True}, "sedatives_opioids"),
        ({"stimulant_use": True}, "stimulants"),
    ],
)
def test_a_soft_stop_is_passed_by_the_recording_clinician_with_a_reason(
    changes: dict[str, Any], check: str
) -> None:
    assert evaluate(passing(**changes)).cleared is False
    result = evaluate(passing(**changes), overrides={check: "Prescribed, stable dose; discussed"})
    passed = outcome(result, check)
    assert (passed.met, passed.soft, passed.overridden) == (False, True, True)
    assert passed.override_reason == "Prescribed, stable dose; discussed"
    assert result.cleared is True
    error = _refusal(passing(**changes), overrides={check: "  "})
    assert (error.code, error.field) == ("reason_required", f"overrides.{check}")


@pytest.mark.parametrize(
    ("changes", "check"),
    [
        ({"maoi_use": True}, "maoi"),
        ({"theophylline_use": True}, "theophylline"),
        ({"airway_clinician_present": False}, "airway_clinician"),
        ({"resuscitation_equipment_checked": False}, "resuscitation_equipment"),
        ({"vital_signs_monitoring_available": False}, "vital_signs_monitoring"),
        ({"prescriber_on_site": False}, "prescriber_on_site"),
    ],
)
def test_a_hard_stop_is_overridden_only_by_a_prescriber_with_a_reason(
    changes: dict[str, Any], check: str
) -> None:
    with pytest.raises(WorkflowConflict) as caught:
        evaluate(passing(**changes), overrides={check: "We need to go ahead"})
    assert (caught.value.code, caught.value.field) == ("override_requires_prescriber", f"overrides.{check}")
    assert caught.value.message == f"Only a prescriber may override the {CHECK_LABELS[check].lower()} check."
    error = _refusal(passing(**changes), overrides={check: ""}, prescriber=True)
    assert (error.code, error.field) == ("reason_required", f"overrides.{check}")
    result = evaluate(passing(**changes), overrides={check: "Anaesthetist agrees"}, prescriber=True)
    assert result.cleared is True
    overridden = outcome(result, check)
    assert (overridden.soft, overridden.overridden) == (False, True)


def test_a_prescriber_may_pass_a_soft_stop_too_and_nobody_a_hard_stop_without_override() -> None:
    result = evaluate(
        passing(stimulant_use=True), overrides={"stimulants": "ADHD, prescribed"}, prescriber=True
    )
    assert result.cleared is True
    error = _refusal(
        passing(breath_alcohol_g_per_210l="0.01"), overrides={"breath_alcohol": "x"}, prescriber=True
    )
    assert error.code == "override_not_allowed"
    assert error.message == "The protocol does not let anyone override the breath alcohol check."


def test_a_clinic_may_make_a_check_hard_or_soft() -> None:
    rules = DayOfRules(checks=(DayOfCheckRule("alcohol_withdrawal"),))
    error = _refusal({"ciwa_ar_total": 20}, rules=rules, overrides={"alcohol_withdrawal": "x"})
    assert error.code == "override_not_allowed"
    rules = DayOfRules(checks=(DayOfCheckRule("theophylline", overridable=True, soft=True),))
    assert evaluate({"theophylline_use": True}, rules=rules, overrides={"theophylline": "x"}).cleared


def test_protocol_validation_of_the_new_parameters() -> None:
    with pytest.raises(DomainError) as caught:
        clone_protocol(KARE, {"day_of.checks": [{"check": "maoi", "overridable": False, "soft": True}]})
    assert (caught.value.code, caught.value.field) == ("soft_stop_not_overridable", "day_of.checks.0.soft")
    for path, value in (
        ("day_of.ciwa_ar_stop_at", 0),
        ("day_of.ciwa_ar_stop_at", 68),
        ("day_of.cows_stop_at", 49),
    ):
        with pytest.raises(DomainError) as caught:
            clone_protocol(KARE, {path: value})
        assert (caught.value.code, caught.value.field) == ("invalid_withdrawal_threshold", path)
    assert clone_protocol(KARE, {"day_of.ciwa_ar_stop_at": 67}).day_of.ciwa_ar_stop_at == 67
    assert clone_protocol(KARE, {"day_of.cows_stop_at": 1}).day_of.cows_stop_at == 1
    # A clinic that does not require the prescriber on site leaves the check out (local policy).
    kept = [r for r in protocol_to_checks(KARE) if r["check"] != "prescriber_on_site"]
    clone = clone_protocol(KARE, {"day_of.checks": kept})
    assert evaluate(passing(prescriber_on_site=...), rules=clone.day_of).cleared is True


def protocol_to_checks(protocol) -> list[dict[str, Any]]:
    return [{"check": r.check, "overridable": r.overridable, "soft": r.soft} for r in protocol.day_of.checks]


# --- sources, old recordings, old protocols ------------------------------------------------------


def test_the_ketalar_label_is_cited_where_it_governs() -> None:
    result = evaluate(passing())
    source = {c.check: c.source for c in result.checks}
    for check in ("airway_clinician", "resuscitation_equipment", "vital_signs_monitoring", "theophylline",
                  "blood_pressure", "fasting", "escort"):  # fmt: skip
        assert "Ketalar" in source[check] and "46dab560-8ecd-4d92-8c92-6baa2310b09b" in source[check], check
    assert "Spravato" in source["pregnancy_test"] and "by analogy" in source["pregnancy_test"]
    assert "REMS" in source["prescriber_on_site"] and "local policy" in source["prescriber_on_site"]
    assert "Sullivan" in source["alcohol_withdrawal"] and "local policy" in source["alcohol_withdrawal"]
    for check in ("benzodiazepines", "sedatives_opioids", "stimulants", "maoi"):
        assert "REMS" in source[check]
    assert "local policy" in source["maoi"]


def test_a_recording_from_before_issue_14_reads_back() -> None:
    stored = {"cleared": True, "checks": [{"check": "fasting", "met": False, "applicable": True, "value": "4",
              "code": "fasting_too_short", "message": "m", "source": "s", "overridable": True,
              "overridden": True, "override_reason": "ok"}]}  # fmt: skip
    check = DayOfResult.from_dict(stored).checks[0]
    assert (check.soft, check.stop_text) == (False, "a prescriber may override with a written reason")


def test_a_course_on_the_seven_checks_of_before_needs_none_of_the_new_inputs() -> None:
    rules = DayOfRules(checks=DEFAULT_DAY_OF_CHECKS[:7])
    old = {k: v for k, v in passing().items() if k in {
        "breath_alcohol_g_per_210l", "urine_drug_screen_result", "childbearing_potential", "pregnancy_test_result",
        "systolic_bp", "diastolic_bp", "fasting_hours", "escort_confirmed", "consent_current"}}  # fmt: skip
    assert evaluate(old, rules=rules).cleared is True


def _refusal(checks: dict[str, Any], **kwargs: Any) -> DomainError:
    with pytest.raises(DomainError) as caught:
        evaluate(checks, **kwargs)
    return caught.value


def test_the_rules_in_words() -> None:
    from kapstone.domain.sessions import describe_day_of_rules

    rows = dict(describe_day_of_rules(replace(KARE.day_of, ciwa_ar_stop_at=12)))
    assert rows["Alcohol withdrawal (CIWA-Ar): 12 or more stops the dose"].startswith("soft stop")
    assert rows["Breath alcohol"] == "hard stop"
    assert rows["Prescriber on site"] == "hard stop unless a prescriber overrides with a written reason"
    assert len(rows) == len(KARE.day_of.checks)
