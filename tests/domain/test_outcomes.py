"""Outcome derivation on hand-built calendars: abstinence, relapse with censoring, ITT counts."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.outcomes import (
    OutcomeDefinition,
    count_abstinence,
    derive_abstinence,
    derive_relapse,
)
from kapstone.domain.tlfb import TlfbDay, ToxicologyResult

ANCHOR = date(2025, 1, 10)  # e.g. the last dosing session


def day(n: int) -> date:
    return ANCHOR + timedelta(days=n)


def drinks_from(start: int, *counts: int | None) -> list[TlfbDay]:
    return [TlfbDay.alcohol(day(start + i), c) for i, c in enumerate(counts) if c is not None]


def etg(n: int, confirmed: bool = True, result: str = "positive") -> ToxicologyResult:
    return ToxicologyResult(day=day(n), substance="alcohol", method="etg", result=result, confirmed=confirmed)


def alcohol(**overrides) -> OutcomeDefinition:
    return OutcomeDefinition(
        **{"substance": "alcohol", "window_start_day": 1, "window_end_day": 10, **overrides}
    )


# --- abstinence --------------------------------------------------------------------------------


def test_abstinent_when_every_window_day_is_reported_without_use():
    result = derive_abstinence(drinks_from(1, *[0] * 10), [], definition=alcohol(), anchor_date=ANCHOR)
    assert result.status == "abstinent" and result.itt_abstinent and not result.missing
    assert (result.window_start, result.window_end, result.days_in_window) == (day(1), day(10), 10)
    assert result.coverage == Decimal("1.0000")


def test_positive_etg_overrides_reported_abstinence():
    result = derive_abstinence(drinks_from(1, *[0] * 10), [etg(4)], definition=alcohol(), anchor_date=ANCHOR)
    assert result.status == "not_abstinent" and not result.itt_abstinent
    assert result.first_use == day(4) and result.self_reports_overridden == 1
    assert "positive test" in result.reason


def test_unconfirmed_positive_does_not_override_by_default():
    result = derive_abstinence(
        drinks_from(1, *[0] * 10), [etg(4, confirmed=False)], definition=alcohol(), anchor_date=ANCHOR
    )
    assert result.status == "abstinent"
    lenient = alcohol(require_test_confirmation=False)
    result = derive_abstinence(
        drinks_from(1, *[0] * 10), [etg(4, confirmed=False)], definition=lenient, anchor_date=ANCHOR
    )
    assert result.status == "not_abstinent"


def test_negative_test_does_not_make_a_missing_day_known():
    result = derive_abstinence(
        drinks_from(1, *[0] * 9), [etg(10, result="negative")], definition=alcohol(), anchor_date=ANCHOR
    )
    assert result.status == "unknown"


def test_reported_use_makes_not_abstinent_even_with_poor_coverage():
    result = derive_abstinence(drinks_from(3, 1), [], definition=alcohol(), anchor_date=ANCHOR)
    assert result.status == "not_abstinent" and result.days_with_use == 1 and not result.missing
    assert "reported use" in result.reason


@pytest.mark.parametrize(("reported", "status"), [(8, "unknown"), (9, "abstinent"), (10, "abstinent")])
def test_coverage_boundary(reported, status):
    definition = alcohol(minimum_coverage=Decimal("0.9"))
    result = derive_abstinence(drinks_from(1, *[0] * reported), [], definition=definition, anchor_date=ANCHOR)
    assert result.status == status
    assert result.missing == (status == "unknown")


def test_default_coverage_requires_every_day():
    result = derive_abstinence(drinks_from(1, *[0] * 9), [], definition=alcohol(), anchor_date=ANCHOR)
    assert result.status == "unknown" and result.coverage == Decimal("0.9000")
    assert "9 of 10" in result.reason


def test_use_outside_the_window_is_ignored():
    calendar = drinks_from(0, 8, *[0] * 10, 8)  # use on day 0 and day 11, window is days 1..10
    result = derive_abstinence(calendar, [], definition=alcohol(), anchor_date=ANCHOR)
    assert result.status == "abstinent"


def test_drug_abstinence_with_a_positive_urine_screen():
    definition = OutcomeDefinition(substance="cocaine", window_start_day=1, window_end_day=3)
    calendar = [TlfbDay.drug(day(n), "cocaine", False) for n in (1, 2, 3)]
    screen = ToxicologyResult(
        day=day(2), substance="cocaine", method="urine_drug_screen", result="positive", confirmed=True
    )
    assert derive_abstinence(calendar, [], definition=definition, anchor_date=ANCHOR).status == "abstinent"
    assert (
        derive_abstinence(calendar, [screen], definition=definition, anchor_date=ANCHOR).status
        == "not_abstinent"
    )


@pytest.mark.parametrize(("as_of", "refused"), [(9, True), (10, False), (11, False)])
def test_open_window_is_refused_as_workflow_conflict(as_of, refused):
    call = {"definition": alcohol(), "anchor_date": ANCHOR, "as_of": day(as_of)}
    if refused:
        with pytest.raises(WorkflowConflict) as caught:
            derive_abstinence(drinks_from(1, *[0] * 10), [], **call)
        assert (caught.value.code, caught.value.field) == ("outcome_window_open", "as_of")
    else:
        assert derive_abstinence(drinks_from(1, *[0] * 10), [], **call).status == "abstinent"


def test_abstinence_refuses_bad_inputs():
    with pytest.raises(DomainError) as caught:
        derive_abstinence([], [], definition={"substance": "alcohol"}, anchor_date=ANCHOR)
    assert (caught.value.code, caught.value.field) == ("invalid_outcome_definition", "definition")
    with pytest.raises(DomainError) as caught:
        derive_abstinence([], [], definition=alcohol(), anchor_date="2025-01-10")
    assert (caught.value.code, caught.value.field) == ("invalid_date", "anchor_date")
    with pytest.raises(DomainError) as caught:
        derive_abstinence(
            [TlfbDay.drug(day(1), "cocaine", True)], [], definition=alcohol(), anchor_date=ANCHOR
        )
    assert caught.value.code == "mixed_substances"


# --- relapse -----------------------------------------------------------------------------------


def relapse_definition(**overrides) -> OutcomeDefinition:
    return alcohol(acute_phase_days=7, **overrides)


def test_relapse_is_first_use_after_the_acute_phase():
    calendar = drinks_from(0, 3, 0, 0, 0, 0, 0, 0, 2, 0, 0, 1)  # use on day 0 (acute) and days 7, 10
    result = derive_relapse(calendar, [], definition=relapse_definition(), anchor_date=ANCHOR)
    # The acute phase ends on day 7; use on day 7 itself is inside it, so relapse is day 10.
    assert (result.event, result.relapse_date, result.time_days, result.cause) == (True, day(10), 3, "use")
    assert result.acute_phase_end == day(7) and result.censored_date is None


def test_censored_at_the_last_known_abstinent_day():
    calendar = drinks_from(8, 0, 0, None, 0)  # days 8, 9, 11 reported, no use
    result = derive_relapse(calendar, [], definition=relapse_definition(), anchor_date=ANCHOR)
    assert (result.event, result.censored_date, result.time_days, result.has_follow_up) == (
        False,
        day(11),
        4,
        True,
    )


def test_no_follow_up_is_censored_at_time_zero_and_marked():
    result = derive_relapse(drinks_from(0, 0, 0), [], definition=relapse_definition(), anchor_date=ANCHOR)
    assert (result.event, result.time_days, result.censored_date, result.has_follow_up) == (
        False,
        0,
        day(7),
        False,
    )


@pytest.mark.parametrize(
    ("sex", "drinks", "event"),
    [("female", 3, False), ("female", 4, True), ("male", 4, False), ("male", 5, True)],
)
def test_heavy_day_relapse_threshold_by_sex(sex, drinks, event):
    definition = relapse_definition(relapse_definition="heavy_day")
    result = derive_relapse(drinks_from(8, 2, drinks), [], definition=definition, anchor_date=ANCHOR, sex=sex)
    assert result.event is event
    if event:
        assert (result.relapse_date, result.cause, result.time_days) == (day(9), "heavy_day", 2)
    else:
        # Light drinking is observed time, not relapse: censored at the last reported day.
        assert result.censored_date == day(9)


def test_heavy_day_relapse_requires_sex():
    definition = relapse_definition(relapse_definition="heavy_day")
    with pytest.raises(DomainError) as caught:
        derive_relapse(drinks_from(8, 5), [], definition=definition, anchor_date=ANCHOR)
    assert (caught.value.code, caught.value.field) == ("sex_required", "sex")


def test_positive_test_is_relapse_under_any_use():
    result = derive_relapse(
        drinks_from(8, 0, 0, 0), [etg(9)], definition=relapse_definition(), anchor_date=ANCHOR
    )
    assert (result.event, result.relapse_date) == (True, day(9))


def test_positive_test_is_not_a_heavy_day_unless_the_definition_says_so():
    calendar = drinks_from(8, 0, 0, 0)
    plain = relapse_definition(relapse_definition="heavy_day")
    strict = relapse_definition(relapse_definition="heavy_day", unknown_amount_counts_as_heavy=True)
    assert not derive_relapse(calendar, [etg(9)], definition=plain, anchor_date=ANCHOR, sex="male").event
    assert derive_relapse(calendar, [etg(9)], definition=strict, anchor_date=ANCHOR, sex="male").event


def test_dropout_counts_as_relapse_when_the_definition_says_so():
    calendar = drinks_from(8, 0, 0)
    with_dropout = relapse_definition(dropout_counts_as_relapse=True)
    result = derive_relapse(calendar, [], definition=with_dropout, anchor_date=ANCHOR, dropout_date=day(12))
    assert (result.event, result.relapse_date, result.cause, result.time_days) == (
        True,
        day(12),
        "dropout",
        5,
    )
    ignored = derive_relapse(
        calendar, [], definition=relapse_definition(), anchor_date=ANCHOR, dropout_date=day(12)
    )
    assert not ignored.event


def test_dropout_in_the_acute_phase_is_relapse_at_time_zero():
    definition = relapse_definition(dropout_counts_as_relapse=True)
    result = derive_relapse([], [], definition=definition, anchor_date=ANCHOR, dropout_date=day(3))
    assert (result.event, result.time_days, result.cause) == (True, 0, "dropout")


def test_earlier_use_wins_over_a_later_dropout():
    definition = relapse_definition(dropout_counts_as_relapse=True)
    result = derive_relapse(
        drinks_from(8, 0, 1), [], definition=definition, anchor_date=ANCHOR, dropout_date=day(20)
    )
    assert (result.relapse_date, result.cause) == (day(9), "use")


@pytest.mark.parametrize(("use_day", "event"), [(16, True), (17, True), (18, False)])
def test_horizon_censors_later_relapse(use_day, event):
    definition = relapse_definition(relapse_horizon_days=10)  # horizon ends on day 17
    calendar = drinks_from(8, *[0] * (use_day - 8), 1)
    result = derive_relapse(calendar, [], definition=definition, anchor_date=ANCHOR)
    assert result.event is event
    if not event:
        assert result.censored_date == day(17) and result.time_days == 10


# --- definition and ITT ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"substance": "cocaine", "relapse_definition": "heavy_day"}, "relapse_definition"),
        ({"relapse_definition": "first_drink"}, "relapse_definition"),
        ({"window_start_day": 10, "window_end_day": 9}, "window_end_day"),
        ({"window_start_day": 1.5}, "window_start_day"),
        ({"acute_phase_days": -1}, "acute_phase_days"),
        ({"minimum_coverage": Decimal("1.01")}, "minimum_coverage"),
        ({"minimum_coverage": 0.8}, "minimum_coverage"),
        ({"relapse_horizon_days": 0}, "relapse_horizon_days"),
        ({"dropout_counts_as_relapse": "yes"}, "dropout_counts_as_relapse"),
    ],
)
def test_refuses_invalid_outcome_definitions(overrides, field):
    with pytest.raises(DomainError) as caught:
        alcohol(**overrides)
    assert (caught.value.code, caught.value.field) == ("invalid_outcome_definition", field)


def test_from_course_days_matches_the_protocol_library_numbering():
    # Krupitsky 1997 in the protocol library: 365-day window ending on course day 372, acute phase to day 8.
    definition = OutcomeDefinition.from_course_days(
        substance="alcohol",
        window_days=365,
        window_ends_day=372,
        acute_phase_end_day=8,
        heavy_day_min_drinks_men=5,
        heavy_day_min_drinks_women=4,
        relapse_definition="heavy_day",
    )
    assert (definition.window_start_day, definition.window_end_day, definition.acute_phase_days) == (
        8,
        372,
        8,
    )
    assert (definition.heavy_drinks_male, definition.heavy_drinks_female) == (Decimal(5), Decimal(4))
    assert definition.relapse_definition == "heavy_day"
    result = derive_abstinence([], [], definition=definition, anchor_date=ANCHOR)
    assert result.days_in_window == 365 and result.window_start == day(8)


def test_from_course_days_refuses_an_empty_window():
    with pytest.raises(DomainError) as caught:
        OutcomeDefinition.from_course_days(
            substance="cocaine", window_days=0, window_ends_day=35, acute_phase_end_day=35
        )
    assert (caught.value.code, caught.value.field) == ("invalid_outcome_definition", "window_days")


def test_refuses_non_positive_heavy_threshold():
    with pytest.raises(DomainError) as caught:
        alcohol(heavy_drinks_female=Decimal(0))
    assert (caught.value.code, caught.value.field) == ("invalid_threshold", "heavy_drinks_female")


def test_itt_counts_missing_as_not_abstinent_and_reports_them():
    definition = alcohol()
    results = [
        derive_abstinence(drinks_from(1, *[0] * 10), [], definition=definition, anchor_date=ANCHOR),
        derive_abstinence(drinks_from(1, *[0] * 10), [etg(2)], definition=definition, anchor_date=ANCHOR),
        derive_abstinence([], [], definition=definition, anchor_date=ANCHOR),
    ]
    counts = count_abstinence(results)
    assert (counts.n, counts.abstinent, counts.not_abstinent, counts.missing, counts.completers_n) == (
        3,
        1,
        2,
        1,
        2,
    )


def test_count_abstinence_refuses_other_objects():
    with pytest.raises(DomainError) as caught:
        count_abstinence([{"status": "abstinent"}])
    assert (caught.value.code, caught.value.field) == ("invalid_results", "results[0]")


# --- properties --------------------------------------------------------------------------------

calendars = st.lists(st.one_of(st.none(), st.integers(0, 8)), max_size=30)


@settings(max_examples=60, deadline=None)
@given(counts=calendars, positives=st.lists(st.integers(0, 30), max_size=3), acute=st.integers(0, 10))
def test_property_relapse_time_is_never_negative_and_event_is_after_acute_phase(counts, positives, acute):
    definition = alcohol(acute_phase_days=acute)
    result = derive_relapse(
        drinks_from(0, *counts), [etg(n) for n in positives], definition=definition, anchor_date=ANCHOR
    )
    assert result.time_days >= 0
    if result.event:
        assert result.relapse_date > result.acute_phase_end
        assert result.time_days == (result.relapse_date - result.acute_phase_end).days
    else:
        assert result.censored_date >= result.acute_phase_end


@settings(max_examples=60, deadline=None)
@given(counts=calendars, positive=st.integers(0, 30))
def test_property_a_positive_test_never_improves_abstinence(counts, positive):
    definition = alcohol(minimum_coverage=Decimal("0.5"))
    without = derive_abstinence(drinks_from(0, *counts), [], definition=definition, anchor_date=ANCHOR)
    with_test = derive_abstinence(
        drinks_from(0, *counts), [etg(positive)], definition=definition, anchor_date=ANCHOR
    )
    assert not (with_test.itt_abstinent and not without.itt_abstinent)
    if without.status == "not_abstinent":
        assert with_test.status == "not_abstinent"
