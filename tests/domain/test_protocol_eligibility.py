"""A protocol's own eligibility criteria (KARE's, Grabski 2022) evaluated by the screening engine,
each at its boundary; the faithful protocols (six trials, KARE weekly, Dakwar 2019's inpatient
stay, KPT group integration, Krupitsky 2002 with its unverified figures)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from kapstone.domain.errors import DomainError
from kapstone.domain.protocols import (
    EligibilityCriteria,
    build_schedule,
    clone_protocol,
    get_protocol,
    protocol_from_dict,
    protocol_library,
    protocol_to_dict,
)
from kapstone.domain.screening import (
    BOOLEAN_ANSWERS,
    PROTOCOL_RULES,
    check_eligibility,
    protocol_inputs_needed,
    protocol_reasons,
    validate_answers,
)

KARE = get_protocol("kare-alcohol-grabski-2022")


def meets_kare(**overrides: object) -> dict[str, object]:
    """An answer set that passes the general rules and KARE's own criteria."""
    answers: dict[str, object] = dict.fromkeys(BOOLEAN_ANSWERS, False)
    answers.update(
        systolic_bp=120,
        diastolic_bp=80,
        age_years=40,
        psychosis_family_history=False,
        suicidal_ideation_current=False,
        antidepressant_use=False,
        detoxifications_count=2,
        bdi_ii_total=20,
        bmi_kg_m2="24.0",
        liver_tests_within_3x_uln="yes",
        urine_drug_screen="negative",
    )
    answers.update(overrides)
    return answers


def kare(**overrides: object):
    return check_eligibility(meets_kare(**overrides), criteria=KARE.eligibility, protocol_title="KARE")


def test_kare_carries_the_trial_criteria_with_their_source() -> None:
    c = KARE.eligibility
    assert (c.min_age_years, c.max_age_years) == (18, 60)
    assert (c.systolic_below_mmhg, c.diastolic_below_mmhg) == (140, 90)
    assert (c.min_bmi_kg_m2, c.max_bmi_kg_m2) == (Decimal("16"), Decimal("35"))
    assert (c.max_detoxifications, c.bdi_ii_above) == (10, 14)
    assert c.exclude_psychosis_family_history and c.exclude_seizure_history and c.liver_tests_within_3x_uln
    assert c.exclude_current_suicidal_ideation and c.require_negative_urine_drug_screen
    assert c.exclude_antidepressants
    assert "10.1176/appi.ajp.2021.21030277" in c.source and "2015-000222-11" in c.source


def test_every_other_protocol_adds_no_criteria() -> None:
    for protocol in protocol_library():
        if protocol.slug != KARE.slug:
            assert protocol.eligibility.is_empty and protocol_inputs_needed(protocol.eligibility) == ()
            assert (
                check_eligibility(meets_kare(age_years=70), criteria=protocol.eligibility).decision
                == "eligible"
            )


def test_meeting_every_criterion_is_eligible() -> None:
    result = kare()
    assert result.decision == "eligible" and result.reasons == ()


@pytest.mark.parametrize(
    ("overrides", "code", "decision"),
    [
        ({"age_years": 17}, "protocol_age_out_of_range", "ineligible"),
        ({"age_years": 18}, None, "eligible"),
        ({"age_years": 60}, None, "eligible"),
        ({"age_years": 61}, "protocol_age_out_of_range", "ineligible"),
        ({"systolic_bp": 139, "diastolic_bp": 89}, None, "eligible"),
        ({"systolic_bp": 140, "diastolic_bp": 89}, "protocol_blood_pressure_not_below_limit", "deferred"),
        ({"systolic_bp": 139, "diastolic_bp": 90}, "protocol_blood_pressure_not_below_limit", "deferred"),
        ({"bmi_kg_m2": "15.9"}, "protocol_bmi_out_of_range", "ineligible"),
        ({"bmi_kg_m2": "16.0"}, None, "eligible"),
        ({"bmi_kg_m2": 35}, None, "eligible"),
        ({"bmi_kg_m2": 35.1}, "protocol_bmi_out_of_range", "ineligible"),
        ({"detoxifications_count": 10}, None, "eligible"),
        ({"detoxifications_count": 11}, "protocol_too_many_detoxifications", "ineligible"),
        ({"bdi_ii_total": 14}, "protocol_bdi_ii_not_above_threshold", "ineligible"),
        ({"bdi_ii_total": 15}, None, "eligible"),
        ({"psychosis_family_history": True}, "protocol_psychosis_family_history", "ineligible"),
        ({"suicidal_ideation_current": True}, "protocol_suicidal_ideation", "ineligible"),
        ({"antidepressant_use": True}, "protocol_antidepressant_use", "ineligible"),
        ({"liver_tests_within_3x_uln": "no"}, "protocol_liver_tests_above_limit", "ineligible"),
        ({"liver_tests_within_3x_uln": "unknown"}, "protocol_liver_tests_unknown", "deferred"),
        ({"urine_drug_screen": "positive"}, "protocol_urine_drug_screen_positive", "deferred"),
        ({"urine_drug_screen": "not_done"}, "protocol_urine_drug_screen_not_done", "deferred"),
    ],
)
def test_each_criterion_at_its_boundary(overrides: dict, code: str | None, decision: str) -> None:
    result = kare(**overrides)
    # Age 17 is also under the general adult rule, which is reported first.
    general = ("under_18",) if overrides.get("age_years") == 17 else ()
    assert result.codes == general + ((code,) if code else ())
    assert result.decision == decision
    if code:
        assert result.reasons[-1].message.startswith("KARE: ")
        assert result.reasons[-1].source == KARE.eligibility.source


def test_a_seizure_history_needs_review_generally_and_excludes_from_kare() -> None:
    general = check_eligibility(meets_kare(seizure_history=True))
    assert (general.decision, general.codes) == ("needs_review", ("seizure_history",))
    result = kare(seizure_history=True)
    assert result.codes == ("seizure_history", "protocol_seizure_history") and result.decision == "ineligible"


def test_general_reasons_come_first_and_the_worst_decides() -> None:
    result = kare(stimulant_use=True, age_years=61, urine_drug_screen="positive")
    assert result.codes == (
        "stimulant_use",
        "protocol_age_out_of_range",
        "protocol_urine_drug_screen_positive",
    )
    assert result.decision == "ineligible"


@pytest.mark.parametrize("name", protocol_inputs_needed(KARE.eligibility)[4:])
def test_an_input_the_protocol_needs_is_required(name: str) -> None:
    answers = meets_kare()
    del answers[name]
    with pytest.raises(DomainError) as caught:
        check_eligibility(answers, criteria=KARE.eligibility)
    assert (caught.value.code, caught.value.field) == ("missing_answer", name)
    # ...but not for the general screening, which leaves protocol inputs out.
    assert check_eligibility(answers).decision == "eligible"


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"bmi_kg_m2": "24.55"}, "invalid_answer", "bmi_kg_m2"),
        ({"bmi_kg_m2": "nine"}, "invalid_answer", "bmi_kg_m2"),
        ({"bmi_kg_m2": True}, "invalid_answer", "bmi_kg_m2"),
        ({"bmi_kg_m2": "9.9"}, "implausible_value", "bmi_kg_m2"),
        ({"bmi_kg_m2": "80.1"}, "implausible_value", "bmi_kg_m2"),
        ({"bdi_ii_total": 64}, "implausible_value", "bdi_ii_total"),
        ({"bdi_ii_total": -1}, "implausible_value", "bdi_ii_total"),
        ({"detoxifications_count": 201}, "implausible_value", "detoxifications_count"),
        ({"liver_tests_within_3x_uln": "maybe"}, "invalid_answer", "liver_tests_within_3x_uln"),
        ({"urine_drug_screen": True}, "invalid_answer", "urine_drug_screen"),
        ({"antidepressant_use": "no"}, "invalid_answer", "antidepressant_use"),
    ],
)
def test_protocol_inputs_are_checked(overrides: dict, code: str, field: str) -> None:
    with pytest.raises(DomainError) as caught:
        validate_answers(meets_kare(**overrides))
    assert (caught.value.code, caught.value.field) == (code, field)


def test_a_blank_protocol_input_is_left_out_and_a_decimal_is_kept_as_text() -> None:
    checked = validate_answers(meets_kare(bdi_ii_total=None, bmi_kg_m2=24))
    assert "bdi_ii_total" not in checked and checked["bmi_kg_m2"] == "24.0"


def test_protocol_reasons_cover_every_documented_code() -> None:
    codes = {rule.code for rule in PROTOCOL_RULES}
    seen = set()
    for overrides in (
        {"age_years": 61, "systolic_bp": 150, "bmi_kg_m2": "40.0", "seizure_history": True},
        {"psychosis_family_history": True, "suicidal_ideation_current": True, "antidepressant_use": True},
        {"detoxifications_count": 12, "bdi_ii_total": 3, "liver_tests_within_3x_uln": "no"},
        {"liver_tests_within_3x_uln": "unknown", "urine_drug_screen": "positive"},
        {"urine_drug_screen": "not_done"},
    ):
        seen.update(
            r.code for r in protocol_reasons(validate_answers(meets_kare(**overrides)), KARE.eligibility)
        )
    assert seen == codes


# --- the criteria block ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"eligibility.min_age_years": 70}, "invalid_eligibility_criterion", "eligibility.max_age_years"),
        ({"eligibility.max_age_years": 121}, "invalid_eligibility_criterion", "eligibility.max_age_years"),
        ({"eligibility.min_bmi_kg_m2": "36"}, "invalid_eligibility_criterion", "eligibility.max_bmi_kg_m2"),
        ({"eligibility.bdi_ii_above": 63}, "invalid_eligibility_criterion", "eligibility.bdi_ii_above"),
        (
            {"eligibility.max_detoxifications": -1},
            "invalid_eligibility_criterion",
            "eligibility.max_detoxifications",
        ),
        (
            {"eligibility.systolic_below_mmhg": 300},
            "invalid_eligibility_criterion",
            "eligibility.systolic_below_mmhg",
        ),
        ({"eligibility.source": " "}, "missing_citation", "eligibility.source"),
        (
            {"eligibility.max_detoxifications": "10"},
            "invalid_protocol_field",
            "eligibility.max_detoxifications",
        ),
        ({"setting": "home"}, "unknown_setting", "setting"),
    ],
)
def test_the_criteria_and_setting_are_validated(changes: dict, code: str, field: str) -> None:
    with pytest.raises(DomainError) as caught:
        clone_protocol(KARE, changes)
    assert (caught.value.code, caught.value.field) == (code, field)


def test_a_clinic_may_loosen_the_criteria_in_a_clone() -> None:
    clone = clone_protocol(KARE, {"eligibility.max_age_years": 65})
    assert clone.eligibility.max_age_years == 65
    result = check_eligibility(meets_kare(age_years=65), criteria=clone.eligibility)
    assert result.decision == "eligible"


def test_criteria_default_to_empty_and_round_trip() -> None:
    assert EligibilityCriteria().is_empty and EligibilityCriteria(source="x").is_empty
    assert not EligibilityCriteria(max_detoxifications=10, source="x").is_empty
    assert protocol_from_dict(protocol_to_dict(KARE)) == KARE


# --- faithful protocols -----------------------------------------------------------------------


def test_ships_six_trials_in_order() -> None:
    assert [p.slug for p in protocol_library()] == [
        "kpt-alcohol-krupitsky-1997",
        "kpt-heroin-krupitsky-2002",
        "kpt-heroin-krupitsky-2007",
        "ketamine-mbrp-cocaine-dakwar-2019",
        "ketamine-met-alcohol-dakwar-2020",
        "kare-alcohol-grabski-2022",
    ]


def test_kare_gives_three_weekly_infusions_and_seven_therapy_sessions() -> None:
    start = date(2026, 3, 2)
    schedule = build_schedule(KARE, start)
    dosing = [s for s in schedule if s.kind == "dosing"]
    assert [s.scheduled_date - start for s in dosing] == [
        timedelta(days=7),
        timedelta(days=14),
        timedelta(days=21),
    ]
    assert all(s.dose.mg_per_kg == Decimal("0.8") and s.dose.route == "iv" for s in dosing)
    assert all(s.dose.infusion_min == 40 for s in dosing)
    therapy = [s for s in schedule if s.kind != "dosing"]
    assert len(therapy) == 7 and all(s.duration_min == 90 for s in therapy)
    assert any("day offsets" in note for note in KARE.unverified_notes)


def test_krupitsky_2002_validates_schedules_and_marks_its_unverified_numbers() -> None:
    protocol = get_protocol("kpt-heroin-krupitsky-2002")
    schedule = build_schedule(protocol, date(2026, 1, 5))
    dosing = [s for s in schedule if s.kind == "dosing"]
    assert len(dosing) == 1 and (dosing[0].dose.mg_per_kg, dosing[0].dose.route) == (Decimal("2.0"), "im")
    assert [s.group for s in schedule if s.kind == "integration"] == [True]
    result = protocol.published_result
    assert (result.ketamine.n, result.comparator.n) == (35, 35)
    assert result.ketamine.percent is None and result.comparator.percent is None
    assert "17% vs 2%" in result.effect and "unverified" in result.effect
    assert any("17% vs 2%" in note for note in result.unverified_notes)
    assert "J Subst Abuse Treat 2002;23(4):273-283" in protocol.source
    assert "0.2 mg/kg" in protocol.description


def test_krupitsky_1997_cites_the_paper_and_marks_the_dose_unverified() -> None:
    protocol = get_protocol("kpt-alcohol-krupitsky-1997")
    assert "Lucid" not in protocol.published_result.source
    assert "J Psychoactive Drugs 1997;29(2):165-183" in protocol.published_result.source
    assert any("2.5 mg/kg IM" in note and "unverified" in note for note in protocol.unverified_notes)


def test_kpt_protocols_schedule_group_integration() -> None:
    for slug in ("kpt-alcohol-krupitsky-1997", "kpt-heroin-krupitsky-2002", "kpt-heroin-krupitsky-2007"):
        protocol = get_protocol(slug)
        kpt_integration = [s for s in protocol.sessions if s.kind == "integration" and "(group)" in s.title]
        assert kpt_integration and all(s.group for s in kpt_integration)
    for slug in ("ketamine-mbrp-cocaine-dakwar-2019", "kare-alcohol-grabski-2022"):
        assert not any(s.group for s in get_protocol(slug).sessions)


def test_dakwar_2019_describes_its_inpatient_stay_with_daily_mbrp() -> None:
    protocol = get_protocol("ketamine-mbrp-cocaine-dakwar-2019")
    assert protocol.setting == "inpatient_then_outpatient"
    assert "5-day inpatient stay" in protocol.description and "daily" in protocol.description
    inpatient_days = sorted(s.day_offset for s in protocol.sessions if "inpatient" in s.title)
    assert inpatient_days == [0, 1, 2, 3, 4]


def test_a_clone_that_moves_the_setting_says_how() -> None:
    protocol = get_protocol("ketamine-mbrp-cocaine-dakwar-2019")
    with pytest.raises(DomainError) as caught:
        clone_protocol(protocol, {"setting": "outpatient"})
    assert (caught.value.code, caught.value.field) == ("setting_adaptation_required", "setting_adaptation")
    with pytest.raises(DomainError):
        clone_protocol(protocol, {"setting": "outpatient", "setting_adaptation": "  "})
    clone = clone_protocol(
        protocol,
        {
            "setting": "outpatient",
            "setting_adaptation": "Infusion as outpatients; MBRP twice weekly from day 0.",
        },
    )
    assert clone.setting == "outpatient" and clone.setting_adaptation.startswith("Infusion as outpatients")
    # A clone that keeps the trial's setting needs no note.
    assert clone_protocol(protocol, {"monitoring.min_observation_min": 150}).setting_adaptation == ""
