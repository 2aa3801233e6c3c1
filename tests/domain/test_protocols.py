"""Protocol library: shipped data, validation refusals, cloning, JSON round trip and calendars."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapstone.domain.errors import DomainError
from kapstone.domain.protocols import (
    ABSOLUTE_MAX_MG_PER_KG,
    DoseRule,
    MonitoringRules,
    Protocol,
    add_months,
    build_schedule,
    clone_protocol,
    follow_up_dates,
    get_protocol,
    protocol_from_dict,
    protocol_library,
    protocol_to_dict,
    validate_protocol,
)

SLUGS = (
    "kpt-alcohol-krupitsky-1997",
    "kpt-heroin-krupitsky-2002",
    "kpt-heroin-krupitsky-2007",
    "ketamine-mbrp-cocaine-dakwar-2019",
    "ketamine-met-alcohol-dakwar-2020",
    "kare-alcohol-grabski-2022",
)


def kare() -> Protocol:
    return get_protocol("kare-alcohol-grabski-2022")


def refused(protocol: Protocol) -> DomainError:
    with pytest.raises(DomainError) as caught:
        validate_protocol(protocol)
    return caught.value


def with_session(protocol: Protocol, index: int, **changes: Any) -> Protocol:
    sessions = list(protocol.sessions)
    sessions[index] = replace(sessions[index], **changes)
    return replace(protocol, sessions=tuple(sessions))


def with_dose(protocol: Protocol, index: int, **changes: Any) -> Protocol:
    dose = protocol.sessions[index].dose
    assert dose is not None
    return with_session(protocol, index, dose=replace(dose, **changes))


# --- the shipped library -----------------------------------------------------------------------


def test_ships_exactly_the_six_trials() -> None:
    assert tuple(p.slug for p in protocol_library()) == SLUGS
    assert all(p.version == 1 for p in protocol_library())


@pytest.mark.parametrize("protocol", protocol_library(), ids=lambda p: p.slug)
def test_every_shipped_protocol_validates(protocol: Protocol) -> None:
    validate_protocol(protocol)


@pytest.mark.parametrize("protocol", protocol_library(), ids=lambda p: p.slug)
def test_every_shipped_protocol_round_trips_through_json(protocol: Protocol) -> None:
    text = json.dumps(protocol_to_dict(protocol))
    assert protocol_from_dict(json.loads(text)) == protocol


@pytest.mark.parametrize("protocol", protocol_library(), ids=lambda p: p.slug)
def test_every_shipped_protocol_is_cited_and_says_what_is_unverified(protocol: Protocol) -> None:
    assert protocol.source and protocol.source_url.startswith("http")
    assert protocol.reference.startswith("clinical.md §1.")
    assert protocol.published_result.source
    assert protocol.unverified_notes
    assert protocol.monitoring.min_observation_min == 120
    assert protocol.monitoring.bp_peak_check_min == 40
    assert protocol.monitoring.baseline_window_min == 60 and protocol.monitoring.baseline_moaas is True
    assert protocol.weight_max_age_days == 30


def test_krupitsky_1997_numbers() -> None:
    p = get_protocol("kpt-alcohol-krupitsky-1997")
    (dosing,) = p.dosing_sessions
    assert dosing.dose == DoseRule(mg_per_kg=Decimal("2.5"), route="im", max_mg_per_kg=Decimal("2.5"))
    assert p.phases == ("preparation", "dosing", "integration")
    result = p.published_result
    assert (result.ketamine.n, result.ketamine.percent) == (111, Decimal("65.8"))
    assert (result.comparator.n, result.comparator.percent) == (100, Decimal("24"))
    assert any("2.5 mg/kg" in note and "unverified" in note for note in p.unverified_notes)
    assert p.outcome.heavy_day_min_drinks_men == 5
    assert p.outcome.heavy_day_min_drinks_women == 4


def test_krupitsky_2007_three_monthly_im_sessions() -> None:
    p = get_protocol("kpt-heroin-krupitsky-2007")
    assert p.indication == "opioids"
    doses = [s.dose for s in p.dosing_sessions]
    assert len(doses) == 3
    assert all(d is not None and d.mg_per_kg == Decimal("2.0") and d.route == "im" for d in doses)
    offsets = [s.day_offset for s in p.dosing_sessions]
    assert all(b - a >= 28 for a, b in itertools.pairwise(offsets))
    assert (p.published_result.ketamine.events, p.published_result.ketamine.n) == (13, 26)
    assert (p.published_result.comparator.events, p.published_result.comparator.n) == (6, 27)
    assert p.outcome.heavy_day_min_drinks_men is None


def test_dakwar_2019_single_infusion_over_40_min() -> None:
    p = get_protocol("ketamine-mbrp-cocaine-dakwar-2019")
    (dosing,) = p.dosing_sessions
    assert dosing.dose is not None
    assert (dosing.dose.mg_per_kg, dosing.dose.route, dosing.dose.infusion_min) == (Decimal("0.5"), "iv", 40)
    assert dosing.dose.bolus_mg_per_kg is None
    assert p.published_result.ketamine.percent == Decimal("48.2")
    assert p.published_result.comparator.percent == Decimal("10.7")
    assert p.outcome.window_days == 14


def test_dakwar_2020_bolus_over_2_min_then_50_min_infusion() -> None:
    p = get_protocol("ketamine-met-alcohol-dakwar-2020")
    (dosing,) = p.dosing_sessions
    dose = dosing.dose
    assert dose is not None
    assert (dose.mg_per_kg, dose.infusion_min) == (Decimal("0.71"), 52)
    assert (dose.bolus_mg_per_kg, dose.bolus_min) == (Decimal("0.11"), 2)
    assert (dose.maintenance_mg_per_kg, dose.maintenance_min) == (Decimal("0.60"), 50)
    assert (p.published_result.ketamine.n, p.published_result.comparator.n) == (17, 23)
    assert p.published_result.ketamine.percent is None  # numbers not found in the sources


def test_kare_three_infusions_and_seven_therapy_sessions() -> None:
    p = kare()
    doses = [s.dose for s in p.dosing_sessions]
    assert len(doses) == 3
    assert all(d == DoseRule(Decimal("0.8"), "iv", Decimal("0.8"), infusion_min=40) for d in doses)
    therapy = [s for s in p.sessions if s.kind != "dosing"]
    assert len(therapy) == 7 and all(s.duration_min == 90 for s in therapy)
    assert p.outcome.kind == "percent_days_abstinent"
    assert "10.1%" in p.published_result.effect and "15.9%" in p.published_result.effect


def test_get_protocol_by_version_and_refusals() -> None:
    assert get_protocol(SLUGS[0], 1) is protocol_library()[0]
    with pytest.raises(DomainError) as caught:
        get_protocol("kpt-unknown")
    assert (caught.value.code, caught.value.field) == ("unknown_protocol", "slug")
    with pytest.raises(DomainError) as caught:
        get_protocol(SLUGS[0], 2)
    assert (caught.value.code, caught.value.field) == ("unknown_protocol_version", "version")


# --- validation refusals -----------------------------------------------------------------------


def test_refuses_negative_day_offset() -> None:
    error = refused(with_session(kare(), 0, day_offset=-1))
    assert (error.code, error.field) == ("invalid_day_offset", "sessions.0.day_offset")


def test_accepts_day_offset_zero() -> None:
    validate_protocol(with_session(kare(), 0, day_offset=0))


def test_refuses_dose_above_its_own_max() -> None:
    error = refused(with_dose(kare(), 1, mg_per_kg=Decimal("0.81")))
    assert (error.code, error.field) == ("dose_above_own_max", "sessions.1.dose.mg_per_kg")
    validate_protocol(with_dose(kare(), 1, mg_per_kg=Decimal("0.79")))


def test_refuses_max_above_the_absolute_ceiling() -> None:
    p = get_protocol("kpt-alcohol-krupitsky-1997")
    validate_protocol(with_dose(p, 1, max_mg_per_kg=ABSOLUTE_MAX_MG_PER_KG))
    error = refused(with_dose(p, 1, max_mg_per_kg=Decimal("3.01")))
    assert (error.code, error.field) == ("max_above_ceiling", "sessions.1.dose.max_mg_per_kg")


@pytest.mark.parametrize(("minutes", "ok"), [(59, False), (60, True), (61, True)])
def test_observation_floor_is_60_min(minutes: int, ok: bool) -> None:
    p = get_protocol("kpt-alcohol-krupitsky-1997")
    candidate = replace(p, monitoring=replace(p.monitoring, min_observation_min=minutes))
    if ok:
        validate_protocol(candidate)
    else:
        error = refused(candidate)
        assert (error.code, error.field) == ("observation_too_short", "monitoring.min_observation_min")


def test_refuses_empty_schedule() -> None:
    error = refused(replace(kare(), sessions=()))
    assert (error.code, error.field) == ("empty_schedule", "sessions")


def test_refuses_duplicate_session_order() -> None:
    error = refused(with_session(kare(), 2, order=2))
    assert (error.code, error.field) == ("duplicate_session_order", "sessions.2.order")


def test_refuses_order_that_contradicts_the_calendar() -> None:
    error = refused(with_session(kare(), 3, day_offset=5))
    assert (error.code, error.field) == ("session_order_mismatch", "sessions.3.day_offset")


def test_refuses_unknown_kind_route_and_missing_dose() -> None:
    assert refused(with_session(kare(), 0, kind="party")).code == "unknown_session_kind"
    assert refused(with_dose(kare(), 1, route="rectal")).code == "unknown_route"
    error = refused(with_session(kare(), 1, dose=None))
    assert (error.code, error.field) == ("dose_rule_missing", "sessions.1.dose")
    error = refused(with_session(kare(), 0, dose=kare().sessions[1].dose))
    assert (error.code, error.field) == ("dose_on_non_dosing_session", "sessions.0.dose")


def test_refuses_zero_dose_and_bad_infusion_settings() -> None:
    assert refused(with_dose(kare(), 1, mg_per_kg=Decimal("0"))).code == "invalid_dose"
    assert refused(with_dose(kare(), 1, infusion_min=None)).code == "infusion_min_required"
    assert refused(with_dose(kare(), 1, infusion_min=0)).code == "invalid_infusion_min"
    im = get_protocol("kpt-alcohol-krupitsky-1997")
    assert refused(with_dose(im, 1, infusion_min=10)).code == "infusion_for_non_iv"
    assert refused(with_dose(im, 1, bolus_mg_per_kg=Decimal("0.1"))).code == "bolus_for_non_iv"


def test_refuses_incoherent_bolus() -> None:
    p = get_protocol("ketamine-met-alcohol-dakwar-2020")
    assert refused(with_dose(p, 2, bolus_min=None)).code == "bolus_min_required"
    assert refused(with_dose(p, 2, bolus_mg_per_kg=None)).code == "bolus_dose_required"
    assert refused(with_dose(p, 2, bolus_mg_per_kg=Decimal("0.71"))).code == "invalid_bolus"
    assert refused(with_dose(p, 2, bolus_min=52)).code == "invalid_bolus_min"
    validate_protocol(with_dose(p, 2, bolus_min=51))


def test_refuses_dosing_session_shorter_than_observation() -> None:
    error = refused(with_session(kare(), 1, duration_min=119))
    assert (error.code, error.field) == ("session_shorter_than_observation", "sessions.1.duration_min")
    validate_protocol(with_session(kare(), 1, duration_min=120))


def test_refuses_infusion_that_outlasts_observation() -> None:
    error = refused(with_dose(kare(), 1, infusion_min=120))
    assert error.code == "infusion_longer_than_observation"


def test_refuses_too_many_or_too_close_dosing_sessions() -> None:
    p = kare()
    error = refused(replace(p, limits=replace(p.limits, max_dosing_sessions=2)))
    assert error.code == "too_many_dosing_sessions"
    # Weekly infusions (days 7, 14, 21): a week apart is allowed, eight days is not.
    error = refused(replace(p, limits=replace(p.limits, min_days_between_dosing=8)))
    assert (error.code, error.field) == ("dosing_sessions_too_close", "sessions.4.day_offset")
    validate_protocol(replace(p, limits=replace(p.limits, min_days_between_dosing=7)))


def test_refuses_protocol_without_dosing() -> None:
    p = kare()
    sessions = tuple(s for s in p.sessions if s.kind != "dosing")
    assert refused(replace(p, sessions=sessions)).code == "no_dosing_session"


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"vitals_interval_min": 0}, "invalid_vitals_interval", "monitoring.vitals_interval_min"),
        ({"bp_peak_check_min": 120}, "invalid_bp_check_time", "monitoring.bp_peak_check_min"),
        ({"alert_ack_escalation_min": 0}, "invalid_escalation_min", "monitoring.alert_ack_escalation_min"),
        ({"baseline_window_min": 0}, "invalid_baseline_window", "monitoring.baseline_window_min"),
        ({"baseline_window_min": 241}, "invalid_baseline_window", "monitoring.baseline_window_min"),
    ],
)
def test_refuses_bad_monitoring(changes: dict[str, int], code: str, field: str) -> None:
    p = kare()
    error = refused(replace(p, monitoring=replace(p.monitoring, **changes)))
    assert (error.code, error.field) == (code, field)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"follow_up_months": (3, 1)}, "invalid_follow_up_schedule"),
        ({"follow_up_months": (0, 3)}, "invalid_follow_up_schedule"),
        ({"follow_up_months": (1, 1)}, "invalid_follow_up_schedule"),
        ({"weight_max_age_days": 0}, "invalid_weight_max_age"),
        ({"slug": "Not A Slug"}, "invalid_slug"),
        ({"version": 0}, "invalid_version"),
        ({"indication": "chocolate"}, "unknown_indication"),
        ({"title": " "}, "missing_title"),
        ({"source": ""}, "missing_citation"),
    ],
)
def test_refuses_bad_top_level_fields(changes: dict[str, Any], code: str) -> None:
    assert refused(replace(kare(), **changes)).code == code


def test_refuses_bad_day_of_rules() -> None:
    p = kare()
    checks = (*p.day_of.checks, p.day_of.checks[0])
    assert refused(replace(p, day_of=replace(p.day_of, checks=checks))).code == "duplicate_day_of_check"
    bogus = (replace(p.day_of.checks[0], check="horoscope"),)
    assert refused(replace(p, day_of=replace(p.day_of, checks=bogus))).code == "unknown_day_of_check"
    error = refused(replace(p, day_of=replace(p.day_of, fasting_min_hours=Decimal("-1"))))
    assert error.code == "invalid_fasting_hours"
    error = refused(replace(p, day_of=replace(p.day_of, bp_defer_systolic_at_mmhg=90)))
    assert error.code == "invalid_bp_defer_threshold"


def test_refuses_bad_outcome_and_result() -> None:
    p = kare()
    assert refused(replace(p, outcome=replace(p.outcome, kind="happiness"))).code == "unknown_outcome_kind"
    assert refused(replace(p, outcome=replace(p.outcome, window_days=0))).code == "invalid_outcome_window"
    error = refused(replace(p, outcome=replace(p.outcome, heavy_day_min_drinks_women=None)))
    assert error.code == "invalid_heavy_day_threshold"
    error = refused(replace(p, outcome=replace(p.outcome, heavy_day_min_drinks_women=6)))
    assert error.code == "invalid_heavy_day_threshold"
    assert (
        refused(replace(p, outcome=replace(p.outcome, acute_phase_end_day=10))).code
        == "invalid_acute_phase_end"
    )
    heroin = get_protocol("kpt-heroin-krupitsky-2007")
    error = refused(
        replace(
            heroin, outcome=replace(heroin.outcome, heavy_day_min_drinks_men=5, heavy_day_min_drinks_women=4)
        )
    )
    assert error.code == "invalid_heavy_day_threshold"
    result = heroin.published_result
    bad = replace(result, ketamine=replace(result.ketamine, events=27))
    error = refused(replace(heroin, published_result=bad))
    assert (error.code, error.field) == ("invalid_published_result", "published_result.ketamine.events")


def test_refuses_wrong_python_types_with_domain_error() -> None:
    error = refused(with_dose(kare(), 1, mg_per_kg=0.8))
    assert (error.code, error.field) == ("invalid_protocol_field", "sessions.1.dose.mg_per_kg")
    error = refused(replace(kare(), version=True))
    assert (error.code, error.field) == ("invalid_protocol_field", "version")
    with pytest.raises(DomainError) as caught:
        validate_protocol("kare")  # type: ignore[arg-type]
    assert caught.value.code == "invalid_protocol"


# --- dict round trip refusals ------------------------------------------------------------------


def test_from_dict_refuses_unknown_missing_and_mistyped_fields() -> None:
    data = protocol_to_dict(kare())
    with pytest.raises(DomainError) as caught:
        protocol_from_dict({**data, "colour": "blue"})
    assert (caught.value.code, caught.value.field) == ("unknown_protocol_field", "colour")
    missing = dict(data)
    del missing["limits"]
    with pytest.raises(DomainError) as caught:
        protocol_from_dict(missing)
    assert (caught.value.code, caught.value.field) == ("missing_protocol_field", "limits")
    bad = json.loads(json.dumps(data))
    bad["sessions"][1]["dose"]["mg_per_kg"] = "lots"
    with pytest.raises(DomainError) as caught:
        protocol_from_dict(bad)
    assert (caught.value.code, caught.value.field) == ("invalid_protocol_field", "sessions.1.dose.mg_per_kg")
    bad["sessions"][1]["dose"]["mg_per_kg"] = "NaN"
    with pytest.raises(DomainError) as caught:
        protocol_from_dict(bad)
    assert caught.value.code == "invalid_protocol_field"
    bad = json.loads(json.dumps(data))
    bad["sessions"] = "none"
    with pytest.raises(DomainError) as caught:
        protocol_from_dict(bad)
    assert (caught.value.code, caught.value.field) == ("invalid_protocol_field", "sessions")


def test_from_dict_fills_defaults_and_stores_decimals_as_strings() -> None:
    data = protocol_to_dict(kare())
    assert data["sessions"][1]["dose"]["mg_per_kg"] == "0.8"
    # KARE's day-of checks are not the defaults (its substance adds the alcohol withdrawal check).
    for key in ("monitoring", "follow_up_months", "weight_max_age_days"):
        del data[key]
    assert protocol_from_dict(data) == kare()
    del data["day_of"]
    from kapstone.domain.protocols import DayOfRules

    assert protocol_from_dict(data).day_of == DayOfRules()


@settings(max_examples=60, deadline=None)
@given(
    value=st.one_of(
        st.none(), st.booleans(), st.integers(), st.text(max_size=4), st.floats(), st.lists(st.none())
    )
)
def test_from_dict_returns_a_protocol_or_raises_domain_error(value: object) -> None:
    data = protocol_to_dict(kare())
    for path in (("version",), ("monitoring", "min_observation_min"), ("day_of", "fasting_min_hours")):
        candidate = json.loads(json.dumps(data))
        node = candidate
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        try:
            protocol_from_dict(candidate)
        except DomainError as error:
            assert error.code


# --- cloning -----------------------------------------------------------------------------------


def test_clone_makes_the_next_version_and_keeps_the_original() -> None:
    original = kare()
    clone = clone_protocol(original, {"monitoring.min_observation_min": 150})
    assert (clone.slug, clone.version) == (original.slug, 2)
    assert clone.monitoring.min_observation_min == 150
    assert original.monitoring.min_observation_min == 120
    assert clone.sessions == original.sessions


def test_clone_can_lower_a_dose_but_not_exceed_the_max() -> None:
    clone = clone_protocol(kare(), {"sessions.1.dose.mg_per_kg": Decimal("0.6")})
    assert clone.sessions[1].dose is not None and clone.sessions[1].dose.mg_per_kg == Decimal("0.6")
    with pytest.raises(DomainError) as caught:
        clone_protocol(kare(), {"sessions.1.dose.mg_per_kg": "0.9"})
    assert (caught.value.code, caught.value.field) == ("dose_above_own_max", "sessions.1.dose.mg_per_kg")
    with pytest.raises(DomainError) as caught:
        clone_protocol(kare(), {"sessions.1.dose.max_mg_per_kg": "3.5", "sessions.1.dose.mg_per_kg": "3.2"})
    assert caught.value.code == "max_above_ceiling"


def test_clone_refuses_observation_under_the_floor() -> None:
    with pytest.raises(DomainError) as caught:
        clone_protocol(kare(), {"monitoring.min_observation_min": 45})
    assert caught.value.code == "observation_too_short"


def test_clone_replaces_a_whole_sub_object() -> None:
    clone = clone_protocol(kare(), {"monitoring": MonitoringRules(min_observation_min=180)})
    assert clone.monitoring == MonitoringRules(min_observation_min=180)
    clone = clone_protocol(kare(), {"follow_up_months": [1, 6]})
    assert clone.follow_up_months == (1, 6)


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"colour": "blue"}, "unknown_change", "colour"),
        ({"monitoring.colour": 1}, "unknown_change", "monitoring.colour"),
        ({"sessions.99.title": "x"}, "unknown_change", "sessions.99.title"),
        ({"sessions.first.title": "x"}, "unknown_change", "sessions.first.title"),
        ({"title.length": 3}, "unknown_change", "title.length"),
        ({"slug": "mine"}, "change_not_allowed", "slug"),
        ({"version": 7}, "change_not_allowed", "version"),
        ({}, "invalid_change", "changes"),
    ],
)
def test_clone_refuses_unknown_or_fixed_changes(changes: dict[str, Any], code: str, field: str) -> None:
    with pytest.raises(DomainError) as caught:
        clone_protocol(kare(), changes)
    assert (caught.value.code, caught.value.field) == (code, field)


def test_clone_refuses_non_mapping_changes() -> None:
    with pytest.raises(DomainError) as caught:
        clone_protocol(kare(), [("title", "x")])  # type: ignore[arg-type]
    assert caught.value.code == "invalid_change"


def test_clone_of_a_clone_round_trips() -> None:
    clone = clone_protocol(clone_protocol(kare(), {"title": "KARE, local"}), {"weight_max_age_days": 14})
    assert clone.version == 3
    assert protocol_from_dict(json.loads(json.dumps(protocol_to_dict(clone)))) == clone


@settings(max_examples=60, deadline=None)
@given(mg_per_kg=st.decimals(min_value=Decimal("-1"), max_value=Decimal("5"), places=2))
def test_a_clone_never_exceeds_its_max_or_the_ceiling(mg_per_kg: Decimal) -> None:
    try:
        clone = clone_protocol(kare(), {"sessions.1.dose.mg_per_kg": mg_per_kg})
    except DomainError as error:
        assert error.code in {"dose_above_own_max", "invalid_dose"}
    else:
        dose = clone.sessions[1].dose
        assert dose is not None
        assert Decimal(0) < dose.mg_per_kg <= dose.max_mg_per_kg <= ABSOLUTE_MAX_MG_PER_KG


# --- calendars ---------------------------------------------------------------------------------


def test_build_schedule_places_every_session_by_offset() -> None:
    plan = build_schedule(kare(), date(2025, 3, 3))
    assert len(plan) == 10
    assert [s.order for s in plan] == list(range(1, 11))
    assert [s.scheduled_date for s in plan if s.kind == "dosing"] == [
        date(2025, 3, 10),
        date(2025, 3, 17),
        date(2025, 3, 24),
    ]
    first = plan[0]
    assert (first.kind, first.group, first.title, first.duration_min) == (
        "preparation",
        False,
        "KARE therapy session 1",
        90,
    )
    assert plan[1].dose == kare().sessions[1].dose


def test_build_schedule_keeps_group_flag() -> None:
    p = with_session(kare(), 2, group=True)
    assert build_schedule(p, date(2025, 1, 1))[2].group is True


def test_build_schedule_refuses_datetime() -> None:
    with pytest.raises(DomainError) as caught:
        build_schedule(kare(), datetime(2025, 1, 1, tzinfo=UTC))
    assert (caught.value.code, caught.value.field) == ("invalid_date", "start_date")


def test_follow_up_dates_clamp_to_month_end() -> None:
    assert follow_up_dates(kare(), date(2024, 1, 31)) == [
        date(2024, 2, 29),
        date(2024, 4, 30),
        date(2024, 7, 31),
        date(2025, 1, 31),
        date(2026, 1, 31),
    ]
    assert follow_up_dates(kare(), date(2023, 1, 31))[0] == date(2023, 2, 28)
    assert follow_up_dates(kare(), date(2024, 11, 15))[0] == date(2024, 12, 15)
    assert follow_up_dates(kare(), date(2024, 12, 15))[0] == date(2025, 1, 15)


def test_follow_up_dates_refuse_non_date() -> None:
    with pytest.raises(DomainError) as caught:
        follow_up_dates(kare(), "2024-01-31")  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.field) == ("invalid_date", "last_dosing_date")


@settings(max_examples=100, deadline=None)
@given(start=st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 1, 1)), months=st.integers(0, 240))
def test_add_months_lands_in_the_right_month_and_never_overshoots(start: date, months: int) -> None:
    result = add_months(start, months)
    assert (result.year * 12 + result.month) - (start.year * 12 + start.month) == months
    assert result.day <= start.day
    assert result.day == start.day or result.month != (result + (date(2000, 1, 2) - date(2000, 1, 1))).month


@settings(max_examples=50, deadline=None)
@given(start=st.dates(min_value=date(2000, 1, 1), max_value=date(2080, 1, 1)))
def test_schedules_and_follow_ups_are_ordered(start: date) -> None:
    for protocol in protocol_library():
        plan = build_schedule(protocol, start)
        dates = [s.scheduled_date for s in plan]
        assert dates == sorted(dates) and dates[0] >= start
        follow_ups = follow_up_dates(protocol, dates[-1])
        assert follow_ups == sorted(follow_ups) and follow_ups[0] > dates[-1]
        assert len(set(follow_ups)) == len(follow_ups)


def _mutations() -> list[tuple[str, Any, str, str]]:
    p = kare()
    r = p.published_result
    return [
        ("session order 0", with_session(p, 0, order=0), "invalid_session_order", "sessions.0.order"),
        ("blank session title", with_session(p, 0, title=" "), "missing_title", "sessions.0.title"),
        (
            "zero-minute session",
            with_session(p, 0, duration_min=0),
            "invalid_duration",
            "sessions.0.duration_min",
        ),
        (
            "day-long+ session",
            with_session(p, 0, duration_min=1441),
            "invalid_duration",
            "sessions.0.duration_min",
        ),
        (
            "offset past 5 years",
            with_session(p, 9, day_offset=1831),
            "invalid_day_offset",
            "sessions.9.day_offset",
        ),
        (
            "recovery interval 61",
            replace(p, monitoring=replace(p.monitoring, vitals_interval_recovery_min=61)),
            "invalid_vitals_interval",
            "monitoring.vitals_interval_recovery_min",
        ),
        (
            "observation over a day",
            replace(p, monitoring=replace(p.monitoring, min_observation_min=1441)),
            "observation_too_long",
            "monitoring.min_observation_min",
        ),
        (
            "no dosing allowed",
            replace(p, limits=replace(p.limits, max_dosing_sessions=0)),
            "invalid_session_limits",
            "limits.max_dosing_sessions",
        ),
        (
            "same-day dosing allowed",
            replace(p, limits=replace(p.limits, min_days_between_dosing=0)),
            "invalid_session_limits",
            "limits.min_days_between_dosing",
        ),
        (
            "diastolic deferral 151",
            replace(p, day_of=replace(p.day_of, bp_defer_diastolic_at_mmhg=151)),
            "invalid_bp_defer_threshold",
            "day_of.bp_defer_diastolic_at_mmhg",
        ),
        (
            "fasting 25 h",
            replace(p, day_of=replace(p.day_of, fasting_min_hours=Decimal("25"))),
            "invalid_fasting_hours",
            "day_of.fasting_min_hours",
        ),
        (
            "outcome substance",
            replace(p, outcome=replace(p.outcome, substance="chocolate")),
            "unknown_indication",
            "outcome.substance",
        ),
        (
            "window before the course",
            replace(p, outcome=replace(p.outcome, window_ends_day=179)),
            "invalid_outcome_window",
            "outcome.window_ends_day",
        ),
        (
            "arm of zero",
            replace(p, published_result=replace(r, comparator=replace(r.comparator, n=0))),
            "invalid_published_result",
            "published_result.comparator.n",
        ),
        (
            "percent over 100",
            replace(p, published_result=replace(r, ketamine=replace(r.ketamine, percent=Decimal("100.1")))),
            "invalid_published_result",
            "published_result.ketamine.percent",
        ),
        (
            "bolus time 0",
            with_dose(get_protocol("ketamine-met-alcohol-dakwar-2020"), 2, bolus_min=0),
            "invalid_bolus_min",
            "sessions.2.dose.bolus_min",
        ),
        (
            "infusion 241 min",
            with_dose(p, 1, infusion_min=241),
            "invalid_infusion_min",
            "sessions.1.dose.infusion_min",
        ),
    ]


@pytest.mark.parametrize(
    ("label", "protocol", "code", "field"), _mutations(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_refuses_each_out_of_bounds_value(label: str, protocol: Protocol, code: str, field: str) -> None:
    error = refused(protocol)
    assert (error.code, error.field) == (code, field), label


def test_accepts_values_at_the_bounds() -> None:
    p = kare()
    validate_protocol(
        replace(p, monitoring=replace(p.monitoring, vitals_interval_min=1, vitals_interval_recovery_min=60))
    )
    validate_protocol(replace(p, day_of=replace(p.day_of, fasting_min_hours=Decimal("0"))))
    validate_protocol(replace(p, day_of=replace(p.day_of, bp_defer_diastolic_at_mmhg=150)))
    validate_protocol(replace(p, outcome=replace(p.outcome, window_ends_day=180)))
    validate_protocol(with_session(p, 9, day_offset=1830))


# --- the library's data files ------------------------------------------------------------------


def test_every_library_file_is_listed_and_is_exactly_what_its_protocol_writes() -> None:
    from importlib import resources

    from kapstone.domain.protocols import LIBRARY_FILES

    folder = resources.files("kapstone.domain").joinpath("data", "protocols")
    on_disk = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".json"))
    assert on_disk == sorted(LIBRARY_FILES)  # a file not listed would never load
    for name, protocol in zip(LIBRARY_FILES, protocol_library(), strict=True):
        assert name == f"{protocol.slug}.v{protocol.version}.json"
        text = folder.joinpath(name).read_text("utf-8")
        assert json.loads(text) == protocol_to_dict(protocol)  # no field the parser dropped or added


def test_a_library_file_with_a_mistyped_field_is_refused_naming_it() -> None:
    from importlib import resources

    folder = resources.files("kapstone.domain").joinpath("data", "protocols")
    data = json.loads(folder.joinpath("kare-alcohol-grabski-2022.v1.json").read_text("utf-8"))
    data["limits"]["max_dosing_sessions"] = "3"
    with pytest.raises(DomainError) as caught:
        protocol_from_dict(data)
    assert (caught.value.code, caught.value.field) == ("invalid_protocol_field", "limits.max_dosing_sessions")
    assert caught.value.message == "limits.max_dosing_sessions must be a whole number, got '3'."
