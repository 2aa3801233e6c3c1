"""The code table from OBX-3/OBX-6 to the vitals catalogue, sentinels and statuses (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from kapstone.domain.monitoring.observations import VITAL_SIGNS
from kapstone.interop.hl7.mapping import (
    LOINC_CODES,
    MDC_METRICS,
    Coded,
    Mapped,
    Skipped,
    map_observation,
    parse_hl7_time,
)

PERCENT = Coded("262688", "MDC_DIM_PERCENT", "MDC")
BPM = Coded("264864", "MDC_DIM_BEAT_PER_MIN", "MDC")
RPM = Coded("264928", "MDC_DIM_RESP_PER_MIN", "MDC")
MMHG = Coded("266016", "MDC_DIM_MMHG", "MDC")
DEGC = Coded("268192", "MDC_DIM_DEGC", "MDC")
UNIT_FOR = {
    "spo2": PERCENT,
    "heart_rate": BPM,
    "respiratory_rate": RPM,
    "systolic_bp": MMHG,
    "diastolic_bp": MMHG,
    "temperature": DEGC,
}


def mapped(code: Coded, value: str = "42", unit: Coded | None = None, status: str = "R"):
    return map_observation(code=code, value=value, unit=unit or Coded(""), status=status)


@pytest.mark.parametrize(
    ("mdc", "name", "ours"),
    [
        ("150456", "MDC_PULS_OXIM_SAT_O2", "spo2"),
        ("147842", "MDC_ECG_HEART_RATE", "heart_rate"),
        ("149530", "MDC_PULS_OXIM_PULS_RATE", "heart_rate"),
        ("149546", "MDC_PULS_RATE_NON_INV", "heart_rate"),
        ("150021", "MDC_PRESS_BLD_NONINV_SYS", "systolic_bp"),
        ("150022", "MDC_PRESS_BLD_NONINV_DIA", "diastolic_bp"),
        ("150301", "MDC_PRESS_CUFF_SYS", "systolic_bp"),
        ("150302", "MDC_PRESS_CUFF_DIA", "diastolic_bp"),
        ("151562", "MDC_RESP_RATE", "respiratory_rate"),
        ("150344", "MDC_TEMP", "temperature"),
        ("150364", "MDC_TEMP_BODY", "temperature"),
    ],
)
def test_each_mdc_code_maps_to_our_code(mdc, name, ours):
    assert MDC_METRICS[mdc].reference_id == name
    result = mapped(Coded(mdc, name, "MDC"), "37", UNIT_FOR[ours])
    assert result == Mapped(ours, Decimal("37"))
    # The code alone (no coding system) is read as MDC too.
    assert mapped(Coded(mdc), "37", UNIT_FOR[ours]) == Mapped(ours, Decimal("37"))


@pytest.mark.parametrize("loinc", ["8867-4", "59408-5", "8480-6", "8462-4", "9279-1", "8310-5"])
def test_each_loinc_code_of_the_catalogue_maps(loinc):
    ours = LOINC_CODES[loinc]
    assert VITAL_SIGNS[ours].loinc == loinc
    unit = Coded(VITAL_SIGNS[ours].unit_ucum, "", "UCUM")
    assert mapped(Coded(loinc, "x", "LN"), "37", unit) == Mapped(ours, Decimal("37"))
    assert mapped(Coded(loinc), "37", Coded(VITAL_SIGNS[ours].unit_ucum)) == Mapped(ours, Decimal("37"))


def test_the_mean_pressure_is_unknown_not_stored_as_another_code():
    for mean in ("150023", "150303"):
        result = mapped(Coded(mean, "MDC_PRESS_BLD_NONINV_MEAN", "MDC"), "93", MMHG)
        assert isinstance(result, Skipped) and result.reason == "unknown_code" and result.reported


@pytest.mark.parametrize(
    "code",
    [
        Coded("150456", "MDC_PULS_OXIM_SAT_O2", "99PHILIPS"),  # our number in a vendor's table
        Coded("8867-4", "Heart rate", "MDC"),  # a LOINC code said to be MDC
        Coded("393216", "NIBP_SYS", "EHC"),  # a vendor's private code
        Coded("2708-6", "Oxygen saturation in Arterial blood", "LN"),  # not in our catalogue
        Coded("", "SpO2", ""),  # a name alone
    ],
)
def test_unknown_codes_are_reported_never_guessed(code):
    result = mapped(code, "97", PERCENT)
    assert isinstance(result, Skipped) and result.reason == "unknown_code" and result.reported


@pytest.mark.parametrize(
    "value",
    [
        "8388606",
        "8388607",
        "8388608",
        "8388609",
        "8388610",
        "8388611",
        "8388607.0",
        "-",
        "",
        "  ",
        "NaN",
        "---",
    ],
)
def test_no_value_sentinels_are_dropped_quietly(value):
    result = mapped(Coded("150456", "", "MDC"), value, PERCENT)
    assert isinstance(result, Skipped) and result.reason == "no_value" and not result.reported


@pytest.mark.parametrize("status", ["D", "W", "X", "I", "N", "O", "Q"])
def test_results_not_final_or_deleted_are_dropped(status):
    result = mapped(Coded("150456", "", "MDC"), "97", PERCENT, status)
    assert isinstance(result, Skipped) and result.reason == "not_final" and not result.reported


@pytest.mark.parametrize("status", ["", "F", "R", "C", "P", "S", "U", "f"])
def test_result_statuses_that_are_results_are_kept(status):
    assert mapped(Coded("150456", "", "MDC"), "97", PERCENT, status) == Mapped("spo2", Decimal("97"))


@pytest.mark.parametrize(
    ("unit", "ours", "value", "expected"),
    [
        (Coded("%", "", "UCUM"), "spo2", "96", "96"),
        (Coded("/min"), "heart_rate", "61", "61"),
        (Coded("{beats}/min", "", "UCUM"), "heart_rate", "61", "61"),
        (Coded("bpm"), "heart_rate", "61", "61"),
        (Coded("mm[Hg]", "", "UCUM"), "systolic_bp", "121", "121"),
        (Coded("mmHg"), "systolic_bp", "121", "121"),
        (Coded("Cel", "", "UCUM"), "temperature", "36.9", "36.9"),
        (Coded("266560", "MDC_DIM_FAHR", "MDC"), "temperature", "98.6", "37.00"),
        (Coded("[degF]", "", "UCUM"), "temperature", "100.4", "38.00"),
        (Coded("[degF]"), "temperature", "97.1", "36.17"),
    ],
)
def test_units_are_read_and_fahrenheit_converted(unit, ours, value, expected):
    code = Coded(VITAL_SIGNS[ours].loinc, "", "LN")
    assert mapped(code, value, unit) == Mapped(ours, Decimal(expected))


@pytest.mark.parametrize(
    ("ours", "unit"),
    [
        ("systolic_bp", Coded("kPa", "", "UCUM")),  # a real unit we do not convert
        ("temperature", Coded("K", "", "UCUM")),
        ("spo2", MMHG),  # a unit of another quantity
        ("heart_rate", Coded("", "MDC_DIM_BEAT_PER_MIN", "MDC")),  # a name without its code
        ("systolic_bp", Coded("")),  # a pressure needs its unit
        ("temperature", Coded("")),  # a temperature too (°C or °F)
    ],
)
def test_units_we_do_not_know_for_the_code_are_reported(ours, unit):
    result = mapped(Coded(VITAL_SIGNS[ours].loinc, "", "LN"), "37", unit)
    assert isinstance(result, Skipped) and result.reason == "unknown_unit" and result.reported


def test_a_saturation_or_a_rate_without_a_unit_is_read_in_its_one_unit():
    assert mapped(Coded("150456", "", "MDC"), "97", Coded("")) == Mapped("spo2", Decimal("97"))
    assert mapped(Coded("151562", "", "MDC"), "12", Coded("")) == Mapped("respiratory_rate", Decimal("12"))


@pytest.mark.parametrize("value", ["abc", "9 7", "1e3", "97%", "<90"])
def test_a_value_that_is_not_a_number_is_reported(value):
    result = mapped(Coded("150456", "", "MDC"), value, PERCENT)
    assert isinstance(result, Skipped) and result.reason == "invalid_value" and result.reported


def test_plausibility_is_not_judged_here():
    # 150 % is refused by the vitals ingest (implausible_value), not skipped on the way in.
    assert mapped(Coded("150456", "", "MDC"), "150", PERCENT) == Mapped("spo2", Decimal("150"))


NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20260912120000+0530", datetime(2026, 9, 12, 6, 30, tzinfo=UTC)),
        ("20260912120000-0500", datetime(2026, 9, 12, 17, 0, tzinfo=UTC)),
        ("20260912120000.1234+0000", datetime(2026, 9, 12, 12, 0, 0, 123400, tzinfo=UTC)),
        ("202609121200+0000", datetime(2026, 9, 12, 12, 0, tzinfo=UTC)),
        # No offset: the clinic's wall clock (New York is UTC−4 in September, UTC−5 in January).
        ("20260912120000", datetime(2026, 9, 12, 16, 0, tzinfo=UTC)),
        ("20260112120000", datetime(2026, 1, 12, 17, 0, tzinfo=UTC)),
    ],
)
def test_hl7_times_with_and_without_an_offset(text, expected):
    parsed = parse_hl7_time(text, zone=NEW_YORK)
    assert parsed is not None and parsed.utcoffset() is not None
    assert parsed == expected


@pytest.mark.parametrize(
    "text",
    ["", "20260912", "2026091212", "20261312120000", "20260912126000", "20260912120000+9900", "yesterday"],
)
def test_unreadable_or_imprecise_times_are_refused(text):
    assert parse_hl7_time(text, zone=NEW_YORK) is None


def test_an_offset_is_kept_as_sent():
    parsed = parse_hl7_time("20260912120000+0530", zone=NEW_YORK)
    assert parsed.utcoffset() == timedelta(hours=5, minutes=30)
    assert parsed.tzinfo == timezone(timedelta(hours=5, minutes=30))
