"""Timeline Followback calendars: derived drinking outcomes, heavy days, tests merged as use."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapstone.domain.errors import DomainError
from kapstone.domain.tlfb import (
    HeavyDrinkingThresholds,
    TlfbDay,
    ToxicologyResult,
    first_heavy_day_after,
    first_use_after,
    merge_tests_into_calendar,
    summarise_tlfb,
)

D0 = date(2025, 3, 1)


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def drinks(*counts: int | None, start: int = 0) -> list[TlfbDay]:
    """An alcohol calendar from day ``start``; None leaves the day unreported."""
    return [TlfbDay.alcohol(day(start + i), c) for i, c in enumerate(counts) if c is not None]


def etg(n: int, result: str = "positive", confirmed: bool = True) -> ToxicologyResult:
    return ToxicologyResult(day=day(n), substance="alcohol", method="etg", result=result, confirmed=confirmed)


def refused(call, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call(*args, **kwargs)
    return caught.value


# --- days --------------------------------------------------------------------------------------


def test_alcohol_day_derives_use_from_drinks():
    assert TlfbDay.alcohol(D0, 0).used is False
    assert TlfbDay.alcohol(D0, Decimal("0.5")).used is True
    assert TlfbDay.alcohol(D0, 3).standard_drinks == Decimal(3)


def test_substance_names_are_normalised():
    assert TlfbDay.drug(D0, " Cocaine ", True).substance == "cocaine"


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        ({"day": datetime(2025, 3, 1, 12), "substance": "cocaine", "used": True}, "invalid_date", "day"),
        ({"day": "2025-03-01", "substance": "cocaine", "used": True}, "invalid_date", "day"),
        ({"day": D0, "substance": "", "used": True}, "invalid_substance", "substance"),
        ({"day": D0, "substance": "cocaine", "used": 1}, "invalid_value", "used"),
        ({"day": D0, "substance": "alcohol", "used": False}, "drinks_required", "standard_drinks"),
        (
            {"day": D0, "substance": "alcohol", "used": False, "standard_drinks": Decimal(2)},
            "inconsistent_day",
            "used",
        ),
        (
            {"day": D0, "substance": "alcohol", "used": True, "standard_drinks": -1},
            "invalid_amount",
            "standard_drinks",
        ),
        (
            {"day": D0, "substance": "alcohol", "used": True, "standard_drinks": 2.5},
            "invalid_amount",
            "standard_drinks",
        ),
        (
            {"day": D0, "substance": "alcohol", "used": True, "standard_drinks": Decimal("NaN")},
            "invalid_amount",
            "standard_drinks",
        ),
        (
            {"day": D0, "substance": "cocaine", "used": True, "standard_drinks": 1},
            "invalid_value",
            "standard_drinks",
        ),
        (
            {"day": D0, "substance": "cocaine", "used": False, "amount": Decimal(1)},
            "inconsistent_day",
            "amount",
        ),
        ({"day": D0, "substance": "cocaine", "used": True, "source": "guess"}, "invalid_value", "source"),
    ],
)
def test_refuses_malformed_days(kwargs, code, field):
    error = refused(TlfbDay, **kwargs)
    assert (error.code, error.field) == (code, field)


def test_drug_constructor_refuses_alcohol():
    assert refused(TlfbDay.drug, D0, "alcohol", True).code == "invalid_substance"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"result": "maybe"}, "result"), ({"confirmed": "yes"}, "confirmed"), ({"method": " "}, "method")],
)
def test_refuses_malformed_test_results(kwargs, field):
    base = {"day": D0, "substance": "alcohol", "method": "etg", "result": "positive", "confirmed": True}
    error = refused(ToxicologyResult, **{**base, **kwargs})
    assert (error.code, error.field) == ("invalid_value", field)


# --- summary -----------------------------------------------------------------------------------


def test_summary_of_a_hand_built_week_for_a_man():
    # 0, 2, 5, 0, unreported, 4, 12 drinks
    calendar = drinks(0, 2, 5, 0, None, 4, 12)
    summary = summarise_tlfb(calendar, window_start=day(0), window_end=day(6), sex="male")
    assert (summary.days_in_window, summary.days_reported, summary.days_missing) == (7, 6, 1)
    assert (summary.days_abstinent, summary.days_used) == (2, 4)
    assert summary.heavy_drinking_days == 2  # 5 and 12; 4 is not heavy for a man
    assert summary.percent_days_abstinent == Decimal("33.33")
    assert summary.percent_heavy_drinking_days == Decimal("33.33")
    assert summary.total_standard_drinks == Decimal(23)
    assert summary.drinks_per_drinking_day == Decimal("5.75")


def test_same_week_for_a_woman_counts_4_drinks_as_heavy():
    summary = summarise_tlfb(
        drinks(0, 2, 5, 0, None, 4, 12), window_start=day(0), window_end=day(6), sex="female"
    )
    assert summary.heavy_drinking_days == 3
    assert summary.percent_heavy_drinking_days == Decimal("50.00")


@pytest.mark.parametrize(
    ("sex", "count", "heavy"),
    [("female", 3, 0), ("female", 4, 1), ("female", 5, 1), ("male", 4, 0), ("male", 5, 1), ("male", 6, 1)],
)
def test_heavy_day_threshold_boundaries(sex, count, heavy):
    summary = summarise_tlfb(drinks(count), window_start=day(0), window_end=day(0), sex=sex)
    assert summary.heavy_drinking_days == heavy


def test_fractional_drinks_just_below_threshold_are_not_heavy():
    calendar = [TlfbDay.alcohol(day(0), Decimal("3.9"))]
    assert (
        summarise_tlfb(calendar, window_start=day(0), window_end=day(0), sex="female").heavy_drinking_days
        == 0
    )


def test_thresholds_are_parameters():
    stricter = HeavyDrinkingThresholds(male=Decimal(4), female=Decimal(3))
    summary = summarise_tlfb(
        drinks(4), window_start=day(0), window_end=day(0), sex="male", thresholds=stricter
    )
    assert summary.heavy_drinking_days == 1


def test_days_outside_the_window_are_ignored():
    summary = summarise_tlfb(drinks(9, 0, 0, 9), window_start=day(1), window_end=day(2), sex="male")
    assert (summary.days_reported, summary.days_used, summary.percent_days_abstinent) == (
        2,
        0,
        Decimal("100.00"),
    )
    assert summary.drinks_per_drinking_day is None


def test_empty_window_has_no_percentages():
    summary = summarise_tlfb([], window_start=day(0), window_end=day(29), sex="male", substance="alcohol")
    assert (summary.days_in_window, summary.days_missing, summary.heavy_drinking_days) == (30, 30, 0)
    assert summary.percent_days_abstinent is None and summary.percent_heavy_drinking_days is None
    assert summary.drinks_per_drinking_day is None


def test_empty_calendar_needs_the_substance():
    error = refused(summarise_tlfb, [], window_start=day(0), window_end=day(1), sex="male")
    assert (error.code, error.field) == ("substance_required", "substance")


def test_substance_given_must_match_the_calendar():
    error = refused(
        summarise_tlfb, drinks(0), window_start=day(0), window_end=day(1), sex="male", substance="cocaine"
    )
    assert (error.code, error.field) == ("mixed_substances", "days[0]")


def test_drug_calendar_has_no_drinking_measures_and_needs_no_sex():
    calendar = [TlfbDay.drug(day(0), "cocaine", True, amount=Decimal("0.5"), amount_unit="g")]
    calendar += [TlfbDay.drug(day(1), "cocaine", False)]
    summary = summarise_tlfb(calendar, window_start=day(0), window_end=day(1), sex=None)
    assert summary.percent_days_abstinent == Decimal("50.00")
    assert summary.heavy_drinking_days is None and summary.drinks_per_drinking_day is None


def test_alcohol_summary_requires_sex():
    error = refused(summarise_tlfb, drinks(1), window_start=day(0), window_end=day(0), sex=None)
    assert (error.code, error.field) == ("sex_required", "sex")
    error = refused(summarise_tlfb, drinks(1), window_start=day(0), window_end=day(0), sex="x")
    assert (error.code, error.field) == ("invalid_sex", "sex")


def test_refuses_window_ending_before_it_starts():
    error = refused(summarise_tlfb, [], window_start=day(1), window_end=day(0), sex="male")
    assert (error.code, error.field) == ("invalid_window", "window_end")


def test_refuses_datetime_window():
    error = refused(summarise_tlfb, [], window_start=datetime(2025, 1, 1), window_end=day(0), sex="male")
    assert (error.code, error.field) == ("invalid_date", "window_start")


def test_refuses_duplicate_and_mixed_calendars():
    error = refused(summarise_tlfb, drinks(1) + drinks(2), window_start=day(0), window_end=day(0), sex="male")
    assert (error.code, error.field) == ("duplicate_day", "days[1]")
    mixed = [*drinks(1), TlfbDay.drug(day(1), "cocaine", True)]
    error = refused(summarise_tlfb, mixed, window_start=day(0), window_end=day(1), sex="male")
    assert (error.code, error.field) == ("mixed_substances", "days[1]")
    error = refused(summarise_tlfb, [{"day": D0}], window_start=day(0), window_end=day(1), sex="male")
    assert (error.code, error.field) == ("invalid_calendar", "days[0]")
    assert refused(summarise_tlfb, "days", window_start=day(0), window_end=day(1), sex="male").code == (
        "invalid_calendar"
    )


# --- first use / first heavy day ---------------------------------------------------------------


def test_first_use_after_is_strictly_after_the_date():
    calendar = drinks(1, 0, 0, 2)
    assert first_use_after(calendar, day(0)) == day(3)
    assert first_use_after(calendar, day(-1)) == day(0)
    assert first_use_after(calendar, day(3)) is None


def test_first_heavy_day_for_a_woman_is_at_4_not_3():
    calendar = drinks(0, 3, 3, 4, 6)
    assert first_heavy_day_after(calendar, day(0), "female") == day(3)
    assert first_heavy_day_after(calendar, day(0), "male") == day(4)
    assert first_heavy_day_after(drinks(3, 3), day(-1), "female") is None


def test_first_heavy_day_refuses_a_drug_calendar():
    error = refused(first_heavy_day_after, [TlfbDay.drug(D0, "cocaine", True)], day(-1), "male")
    assert error.code == "not_alcohol"


# --- tests merged into the calendar ------------------------------------------------------------


def test_positive_etg_overrides_reported_abstinence():
    merged = merge_tests_into_calendar(drinks(0, 0, 0), [etg(1)], substance="alcohol")
    overridden = merged[1]
    assert overridden.used and overridden.source == "test" and overridden.self_report_overridden
    assert overridden.standard_drinks is None
    assert [d.used for d in merged] == [False, True, False]


def test_positive_test_on_an_unreported_day_adds_a_use_day():
    merged = merge_tests_into_calendar(drinks(0), [etg(5)], substance="alcohol")
    assert [(d.day, d.used, d.self_report_overridden) for d in merged] == [
        (day(0), False, False),
        (day(5), True, False),
    ]


def test_reported_use_is_kept_when_the_test_is_positive():
    merged = merge_tests_into_calendar(drinks(6), [etg(0)], substance="alcohol")
    assert merged[0].standard_drinks == Decimal(6) and merged[0].source == "self_report"


@pytest.mark.parametrize(
    "test",
    [
        etg(1, result="negative"),
        etg(1, result="inconclusive"),
        etg(1, confirmed=False),
        ToxicologyResult(
            day=day(1), substance="cocaine", method="urine_drug_screen", result="positive", confirmed=True
        ),
    ],
)
def test_negative_unconfirmed_or_other_substance_tests_change_nothing(test):
    calendar = drinks(0, 0)
    assert merge_tests_into_calendar(calendar, [test], substance="alcohol") == tuple(calendar)


def test_unconfirmed_positive_counts_when_confirmation_is_not_required():
    merged = merge_tests_into_calendar(
        drinks(0, 0), [etg(1, confirmed=False)], substance="alcohol", require_confirmation=False
    )
    assert merged[1].used


def test_negative_test_does_not_fill_a_missing_day():
    assert merge_tests_into_calendar([], [etg(3, result="negative")], substance="alcohol") == ()


def test_merged_unknown_amount_day_is_a_drinking_day_but_not_heavy():
    merged = merge_tests_into_calendar(drinks(0, 2), [etg(0)], substance="alcohol")
    summary = summarise_tlfb(merged, window_start=day(0), window_end=day(1), sex="female")
    assert (summary.days_used, summary.heavy_drinking_days, summary.days_with_unknown_drinks) == (2, 0, 1)
    assert summary.drinks_per_drinking_day == Decimal("2.00")
    assert first_use_after(merged, day(-1)) == day(0)


def test_merge_refuses_bad_tests_and_calendars_for_another_substance():
    error = refused(merge_tests_into_calendar, drinks(0), ["positive"], substance="alcohol")
    assert (error.code, error.field) == ("invalid_tests", "tests[0]")
    error = refused(merge_tests_into_calendar, drinks(0), [], substance="cocaine")
    assert error.code == "mixed_substances"


# --- properties --------------------------------------------------------------------------------

calendars = st.lists(st.one_of(st.none(), st.integers(0, 20)), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    counts=calendars,
    sex=st.sampled_from(["male", "female"]),
    start=st.integers(0, 10),
    length=st.integers(0, 40),
)
def test_property_summary_counts_are_consistent(counts, sex, start, length):
    summary = summarise_tlfb(
        drinks(*counts), window_start=day(start), window_end=day(start + length), sex=sex, substance="alcohol"
    )
    assert summary.days_reported + summary.days_missing == summary.days_in_window == length + 1
    assert summary.days_abstinent + summary.days_used == summary.days_reported
    assert 0 <= summary.heavy_drinking_days <= summary.days_used
    for percent in (summary.percent_days_abstinent, summary.percent_heavy_drinking_days):
        assert percent is None or Decimal(0) <= percent <= Decimal(100)


@settings(max_examples=60, deadline=None)
@given(counts=calendars)
def test_property_women_never_have_fewer_heavy_days_than_men(counts):
    window = {"window_start": day(0), "window_end": day(len(counts)), "substance": "alcohol"}
    men = summarise_tlfb(drinks(*counts), sex="male", **window).heavy_drinking_days
    women = summarise_tlfb(drinks(*counts), sex="female", **window).heavy_drinking_days
    assert women >= men


@settings(max_examples=60, deadline=None)
@given(counts=calendars, positives=st.lists(st.integers(0, 45), max_size=5))
def test_property_merging_tests_never_adds_abstinent_days(counts, positives):
    calendar = drinks(*counts)
    merged = merge_tests_into_calendar(calendar, [etg(n) for n in positives], substance="alcohol")
    window = {"window_start": day(0), "window_end": day(50), "sex": "male", "substance": "alcohol"}
    before, after = summarise_tlfb(calendar, **window), summarise_tlfb(merged, **window)
    assert after.days_abstinent <= before.days_abstinent
    assert after.days_used >= before.days_used
    assert all(m.used for m in merged if m.day in {day(n) for n in positives})
