"""Dose calculation, weight selection, session limits, double check and administered amount."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapstone.domain.dosing import (
    DEFAULT_MAX_MG_PER_KG,
    RateSegment,
    administered_amount_mg,
    calculate_dose,
    check_session_limits,
    compare_verification,
    select_weight,
    to_decimal,
)
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.patients import measurement_in_force

D = Decimal


def refused(code: str, field: str | None, **kwargs: object) -> DomainError:
    with pytest.raises(DomainError) as info:
        calculate_dose(**kwargs)  # type: ignore[arg-type]
    assert info.value.code == code, info.value
    assert info.value.field == field, info.value
    return info.value


IV_40 = {"route": "iv", "over_min": 40}


# --- Trial regimens ------------------------------------------------------------------------------


def test_calculates_dakwar_2019_infusion():
    result = calculate_dose(weight_kg=70, mg_per_kg="0.5", **IV_40, concentration_mg_per_ml=10, bag_ml=100)
    assert result.dose_mg == D("35.0")
    assert result.bolus_mg is None
    assert result.infusion_mg == D("35.0")
    assert result.volume_ml == D("3.50")
    assert result.rate_mg_per_min == D("0.88")  # 0.875 rounds half up
    assert result.rate_ml_per_h == D("150.00")
    assert result.bag_concentration_mg_per_ml == D("0.35")
    assert result.warnings == ()


def test_splits_dakwar_2020_bolus_and_infusion():
    result = calculate_dose(
        weight_kg=80,
        mg_per_kg="0.71",
        bolus_mg_per_kg="0.11",
        route="iv",
        over_min=50,
        concentration_mg_per_ml=50,
    )
    assert result.dose_mg == D("56.8")
    assert result.bolus_mg == D("8.8")
    assert result.infusion_mg == D("48.0")
    assert result.rate_mg_per_min == D("0.96")
    assert result.volume_ml == D("1.14")  # 56.8 / 50 = 1.136


def test_im_dose_has_no_infusion_fields():
    result = calculate_dose(weight_kg="72.4", mg_per_kg=2, route="im", concentration_mg_per_ml=100)
    assert result.dose_mg == D("144.8")
    assert (result.bolus_mg, result.infusion_mg, result.rate_mg_per_min, result.rate_ml_per_h) == (None,) * 4
    assert result.volume_ml == D("1.45")  # 1.448 rounds half up


@pytest.mark.parametrize("route", ["im", "in", "sl", "po", "IM", " sl "])
def test_accepts_every_non_iv_route(route):
    assert calculate_dose(weight_kg=70, mg_per_kg=1, route=route).route == route.strip().lower()


def test_rounds_amounts_half_up_to_a_tenth():
    # 70.25 kg × 0.5 mg/kg = 35.125 mg -> 35.1; 70.3 × 0.5 = 35.15 -> 35.2 (half up, not banker's)
    assert calculate_dose(weight_kg="70.25", mg_per_kg="0.5", route="im").dose_mg == D("35.1")
    assert calculate_dose(weight_kg="70.3", mg_per_kg="0.5", route="im").dose_mg == D("35.2")
    assert calculate_dose(weight_kg="70.5", mg_per_kg="0.5", route="im").dose_mg == D("35.3")


def test_volume_is_left_out_without_concentration():
    assert calculate_dose(weight_kg=70, mg_per_kg=1, **IV_40).volume_ml is None


# --- Weight boundaries ---------------------------------------------------------------------------


@pytest.mark.parametrize("weight", ["30", "300", 30, 300.0, D("30.0")])
def test_accepts_weight_at_the_bounds(weight):
    assert calculate_dose(weight_kg=weight, mg_per_kg="0.5", **IV_40).weight_kg == D(str(weight))


@pytest.mark.parametrize("weight", ["29.9", "300.1", 0, -70])
def test_refuses_weight_outside_30_to_300_kg(weight):
    error = refused("weight_out_of_range", "weight_kg", weight_kg=weight, mg_per_kg="0.5", **IV_40)
    assert str(weight) in error.message


# --- Dose boundaries -----------------------------------------------------------------------------


@pytest.mark.parametrize("mg_per_kg", [0, "0", "-0.5", "-0.01"])
def test_refuses_zero_or_negative_dose(mg_per_kg):
    refused("dose_out_of_range", "mg_per_kg", weight_kg=70, mg_per_kg=mg_per_kg, **IV_40)


def test_refuses_dose_that_rounds_to_zero_mg():
    refused("dose_out_of_range", "mg_per_kg", weight_kg=30, mg_per_kg="0.001", route="im")


def test_accepts_dose_exactly_at_default_max():
    assert calculate_dose(weight_kg=70, mg_per_kg="3.0", route="im").dose_mg == D("210.0")


def test_refuses_dose_0_01_above_default_max():
    error = refused("dose_above_max", "mg_per_kg", weight_kg=70, mg_per_kg="3.01", route="im")
    assert "3.01" in error.message and "3" in error.message


def test_refuses_a_slipped_decimal_point():
    refused("dose_above_max", "mg_per_kg", weight_kg=70, mg_per_kg="5", **IV_40)


def test_protocol_max_is_honoured_at_and_above():
    assert calculate_dose(weight_kg=70, mg_per_kg="0.8", max_mg_per_kg="0.8", **IV_40).dose_mg == D("56.0")
    refused("dose_above_max", "mg_per_kg", weight_kg=70, mg_per_kg="0.81", max_mg_per_kg="0.8", **IV_40)


def test_bolus_and_infusion_total_counts_against_max():
    # 0.6 infusion + 0.3 bolus = 0.9 total, above a 0.8 protocol maximum.
    refused(
        "dose_above_max",
        "mg_per_kg",
        weight_kg=70,
        mg_per_kg="0.9",
        bolus_mg_per_kg="0.3",
        max_mg_per_kg="0.8",
        **IV_40,
    )


@pytest.mark.parametrize("maximum", ["0", "-1", "10.01"])
def test_refuses_implausible_protocol_max(maximum):
    refused(
        "dose_out_of_range", "max_mg_per_kg", weight_kg=70, mg_per_kg="0.5", max_mg_per_kg=maximum, **IV_40
    )


def test_accepts_protocol_max_at_ceiling():
    assert calculate_dose(weight_kg=70, mg_per_kg="4", max_mg_per_kg="10", route="im").dose_mg == D("280.0")


# --- Route, duration, bolus ----------------------------------------------------------------------


@pytest.mark.parametrize("route", ["iv push", "oral", "", None, 3, "rectal"])
def test_refuses_unknown_route(route):
    refused("route_invalid", "route", weight_kg=70, mg_per_kg="0.5", route=route)


@pytest.mark.parametrize("over_min", [None, 0, "0", "-40"])
def test_iv_requires_a_positive_duration(over_min):
    refused(
        "infusion_requires_duration", "over_min", weight_kg=70, mg_per_kg="0.5", route="iv", over_min=over_min
    )


@pytest.mark.parametrize("over_min", ["10", "240"])
def test_accepts_infusion_time_at_bounds(over_min):
    assert calculate_dose(weight_kg=70, mg_per_kg="0.5", route="iv", over_min=over_min).over_min == D(
        over_min
    )


@pytest.mark.parametrize("over_min", ["9.99", "4", "240.01", "400"])
def test_refuses_infusion_time_outside_10_to_240_min(over_min):
    refused(
        "infusion_time_out_of_range", "over_min", weight_kg=70, mg_per_kg="0.5", route="iv", over_min=over_min
    )


def test_accepts_bolus_just_below_dose():
    result = calculate_dose(weight_kg=70, mg_per_kg="0.5", bolus_mg_per_kg="0.49", **IV_40)
    assert result.bolus_mg == D("34.3")
    assert result.infusion_mg == D("0.7")


@pytest.mark.parametrize("bolus", ["0.5", "0.51", "3"])
def test_refuses_bolus_equal_to_or_above_dose(bolus):
    refused(
        "bolus_exceeds_dose", "bolus_mg_per_kg", weight_kg=70, mg_per_kg="0.5", bolus_mg_per_kg=bolus, **IV_40
    )


def test_refuses_bolus_that_leaves_nothing_after_rounding():
    # 30 kg × 0.999 = 29.97 -> 30.0 mg; the dose 30 × 1 = 30.0 mg: no infusion part left.
    refused(
        "bolus_exceeds_dose", "bolus_mg_per_kg", weight_kg=30, mg_per_kg=1, bolus_mg_per_kg="0.999", **IV_40
    )


@pytest.mark.parametrize("bolus", ["0", "-0.1"])
def test_refuses_zero_or_negative_bolus(bolus):
    refused(
        "dose_out_of_range", "bolus_mg_per_kg", weight_kg=70, mg_per_kg="0.5", bolus_mg_per_kg=bolus, **IV_40
    )


def test_iv_only_values_on_other_routes_are_warned_and_ignored():
    result = calculate_dose(weight_kg=70, mg_per_kg=2, route="im", over_min=0, bolus_mg_per_kg=5, bag_ml=5000)
    assert result.warnings == (
        "duration_ignored_for_route",
        "bolus_ignored_for_route",
        "bag_ignored_for_route",
    )
    assert (result.over_min, result.bolus_mg, result.bag_ml, result.rate_ml_per_h) == (None,) * 4


def test_ignored_values_must_still_be_numbers():
    refused("invalid_number", "over_min", weight_kg=70, mg_per_kg=2, route="im", over_min="soon")


# --- Concentration and bag -----------------------------------------------------------------------


@pytest.mark.parametrize(("concentration", "warnings"), [("1", ("nonstandard_concentration",)), ("100", ())])
def test_accepts_concentration_at_bounds(concentration, warnings):
    result = calculate_dose(weight_kg=70, mg_per_kg="0.5", concentration_mg_per_ml=concentration, **IV_40)
    assert result.warnings == warnings


@pytest.mark.parametrize("concentration", ["0", "101", "0.99", "100.01", "-10"])
def test_refuses_concentration_outside_1_to_100(concentration):
    refused(
        "concentration_out_of_range",
        "concentration_mg_per_ml",
        weight_kg=70,
        mg_per_kg="0.5",
        concentration_mg_per_ml=concentration,
        **IV_40,
    )


@pytest.mark.parametrize("concentration", ["10", "50", "100", "10.0"])
def test_standard_vials_raise_no_warning(concentration):
    assert (
        calculate_dose(weight_kg=70, mg_per_kg=2, route="im", concentration_mg_per_ml=concentration).warnings
        == ()
    )


def test_warns_on_nonstandard_vial():
    result = calculate_dose(weight_kg=70, mg_per_kg=2, route="im", concentration_mg_per_ml="25")
    assert result.warnings == ("nonstandard_concentration",)


@pytest.mark.parametrize("bag", ["10", "1000"])
def test_accepts_bag_at_bounds(bag):
    result = calculate_dose(weight_kg=70, mg_per_kg="0.5", bag_ml=bag, **IV_40)
    assert result.rate_ml_per_h == (D(bag) * 60 / 40).quantize(D("0.01"))


@pytest.mark.parametrize("bag", ["9.99", "1000.01", "0", "-100"])
def test_refuses_bag_outside_10_to_1000_ml(bag):
    refused("bag_volume_out_of_range", "bag_ml", weight_kg=70, mg_per_kg="0.5", bag_ml=bag, **IV_40)


def test_refuses_bag_smaller_than_the_drug_it_holds():
    # 3.0 mg/kg × 300 kg = 900 mg at 1 mg/mL is 900 mL of drug: a 500 mL bag cannot hold it.
    refused(
        "bag_volume_out_of_range",
        "bag_ml",
        weight_kg=300,
        mg_per_kg=3,
        concentration_mg_per_ml=1,
        bag_ml=500,
        route="iv",
        over_min=60,
    )


def test_pump_rate_runs_the_bag_over_the_infusion_time():
    result = calculate_dose(
        weight_kg=70, mg_per_kg="0.71", bolus_mg_per_kg="0.11", route="iv", over_min=50, bag_ml=50
    )
    assert result.rate_ml_per_h == D("60.00")
    assert result.bag_concentration_mg_per_ml == D("0.84")  # 42.0 mg in 50 mL


# --- Number parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["NaN", "nan", "inf", "-Infinity", "abc", "", "1,5", [], {}, object(), True, None]
)
def test_refuses_non_numeric_weight(raw):
    refused("invalid_number", "weight_kg", weight_kg=raw, mg_per_kg="0.5", **IV_40)


@pytest.mark.parametrize("raw", [float("nan"), float("inf"), D("NaN"), D("sNaN"), D("-Infinity")])
def test_refuses_non_finite_numbers(raw):
    refused("invalid_number", "mg_per_kg", weight_kg=70, mg_per_kg=raw, **IV_40)


def test_converts_floats_through_their_shortest_text():
    assert to_decimal(0.1, field="x") == D("0.1")
    assert to_decimal(70, field="x") == D("70")
    assert to_decimal(" 70.50 ", field="x") == D("70.50")
    assert calculate_dose(weight_kg=70.1, mg_per_kg=0.3, route="im").dose_mg == D("21.0")  # 21.03


def test_absurd_magnitudes_are_refused_without_expanding_them():
    error = refused("weight_out_of_range", "weight_kg", weight_kg="1e999999", mg_per_kg="0.5", route="im")
    assert len(error.message) < 200


# --- Properties ----------------------------------------------------------------------------------

weights = st.decimals(min_value=30, max_value=300, places=2)
doses = st.decimals(min_value=D("0.01"), max_value=3, places=2)
durations = st.decimals(min_value=10, max_value=240, places=1)
concentrations = st.sampled_from([D(1), D(10), D(25), D(50), D(100)])


@settings(max_examples=200, deadline=None)
@given(
    weight=weights,
    mg_per_kg=st.decimals(min_value=D("0.01"), max_value=5, places=2),
    maximum=st.one_of(st.none(), st.decimals(min_value=D("0.1"), max_value=3, places=2)),
)
def test_dose_never_exceeds_the_maximum(weight, mg_per_kg, maximum):
    limit = DEFAULT_MAX_MG_PER_KG if maximum is None else maximum
    try:
        result = calculate_dose(weight_kg=weight, mg_per_kg=mg_per_kg, route="im", max_mg_per_kg=maximum)
    except DomainError as error:
        assert error.code in {"dose_above_max", "dose_out_of_range"}
        assert mg_per_kg > limit or (weight * mg_per_kg).quantize(D("0.1")) == 0
        return
    assert mg_per_kg <= limit
    # Exactly at or under the cap: rounding never lifts a dose over it.
    assert result.dose_mg <= weight * limit


def test_a_dose_at_the_cap_is_rounded_down_not_over_it():
    result = calculate_dose(weight_kg="216.35", mg_per_kg="3.0", route="im")
    assert result.dose_mg == D("649.0")  # 649.05 exactly; half-up would give 649.1 > the cap
    assert calculate_dose(weight_kg="216.35", mg_per_kg="2.0", route="im").dose_mg == D("432.7")


@settings(max_examples=150, deadline=None)
@given(weight=weights, mg_per_kg=doses, concentration=concentrations)
def test_volume_times_concentration_is_the_dose_within_rounding(weight, mg_per_kg, concentration):
    result = calculate_dose(
        weight_kg=weight, mg_per_kg=mg_per_kg, route="im", concentration_mg_per_ml=concentration
    )
    assert abs(result.volume_ml * concentration - result.dose_mg) <= D("0.005") * concentration


@settings(max_examples=150, deadline=None)
@given(
    weight=weights,
    mg_per_kg=doses,
    over_min=durations,
    bolus_share=st.sampled_from([None, D("0.1"), D("0.2")]),
)
def test_rate_times_time_is_the_infusion_dose_within_rounding(weight, mg_per_kg, over_min, bolus_share):
    bolus = None if bolus_share is None else (mg_per_kg * bolus_share).quantize(D("0.001"))
    try:
        result = calculate_dose(
            weight_kg=weight,
            mg_per_kg=mg_per_kg,
            bolus_mg_per_kg=bolus or None,
            route="iv",
            over_min=over_min,
        )
    except DomainError as error:
        assert error.code in {"dose_out_of_range", "bolus_exceeds_dose"}
        return
    assert result.infusion_mg is not None and result.rate_mg_per_min is not None
    assert result.infusion_mg + (result.bolus_mg or 0) == result.dose_mg
    assert abs(result.rate_mg_per_min * over_min - result.infusion_mg) <= D("0.005") * over_min


@settings(max_examples=150, deadline=None)
@given(
    weight=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8), st.integers()),
    mg_per_kg=st.one_of(st.floats(), st.text(max_size=6), st.decimals(allow_nan=True)),
    route=st.sampled_from(["iv", "im", "in", "sl", "po", "x"]),
    over_min=st.one_of(st.none(), st.floats(), st.integers(-5, 500)),
)
def test_returns_a_result_or_raises_domain_error(weight, mg_per_kg, route, over_min):
    try:
        calculate_dose(weight_kg=weight, mg_per_kg=mg_per_kg, route=route, over_min=over_min)
    except DomainError as error:
        assert error.code and error.field


# --- Which weight --------------------------------------------------------------------------------

SESSION = date(2025, 3, 31)
CLINIC_TZ = ZoneInfo("America/New_York")
# The session's cutoff: 14:00 in the clinic on the session day.
AT = datetime(2025, 3, 31, 14, 0, tzinfo=CLINIC_TZ)


def local(day: date, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CLINIC_TZ)


def pick(recorded, **kwargs):
    return select_weight(recorded, at=kwargs.pop("at", AT), session_date=SESSION, tz=CLINIC_TZ, **kwargs)


def test_selects_latest_weight_on_or_before_the_session():
    recorded = [
        (local(date(2025, 3, 1)), 1, "70"),
        (local(SESSION, 8), 2, D("71.5")),
        (local(date(2025, 4, 2)), 3, 90),  # after the session
        (local(SESSION, 15), 4, "88"),  # later on the session day than the cutoff
    ]
    chosen = pick(recorded)
    assert (chosen.weight_kg, chosen.entry_order, chosen.measured_on) == (D("71.5"), 2, SESSION)


def test_a_same_day_reweigh_wins():
    """The issue's case: 70.0 kg then 72.0 kg on the session day; the dose uses 72.0."""
    recorded = [(local(SESSION, 8, 0), 11, "70.0"), (local(SESSION, 8, 40), 12, "72.0")]
    assert pick(recorded).weight_kg == D("72.0")
    assert pick(list(reversed(recorded))).weight_kg == D("72.0")


def test_same_time_entries_the_one_entered_last_wins():
    recorded = [(local(SESSION, 8), 12, "72.0"), (local(SESSION, 8), 11, "70.0")]
    assert pick(recorded).weight_kg == D("72.0")


def test_weight_exactly_max_age_old_is_usable():
    # 23:30 in the clinic is already the next day in UTC: the age is counted in clinic days.
    assert pick([(local(SESSION - timedelta(days=30), 23, 30), 1, "70")]).weight_kg == D("70")


def test_refuses_weight_one_day_too_old_with_the_dates():
    with pytest.raises(WorkflowConflict) as info:
        pick([(local(SESSION - timedelta(days=31), 23, 30), 1, "70")])
    assert (info.value.code, info.value.field) == ("weight_too_old", "weight_kg")
    assert "2025-02-28" in info.value.message and "2025-03-31" in info.value.message


def test_protocol_can_shorten_the_weight_age():
    with pytest.raises(WorkflowConflict):
        pick([(local(SESSION - timedelta(days=8)), 1, "70")], max_age_days=7)
    assert pick([(local(SESSION - timedelta(days=7)), 1, "70")], max_age_days=7).weight_kg == D("70")


@pytest.mark.parametrize(
    "recorded", [[], [(local(date(2025, 4, 1)), 1, "70")], [(local(SESSION, 15), 1, "70")]]
)
def test_refuses_when_no_weight_before_the_session(recorded):
    with pytest.raises(WorkflowConflict) as info:
        pick(recorded)
    assert (info.value.code, info.value.field) == ("weight_missing", "weight_kg")


@pytest.mark.parametrize(
    ("recorded", "code"),
    [
        ([(datetime(2025, 3, 1, 9, 0), 1, "70")], "naive_datetime"),
        ([(date(2025, 3, 1), 1, "70")], "invalid_datetime"),
        ([("2025-03-01", 1, "70")], "invalid_datetime"),
        ([(local(date(2025, 3, 1)), 1, "heavy")], "invalid_number"),
        ([(local(date(2025, 3, 1)), "1", "70")], "invalid_number"),
        ([(local(date(2025, 3, 1)), "70")], "invalid_measurement"),
        ("70", "invalid_measurement"),
    ],
)
def test_refuses_malformed_measurements(recorded, code):
    with pytest.raises(DomainError) as info:
        pick(recorded)
    assert info.value.code == code and not isinstance(info.value, WorkflowConflict)


def test_refuses_a_missing_time_zone():
    with pytest.raises(DomainError) as info:
        select_weight([], at=AT, session_date=SESSION, tz="America/New_York")
    assert info.value.code == "invalid_timezone"


@given(
    st.lists(
        st.tuples(
            st.datetimes(
                min_value=datetime(2025, 2, 1), max_value=datetime(2025, 4, 30), timezones=st.just(UTC)
            ),
            st.decimals(min_value=30, max_value=300, places=1),
        ),
        max_size=8,
    )
)
def test_the_weight_dosed_is_the_weight_in_force_or_a_refusal(raw):
    recorded = [(taken, index, weight) for index, (taken, weight) in enumerate(raw)]
    in_force = measurement_in_force(recorded, at=AT)
    try:
        chosen = pick(recorded)
    except WorkflowConflict as conflict:
        assert conflict.code in ("weight_missing", "weight_too_old")
        assert (in_force is None) == (conflict.code == "weight_missing")
    else:
        assert (chosen.measured_at, chosen.entry_order, chosen.weight_kg) == in_force


# --- Session limits ------------------------------------------------------------------------------


def limits(previous, session=SESSION, min_days=7, max_sessions=3):
    check_session_limits(
        previous_dosing_dates=previous,
        session_date=session,
        min_days_between=min_days,
        max_sessions=max_sessions,
    )


def test_allows_session_exactly_min_days_after_previous():
    limits([SESSION - timedelta(days=7)])


def test_refuses_session_one_day_too_soon_with_the_dates():
    with pytest.raises(WorkflowConflict) as info:
        limits([SESSION - timedelta(days=6)])
    assert (info.value.code, info.value.field) == ("dosing_interval_too_short", "session_date")
    assert "2025-03-25" in info.value.message and "2025-03-31" in info.value.message
    assert "2025-04-01" in info.value.message  # earliest allowed date


def test_refuses_session_too_close_to_a_later_recorded_session():
    with pytest.raises(WorkflowConflict) as info:
        limits([SESSION + timedelta(days=2)])
    assert info.value.code == "dosing_interval_too_short"


def test_allows_the_last_session_of_the_course():
    limits([date(2025, 3, 1), date(2025, 3, 15)])


def test_refuses_session_beyond_the_course_maximum():
    with pytest.raises(WorkflowConflict) as info:
        limits([date(2025, 3, 15), date(2025, 2, 1), date(2025, 3, 1)])
    assert (info.value.code, info.value.field) == ("max_dosing_sessions_reached", "session_date")
    assert "2025-02-01, 2025-03-01, 2025-03-15" in info.value.message


@pytest.mark.parametrize(("min_days", "max_sessions"), [(-1, 3), (7, 0), ("7", 3), (7, True)])
def test_refuses_malformed_limits(min_days, max_sessions):
    with pytest.raises(DomainError) as info:
        limits([], min_days=min_days, max_sessions=max_sessions)
    assert info.value.code == "invalid_number"


# --- Independent double check --------------------------------------------------------------------


def test_verification_passes_on_equal_values_after_normalisation():
    compare_verification("70", D("50"), 70.0, "50.00")
    compare_verification(D("70.5"), None, "70.50", None)


@pytest.mark.parametrize(
    ("check_weight", "check_concentration", "field"),
    [("70.3", "50", "weight_kg"), ("70.350", "10", "concentration_mg_per_ml"), ("71", "10", "weight_kg")],
)
def test_verification_mismatch_names_the_field_but_not_the_first_value(
    check_weight, check_concentration, field
):
    with pytest.raises(DomainError) as info:
        compare_verification("70.35", "50", check_weight, check_concentration)
    assert (info.value.code, info.value.field) == ("verification_mismatch", field)
    assert "70.35" not in info.value.message and "50" not in info.value.message


def test_verification_mismatch_when_one_side_lacks_a_concentration():
    with pytest.raises(DomainError) as info:
        compare_verification("70", "50", "70", None)
    assert info.value.field == "concentration_mg_per_ml"


def test_verification_refuses_junk():
    with pytest.raises(DomainError) as info:
        compare_verification("70", "50", "seventy", "50")
    assert (info.value.code, info.value.field) == ("invalid_number", "weight_kg")


# --- Administered amount -------------------------------------------------------------------------

T0 = datetime(2025, 3, 31, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def seg(start: float, end: float, rate: str, unit: str = "mg_per_min") -> RateSegment:
    return RateSegment(start=at(start), end=at(end), rate=D(rate), unit=unit)


def test_full_infusion_at_the_ordered_rate_gives_the_dose():
    assert administered_amount_mg(ordered_dose_mg="35.0", segments=[seg(0, 40, "0.875")]) == D("35.0")


def test_counts_bolus_pause_and_rate_change():
    # Bolus 7.7 mg; 0.84 mg/min for 20 min, paused 5 min, 0.5 mg/min for 10 min -> 7.7 + 16.8 + 5.0
    amount = administered_amount_mg(
        ordered_dose_mg="49.7",
        bolus_given=True,
        bolus_mg="7.7",
        segments=[seg(25, 35, "0.5"), seg(0, 20, "0.84")],
    )
    assert amount == D("29.5")


def test_bolus_not_given_is_not_counted():
    amount = administered_amount_mg(ordered_dose_mg="49.7", bolus_given=False, bolus_mg="7.7", segments=[])
    assert amount == D("0.0")


def test_zero_rate_segment_is_a_pause():
    assert administered_amount_mg(ordered_dose_mg="35", segments=[seg(0, 10, "0"), seg(10, 20, "1")]) == D(
        "10.0"
    )


def test_pump_rate_in_ml_per_hour_uses_the_bag_concentration():
    # 150 mL/h of 0.35 mg/mL for 40 min = 100 mL = 35 mg.
    amount = administered_amount_mg(
        ordered_dose_mg="35.0", segments=[seg(0, 40, "150", "ml_per_h")], bag_concentration_mg_per_ml="0.35"
    )
    assert amount == D("35.0")


def test_stopping_early_gives_the_partial_amount():
    assert administered_amount_mg(ordered_dose_mg="35.0", segments=[seg(0, 13.5, "0.88")]) == D("11.9")


def test_rounded_pump_rate_for_the_full_time_is_capped_at_the_order():
    # Order 35.0 mg over 40 min: the pump runs the rounded 0.88 mg/min -> 35.2 mg, within rounding.
    assert administered_amount_mg(ordered_dose_mg="35.0", segments=[seg(0, 40, "0.88")]) == D("35.0")


def test_exact_amount_at_the_allowance_edge_is_accepted_and_just_over_is_refused():
    # Allowance = 0.05 + 0.005 × 40 = 0.25 mg above the 35.0 mg order.
    assert administered_amount_mg(ordered_dose_mg="35.0", segments=[seg(0, 40, "0.88125")]) == D("35.0")
    with pytest.raises(DomainError) as info:
        administered_amount_mg(ordered_dose_mg="35.0", segments=[seg(0, 40, "0.8813")])
    assert (info.value.code, info.value.field) == ("administered_exceeds_order", "segments")


def test_refuses_records_implying_more_than_ordered():
    with pytest.raises(DomainError) as info:
        administered_amount_mg(ordered_dose_mg="35.0", segments=[seg(0, 40, "0.88"), seg(45, 50, "0.88")])
    assert info.value.code == "administered_exceeds_order"
    assert "39.6" in info.value.message


def test_pauses_do_not_widen_the_allowance():
    with pytest.raises(DomainError) as info:
        administered_amount_mg(ordered_dose_mg="35.0", segments=[seg(0, 40, "0.8813"), seg(40, 10_000, "0")])
    assert info.value.code == "administered_exceeds_order"


def test_segments_accept_plain_mappings():
    segment = {"start": at(0), "end": at(10), "rate": "1.5", "unit": "mg_per_min"}
    assert administered_amount_mg(ordered_dose_mg=35, segments=[segment]) == D("15.0")


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        ({"segments": [seg(0, 20, "1"), seg(19, 30, "1")]}, "segments_overlap", "segments"),
        ({"segments": [seg(10, 10, "1")]}, "segment_time_invalid", "segments"),
        ({"segments": [seg(0, 10, "-1")]}, "rate_out_of_range", "rate"),
        ({"segments": [seg(0, 10, "1", "ml_per_min")]}, "rate_unit_invalid", "unit"),
        (
            {"segments": [seg(0, 10, "60", "ml_per_h")]},
            "bag_concentration_required",
            "bag_concentration_mg_per_ml",
        ),
        (
            {
                "segments": [
                    {"start": datetime(2025, 3, 31, 9), "end": at(5), "rate": 1, "unit": "mg_per_min"}
                ]
            },
            "naive_datetime",
            "start",
        ),
        (
            {"segments": [{"start": "09:00", "end": at(5), "rate": 1, "unit": "mg_per_min"}]},
            "invalid_datetime",
            "start",
        ),
        ({"segments": [{"start": at(0), "rate": 1}]}, "invalid_segment", "segments"),
        ({"segments": ["0.88"]}, "invalid_segment", "segments"),
        ({"segments": "0.88"}, "invalid_segment", "segments"),
        ({"bolus_given": True}, "invalid_number", "bolus_mg"),
        ({"bolus_given": True, "bolus_mg": "35.1"}, "bolus_exceeds_dose", "bolus_mg"),
        ({"bolus_given": "yes", "bolus_mg": "5"}, "invalid_boolean", "bolus_given"),
        ({"ordered_dose_mg": "0"}, "dose_out_of_range", "ordered_dose_mg"),
        ({"ordered_dose_mg": "3000.1"}, "dose_out_of_range", "ordered_dose_mg"),
        ({"ordered_dose_mg": "NaN"}, "invalid_number", "ordered_dose_mg"),
    ],
)
def test_administered_amount_refusals(kwargs, code, field):
    arguments = {"ordered_dose_mg": "35.0", **kwargs}
    with pytest.raises(DomainError) as info:
        administered_amount_mg(**arguments)
    assert (info.value.code, info.value.field) == (code, field)


@settings(max_examples=100, deadline=None)
@given(
    ordered=st.decimals(min_value=D("1"), max_value=900, places=1),
    rates=st.lists(
        st.tuples(st.integers(0, 10), st.integers(1, 60), st.decimals(min_value=0, max_value=5, places=2)),
        max_size=5,
    ),
)
def test_administered_never_exceeds_the_order(ordered, rates):
    segments, cursor = [], 0
    for gap, length, rate in rates:
        segments.append(seg(cursor + gap, cursor + gap + length, str(rate)))
        cursor += gap + length
    try:
        amount = administered_amount_mg(ordered_dose_mg=ordered, segments=segments)
    except DomainError as error:
        assert error.code == "administered_exceeds_order"
        return
    assert D(0) <= amount <= ordered


def test_every_dose_warning_has_words_for_screens():
    from kapstone.domain import dosing

    codes = [
        value
        for name, value in vars(dosing).items()
        if name.startswith("WARNING_") and isinstance(value, str)
    ]
    assert len(codes) == 4
    assert all(code in dosing.WARNING_WORDS and "_" not in dosing.warning_words(code) for code in codes)
