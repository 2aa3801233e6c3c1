"""The alert state after a value is marked entered in error: from the values that remain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapstone.domain.errors import DomainError
from kapstone.domain.monitoring import (
    ALERT_RULES,
    FAMILY_CODES,
    OpenEpisode,
    evaluate_vitals,
    reevaluate_after_void,
)

T0 = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=60)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def obs(code: str, value: object, minutes: float) -> dict[str, object]:
    return {"code": code, "value": value, "observed_at": at(minutes)}


def episode(code: str, severity: str, minutes: float, key: object = 1) -> OpenEpisode:
    return OpenEpisode(key, code, severity, at(minutes))


def after(remaining, open_episodes, voided_code="spo2", baseline=None):  # type: ignore[no-untyped-def]
    return reevaluate_after_void(
        observations=remaining,
        baseline=baseline,
        open_episodes=open_episodes,
        voided_code=voided_code,
        now=NOW,
    )


def test_an_episode_only_the_voided_value_raised_ends_as_entered_in_error() -> None:
    result = after([obs("spo2", 97, 5)], [episode("hypoxemia", "critical", 10, key="A")])
    assert result.raised == () and result.upgraded == ()
    [end] = result.ended
    assert (end.episode_id, end.code, end.ended_at) == ("A", "hypoxemia", NOW)
    assert end.message == "Low oxygen saturation ended: value entered in error."


def test_an_episode_the_remaining_values_still_show_is_left_alone() -> None:
    remaining = [obs("spo2", 88, 5), obs("spo2", 87, 20)]
    assert after(remaining, [episode("hypoxemia", "critical", 5)]) == after([], [])


def test_a_typed_critical_on_a_warning_episode_ends_it_and_raises_the_warning_again() -> None:
    remaining = [obs("heart_rate", 72, 0), obs("heart_rate", 115, 10), obs("heart_rate", 118, 30)]
    result = after(remaining, [episode("tachycardia", "critical", 10, key=7)], voided_code="heart_rate")
    assert [(e.episode_id, e.code) for e in result.ended] == [(7, "tachycardia")]
    [again] = result.raised
    assert (again.code, again.severity, again.raised_at, again.ended_at) == (
        "tachycardia",
        "warning",
        at(10),
        None,
    )
    assert "115" in again.message and "entered in error" in again.message


def test_voiding_the_normal_value_that_ended_an_episode_brings_it_back() -> None:
    result = after([obs("spo2", 97, 0), obs("spo2", 88, 10)], [])
    assert result.ended == ()
    assert [(a.code, a.severity, a.raised_at) for a in result.raised] == [("hypoxemia", "critical", at(10))]


def test_families_that_do_not_read_the_voided_code_are_untouched() -> None:
    # The stored tachycardia episode has no reading behind it in this record; voiding an SpO2
    # must still leave it (and the overdue episode) alone.
    stored = [episode("tachycardia", "warning", 5, key=1), episode("vitals_overdue", "warning", 5, key=2)]
    assert after([obs("spo2", 97, 5)], stored) == after([], [])


def test_a_changed_baseline_moves_the_rise_from_baseline() -> None:
    remaining = [obs("systolic_bp", 145, 30), obs("diastolic_bp", 80, 30)]
    stored = [episode("bp_rise_from_baseline", "warning", 30)]
    # The mistaken baseline 100 is gone: against 124 the reading is +21, no rise.
    result = after(remaining, stored, "systolic_bp", baseline={"systolic_bp": 124, "diastolic_bp": 78})
    assert [e.code for e in result.ended] == ["bp_rise_from_baseline"] and result.raised == ()


def test_sedation_follows_the_baseline_moaas() -> None:
    remaining = [obs("moaas", 4, 30)]
    stored = [episode("sedation", "warning", 30)]
    assert after(remaining, stored, "moaas", baseline={"moaas": 4}).ended[0].code == "sedation"
    assert after(remaining, stored, "moaas", baseline={"moaas": 5}) == after([], [])


def test_every_alert_family_but_the_schedule_names_the_codes_it_reads() -> None:
    families = {rule.episode for rule in ALERT_RULES.values()} - {"vitals_overdue"}
    assert set(FAMILY_CODES) == families


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"voided_code": "blood_sugar"}, "unknown_vital"),
        ({"voided_code": None}, "unknown_vital"),
        ({"now": datetime(2025, 3, 4, 10, 0)}, "naive_datetime"),
        ({"open_episodes": [{"code": "hypoxemia"}]}, "invalid_episode"),
        ({"observations": [{"code": "spo2", "value": "low", "observed_at": T0}]}, "invalid_observation"),
    ],
)
def test_refuses_malformed_input(kwargs, code) -> None:  # type: ignore[no-untyped-def]
    arguments = {"observations": [], "baseline": None, "open_episodes": [], "voided_code": "spo2", "now": NOW}
    with pytest.raises(DomainError) as error:
        reevaluate_after_void(**(arguments | kwargs))
    assert error.value.code == code


SPO2 = st.lists(st.integers(min_value=80, max_value=100), min_size=0, max_size=8)
STORED = st.sampled_from([None, "warning", "critical"])


@settings(max_examples=200, deadline=None)
@given(values=SPO2, stored=STORED)
def test_afterwards_the_open_episode_is_the_one_the_remaining_values_show(values, stored) -> None:  # type: ignore[no-untyped-def]
    remaining = [obs("spo2", value, minutes) for minutes, value in enumerate(values)]
    open_episodes = [] if stored is None else [episode("hypoxemia", stored, 0, key="S")]
    result = after(remaining, open_episodes)
    replay = evaluate_vitals(new_observations=remaining, baseline=None)
    shown = [(a.code, a.severity) for a in replay.raised if a.ended_at is None]
    ended = {e.episode_id for e in result.ended}
    kept = [] if stored is None or "S" in ended else [("hypoxemia", stored)]
    assert kept + [(a.code, a.severity) for a in result.raised] == shown
    assert all(e.ended_at == NOW for e in result.ended) and result.upgraded == ()
