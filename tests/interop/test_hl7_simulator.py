"""The simulated monitor stream (kapstone/interop/hl7/simulator.py): well-formed ORU^R01 v2.6 read
back with the ``hl7`` package, MDC codes and units, values that stay in plausible bounds and a
desaturation that crosses both hypoxemia limits of the alert rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import hl7
import pytest

from kapstone.domain.monitoring.alerts import DEFAULT_THRESHOLDS
from kapstone.domain.monitoring.observations import OBSERVATION_DEFINITIONS
from kapstone.interop.hl7.simulator import (
    DESATURATION_TARGET_PCT,
    PARAMETERS,
    MonitorFeed,
    ack_summary,
    hl7_time,
)

AT = datetime(2026, 12, 7, 2, 5, 1, 234567, tzinfo=timezone(timedelta(hours=-5)))

EXPECTED_CODES = {
    "150456^MDC_PULS_OXIM_SAT_O2^MDC": ("262688^MDC_DIM_PERCENT^MDC", "spo2"),
    "147842^MDC_ECG_HEART_RATE^MDC": ("264864^MDC_DIM_BEAT_PER_MIN^MDC", "heart_rate"),
    "150021^MDC_PRESS_BLD_NONINV_SYS^MDC": ("266016^MDC_DIM_MMHG^MDC", "systolic_bp"),
    "150022^MDC_PRESS_BLD_NONINV_DIA^MDC": ("266016^MDC_DIM_MMHG^MDC", "diastolic_bp"),
    "151562^MDC_RESP_RATE^MDC": ("264928^MDC_DIM_RESP_PER_MIN^MDC", "respiratory_rate"),
    "150344^MDC_TEMP^MDC": ("268192^MDC_DIM_DEGC^MDC", "temperature"),
}


def test_a_message_is_an_oru_r01_v2_6_with_the_mrn_and_one_obx_per_parameter():
    feed = MonitorFeed("N-1004", count=3, seed=7)
    text = feed.message(0, at=AT)
    assert "\n" not in text and text.endswith("\r")
    message = hl7.parse(text)
    assert str(message.segment("MSH")[3]) == "KAPSTONE-SIM"
    assert str(message.segment("MSH")[9]) == "ORU^R01^ORU_R01"
    assert str(message.segment("MSH")[10]) == feed.control_id(0)
    assert str(message.segment("MSH")[12]) == "2.6"
    assert str(message.segment("MSH")[18]) == "UNICODE UTF-8"
    assert str(message.segment("MSH")[15]) == "" and str(message.segment("MSH")[16]) == ""
    assert str(message.segment("PID")[3][0][0]) == "N-1004"
    assert str(message.segment("PID")[3][0][4]) == "MR"
    observations = message.segments("OBX")
    assert {str(obx[3]): str(obx[6]) for obx in observations} == {
        code: unit for code, (unit, _) in EXPECTED_CODES.items()
    }
    values = feed.values(0)
    for obx in observations:
        assert str(obx[2]) == "NM"
        assert str(obx[11]) == "F"
        assert str(obx[14]) == "20261207020501.234-0500"
        assert str(obx[5]) == values[EXPECTED_CODES[str(obx[3])][1]]
    assert hl7.parse_datetime(str(observations[0][14])) == AT.replace(microsecond=234000)


def test_an_mrn_with_a_separator_is_escaped():
    text = MonitorFeed("N|10^04", count=1).message(0, at=AT)
    assert str(hl7.parse(text).segment("PID")[3]) == "N\\F\\10\\S\\04^^^^MR"


def test_control_ids_are_unique_within_and_across_runs_of_the_same_seed():
    first, second = MonitorFeed("N-1004", count=50, seed=1), MonitorFeed("N-1004", count=50, seed=1)
    ids = [feed.control_id(i) for feed in (first, second) for i in range(50)]
    assert len(set(ids)) == 100
    assert all(len(control) <= 20 for control in ids)
    assert [first.values(i) for i in range(50)] == [second.values(i) for i in range(50)], (
        "the seed fixes values"
    )


def test_observation_times_always_move_forward_even_when_sent_at_once():
    feed = MonitorFeed("N-1004", count=3)
    stamps = [str(hl7.parse(feed.message(i, at=AT)).segment("OBX")[14]) for i in range(3)]
    times = [hl7.parse_datetime(s) for s in stamps]
    assert times[0] < times[1] < times[2]


def test_hl7_time_refuses_a_naive_time():
    assert hl7_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "20260102030405.000+0000"
    with pytest.raises(ValueError):
        hl7_time(datetime(2026, 1, 2, 3, 4, 5))


@pytest.mark.parametrize("seed", range(40))
def test_values_drift_inside_plausible_ranges_and_below_every_alert_without_desaturation(seed):
    feed = MonitorFeed("N-1004", count=60, seed=seed)
    t = DEFAULT_THRESHOLDS
    for i in range(60):
        values = {name: Decimal(v) for name, v in feed.values(i).items()}
        for name, value in values.items():
            definition = OBSERVATION_DEFINITIONS[name]
            assert definition.plausible_min <= value <= definition.plausible_max
        assert values["spo2"] >= t.spo2_warning_below_pct
        assert (
            t.heart_rate_warning_below_per_min <= values["heart_rate"] <= t.heart_rate_warning_above_per_min
        )
        assert values["systolic_bp"] < t.systolic_warning_at_or_above_mmhg
        assert values["diastolic_bp"] < t.diastolic_warning_at_or_above_mmhg
        assert values["diastolic_bp"] < values["systolic_bp"]
        assert values["respiratory_rate"] >= t.respiratory_rate_critical_below_per_min


def test_values_drift_rather_than_stand_still():
    feed = MonitorFeed("N-1004", count=12, seed=3)
    assert len({feed.values(i)["heart_rate"] for i in range(12)}) > 3


@pytest.mark.parametrize("count", [1, 2, 3, 12, 30])
def test_a_desaturation_falls_below_both_hypoxemia_limits_by_the_last_message(count):
    feed = MonitorFeed("N-1004", count=count, seed=5, desaturate=True)
    spo2 = [Decimal(feed.values(i)["spo2"]) for i in range(count)]
    assert spo2[-1] == Decimal(int(DESATURATION_TARGET_PCT))
    assert spo2[-1] < DEFAULT_THRESHOLDS.spo2_critical_below_pct
    assert all(a >= b for a, b in zip(spo2[count // 2 :], spo2[count // 2 + 1 :], strict=False)), (
        "a steady fall"
    )
    if count >= 2:
        assert spo2[0] >= DEFAULT_THRESHOLDS.spo2_warning_below_pct, "it starts normal"
    heart_rate = [Decimal(feed.values(i)["heart_rate"]) for i in range(count)]
    assert max(heart_rate) <= DEFAULT_THRESHOLDS.heart_rate_warning_above_per_min


def test_every_parameter_is_one_the_vitals_catalogue_knows():
    assert {p.name for p in PARAMETERS} <= set(OBSERVATION_DEFINITIONS)


def test_ack_summary_reads_msa_and_the_err_codes():
    ack = (
        "MSH|^~\\&|KAPSTONE|north|KAPSTONE-SIM|CHAIR-01|20261207||ACK^R01^ACK|K1|P|2.6\r"
        "MSA|AE|C1\r"
        "ERR||PID^1^3|204^Unknown key identifier^HL70357|E|unknown_patient^unknown patient^99KAP|||No patient.\r"
        "ERR||OBX^7|103^Table value not found^HL70357|W\r"
    )
    assert ack_summary(ack) == ("AE", "C1", ["unknown_patient", "103"])
    assert ack_summary("MSH|^~\\&|X\rMSA|AA|C2\r") == ("AA", "C2", [])
    assert ack_summary("MSH|^~\\&|X\nMSA|AR|C3\nERR|MSH^1^9^200\n") == ("AR", "C3", ["200"])


def test_a_feed_needs_a_count_and_an_mrn():
    with pytest.raises(ValueError):
        MonitorFeed("N-1004", count=0)
    with pytest.raises(ValueError):
        MonitorFeed("  ", count=1)
