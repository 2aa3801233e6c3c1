"""Identity and measurement rules of the patient record."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.domain.dosing import WEIGHT_MAX_KG, WEIGHT_MIN_KG, check_weight_kg
from kapstone.domain.errors import DomainError
from kapstone.domain.patients import (
    BMI_EXPECTED_MAX,
    BMI_EXPECTED_MIN,
    COMORBID_CATALOGUE,
    DIAGNOSIS_CATALOGUE,
    WEIGHT_KG_MAX,
    WEIGHT_KG_MIN,
    age_in_years,
    body_mass_index,
    check_bmi,
    check_primary_diagnosis,
    lookup_diagnosis,
    measurement_in_force,
    validate_birth_date,
    validate_body_measurement,
    validate_mrn,
)

TODAY = date(2026, 11, 28)
NOW = datetime(2026, 11, 28, 15, 30, tzinfo=UTC)


def refused(code, field, fn, *args, **kwargs):
    with pytest.raises(DomainError) as error:
        fn(*args, **kwargs)
    assert error.value.code == code
    assert error.value.field == field
    return error.value


def measure(weight=None, height=None, *, measured_at=None, now=NOW):
    return validate_body_measurement(
        weight_kg=weight, height_cm=height, measured_at=measured_at or now, now=now
    )


@pytest.mark.parametrize(
    ("weight", "ok"),
    [("25", False), ("29.9", False), ("30", True), ("70.0", True), ("300", True), ("300.1", False)],
)
def test_weight_bounds(weight, ok):
    if ok:
        assert measure(weight).weight_kg == Decimal(weight)
    else:
        error = refused("weight_out_of_range", "weight_kg", measure, weight)
        assert f"{Decimal(weight).normalize():f} kg" in error.message


@pytest.mark.parametrize(("height", "ok"), [("99.9", False), ("100", True), ("250", True), ("250.1", False)])
def test_height_bounds(height, ok):
    if ok:
        assert measure(None, height).height_cm == Decimal(height)
    else:
        refused("height_out_of_range", "height_cm", measure, None, height)


def test_the_dose_calculation_uses_the_same_weight_limits():
    """One plausibility rule: every weight the chart accepts, the dose calculation accepts."""
    for weight in ("29.9", "30", "300", "300.1"):
        recorded = dosed = True
        try:
            measure(weight)
        except DomainError:
            recorded = False
        try:
            check_weight_kg(weight)
        except DomainError as error:
            assert error.code == "weight_out_of_range"
            dosed = False
        assert recorded == dosed, weight
    assert (WEIGHT_MIN_KG, WEIGHT_MAX_KG) == (WEIGHT_KG_MIN, WEIGHT_KG_MAX)


@given(st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False))
def test_recording_and_dosing_agree_on_every_weight(weight):
    try:
        measure(weight)
        recorded = True
    except DomainError:
        recorded = False
    try:
        check_weight_kg(weight)
        dosed = True
    except DomainError:
        dosed = False
    assert recorded == dosed


def test_measurement_rules():
    refused("measurement_empty", "weight_kg", measure, None, None)
    refused("measured_in_future", "measured_at", measure, "70", measured_at=NOW + timedelta(minutes=1))
    assert measure("70", measured_at=NOW).weight_kg == Decimal("70.0")  # exactly now is not the future
    refused("naive_datetime", "measured_at", measure, "70", measured_at=datetime(2026, 11, 28, 9, 0))
    refused("invalid_datetime", "measured_at", measure, "70", measured_at=date(2026, 11, 28))
    refused("invalid_number", "weight_kg", measure, "NaN")
    refused("invalid_number", "weight_kg", measure, "abc")
    refused("invalid_number", "weight_kg", measure, True)


def test_weight_rounds_half_up_to_one_decimal():
    assert measure("70.25").weight_kg == Decimal("70.3")


def test_the_time_is_kept_to_the_minute():
    """A form shows minutes: a re-weigh entered seconds after an API entry must tie, not lose."""
    taken = datetime(2026, 11, 28, 9, 41, 37, 123456, tzinfo=UTC)
    assert measure("70", measured_at=taken).measured_at == datetime(2026, 11, 28, 9, 41, tzinfo=UTC)
    # Later seconds of the current minute are not "in the future".
    assert measure("70", measured_at=NOW + timedelta(seconds=59)).measured_at == NOW


# --- The measurement in force ----------------------------------------------------------------------

AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_the_latest_taken_at_or_before_the_moment_is_in_force():
    entries = [
        (AT - timedelta(days=3), 1, "70.0"),
        (AT - timedelta(hours=2), 2, "72.0"),
        (AT + timedelta(minutes=1), 3, "90.0"),  # taken after the moment: not yet in force
    ]
    assert measurement_in_force(entries, at=AT) == (AT - timedelta(hours=2), 2, "72.0")
    assert measurement_in_force(entries, at=AT + timedelta(minutes=1))[2] == "90.0"  # at: included


def test_same_time_entries_the_one_entered_last_wins_whatever_the_list_order():
    same = AT - timedelta(hours=1)
    entries = [(same, 7, "72.0"), (same, 5, "70.0")]
    assert measurement_in_force(entries, at=AT)[2] == "72.0"
    assert measurement_in_force(list(reversed(entries)), at=AT)[2] == "72.0"


def test_a_back_dated_entry_is_placed_by_when_it_was_taken_not_entered():
    """Weighed at 08:00 (entered first) and at 07:00 (entered later, back-dated): 08:00 wins."""
    entries = [(AT.replace(hour=8), 1, "72.0"), (AT.replace(hour=7), 2, "70.0")]
    assert measurement_in_force(entries, at=AT)[2] == "72.0"


def test_nothing_in_force_before_the_first_measurement():
    assert measurement_in_force([], at=AT) is None
    assert measurement_in_force([(AT + timedelta(seconds=1), 1, "70")], at=AT) is None


def test_times_in_other_zones_compare_as_instants():
    new_york = ZoneInfo("America/New_York")
    earlier_local = datetime(2026, 11, 28, 6, 30, tzinfo=new_york)  # 11:30 UTC
    later_utc = datetime(2026, 11, 28, 11, 45, tzinfo=UTC)
    assert measurement_in_force([(later_utc, 1, "A"), (earlier_local, 2, "B")], at=AT)[2] == "A"


@pytest.mark.parametrize(
    ("entries", "code"),
    [
        ("70", "invalid_measurement"),
        ([(AT, 1)], "invalid_measurement"),
        ([(datetime(2026, 11, 28, 9, 0), 1, "70")], "naive_datetime"),
        ([(date(2026, 11, 28), 1, "70")], "invalid_datetime"),
        ([(AT, "1", "70")], "invalid_number"),
        ([(AT, True, "70")], "invalid_number"),
    ],
)
def test_refuses_malformed_entries(entries, code):
    with pytest.raises(DomainError) as error:
        measurement_in_force(entries, at=AT)
    assert error.value.code == code


def test_refuses_a_naive_moment():
    with pytest.raises(DomainError) as error:
        measurement_in_force([], at=datetime(2026, 11, 28, 12, 0))
    assert error.value.code == "naive_datetime"


moments = st.datetimes(
    min_value=datetime(2026, 11, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)
entry_lists = st.lists(st.tuples(moments, st.integers(1, 10_000)), max_size=12, unique_by=lambda e: e[1])


@given(entry_lists, moments, st.randoms(use_true_random=False))
def test_in_force_is_the_maximum_taken_at_or_before_and_ignores_list_order(raw, at, rng):
    entries = [(taken, order, f"value {order}") for taken, order in raw]
    chosen = measurement_in_force(entries, at=at)
    eligible = [e for e in entries if e[0] <= at]
    if not eligible:
        assert chosen is None
    else:
        assert chosen == max(eligible, key=lambda e: (e[0], e[1]))
        assert chosen[0] <= at
    shuffled = list(entries)
    rng.shuffle(shuffled)
    assert measurement_in_force(shuffled, at=at) == chosen


@given(entry_lists, moments, moments)
def test_an_entry_taken_after_the_moment_never_changes_what_is_in_force(raw, at, later):
    entries = [(taken, order, order) for taken, order in raw]
    before = measurement_in_force(entries, at=at)
    if later > at:
        assert measurement_in_force([*entries, (later, 99_999, "new")], at=at) == before


# --- Body-mass index ---------------------------------------------------------------------------------


def test_bmi_is_weight_over_height_squared_rounded_to_one_decimal():
    assert body_mass_index("72.0", "175") == Decimal("23.5")  # 72 / 1.75² = 23.51
    assert body_mass_index("101.8", "192") == Decimal("27.6")


@pytest.mark.parametrize(
    ("weight", "height", "bmi", "warns"),
    [
        ("30", "192", "8.1", True),  # a slip of digit or patient, or a patient in danger
        ("58.6", "192", "15.9", True),
        ("58.7", "192", "15.9", True),  # 15.92
        ("58.8", "192", "16.0", False),  # 15.95 rounds half-up to 16.0: the range starts there
        ("58.9", "192", "16.0", False),
        ("70", "175", "22.9", False),
        ("122.2", "175", "39.9", False),
        ("122.4", "175", "40.0", True),  # 39.97 → 40.0: obesity class III
        ("154", "170", "53.3", True),  # 70 kg entered as 154 lb
    ],
)
def test_bmi_warning_table(weight, height, bmi, warns):
    assert body_mass_index(weight, height) == Decimal(bmi)
    assert (check_bmi(weight, height) is not None) is warns


def test_bmi_warning_boundaries():
    assert body_mass_index("58.9", "192") == Decimal("16.0") and check_bmi("58.9", "192") is None
    assert body_mass_index("58.6", "192") == Decimal("15.9")
    low = check_bmi("58.6", "192")
    assert low.code == "bmi_out_of_expected_range" and "15.9" in low.message
    assert body_mass_index("122.2", "175") == Decimal("39.9") and check_bmi("122.2", "175") is None
    assert body_mass_index("122.5", "175") == Decimal("40.0")
    high = check_bmi("122.5", "175")
    assert high.bmi == Decimal("40.0") and "kilograms" in high.message


def test_the_25_kg_patient_of_the_issue_cannot_be_recorded():
    """25 kg at 192 cm (BMI 6.8) was accepted with no warning; it is now refused everywhere."""
    refused("weight_out_of_range", "weight_kg", measure, "25", "192")
    refused("weight_out_of_range", "weight_kg", check_weight_kg, "25")


@given(
    st.decimals(min_value=30, max_value=300, places=1),
    st.decimals(min_value=100, max_value=250, places=1),
)
def test_bmi_warns_exactly_outside_the_expected_range(weight, height):
    bmi = body_mass_index(weight, height)
    warning = check_bmi(weight, height)
    assert (warning is None) == (BMI_EXPECTED_MIN <= bmi < BMI_EXPECTED_MAX)
    if warning is not None:
        assert warning.bmi == bmi and str(bmi) in warning.message


@given(
    st.decimals(min_value=30, max_value=299, places=1),
    st.decimals(min_value=100, max_value=250, places=1),
)
def test_bmi_rises_with_weight(weight, height):
    assert body_mass_index(weight + 1, height) >= body_mass_index(weight, height)


def test_birth_date_rules():
    assert validate_birth_date(TODAY, today=TODAY) == TODAY
    refused("birth_date_in_future", "birth_date", validate_birth_date, date(2026, 11, 29), today=TODAY)
    assert validate_birth_date(date(1905, 11, 29), today=TODAY)  # 120 years and 364 days
    refused(
        "birth_date_implausible", "birth_date", validate_birth_date, date(1905, 11, 28), today=TODAY
    )  # 121


def test_age_counts_completed_years():
    assert age_in_years(date(2000, 11, 28), on=TODAY) == 26
    assert age_in_years(date(2000, 11, 29), on=TODAY) == 25
    assert age_in_years(date(2004, 2, 29), on=date(2022, 2, 28)) == 17
    assert age_in_years(date(2004, 2, 29), on=date(2022, 3, 1)) == 18


@pytest.mark.parametrize("mrn", ["", " ", "-lead", "has space", "x" * 33, "a;drop"])
def test_bad_mrns(mrn):
    refused("mrn_invalid", "mrn", validate_mrn, mrn)


@pytest.mark.parametrize("mrn", ["A", "N-1001", "2026/77.b", "x" * 32])
def test_good_mrns(mrn):
    assert validate_mrn(mrn) == mrn


def test_diagnosis_catalogue_is_f10_to_f19_only():
    assert {d.code[:3] for d in DIAGNOSIS_CATALOGUE} <= {f"F1{n}" for n in range(10)}
    assert all(d.kind == "substance_use" and d.substance for d in DIAGNOSIS_CATALOGUE)
    assert lookup_diagnosis("f10.20").name == "Alcohol dependence, uncomplicated"


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("F32.1", "Major depressive disorder, single episode, moderate"),
        ("f33.0", "Major depressive disorder, recurrent, mild"),
        ("F43.10", "Post-traumatic stress disorder, unspecified"),
        ("F43.12", "Post-traumatic stress disorder, chronic"),
        ("F41.1", "Generalized anxiety disorder"),
    ],
)
def test_comorbid_depression_ptsd_and_anxiety_can_be_coded_but_not_as_primary(code, name):
    entry = lookup_diagnosis(code)
    assert (entry.name, entry.kind, entry.substance) == (name, "comorbid", "")
    check_primary_diagnosis(entry, is_primary=False)
    refused("comorbid_not_primary", "is_primary", check_primary_diagnosis, entry, is_primary=True)
    check_primary_diagnosis(lookup_diagnosis("F10.20"), is_primary=True)


@pytest.mark.parametrize("code", ["F20.0", "F31.0", "F32.3", "F33.3", "F43.2", "F40.1", "Z63.0", ""])
def test_other_codes_are_refused(code):
    # Psychotic disorders and depression with psychotic features belong to the screening, not here.
    refused("diagnosis_code_unknown", "code", lookup_diagnosis, code)


def test_comorbid_codes_are_f32_f33_f41_and_f43_1_only():
    assert {d.code.split(".")[0] for d in COMORBID_CATALOGUE} == {"F32", "F33", "F41", "F43"}
    assert all(d.code.startswith("F43.1") for d in COMORBID_CATALOGUE if d.code.startswith("F43"))


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1)))
def test_birth_date_returns_or_refuses(birth):
    try:
        validate_birth_date(birth, today=TODAY)
    except DomainError as error:
        assert error.code in ("birth_date_in_future", "birth_date_implausible")
