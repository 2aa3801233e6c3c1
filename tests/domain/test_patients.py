"""Identity and measurement rules of the patient record."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.domain.errors import DomainError
from kapstone.domain.patients import (
    DIAGNOSIS_CATALOGUE,
    age_in_years,
    lookup_diagnosis,
    validate_birth_date,
    validate_body_measurement,
    validate_mrn,
)

TODAY = date(2026, 11, 28)


def refused(code, field, fn, *args, **kwargs):
    with pytest.raises(DomainError) as error:
        fn(*args, **kwargs)
    assert error.value.code == code
    assert error.value.field == field
    return error.value


@pytest.mark.parametrize(("weight", "ok"), [("19.9", False), ("20", True), ("400", True), ("400.1", False)])
def test_weight_bounds(weight, ok):
    if ok:
        assert validate_body_measurement(weight_kg=weight, height_cm=None, measured_on=TODAY, today=TODAY)[
            0
        ] == Decimal(weight)
    else:
        refused(
            "weight_out_of_range",
            "weight_kg",
            validate_body_measurement,
            weight_kg=weight,
            height_cm=None,
            measured_on=TODAY,
            today=TODAY,
        )


@pytest.mark.parametrize(("height", "ok"), [("99.9", False), ("100", True), ("250", True), ("250.1", False)])
def test_height_bounds(height, ok):
    if ok:
        assert validate_body_measurement(weight_kg=None, height_cm=height, measured_on=TODAY, today=TODAY)[
            1
        ] == Decimal(height)
    else:
        refused(
            "height_out_of_range",
            "height_cm",
            validate_body_measurement,
            weight_kg=None,
            height_cm=height,
            measured_on=TODAY,
            today=TODAY,
        )


def test_measurement_rules():
    refused(
        "measurement_empty",
        "weight_kg",
        validate_body_measurement,
        weight_kg=None,
        height_cm=None,
        measured_on=TODAY,
        today=TODAY,
    )
    refused(
        "measured_in_future",
        "measured_on",
        validate_body_measurement,
        weight_kg="70",
        height_cm=None,
        measured_on=date(2026, 11, 29),
        today=TODAY,
    )
    refused(
        "invalid_number",
        "weight_kg",
        validate_body_measurement,
        weight_kg="NaN",
        height_cm=None,
        measured_on=TODAY,
        today=TODAY,
    )
    refused(
        "invalid_number",
        "weight_kg",
        validate_body_measurement,
        weight_kg="abc",
        height_cm=None,
        measured_on=TODAY,
        today=TODAY,
    )


def test_weight_rounds_half_up_to_one_decimal():
    assert validate_body_measurement(weight_kg="70.25", height_cm=None, measured_on=TODAY, today=TODAY)[
        0
    ] == Decimal("70.3")


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
    assert lookup_diagnosis("f10.20").name == "Alcohol dependence, uncomplicated"
    refused("diagnosis_code_unknown", "code", lookup_diagnosis, "F32.1")


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1)))
def test_birth_date_returns_or_refuses(birth):
    try:
        validate_birth_date(birth, today=TODAY)
    except DomainError as error:
        assert error.code in ("birth_date_in_future", "birth_date_implausible")
