"""Preparation instructions: built from the protocol's day-of rules and the clinic's line."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.domain.errors import DomainError
from kapstone.domain.preparation import NO_DRIVING_MIN_HOURS, preparation_instructions
from kapstone.domain.protocols import (
    DOSING,
    FOLLOW_UP,
    INTEGRATION,
    PREPARATION,
    DayOfCheckRule,
    DayOfRules,
    get_protocol,
    protocol_from_dict,
    protocol_to_dict,
    validate_protocol,
)

DAY = date(2026, 12, 7)
RULES = DayOfRules()


def build(kind=DOSING, start=time(9, 30), rules=RULES, line="(212) 555-0148"):
    return preparation_instructions(
        kind=kind, scheduled_date=DAY, start_time=start, day_of=rules, clinic_name="Northside Clinic",
        contact_line=line,
    )  # fmt: skip


def by_code(instructions):
    return {i.code: i for i in instructions}


def test_a_ketamine_session_gets_every_instruction_in_order():
    instructions = build()
    assert [i.code for i in instructions] == [
        "no_food", "clear_fluids", "no_alcohol_or_drugs", "escort", "no_driving", "bring", "contact",
    ]  # fmt: skip
    text = by_code(instructions)
    assert text["no_food"].text == (
        "Do not eat anything for 6 hours before your session: no food after 03:30."
    )
    assert "until 2 hours before your session: until 07:30" in text["clear_fluids"].text
    assert "water" in text["clear_fluids"].text and "nothing to drink" in text["clear_fluids"].text
    assert "adult to take you home" in text["escort"].text
    assert "until the next day, after a night's sleep" in text["no_driving"].text
    assert f"at least {NO_DRIVING_MIN_HOURS} hours" in text["no_driving"].text
    assert "list of the medicines" in text["bring"].text
    assert text["contact"].text == "Questions, or you cannot come? Call (212) 555-0148."
    assert all(i.source for i in instructions)


def test_the_hours_are_the_protocols():
    rules = replace(RULES, fasting_min_hours=Decimal("8"), clear_fluids_min_hours=Decimal("3"))
    text = by_code(build(rules=rules, start=time(10, 0)))
    assert "for 8 hours before your session: no food after 02:00." in text["no_food"].text
    assert "until 3 hours before your session: until 07:00" in text["clear_fluids"].text
    half = replace(RULES, fasting_min_hours=Decimal("6.50"))
    assert "6.5 hours" in by_code(build(rules=half))["no_food"].text


def test_a_cut_off_before_midnight_says_the_day_before():
    text = by_code(build(start=time(4, 0)))
    assert text["no_food"].text.endswith("no food after 22:00 on the day before.")
    assert "until 02:00." in text["clear_fluids"].text  # the same day


def test_without_a_time_the_cut_offs_are_in_hours():
    text = by_code(build(start=None))
    assert text["no_food"].text == "Do not eat anything for 6 hours before your session."
    assert "until 2 hours before your session. After that" in text["clear_fluids"].text
    assert "time" not in text["no_food"].values


def test_clear_fluids_never_stop_before_food():
    rules = replace(RULES, fasting_min_hours=Decimal("1"), clear_fluids_min_hours=Decimal("2"))
    text = by_code(build(rules=rules, start=time(9, 0)))
    assert "no food after 08:00" in text["no_food"].text
    assert "until 1 hours before your session: until 08:00" in text["clear_fluids"].text


def test_no_fast_no_food_instruction_and_fluids_until_the_session():
    rules = replace(RULES, fasting_min_hours=Decimal("0"), clear_fluids_min_hours=Decimal("0"))
    codes = by_code(build(rules=rules))
    assert "no_food" not in codes
    assert codes["clear_fluids"].text.endswith("until your session.")


@pytest.mark.parametrize(
    ("checks", "expected"),
    [
        (("breath_alcohol", "urine_drug_screen"), "breath for alcohol and your urine for drugs"),
        (("breath_alcohol",), "checks your breath for alcohol"),
        (("urine_drug_screen",), "checks your urine"),
        ((), None),
    ],
)
def test_alcohol_and_drugs_follow_the_protocols_checks(checks, expected):
    rules = replace(RULES, checks=tuple(DayOfCheckRule(c) for c in (*checks, "escort")))
    codes = by_code(build(rules=rules))
    if expected is None:
        assert "no_alcohol_or_drugs" not in codes
    else:
        assert expected in codes["no_alcohol_or_drugs"].text


def test_without_a_contact_line_the_clinic_is_named():
    assert (
        by_code(build(line="  "))["contact"].text == "Questions, or you cannot come? Call Northside Clinic."
    )


@pytest.mark.parametrize("kind", [PREPARATION, INTEGRATION, FOLLOW_UP])
def test_a_therapy_session_needs_nothing_special(kind):
    assert [i.code for i in build(kind=kind)] == ["nothing_special", "contact"]


@given(
    fasting=st.decimals(min_value=0, max_value=24, places=2),
    fluids=st.decimals(min_value=0, max_value=24, places=2),
    start=st.one_of(st.none(), st.times()),
    kind=st.sampled_from([PREPARATION, DOSING, INTEGRATION, FOLLOW_UP]),
)
def test_always_ends_with_whom_to_call_and_never_fails(fasting, fluids, start, kind):
    rules = replace(RULES, fasting_min_hours=fasting, clear_fluids_min_hours=fluids)
    instructions = build(kind=kind, start=start, rules=rules)
    assert instructions[-1].code == "contact"
    assert all(i.text and "%(" not in i.text for i in instructions)
    if kind == DOSING:
        assert {"escort", "no_driving"} <= {i.code for i in instructions}


def test_clear_fluids_hours_are_a_protocol_parameter_with_bounds():
    protocol = get_protocol("kare-alcohol-grabski-2022")
    assert protocol.day_of.clear_fluids_min_hours == Decimal("2")
    data = protocol_to_dict(protocol)
    assert data["day_of"]["clear_fluids_min_hours"] == "2"
    del data["day_of"]["clear_fluids_min_hours"]  # a course snapshot from before the parameter
    assert protocol_from_dict(data).day_of.clear_fluids_min_hours == Decimal("2")
    for hours in ("-0.01", "24.01"):
        with pytest.raises(DomainError) as caught:
            validate_protocol(
                replace(protocol, day_of=replace(protocol.day_of, clear_fluids_min_hours=Decimal(hours)))
            )
        assert (caught.value.code, caught.value.field) == (
            "invalid_clear_fluids_hours",
            "day_of.clear_fluids_min_hours",
        )
    for hours in ("0", "24"):
        validate_protocol(
            replace(protocol, day_of=replace(protocol.day_of, clear_fluids_min_hours=Decimal(hours)))
        )
