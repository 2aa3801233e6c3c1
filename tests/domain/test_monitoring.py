"""Session monitoring: plausibility, alert thresholds and episodes, schedule, discharge, dependence."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapstone.domain.errors import DomainError, DomainErrors
from kapstone.domain.monitoring import (
    ALERT_RULES,
    DISCHARGE_CRITERIA,
    OBSERVATION_DEFINITIONS,
    VITAL_SIGNS,
    AlertThresholds,
    CadssTotal,
    CriticalAlertPeriod,
    DependenceThresholds,
    DissociationCheck,
    DueCheck,
    MonitoringProtocol,
    Observation,
    OpenEpisode,
    derive_baseline,
    due_checks,
    escalation_due,
    evaluate_dependence,
    evaluate_discharge,
    evaluate_overdue,
    evaluate_vitals,
    lookup_observation_definition,
    review_observations,
    title_for,
    validate_observations,
)

T0 = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def obs(code: str, value: object, minutes: float = 10) -> dict[str, object]:
    return {"code": code, "value": value, "observed_at": at(minutes)}


def refused(func, *args, **kwargs) -> DomainError:  # type: ignore[no-untyped-def]
    with pytest.raises(DomainError) as caught:
        func(*args, **kwargs)
    return caught.value


def validate(batch: object, *, now_min: float = 300, **kwargs: object):  # type: ignore[no-untyped-def]
    return validate_observations(
        batch, session_started_at=T0 - timedelta(minutes=30), now=at(now_min), **kwargs
    )


def codes(evaluation) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(alert.code, alert.severity) for alert in evaluation.raised]


def single(readings: dict[str, object], baseline: dict[str, object] | None = None) -> list[tuple[str, str]]:
    batch = [obs(code, value) for code, value in readings.items()]
    return codes(evaluate_vitals(new_observations=batch, baseline=baseline, open_episodes=[]))


# --- definitions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "loinc", "unit"),
    [
        ("systolic_bp", "8480-6", "mm[Hg]"),
        ("diastolic_bp", "8462-4", "mm[Hg]"),
        ("heart_rate", "8867-4", "/min"),
        ("spo2", "59408-5", "%"),
        ("respiratory_rate", "9279-1", "/min"),
        ("temperature", "8310-5", "Cel"),
    ],
)
def test_vital_sign_carries_loinc_and_ucum_and_is_found_both_ways(code: str, loinc: str, unit: str) -> None:
    definition = VITAL_SIGNS[code]
    assert (definition.loinc, definition.unit_ucum) == (loinc, unit)
    assert lookup_observation_definition(code) is definition
    assert lookup_observation_definition(loinc) is definition


def test_vital_signs_are_exactly_the_six_of_the_issue_and_scores_have_no_loinc() -> None:
    assert list(VITAL_SIGNS) == [
        "systolic_bp",
        "diastolic_bp",
        "heart_rate",
        "spo2",
        "respiratory_rate",
        "temperature",
    ]
    assert OBSERVATION_DEFINITIONS["moaas"].loinc is None
    assert OBSERVATION_DEFINITIONS["aldrete_total"].loinc is None


@pytest.mark.parametrize("code", ["bp", "2708-6", "", None, 42])
def test_lookup_refuses_unknown_code(code: object) -> None:
    error = refused(lookup_observation_definition, code)
    assert (error.code, error.field) == ("unknown_vital", "code")


# --- plausibility --------------------------------------------------------------------------------


def test_accepts_a_batch_and_normalises_codes_values_and_times() -> None:
    batch = [
        {"code": "8480-6", "value": "132", "observed_at": at(10).isoformat(), "source": "monitor-3"},
        {"code": "diastolic_bp", "value": 84, "observed_at": at(10)},
        {"code": "temperature", "value": 37.2, "observed_at": at(10).isoformat().replace("+00:00", "Z")},
        Observation("spo2", Decimal("97"), at(11)),
    ]
    result = validate(batch)
    assert [o.code for o in result] == ["systolic_bp", "diastolic_bp", "temperature", "spo2"]
    assert [o.value for o in result] == [Decimal(132), Decimal(84), Decimal("37.2"), Decimal(97)]
    assert all(isinstance(o.value, Decimal) for o in result)
    assert result[0].observed_at == at(10)


def test_empty_batch_is_accepted_as_nothing() -> None:
    assert validate([]) == ()


@pytest.mark.parametrize(
    ("code", "accepted", "refused_value"),
    [
        ("spo2", "100", "100.1"),
        ("spo2", "0", "-1"),
        ("heart_rate", "250", "251"),
        ("heart_rate", "20", "19"),
        ("systolic_bp", "300", "301"),
        ("systolic_bp", "40", "39"),
        ("diastolic_bp", "200", "201"),
        ("diastolic_bp", "20", "19"),
        ("respiratory_rate", "0", "-1"),
        ("respiratory_rate", "80", "81"),
        ("temperature", "25", "24.9"),
        ("temperature", "44", "44.1"),
        ("moaas", "5", "6"),
        ("aldrete_total", "10", "11"),
    ],
)
def test_plausibility_bounds_accept_the_limit_and_refuse_beyond(
    code: str, accepted: str, refused_value: str
) -> None:
    assert validate([obs(code, accepted)])[0].value == Decimal(accepted)
    error = refused(validate, [obs(code, refused_value)])
    assert (error.code, error.field) == ("implausible_value", "observations[0].value")
    shown = refused_value.replace("-", "−")
    assert OBSERVATION_DEFINITIONS[code].label in error.message and shown in error.message


def test_fahrenheit_typed_as_celsius_is_refused() -> None:
    assert refused(validate, [obs("temperature", "98.6")]).code == "implausible_value"


def test_one_bad_value_names_its_index_and_refuses_the_whole_batch() -> None:
    batch = [obs("heart_rate", 80), obs("systolic_bp", 120), obs("spo2", 150), obs("respiratory_rate", 14)]
    error = refused(validate, batch)
    assert (error.code, error.field) == ("implausible_value", "observations[2].value")
    assert error.message.startswith("SpO2 150 % is not possible")


@pytest.mark.parametrize("diastolic", [120, 121])
def test_refuses_diastolic_at_or_above_systolic_in_the_same_reading(diastolic: int) -> None:
    error = refused(validate, [obs("systolic_bp", 120), obs("diastolic_bp", diastolic)])
    assert (error.code, error.field) == ("implausible_value", "observations[1].value")


def test_diastolic_just_below_systolic_or_at_another_time_is_accepted() -> None:
    assert len(validate([obs("systolic_bp", 120), obs("diastolic_bp", 119)])) == 2
    assert len(validate([obs("systolic_bp", 120, 10), obs("diastolic_bp", 125, 11)])) == 2


def test_time_in_the_future_beyond_the_clock_skew_tolerance_is_refused() -> None:
    assert validate([obs("heart_rate", 80, 301)], now_min=300)  # 1 min skew allowed
    error = refused(
        validate, [{"code": "heart_rate", "value": 80, "observed_at": at(301) + timedelta(seconds=1)}]
    )
    assert (error.code, error.field) == ("implausible_value", "observations[0].observed_at")
    strict = refused(validate, [obs("heart_rate", 80, 300.5)], clock_skew_tolerance=timedelta(0))
    assert strict.code == "implausible_value"


def test_time_before_the_session_is_refused() -> None:
    start = T0 - timedelta(minutes=30)
    ok = validate_observations(
        [{"code": "heart_rate", "value": 80, "observed_at": start}], session_started_at=start, now=at(0)
    )
    assert len(ok) == 1
    error = refused(
        validate_observations,
        [{"code": "heart_rate", "value": 80, "observed_at": start - timedelta(seconds=1)}],
        session_started_at=start,
        now=at(0),
    )
    assert (error.code, error.field) == ("implausible_value", "observations[0].observed_at")


def test_every_implausible_value_of_a_set_is_reported_at_once() -> None:
    batch = [
        obs("systolic_bp", 400),
        obs("diastolic_bp", 80),
        obs("heart_rate", -5),
        obs("spo2", 97),
        obs("temperature", 45),
    ]
    review = review_observations(batch, session_started_at=T0 - timedelta(minutes=30), now=at(300))
    assert [(p.code, p.field, p.message) for p in review.problems] == [
        (
            "implausible_value",
            "observations[0].value",
            "Systolic BP 400 mmHg is not possible (40–300 mmHg). Nothing was saved.",
        ),
        (
            "implausible_value",
            "observations[2].value",
            "Heart rate −5 /min is not possible (20–250 /min). Nothing was saved.",
        ),
        (
            "implausible_value",
            "observations[4].value",
            "Temperature 45 °C is not possible (25–44 °C). Nothing was saved.",
        ),
    ]
    # The single-error contract holds: the first refusal is the error, all of them ride along.
    error = refused(validate, batch)
    assert isinstance(error, DomainErrors)
    assert (error.code, error.field) == ("implausible_value", "observations[0].value")
    assert [e.field for e in error.errors] == [p.field for p in review.problems]
    assert error.as_dict()["error"]["errors"][1] == {
        "code": "implausible_value",
        "message": "Heart rate −5 /min is not possible (20–250 /min). Nothing was saved.",
        "field": "observations[2].value",
    }


def test_a_plausible_set_has_no_problems_and_is_returned_normalised() -> None:
    review = review_observations([obs("spo2", "97"), obs("8867-4", 80)], session_started_at=T0, now=at(300))
    assert review.problems == ()
    assert [(o.code, o.value) for o in review.observations] == [("spo2", 97), ("heart_rate", 80)]


def test_messages_speak_words_with_the_range_and_the_clinic_time() -> None:
    from zoneinfo import ZoneInfo

    assert refused(validate, [obs("spo2", 150)]).message == (
        "SpO2 150 % is not possible (0–100 %). Nothing was saved."
    )
    assert (
        refused(validate, [obs("moaas", 6)]).message == "MOAA/S 6 is not possible (0–5). Nothing was saved."
    )
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime(2025, 3, 4, 14, 0, tzinfo=UTC)  # 15:00 in Berlin
    tomorrow = datetime(2025, 3, 5, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
    error = refused(
        validate_observations,
        [{"code": "heart_rate", "value": 80, "observed_at": tomorrow}],
        session_started_at=now - timedelta(hours=1),
        now=now,
        zone=berlin,
    )
    assert error.message == "The time is in the future (10:00 tomorrow). Nothing was saved."
    later_today = refused(
        validate_observations,
        [{"code": "heart_rate", "value": 80, "observed_at": now + timedelta(hours=2)}],
        session_started_at=now - timedelta(hours=1),
        now=now,
        zone=berlin,
    )
    assert later_today.message == "The time is in the future (17:00). Nothing was saved."
    before = refused(
        validate_observations,
        [{"code": "heart_rate", "value": 80, "observed_at": now - timedelta(hours=2)}],
        session_started_at=now - timedelta(hours=1),
        now=now,
        zone=berlin,
    )
    assert before.message == "The time is before the session began (14:00). Nothing was saved."


def test_a_bad_time_is_reported_for_every_observation_beside_a_bad_value() -> None:
    future = at(400)
    batch = [
        {"code": "spo2", "value": 150, "observed_at": future},
        {"code": "heart_rate", "value": 80, "observed_at": future},
    ]
    review = review_observations(batch, session_started_at=T0, now=at(300))
    assert [p.field for p in review.problems] == [
        "observations[0].value",
        "observations[0].observed_at",
        "observations[1].observed_at",
    ]


def test_shape_problems_are_collected_with_the_others() -> None:
    batch = [obs("heart_rate", "fast"), obs("blood_sugar", 5), obs("spo2", 150)]
    review = review_observations(batch, session_started_at=T0, now=at(300))
    assert [(p.code, p.field) for p in review.problems] == [
        ("invalid_observation", "observations[0].value"),
        ("unknown_vital", "observations[1].code"),
        ("implausible_value", "observations[2].value"),
    ]


def test_diastolic_is_compared_only_with_a_plausible_systolic() -> None:
    review = review_observations(
        [obs("systolic_bp", 400), obs("diastolic_bp", 95)], session_started_at=T0, now=at(300)
    )
    assert [p.field for p in review.problems] == ["observations[0].value"]
    error = refused(validate, [obs("systolic_bp", 120), obs("diastolic_bp", 130)])
    assert error.message == (
        "Diastolic BP 130 mmHg is not below the systolic 120 mmHg of the same reading. Nothing was saved."
    )


def test_unknown_code_is_refused_with_unknown_vital() -> None:
    error = refused(validate, [obs("heart_rate", 80), obs("blood_sugar", 5)])
    assert (error.code, error.field) == ("unknown_vital", "observations[1].code")


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"code": "heart_rate", "value": "fast", "observed_at": at(1)}, "observations[0].value"),
        ({"code": "heart_rate", "value": True, "observed_at": at(1)}, "observations[0].value"),
        ({"code": "heart_rate", "value": None, "observed_at": at(1)}, "observations[0].value"),
        ({"code": "heart_rate", "value": "NaN", "observed_at": at(1)}, "observations[0].value"),
        ({"code": "heart_rate", "value": float("inf"), "observed_at": at(1)}, "observations[0].value"),
        ({"code": "moaas", "value": "2.5", "observed_at": at(1)}, "observations[0].value"),
        ({"code": "heart_rate", "observed_at": at(1)}, "observations[0].value"),
        ({"code": 8867, "value": 80, "observed_at": at(1)}, "observations[0].code"),
        (
            {"code": "heart_rate", "value": 80, "observed_at": datetime(2025, 3, 4, 9, 1)},
            "observations[0].observed_at",
        ),
        (
            {"code": "heart_rate", "value": 80, "observed_at": "2025-03-04T09:01:00"},
            "observations[0].observed_at",
        ),
        ({"code": "heart_rate", "value": 80, "observed_at": "yesterday"}, "observations[0].observed_at"),
        ({"code": "heart_rate", "value": 80, "observed_at": 1741078860}, "observations[0].observed_at"),
        (["heart_rate", 80], "observations[0]"),
    ],
)
def test_wrong_types_and_naive_times_are_invalid_observations(item: object, field: str) -> None:
    error = refused(validate, [item])
    assert (error.code, error.field) == ("invalid_observation", field)


@pytest.mark.parametrize("batch", [{"code": "heart_rate"}, "heart_rate=80", None, 5])
def test_batch_that_is_not_a_list_is_refused(batch: object) -> None:
    error = refused(validate, batch)
    assert (error.code, error.field) == ("invalid_observation", "observations")


def test_naive_now_or_session_start_is_refused() -> None:
    naive = datetime(2025, 3, 4, 9, 0)
    assert refused(validate_observations, [], session_started_at=naive, now=at(0)).code == "naive_datetime"
    assert refused(validate_observations, [], session_started_at=T0, now=naive).field == "now"


def _plausible_value(code: str) -> st.SearchStrategy[Decimal]:
    definition = OBSERVATION_DEFINITIONS[code]
    if definition.whole_number:
        return st.integers(int(definition.plausible_min), int(definition.plausible_max)).map(Decimal)
    return st.decimals(definition.plausible_min, definition.plausible_max, places=1, allow_nan=False)


_NON_BP = [c for c in OBSERVATION_DEFINITIONS if c not in ("systolic_bp", "diastolic_bp")]
plausible_observation = st.sampled_from(_NON_BP).flatmap(
    lambda code: st.builds(
        lambda value, minute: {"code": code, "value": value, "observed_at": at(minute)},
        _plausible_value(code),
        st.integers(0, 240),
    )
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(plausible_observation, max_size=8),
    st.sampled_from(["spo2", "heart_rate", "systolic_bp", "temperature", "respiratory_rate", "moaas"]),
    st.booleans(),
    st.data(),
)
def test_a_batch_with_one_implausible_value_is_always_refused(good, code, above, data) -> None:  # type: ignore[no-untyped-def]
    definition = OBSERVATION_DEFINITIONS[code]
    bad_value = definition.plausible_max + 1 if above else definition.plausible_min - 1
    index = data.draw(st.integers(0, len(good)))
    batch = [*good[:index], obs(code, bad_value, 5), *good[index:]]
    error = refused(validate, batch)
    assert (error.code, error.field) == ("implausible_value", f"observations[{index}].value")


@settings(max_examples=60, deadline=None)
@given(st.lists(plausible_observation, max_size=10))
def test_plausible_batches_are_always_accepted_whole(batch) -> None:  # type: ignore[no-untyped-def]
    assert len(validate(batch)) == len(batch)


def test_derive_baseline_takes_the_latest_pre_dose_value_of_each_code() -> None:
    record = [
        obs("systolic_bp", 150, -20),
        obs("systolic_bp", 138, -5),
        obs("heart_rate", 72, -5),
        obs("heart_rate", 90, 5),
    ]
    assert derive_baseline(record, dosing_started_at=at(0)) == {
        "systolic_bp": Decimal(138),
        "heart_rate": Decimal(72),
    }


# --- alert thresholds at their boundaries --------------------------------------------------------


@pytest.mark.parametrize(
    ("readings", "expected"),
    [
        ({"systolic_bp": 159, "diastolic_bp": 80}, []),
        ({"systolic_bp": 160, "diastolic_bp": 80}, [("hypertension", "warning")]),
        ({"systolic_bp": 179, "diastolic_bp": 80}, [("hypertension", "warning")]),
        ({"systolic_bp": 180, "diastolic_bp": 80}, [("hypertension_critical", "critical")]),
        ({"systolic_bp": 140, "diastolic_bp": 99}, []),
        ({"systolic_bp": 140, "diastolic_bp": 100}, [("hypertension", "warning")]),
        ({"systolic_bp": 150, "diastolic_bp": 109}, [("hypertension", "warning")]),
        ({"systolic_bp": 150, "diastolic_bp": 110}, [("hypertension_critical", "critical")]),
        ({"systolic_bp": 190, "diastolic_bp": 115}, [("hypertension_critical", "critical")]),
    ],
)
def test_hypertension_thresholds_and_critical_replaces_warning(readings, expected) -> None:  # type: ignore[no-untyped-def]
    assert single(readings) == expected


@pytest.mark.parametrize(
    ("readings", "expected"),
    [
        ({"systolic_bp": 149, "diastolic_bp": 70}, []),
        ({"systolic_bp": 150, "diastolic_bp": 70}, [("bp_rise_from_baseline", "warning")]),
        ({"systolic_bp": 120, "diastolic_bp": 84}, []),
        ({"systolic_bp": 120, "diastolic_bp": 85}, [("bp_rise_from_baseline", "warning")]),
    ],
)
def test_rise_from_baseline_at_plus_39_and_plus_40(readings, expected) -> None:  # type: ignore[no-untyped-def]
    assert single(readings, baseline={"systolic_bp": 110, "diastolic_bp": 60}) == expected


def test_rise_without_a_baseline_is_silent_and_rise_and_level_are_separate_alerts() -> None:
    assert single({"systolic_bp": 155, "diastolic_bp": 70}) == []
    both = single({"systolic_bp": 185, "diastolic_bp": 80}, baseline={"systolic_bp": 130, "diastolic_bp": 75})
    assert both == [("hypertension_critical", "critical"), ("bp_rise_from_baseline", "warning")]


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (50, []),
        (49, [("bradycardia", "warning")]),
        (110, []),
        (111, [("tachycardia", "warning")]),
        (129, [("tachycardia", "warning")]),
        (130, [("tachycardia", "critical")]),
    ],
)
def test_heart_rate_thresholds(rate: int, expected) -> None:  # type: ignore[no-untyped-def]
    assert single({"heart_rate": rate}) == expected


@pytest.mark.parametrize(
    ("spo2", "expected"),
    [
        (94, []),
        (93, [("hypoxemia", "warning")]),
        (90, [("hypoxemia", "warning")]),
        (89, [("hypoxemia", "critical")]),
    ],
)
def test_spo2_thresholds(spo2: int, expected) -> None:  # type: ignore[no-untyped-def]
    assert single({"spo2": spo2}) == expected


@pytest.mark.parametrize(
    ("rate", "expected"), [(10, []), (9, [("bradypnea", "critical")]), (0, [("bradypnea", "critical")])]
)
def test_respiratory_rate_threshold(rate: int, expected) -> None:  # type: ignore[no-untyped-def]
    assert single({"respiratory_rate": rate}) == expected


@pytest.mark.parametrize(
    ("score", "baseline", "expected"),
    [
        (5, 5, []),
        (4, 5, [("sedation", "warning")]),
        (3, 5, [("sedation", "warning")]),
        (2, 5, [("sedation", "critical")]),
        (0, 5, [("sedation", "critical")]),
        (4, 4, []),
        (4, None, [("sedation", "warning")]),
    ],
)
def test_sedation_any_fall_from_baseline_and_deep_sedation(
    score: int, baseline: int | None, expected
) -> None:  # type: ignore[no-untyped-def]
    base = None if baseline is None else {"moaas": baseline}
    assert single({"moaas": score}, baseline=base) == expected


def test_alert_message_names_the_value_and_the_threshold() -> None:
    evaluation = evaluate_vitals(
        new_observations=[obs("systolic_bp", 185), obs("diastolic_bp", 90)], baseline=None
    )
    assert "185" in evaluation.raised[0].message and "180" in evaluation.raised[0].message
    spo2 = evaluate_vitals(new_observations=[obs("spo2", 88)], baseline=None).raised[0]
    assert (
        (spo2.code, spo2.severity) == ("hypoxemia", "critical")
        and "88" in spo2.message
        and "90" in spo2.message
    )


def test_thresholds_are_protocol_parameters() -> None:
    strict = AlertThresholds(heart_rate_warning_above_per_min=Decimal(100))
    result = evaluate_vitals(new_observations=[obs("heart_rate", 101)], baseline=None, thresholds=strict)
    assert codes(result) == [("tachycardia", "warning")]
    from_config = AlertThresholds.from_mapping({"spo2_warning_below_pct": 92})
    assert single({"spo2": 93}) == [("hypoxemia", "warning")]
    assert (
        codes(evaluate_vitals(new_observations=[obs("spo2", 93)], baseline=None, thresholds=from_config))
        == []
    )


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"spo2_warning_below_pct": -1}, "spo2_warning_below_pct"),
        ({"spo2_warning_below_pct": "high"}, "spo2_warning_below_pct"),
        ({"systolic_warning_at_or_above_mmhg": 190}, "systolic_warning_at_or_above_mmhg"),
        ({"spo2_critical_below_pct": 95}, "spo2_critical_below_pct"),
        ({"moaas_critical_at_or_below": 6}, "moaas_critical_at_or_below"),
        ({"tachycardia": 110}, "tachycardia"),
    ],
)
def test_refuses_inconsistent_thresholds(values: dict[str, object], field: str) -> None:
    error = refused(AlertThresholds.from_mapping, values)
    assert (error.code, error.field) == ("invalid_thresholds", field)


def test_every_alert_rule_and_discharge_criterion_has_a_title_in_words() -> None:
    assert ALERT_RULES["bp_rise_from_baseline"].title == "Blood pressure rise from baseline"
    assert ALERT_RULES["vitals_overdue"].title == "Vital signs overdue"
    assert ALERT_RULES["hypertension_critical"].title == "Blood pressure critically high"
    assert DISCHARGE_CRITERIA["minimum_observation"].title == "Minimum observation time"
    assert DISCHARGE_CRITERIA["moaas_alert"].title == "Sedation (MOAA/S)"
    assert DISCHARGE_CRITERIA["escort_confirmed"].title == "Escort"
    titles = [r.title for r in ALERT_RULES.values()] + [c.title for c in DISCHARGE_CRITERIA.values()]
    titles += [d.label for d in OBSERVATION_DEFINITIONS.values()]
    for title in titles:
        assert title and "_" not in title and title[0].isupper(), title
    # A citation on the discharge screen is one a clinician can look up: no internal documents.
    for rule in DISCHARGE_CRITERIA.values():
        assert rule.source and not any(word in rule.source for word in ("clinical.md", "§", "issue", "Issue"))
    assert title_for("sedation") == "Sedation (MOAA/S)" and title_for("spo2") == "SpO2"
    assert title_for("aldrete_score") == "Modified Aldrete score"
    assert title_for("something_new") == "Something new"


def test_every_alert_rule_has_a_source_and_a_severity() -> None:
    assert set(ALERT_RULES) == {
        "hypertension_critical",
        "hypertension",
        "bp_rise_from_baseline",
        "tachycardia",
        "bradycardia",
        "hypoxemia",
        "bradypnea",
        "sedation",
        "vitals_overdue",
    }
    assert all(rule.source and rule.severities for rule in ALERT_RULES.values())


# --- episodes ------------------------------------------------------------------------------------


def episode(code: str, severity: str, minutes: float = 5, episode_id: object = 7) -> OpenEpisode:
    return OpenEpisode(episode_id=episode_id, code=code, severity=severity, started_at=at(minutes))


def test_second_high_reading_in_the_same_batch_raises_one_alert() -> None:
    batch = [obs("heart_rate", 120, 10), obs("heart_rate", 118, 15)]
    result = evaluate_vitals(new_observations=batch, baseline=None)
    assert codes(result) == [("tachycardia", "warning")]
    assert result.raised[0].raised_at == at(10) and result.raised[0].ended_at is None


def test_high_reading_during_an_open_episode_raises_nothing() -> None:
    result = evaluate_vitals(
        new_observations=[obs("heart_rate", 120, 20)],
        baseline=None,
        open_episodes=[episode("tachycardia", "warning")],
    )
    assert (result.raised, result.upgraded, result.ended) == ((), (), ())


def test_normal_reading_ends_the_open_episode() -> None:
    result = evaluate_vitals(
        new_observations=[obs("heart_rate", 90, 20)],
        baseline=None,
        open_episodes=[episode("tachycardia", "warning")],
    )
    assert result.raised == ()
    assert [(e.episode_id, e.code, e.ended_at) for e in result.ended] == [(7, "tachycardia", at(20))]


def test_abnormal_then_normal_in_one_batch_raises_an_alert_that_has_already_ended() -> None:
    result = evaluate_vitals(new_observations=[obs("spo2", 92, 10), obs("spo2", 97, 12)], baseline=None)
    assert codes(result) == [("hypoxemia", "warning")]
    assert result.raised[0].ended_at == at(12)


def test_a_new_episode_after_one_ended_raises_a_new_alert() -> None:
    batch = [obs("spo2", 92, 10), obs("spo2", 97, 12), obs("spo2", 91, 14)]
    assert codes(evaluate_vitals(new_observations=batch, baseline=None)) == [("hypoxemia", "warning")] * 2


def test_warning_episode_is_upgraded_by_a_critical_reading() -> None:
    result = evaluate_vitals(
        new_observations=[obs("systolic_bp", 185, 20), obs("diastolic_bp", 95, 20)],
        baseline=None,
        open_episodes=[episode("hypertension", "warning", episode_id="ep-1")],
    )
    assert result.raised == ()
    (upgrade,) = result.upgraded
    assert (upgrade.episode_id, upgrade.from_code, upgrade.code, upgrade.severity, upgrade.upgraded_at) == (
        "ep-1",
        "hypertension",
        "hypertension_critical",
        "critical",
        at(20),
    )
    assert result.notifications() == [
        {"code": "hypertension_critical", "severity": "critical", "message": upgrade.message}
    ]


def test_warning_then_critical_in_one_batch_is_one_critical_alert_from_the_first_reading() -> None:
    result = evaluate_vitals(
        new_observations=[obs("heart_rate", 115, 10), obs("heart_rate", 135, 12)], baseline=None
    )
    assert codes(result) == [("tachycardia", "critical")]
    assert result.raised[0].raised_at == at(10)


def test_severity_never_falls_within_an_episode() -> None:
    result = evaluate_vitals(
        new_observations=[obs("heart_rate", 115, 20)],
        baseline=None,
        open_episodes=[episode("tachycardia", "critical")],
    )
    assert (result.raised, result.upgraded, result.ended) == ((), (), ())


def test_reading_missing_a_parameter_neither_continues_nor_ends_the_episode() -> None:
    result = evaluate_vitals(
        new_observations=[obs("systolic_bp", 120, 20)],
        baseline=None,
        open_episodes=[episode("hypertension_critical", "critical")],
    )
    assert result.ended == ()
    ended = evaluate_vitals(
        new_observations=[obs("systolic_bp", 120, 20), obs("diastolic_bp", 80, 20)],
        baseline=None,
        open_episodes=[episode("hypertension_critical", "critical")],
    )
    assert [e.code for e in ended.ended] == ["hypertension_critical"]


def test_reading_older_than_the_episode_does_not_end_it() -> None:
    result = evaluate_vitals(
        new_observations=[obs("heart_rate", 80, 2)],
        baseline=None,
        open_episodes=[episode("tachycardia", "warning", 5)],
    )
    assert result.ended == ()


def test_overdue_episodes_are_left_to_the_schedule() -> None:
    result = evaluate_vitals(
        new_observations=[obs("heart_rate", 80, 20)],
        baseline=None,
        open_episodes=[episode("vitals_overdue", "warning")],
    )
    assert result.ended == ()


@pytest.mark.parametrize(
    ("episodes", "field"),
    [
        (
            [{"episode_id": 1, "code": "fever", "severity": "warning", "started_at": T0}],
            "open_episodes[0].code",
        ),
        (
            [{"episode_id": 1, "code": "bradypnea", "severity": "warning", "started_at": T0}],
            "open_episodes[0].severity",
        ),
        ([{"episode_id": 1, "code": "sedation", "severity": "warning"}], "open_episodes[0]"),
        (
            [episode("hypertension", "warning"), episode("hypertension_critical", "critical")],
            "open_episodes[1]",
        ),
        ([episode("sedation", "warning", episode_id=None)], "open_episodes[0].episode_id"),
        ("sedation", "open_episodes"),
    ],
)
def test_refuses_malformed_open_episodes(episodes: object, field: str) -> None:
    error = refused(evaluate_vitals, new_observations=[], baseline=None, open_episodes=episodes)
    assert (error.code, error.field) == ("invalid_episode", field)


@pytest.mark.parametrize(
    ("baseline", "field"),
    [([120], "baseline"), ({"weight": 80}, "baseline"), ({"heart_rate": "x"}, "baseline.heart_rate")],
)
def test_refuses_malformed_baseline(baseline: object, field: str) -> None:
    error = refused(evaluate_vitals, new_observations=[], baseline=baseline)
    assert (error.code, error.field) == ("invalid_baseline", field)


def test_evaluate_vitals_refuses_malformed_observations_with_its_own_field_names() -> None:
    error = refused(
        evaluate_vitals, new_observations=[{"code": "spo2", "value": "x", "observed_at": T0}], baseline=None
    )
    assert (error.code, error.field) == ("invalid_observation", "new_observations[0].value")


_FAMILY_SEVERITIES = [(rule.code, severity) for rule in ALERT_RULES.values() for severity in rule.severities]


@settings(max_examples=80, deadline=None)
@given(
    readings=st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "systolic_bp": st.integers(90, 300),
                "diastolic_bp": st.integers(20, 89),
                "heart_rate": st.integers(20, 250),
                "spo2": st.integers(40, 100),
                "respiratory_rate": st.integers(0, 80),
                "moaas": st.integers(0, 5),
            },
        ),
        max_size=6,
    ),
    baseline=st.fixed_dictionaries(
        {}, optional={"systolic_bp": st.integers(90, 200), "moaas": st.integers(0, 5)}
    ),
    open_codes=st.lists(
        st.sampled_from(_FAMILY_SEVERITIES), max_size=4, unique_by=lambda cs: ALERT_RULES[cs[0]].episode
    ),
)
def test_evaluation_never_raises_for_plausible_input_and_keeps_one_episode_per_family(
    readings, baseline, open_codes
) -> None:  # type: ignore[no-untyped-def]
    batch = [
        obs(code, value, minute)
        for minute, reading in enumerate(readings, start=10)
        for code, value in reading.items()
    ]
    episodes = [episode(code, severity, 5, episode_id=i) for i, (code, severity) in enumerate(open_codes)]
    result = evaluate_vitals(new_observations=batch, baseline=baseline, open_episodes=episodes)
    open_families = {ALERT_RULES[e.code].episode for e in episodes}
    ended_families = {ALERT_RULES[e.code].episode for e in result.ended}
    for alert in result.raised:
        assert alert.severity in ALERT_RULES[alert.code].severities
        # A family with an open episode raises again only after that episode ended.
        assert alert.episode not in open_families or alert.episode in ended_families
    # Within a family, a new alert starts only after the previous one ended.
    by_family: dict[str, list] = {}
    for alert in result.raised:
        by_family.setdefault(alert.episode, []).append(alert)
    for alerts in by_family.values():
        for earlier, later in itertools.pairwise(alerts):
            assert earlier.ended_at is not None and earlier.ended_at <= later.raised_at
    assert all(u.severity == "critical" for u in result.upgraded)


# --- escalation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "seconds", "expected"),
    [("critical", 119, False), ("critical", 120, True), ("warning", 599, False), ("warning", 600, True)],
)
def test_escalation_after_two_minutes_critical_and_ten_minutes_warning(
    severity: str, seconds: int, expected: bool
) -> None:
    assert escalation_due(T0, severity, T0 + timedelta(seconds=seconds), None) is expected


def test_escalation_uses_protocol_limits_and_refuses_bad_input() -> None:
    custom = AlertThresholds(escalate_critical_after_min=Decimal(1))
    assert escalation_due(T0, "critical", at(1), custom) is True
    assert escalation_due(at(5), "critical", at(0)) is False
    assert refused(escalation_due, T0, "urgent", at(5)).code == "invalid_severity"
    assert refused(escalation_due, datetime(2025, 3, 4, 9, 0), "critical", at(5)).code == "naive_datetime"


# --- schedule ------------------------------------------------------------------------------------


def schedule(**kwargs: object) -> list[DueCheck]:
    args: dict[str, object] = {
        "protocol_monitoring": None,
        "dosing_started_at": T0,
        "dosing_ended_at": at(40),
        "discharged_at": None,
        "recorded_times": [],
        "now": at(0),
    }
    args.update(kwargs)
    return due_checks(**args)  # type: ignore[arg-type]


def minutes_of(checks: list[DueCheck]) -> list[tuple[int, str]]:
    return [(c.minutes_after_dosing_start, c.kind) for c in checks]


def test_schedule_for_a_40_minute_infusion_until_discharge() -> None:
    checks = schedule(discharged_at=at(165), now=at(170))
    assert minutes_of(checks) == [
        (0, "baseline"),
        (10, "during_dosing"),
        (20, "during_dosing"),
        (30, "during_dosing"),
        (40, "bp_peak"),
        (55, "recovery"),
        (70, "recovery"),
        (85, "recovery"),
        (100, "recovery"),
        (115, "recovery"),
        (130, "recovery"),
        (145, "recovery"),
        (160, "recovery"),
    ]
    assert checks[4].label == "T+40 min (BP peak)"


def test_fifteen_minute_interval_moves_the_check_after_the_peak_back_to_40_minutes() -> None:
    protocol = {"interval_during_dosing_min": 15, "interval_after_dosing_min": 15}
    checks = schedule(protocol_monitoring=protocol, dosing_ended_at=at(52), discharged_at=at(90), now=at(90))
    assert minutes_of(checks) == [
        (0, "baseline"),
        (15, "during_dosing"),
        (30, "during_dosing"),
        (40, "bp_peak"),
        (55, "recovery"),
        (70, "recovery"),
        (85, "recovery"),
    ]


def test_intramuscular_injection_goes_straight_to_recovery_checks() -> None:
    checks = schedule(dosing_ended_at=T0, discharged_at=at(60), now=at(60))
    assert minutes_of(checks) == [
        (0, "baseline"),
        (15, "recovery"),
        (30, "recovery"),
        (40, "bp_peak"),
        (55, "recovery"),
    ]


def test_until_discharge_the_schedule_runs_to_the_next_upcoming_check() -> None:
    checks = schedule(now=at(47))
    assert checks[-1].minutes_after_dosing_start == 55 and checks[-1].due_at > at(47)
    assert checks[-1].status == "due" and checks[-1].window_end is None


def test_no_check_after_discharge() -> None:
    checks = schedule(discharged_at=at(42), now=at(200))
    assert max(c.due_at for c in checks) <= at(42)


@pytest.mark.parametrize(("now_min", "status"), [(14.99, "due"), (15, "overdue")])
def test_check_becomes_overdue_after_the_grace(now_min: float, status: str) -> None:
    checks = schedule(recorded_times=[at(-5)], now=at(now_min))
    assert checks[1].minutes_after_dosing_start == 10 and checks[1].status == status
    assert checks[1].overdue_at == at(15)


def test_grace_is_a_parameter() -> None:
    checks = schedule(protocol_monitoring={"overdue_grace_min": 2}, recorded_times=[at(-5)], now=at(12))
    assert checks[1].status == "overdue"


def test_a_reading_counts_once_for_the_check_whose_window_holds_it() -> None:
    checks = schedule(recorded_times=[at(-5), at(8), at(14.9), at(41)], now=at(45))
    status = {c.minutes_after_dosing_start: (c.status, c.done_at) for c in checks}
    assert status[0] == ("done", at(-5))
    assert status[10] == ("done", at(8))
    assert status[20] == ("overdue", None)  # at(14.9) is still in the 10-min window; 20 was missed
    assert status[30] == ("overdue", None)
    assert status[40] == ("done", at(41))


@pytest.mark.parametrize(("minutes_before", "done"), [(60, True), (60.5, False)])
def test_baseline_must_fall_within_the_window_before_dosing(minutes_before: float, done: bool) -> None:
    checks = schedule(recorded_times=[at(-minutes_before)], now=at(1))
    assert (checks[0].status == "done") is done


def test_reading_after_dosing_started_is_not_a_baseline() -> None:
    checks = schedule(recorded_times=[at(1)], now=at(6))
    assert checks[0].status == "overdue"


def test_before_dosing_only_the_baseline_is_listed() -> None:
    (check,) = schedule(dosing_started_at=None, dosing_ended_at=None, now=at(0))
    assert (check.kind, check.status) == ("baseline", "due")
    (done,) = schedule(dosing_started_at=None, dosing_ended_at=None, recorded_times=[at(-10)], now=at(0))
    assert done.status == "done"


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        (
            {"protocol_monitoring": {"interval_during_dosing_min": 16}},
            "invalid_monitoring_protocol",
            "interval_during_dosing_min",
        ),
        (
            {"protocol_monitoring": {"interval_during_dosing_min": True}},
            "invalid_monitoring_protocol",
            "interval_during_dosing_min",
        ),
        ({"protocol_monitoring": {"every": 5}}, "invalid_monitoring_protocol", "every"),
        ({"protocol_monitoring": [10]}, "invalid_monitoring_protocol", "protocol_monitoring"),
        ({"dosing_ended_at": at(-1)}, "invalid_session_times", "dosing_ended_at"),
        ({"discharged_at": at(-1)}, "invalid_session_times", "discharged_at"),
        ({"dosing_started_at": None}, "invalid_session_times", "dosing_started_at"),
        ({"recorded_times": [datetime(2025, 3, 4, 9, 0)]}, "naive_datetime", "recorded_times[0]"),
        ({"recorded_times": "09:00"}, "invalid_datetime", "recorded_times"),
    ],
)
def test_schedule_refuses_bad_input(kwargs: dict[str, object], code: str, field: str) -> None:
    error = refused(schedule, **kwargs)
    assert (error.code, error.field) == (code, field)


@settings(max_examples=60, deadline=None)
@given(
    during=st.integers(1, 15),
    after=st.integers(1, 60),
    infusion_min=st.integers(0, 120),
    now_min=st.integers(0, 400),
    times=st.lists(st.integers(-70, 400), max_size=30),
)
def test_schedule_gaps_never_exceed_the_interval_and_each_reading_counts_once(
    during, after, infusion_min, now_min, times
) -> None:  # type: ignore[no-untyped-def]
    protocol = MonitoringProtocol(interval_during_dosing_min=during, interval_after_dosing_min=after)
    checks = schedule(
        protocol_monitoring=protocol,
        dosing_ended_at=at(infusion_min),
        recorded_times=[at(m) for m in times],
        now=at(now_min),
    )
    due = [c.due_at for c in checks[1:]]
    assert due == sorted(due) and len(set(due)) == len(due)
    gaps = [b - a for a, b in zip([T0, *due], due, strict=False)]
    assert all(gap <= timedelta(minutes=max(during, after)) for gap in gaps)
    assert sum(1 for c in checks if c.kind == "bp_peak") == (1 if due and due[-1] >= at(40) else 0)
    done_at = [c.done_at for c in checks if c.done_at is not None]
    assert len(done_at) == len(set(done_at))
    assert due[-1] > at(now_min)


# --- vitals overdue ------------------------------------------------------------------------------


def test_overdue_check_raises_one_vitals_overdue_alert() -> None:
    checks = schedule(recorded_times=[at(-5), at(10)], now=at(26))
    result = evaluate_overdue(checks=checks, now=at(26))
    (alert,) = result.raised
    assert (alert.code, alert.severity, alert.raised_at) == ("vitals_overdue", "warning", at(25))
    assert "T+20 min" in alert.message
    again = evaluate_overdue(
        checks=checks, now=at(26), open_episodes=[episode("vitals_overdue", "warning", 25)]
    )
    assert (again.raised, again.ended) == ((), ())


def test_recording_vitals_ends_the_overdue_episode_even_if_a_check_was_missed() -> None:
    checks = schedule(recorded_times=[at(-5), at(10), at(27)], now=at(28))
    assert [c.status for c in checks[:3]] == ["done", "done", "overdue"]
    result = evaluate_overdue(
        checks=checks, now=at(28), open_episodes=[episode("vitals_overdue", "warning", 25)]
    )
    assert result.raised == () and [(e.code, e.ended_at) for e in result.ended] == [
        ("vitals_overdue", at(28))
    ]


def test_discharge_ends_the_overdue_episode_and_raises_nothing() -> None:
    checks = schedule(recorded_times=[at(-5)], discharged_at=at(30), now=at(40))
    assert evaluate_overdue(checks=checks, now=at(40), discharged_at=at(30)).raised == ()
    result = evaluate_overdue(
        checks=checks,
        now=at(40),
        discharged_at=at(30),
        open_episodes=[episode("vitals_overdue", "warning", 15)],
    )
    assert [e.ended_at for e in result.ended] == [at(30)]


# --- discharge -----------------------------------------------------------------------------------


BASELINE = {
    "systolic_bp": Decimal(130),
    "diastolic_bp": Decimal(80),
    "heart_rate": Decimal(75),
    "moaas": Decimal(5),
}


def recovered_record(minute: float = 100, **values: object) -> list[dict[str, object]]:
    reading = {"systolic_bp": 135, "diastolic_bp": 82, "heart_rate": 80, "moaas": 5, "aldrete_total": 10}
    reading.update(values)
    return [obs(code, value, minute) for code, value in reading.items() if value is not None]


def discharge(**kwargs: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {
        "now": at(160),
        "dosing_started_at": T0,
        "dosing_ended_at": at(40),
        "observations": recovered_record(),
        "baseline": BASELINE,
        "escort_confirmed": True,
        "driving_advice_given": True,
        # A CADSS of 0 after the dose: dissociation resolved (the default method, by CADSS).
        "dissociation": DissociationCheck(cadss=(CadssTotal(at(40.5), 0),)),
    }
    args.update(kwargs)
    return evaluate_discharge(**args)  # type: ignore[arg-type]


def criterion(result, code: str):  # type: ignore[no-untyped-def]
    return next(c for c in result.criteria if c.code == code)


def test_discharge_criteria_are_listed_in_order_with_values() -> None:
    result = discharge()
    assert [c.code for c in result.criteria] == [
        "minimum_observation",
        "moaas_alert",
        "aldrete_score",
        "vitals_stable",
        "no_open_critical_alert",
        "dissociation_resolved",
        "escort_confirmed",
        "driving_advice_given",
    ]
    assert result.ready and result.unmet == ()
    assert criterion(result, "vitals_stable").value.startswith("BP 135/82 mmHg, HR 80 /min")
    assert [c.title for c in result.criteria][:2] == ["Minimum observation time", "Sedation (MOAA/S)"]
    assert criterion(result, "escort_confirmed").value == "yes"
    assert criterion(discharge(escort_confirmed=False), "escort_confirmed").value == "no"
    assert all("clinical.md" not in c.source for c in result.criteria)


@pytest.mark.parametrize(("now_min", "met"), [(159.99, False), (160, True)])
def test_minimum_observation_is_120_minutes_after_the_end_of_dosing(now_min: float, met: bool) -> None:
    result = discharge(now=at(now_min))
    minimum = criterion(result, "minimum_observation")
    assert minimum.met is met and result.ready is met
    assert minimum.value == ("119 min" if not met else "120 min")


def test_minimum_observation_is_a_parameter_and_needs_dosing_to_have_ended() -> None:
    assert discharge(now=at(100), min_observation_min=60).ready
    not_ended = discharge(dosing_ended_at=None)
    assert not criterion(not_ended, "minimum_observation").met and not_ended.ready_at is None


@pytest.mark.parametrize(
    ("values", "code", "met"),
    [
        ({"moaas": 4}, "moaas_alert", False),
        ({"moaas": None}, "moaas_alert", False),
        ({"aldrete_total": 8}, "aldrete_score", False),
        ({"aldrete_total": 9}, "aldrete_score", True),
        ({"systolic_bp": 159}, "vitals_stable", True),
        ({"heart_rate": None}, "vitals_stable", False),
    ],
)
def test_scale_and_vital_criteria(values: dict[str, object], code: str, met: bool) -> None:
    result = discharge(observations=recovered_record(**values))
    assert criterion(result, code).met is met and result.ready is met


@pytest.mark.parametrize(
    ("values", "baseline", "met"),
    [
        ({"systolic_bp": 160}, {}, False),  # hypertension warning level, no baseline to compare with
        ({"systolic_bp": 165}, {"systolic_bp": 150}, True),  # within 20 % of baseline
        ({"systolic_bp": 181}, {"systolic_bp": 160}, False),  # within 20 % but at the critical level
        ({"systolic_bp": 150}, {"systolic_bp": 105}, False),  # +45 rise and 43 % above baseline
        ({"heart_rate": 111}, {"heart_rate": 100}, True),  # above 110 but within 20 %
        ({"heart_rate": 130}, {"heart_rate": 115}, False),  # within 20 % but critical tachycardia
        ({"heart_rate": 45}, {"heart_rate": 52}, True),  # athlete's bradycardia near baseline
        ({"heart_rate": 45}, {}, False),
    ],
)
def test_vitals_below_thresholds_or_within_20_percent_of_baseline(values, baseline, met) -> None:  # type: ignore[no-untyped-def]
    result = discharge(observations=recovered_record(**values), baseline=baseline)
    assert criterion(result, "vitals_stable").met is met


def test_readings_before_the_end_of_dosing_do_not_satisfy_discharge() -> None:
    result = discharge(observations=recovered_record(minute=-5))
    assert not criterion(result, "moaas_alert").met
    assert criterion(result, "vitals_stable").value == (
        "not recorded since dosing ended: Systolic BP, Diastolic BP, Heart rate"
    )


def test_open_critical_alert_escort_and_driving_advice() -> None:
    open_alert = [CriticalAlertPeriod("hypoxemia", at(50), None)]
    result = discharge(critical_alerts=open_alert)
    assert (
        not criterion(result, "no_open_critical_alert").met
        and criterion(result, "no_open_critical_alert").value == "open: Low oxygen saturation"
    )
    resolved = [{"code": "hypoxemia", "raised_at": at(50), "resolved_at": at(60)}]
    assert discharge(critical_alerts=resolved).ready
    assert [c.code for c in discharge(escort_confirmed=False).unmet] == ["escort_confirmed"]
    assert [c.code for c in discharge(driving_advice_given=False).unmet] == ["driving_advice_given"]


def test_ready_at_is_when_every_clinical_criterion_had_been_met_without_a_break() -> None:
    record = [
        *recovered_record(45, moaas=3, aldrete_total=7, systolic_bp=170),
        *recovered_record(60, aldrete_total=9),
        obs("moaas", 4, 70),  # a dip: MOAA/S counts again only from 75
        obs("moaas", 5, 75.5),
        *recovered_record(100),
    ]
    alerts = [CriticalAlertPeriod("hypertension_critical", at(45), at(58))]
    result = discharge(observations=record, critical_alerts=alerts, now=at(130))
    assert not result.ready  # 90 min observed
    assert result.ready_at == at(75.5)
    assert result.ready_at_min_after_dosing_start == 76


def test_ready_at_is_never_before_the_end_of_dosing_or_the_last_critical_alert() -> None:
    record = [*recovered_record(-5), *recovered_record(41)]
    assert discharge(observations=record).ready_at == at(41)
    late_alert = [CriticalAlertPeriod("bradypnea", at(42), at(90))]
    assert discharge(observations=record, critical_alerts=late_alert).ready_at == at(90)


def test_ready_at_is_none_while_a_clinical_criterion_is_unmet() -> None:
    assert discharge(observations=recovered_record(moaas=4)).ready_at is None
    assert discharge(escort_confirmed=False).ready_at == at(100)  # logistics do not count


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        ({"escort_confirmed": "yes"}, "invalid_argument", "escort_confirmed"),
        ({"min_observation_min": -1}, "invalid_number", "min_observation_min"),
        ({"dosing_ended_at": at(-1)}, "invalid_session_times", "dosing_ended_at"),
        ({"critical_alerts": [{"code": "x"}]}, "invalid_argument", "critical_alerts[0]"),
        ({"now": datetime(2025, 3, 4, 12, 0)}, "naive_datetime", "now"),
        ({"observations": [obs("spo2", "high")]}, "invalid_observation", "observations[0].value"),
    ],
)
def test_discharge_refuses_bad_input(kwargs: dict[str, object], code: str, field: str) -> None:
    error = refused(discharge, **kwargs)
    assert (error.code, error.field) == (code, field)


# --- dependence watch ----------------------------------------------------------------------------


D0 = date(2025, 1, 6)


def history(*days_and_mg: tuple[int, int]) -> list[tuple[date, Decimal]]:
    return [(D0 + timedelta(days=day), Decimal(mg)) for day, mg in days_and_mg]


def review(**kwargs: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {
        "dosing_history": history((0, 80), (7, 80), (21, 80)),
        "extra_session_requests": 0,
        "ketamine_positive_tests_outside_treatment": 0,
        "ketamine_craving_scores": [],
    }
    args.update(kwargs)
    return evaluate_dependence(**args)  # type: ignore[arg-type]


def test_exposure_totals_and_intervals() -> None:
    result = review()
    assert (
        result.total_dose_mg,
        result.session_count,
        result.mean_interval_days,
        result.shortest_interval_days,
    ) == (
        Decimal(240),
        3,
        Decimal("10.5"),
        7,
    )
    assert result.flags == () and not result.review_required


def test_exposure_accepts_records_in_any_order_and_form() -> None:
    result = review(dosing_history=[{"session_date": D0 + timedelta(days=14), "dose_mg": "70.5"}, (D0, 60)])
    assert (result.total_dose_mg, result.session_count, result.mean_interval_days) == (
        Decimal("130.5"),
        2,
        Decimal(14),
    )
    empty = review(dosing_history=[])
    assert (empty.session_count, empty.mean_interval_days, empty.shortest_interval_days) == (0, None, None)


@pytest.mark.parametrize(
    ("kwargs", "flag", "raised"),
    [
        ({"dosing_history": history((0, 50), (7, 50), (14, 50))}, "sessions_above_review_count", False),
        (
            {"dosing_history": history((0, 50), (7, 50), (14, 50), (21, 50))},
            "sessions_above_review_count",
            True,
        ),
        ({"dosing_history": [(D0, Decimal("599.9"))]}, "cumulative_dose_at_review", False),
        ({"dosing_history": [(D0, Decimal(600))]}, "cumulative_dose_at_review", True),
        ({"dosing_history": history((0, 80), (7, 80))}, "short_dosing_interval", False),
        ({"dosing_history": history((0, 80), (6, 80))}, "short_dosing_interval", True),
        ({"extra_session_requests": 1}, "extra_session_requests", False),
        ({"extra_session_requests": 2}, "extra_session_requests", True),
        ({"ketamine_positive_tests_outside_treatment": 0}, "ketamine_positive_outside_treatment", False),
        ({"ketamine_positive_tests_outside_treatment": 1}, "ketamine_positive_outside_treatment", True),
        ({"ketamine_craving_scores": [(D0, 4)]}, "ketamine_craving", False),
        ({"ketamine_craving_scores": [(D0, 5)]}, "ketamine_craving", True),
        ({"ketamine_craving_scores": [(D0 + timedelta(days=9), 2), (D0, 8)]}, "ketamine_craving", False),
    ],
)
def test_dependence_review_flags_at_their_thresholds(
    kwargs: dict[str, object], flag: str, raised: bool
) -> None:
    result = review(**kwargs)
    assert (flag in result.flag_codes) is raised
    if raised:
        assert result.review_required


def test_dependence_thresholds_are_parameters() -> None:
    strict = DependenceThresholds(sessions_review_above=2)
    assert "sessions_above_review_count" in review(thresholds=strict).flag_codes
    assert refused(DependenceThresholds, min_interval_days=-1).code == "invalid_thresholds"
    assert refused(DependenceThresholds, sessions_review_above=2.5).field == "sessions_review_above"


def test_serial_dosing_with_active_misuse_needs_a_prescriber_decision() -> None:
    first = review(dosing_history=[], active_substance_misuse=True)
    assert (
        "serial_dosing_with_active_misuse" not in first.flag_codes and not first.prescriber_decision_required
    )
    serial = review(active_substance_misuse=True)
    assert "serial_dosing_with_active_misuse" in serial.flag_codes and serial.prescriber_decision_required
    decided = review(active_substance_misuse=True, prescriber_decision_documented=True)
    assert (
        "serial_dosing_with_active_misuse" in decided.flag_codes and not decided.prescriber_decision_required
    )
    assert not review().prescriber_decision_required


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        (
            {"dosing_history": [(datetime(2025, 1, 6, 9, 0, tzinfo=UTC), 80)]},
            "invalid_date",
            "dosing_history[0]",
        ),
        ({"dosing_history": [(D0, -5)]}, "invalid_number", "dosing_history[0]"),
        ({"dosing_history": [D0]}, "invalid_argument", "dosing_history[0]"),
        ({"extra_session_requests": True}, "invalid_number", "extra_session_requests"),
        (
            {"ketamine_positive_tests_outside_treatment": -1},
            "invalid_number",
            "ketamine_positive_tests_outside_treatment",
        ),
        ({"ketamine_craving_scores": [(D0, 11)]}, "answer_out_of_range", "ketamine_craving_scores[0]"),
        ({"active_substance_misuse": "yes"}, "invalid_argument", "active_substance_misuse"),
    ],
)
def test_dependence_refuses_bad_input(kwargs: dict[str, object], code: str, field: str) -> None:
    error = refused(review, **kwargs)
    assert (error.code, error.field) == (code, field)


# --- remaining argument refusals -----------------------------------------------------------------


def test_remaining_argument_refusals_name_their_field() -> None:
    skew = refused(validate, [], clock_skew_tolerance=timedelta(minutes=-1))
    assert (skew.code, skew.field) == ("invalid_argument", "clock_skew_tolerance")
    severity = refused(escalation_due, T0, "urgent", at(5))
    assert (severity.code, severity.field) == ("invalid_severity", "severity")
    checks = refused(evaluate_overdue, checks=[{"due_at": T0}], now=at(5))
    assert (checks.code, checks.field) == ("invalid_argument", "checks[0]")
    thresholds = refused(review, thresholds={"sessions_review_above": 2})
    assert (thresholds.code, thresholds.field) == ("invalid_thresholds", "thresholds")
    protocol = refused(MonitoringProtocol, overdue_grace_min=61)
    assert (protocol.code, protocol.field) == ("invalid_monitoring_protocol", "overdue_grace_min")
