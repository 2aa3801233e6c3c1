"""Issue 11, defect 3: the baseline set of vital signs required before ketamine is given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.domain.baseline import check_baseline
from kapstone.domain.errors import DomainError

START = datetime(2026, 3, 10, 18, 30, tzinfo=UTC)
FULL = ("systolic_bp", "diastolic_bp", "heart_rate", "spo2", "respiratory_rate", "moaas")


def readings(at, codes=FULL):
    return [(code, at) for code in codes]


def test_a_complete_set_within_the_window_is_complete():
    check = check_baseline(readings(START - timedelta(minutes=10)), dosing_starts_at=START)
    assert check.complete and check.missing_keys == [] and check.message == ""


def test_nothing_recorded_names_every_item_in_words():
    check = check_baseline([], dosing_starts_at=START)
    assert check.missing_keys == ["blood_pressure", "heart_rate", "spo2", "respiratory_rate", "moaas"]
    assert check.message == (
        "Baseline vital signs missing: Blood pressure, heart rate, SpO2, respiratory rate, MOAA/S "
        "sedation score. A dose starts after a complete set (blood pressure, heart rate, SpO2, "
        "respiratory rate and MOAA/S sedation score) recorded in the 60 minutes before it."
    )


def test_names_only_what_is_missing():
    at = START - timedelta(minutes=5)
    check = check_baseline(
        readings(at, ("systolic_bp", "heart_rate", "spo2", "moaas")), dosing_starts_at=START
    )
    assert check.missing_keys == ["blood_pressure", "respiratory_rate"]
    assert check.message.startswith("Baseline vital signs missing: Blood pressure, respiratory rate. ")


def test_blood_pressure_needs_the_systolic_and_the_diastolic():
    at = START - timedelta(minutes=5)
    codes = ("diastolic_bp", "heart_rate", "spo2", "respiratory_rate", "moaas")
    assert check_baseline(readings(at, codes), dosing_starts_at=START).missing_keys == ["blood_pressure"]


@pytest.mark.parametrize(
    ("minutes_before", "counts"),
    [(0, True), (60, True), (60.01, False), (-0.01, False), (61, False)],
)
def test_window_bounds_include_the_start_and_exactly_sixty_minutes(minutes_before, counts):
    at = START - timedelta(minutes=minutes_before)
    assert check_baseline(readings(at), dosing_starts_at=START).complete is counts


def test_the_window_is_the_protocols():
    at = START - timedelta(minutes=45)
    assert not check_baseline(readings(at), dosing_starts_at=START, window_min=30).complete
    assert check_baseline(readings(at), dosing_starts_at=START, window_min=45).complete


def test_moaas_only_where_the_protocol_scores_it():
    at = START - timedelta(minutes=5)
    vitals = FULL[:-1]
    assert check_baseline(readings(at, vitals), dosing_starts_at=START).missing_keys == ["moaas"]
    check = check_baseline(readings(at, vitals), dosing_starts_at=START, moaas_required=False)
    assert check.complete


def test_items_may_come_from_different_sets():
    early = readings(START - timedelta(minutes=20), FULL[:-1])
    late = readings(START - timedelta(minutes=2), ("moaas",))
    assert check_baseline(early + late, dosing_starts_at=START).complete


@pytest.mark.parametrize("window", [0, 241, "60", True, None])
def test_refuses_a_window_outside_its_bounds(window):
    with pytest.raises(DomainError) as error:
        check_baseline([], dosing_starts_at=START, window_min=window)
    assert (error.value.code, error.value.field) == ("invalid_baseline_window", "baseline_window_min")


def test_refuses_times_without_a_zone():
    with pytest.raises(DomainError) as error:
        check_baseline([], dosing_starts_at=datetime(2026, 3, 10, 13, 30))
    assert error.value.code == "naive_datetime"
    with pytest.raises(DomainError) as error:
        check_baseline([("spo2", datetime(2026, 3, 10, 13, 30))], dosing_starts_at=START)
    assert error.value.code == "naive_datetime"


@given(
    st.lists(
        st.tuples(st.sampled_from((*FULL, "temperature")), st.integers(min_value=-120, max_value=30)),
        max_size=20,
    ),
    st.booleans(),
)
def test_an_item_is_missing_exactly_when_one_of_its_codes_has_no_reading_in_the_window(found, moaas):
    """Property: the missing items are those with a code never read within [start − 60, start]."""
    pairs = [(code, START + timedelta(minutes=offset)) for code, offset in found]
    check = check_baseline(pairs, dosing_starts_at=START, moaas_required=moaas)
    in_window = {code for code, offset in found if -60 <= offset <= 0}
    for item in check.required:
        assert (item in check.missing) == (not set(item.codes) <= in_window)
    assert check.complete == (not check.missing)
    assert ("moaas" in [i.key for i in check.required]) == moaas
