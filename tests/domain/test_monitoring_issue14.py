"""Issue 14, monitoring part: dissociation before discharge, the route-aware BP-peak check, and
the local-policy thresholds as protocol parameters (boundaries just below, at and just above)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from kapstone.domain.errors import DomainError
from kapstone.domain.monitoring import (
    AlertThresholds,
    CadssTotal,
    DependenceThresholds,
    DissociationCheck,
    bp_peak_check,
    due_checks,
    evaluate_dependence,
    evaluate_discharge,
    evaluate_vitals,
)
from kapstone.domain.pk import simulate_pk
from kapstone.domain.protocols import (
    clone_protocol,
    get_protocol,
    protocol_from_dict,
    protocol_library,
    protocol_to_dict,
)

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def recovered(minute: float = 100) -> list[dict[str, object]]:
    values = {"systolic_bp": 130, "diastolic_bp": 80, "heart_rate": 75, "moaas": 5, "aldrete_total": 10}
    return [{"code": c, "value": v, "observed_at": at(minute)} for c, v in values.items()]


def dissociation_of(dissociation: object):
    result = evaluate_discharge(
        now=at(170),
        dosing_started_at=T0,
        dosing_ended_at=at(40),
        observations=recovered(),
        baseline={"systolic_bp": Decimal(130), "diastolic_bp": Decimal(80), "heart_rate": Decimal(75)},
        escort_confirmed=True,
        driving_advice_given=True,
        dissociation=dissociation,
    )
    return next(c for c in result.criteria if c.code == "dissociation_resolved"), result


# --- dissociation ----------------------------------------------------------------------------------


def test_without_a_cadss_after_the_dose_dissociation_is_not_resolved_and_says_what_is_missing():
    criterion, result = dissociation_of(None)
    assert not criterion.met and not result.ready and result.ready_at is None
    assert criterion.value == "no CADSS recorded since dosing ended"
    assert criterion.title == "Dissociation resolved" and "REMS" in criterion.source
    # A CADSS during dosing is not "after the last dose".
    criterion, _ = dissociation_of(DissociationCheck(cadss=(CadssTotal(at(40), 0),)))
    assert not criterion.met


@pytest.mark.parametrize(("total", "met"), [(0, True), (1, False)])
def test_without_a_pre_dose_cadss_the_protocol_level_decides(total, met):
    criterion, _ = dissociation_of(DissociationCheck(cadss=(CadssTotal(at(90), total),)))
    assert criterion.met is met and criterion.value == f"CADSS {total} of 92"
    assert "≤ 0 (the protocol's resolution level)" in criterion.requirement


@pytest.mark.parametrize(("total", "met"), [(4, True), (5, True), (6, False)])
def test_with_a_level_of_5_it_is_just_below_at_and_just_above(total, met):
    check = DissociationCheck(cadss=(CadssTotal(at(90), total),), cadss_resolved_at_or_below=5)
    assert dissociation_of(check)[0].met is met


@pytest.mark.parametrize(("total", "met"), [(6, True), (7, True), (8, False)])
def test_back_to_the_pre_dose_cadss_counts_as_resolved(total, met):
    check = DissociationCheck(
        cadss=(CadssTotal(at(-10), 7), CadssTotal(at(30), 40), CadssTotal(at(90), total))
    )
    criterion, _ = dissociation_of(check)
    assert criterion.met is met and "≤ 7 (the pre-dose CADSS)" in criterion.requirement


def test_the_latest_cadss_counts_and_ready_at_waits_for_the_resolved_run():
    check = DissociationCheck(cadss=(CadssTotal(at(50), 0), CadssTotal(at(60), 12), CadssTotal(at(80), 0)))
    criterion, result = dissociation_of(check)
    assert criterion.met and result.ready and result.ready_at == at(100)  # the vitals at 100 are later
    check = DissociationCheck(cadss=(CadssTotal(at(50), 0), CadssTotal(at(120), 12)))
    assert not dissociation_of(check)[0].met


def test_attestation_after_the_dose_meets_it_and_a_cadss_does_not_replace_it():
    criterion, _ = dissociation_of(DissociationCheck(method="attestation", attested_at=at(110)))
    assert criterion.met and criterion.value == "attested by a clinician"
    for attested in (None, at(40), at(171)):  # none, at the end of dosing, after now
        criterion, _ = dissociation_of(DissociationCheck(method="attestation", attested_at=attested))
        assert not criterion.met
    criterion, _ = dissociation_of(DissociationCheck(method="attestation", cadss=(CadssTotal(at(90), 0),)))
    assert not criterion.met and criterion.value == "no attestation since dosing ended"


@pytest.mark.parametrize(
    ("dissociation", "code"),
    [
        (DissociationCheck(method="guess"), "invalid_argument"),
        (DissociationCheck(cadss=(CadssTotal(at(90), 93),)), "answer_out_of_range"),
        (DissociationCheck(cadss=(CadssTotal(datetime(2026, 12, 6, 10), 0),)), "naive_datetime"),
        (DissociationCheck(cadss_resolved_at_or_below=93), "invalid_number"),
        ("cadss", "invalid_argument"),
    ],
)
def test_dissociation_refuses_bad_input(dissociation, code):
    with pytest.raises(DomainError) as error:
        dissociation_of(dissociation)
    assert error.value.code == code


# --- the BP-peak check by route -------------------------------------------------------------------


def test_im_peak_is_the_models_tmax_and_is_stated_on_the_check():
    peak = bp_peak_check(route="im")
    tmax = simulate_pk(weight_kg=70, mg_per_kg=2, route="im").tmax_min
    assert peak.minutes == int(tmax) == 18  # reported IM peak about 20 min (clinical.md §2.3)
    assert peak.note == "Blood pressure at the expected peak: 18 min after an IM dose"
    # Tmax does not depend on dose or weight in a linear model.
    assert simulate_pk(weight_kg=120, mg_per_kg=0.5, route="im").tmax_min == tmax


@pytest.mark.parametrize(
    ("infusion", "bolus", "minutes"), [(40, None, 40), (52, "0.11", 52), (Decimal("40.5"), None, 41)]
)
def test_iv_peak_is_the_end_of_the_infusion_which_the_model_confirms(infusion, bolus, minutes):
    peak = bp_peak_check(route="iv", infusion_min=infusion)
    assert peak.minutes == minutes and "at the end of the" in peak.note
    if bolus is not None or infusion == 40:
        model = simulate_pk(
            weight_kg=70, mg_per_kg="0.71", route="iv", over_min=infusion, bolus_mg_per_kg=bolus
        )
        assert model.tmax_min == infusion


def test_intranasal_oral_and_no_order_use_the_protocols_time():
    assert bp_peak_check(route="in").minutes == 40
    assert bp_peak_check(route="in").note.endswith(
        "40 min after an intranasal dose (the protocol's peak time)"
    )
    assert bp_peak_check(route="po", fallback_min=35).minutes == 35
    assert bp_peak_check(route=None).note.endswith("after the start of dosing (the protocol's peak time)")
    assert bp_peak_check(route="sl").minutes == 45


def test_the_schedule_places_the_peak_check_by_route():
    im = bp_peak_check(route="im")
    checks = due_checks(
        protocol_monitoring={"bp_peak_check_min": im.minutes, "bp_peak_check_note": im.note},
        dosing_started_at=T0,
        dosing_ended_at=T0,
        discharged_at=None,
        recorded_times=[],
        now=at(60),
    )
    peak = next(c for c in checks if c.kind == "bp_peak")
    assert peak.minutes_after_dosing_start == 18 and peak.note == im.note
    assert all(c.note == "" for c in checks if c.kind != "bp_peak")


@pytest.mark.parametrize(
    ("route", "infusion", "fallback"), [("iv", 0, 40), ("iv", "x", 40), ("im", None, 0), ("im", None, True)]
)
def test_peak_refuses_bad_input(route, infusion, fallback):
    with pytest.raises(DomainError):
        bp_peak_check(route=route, infusion_min=infusion, fallback_min=fallback)


# --- local-policy thresholds are protocol parameters -----------------------------------------------


def limits(**changes: int) -> AlertThresholds:
    protocol = clone_protocol(
        get_protocol("kare-alcohol-grabski-2022"),
        {f"monitoring.alert_limits.{k}": v for k, v in changes.items()},
    )
    values = {k: Decimal(v) for k, v in protocol_to_dict(protocol)["monitoring"]["alert_limits"].items()}
    return AlertThresholds(**values)


def codes(thresholds: AlertThresholds, **reading: int) -> list[tuple[str, str]]:
    batch = [{"code": c, "value": v, "observed_at": at(10)} for c, v in reading.items()]
    result = evaluate_vitals(new_observations=batch, baseline={}, open_episodes=[], thresholds=thresholds)
    return [(a.code, a.severity) for a in result.raised]


@pytest.mark.parametrize(
    ("field", "value", "reading", "below", "at_", "above"),
    [
        # HR > limit (warning): at the limit no alert, one above alerts.
        ("heart_rate_warning_above_per_min", 100, "heart_rate", [], [], [("tachycardia", "warning")]),
        (
            "heart_rate_critical_at_or_above_per_min",
            120,
            "heart_rate",
            [("tachycardia", "warning")],
            [("tachycardia", "critical")],
            [("tachycardia", "critical")],
        ),
        ("heart_rate_warning_below_per_min", 55, "heart_rate", [("bradycardia", "warning")], [], []),
        ("spo2_warning_below_pct", 95, "spo2", [("hypoxemia", "warning")], [], []),
        (
            "respiratory_rate_critical_below_per_min",
            8,
            "respiratory_rate",
            [("bradypnea", "critical")],
            [],
            [],
        ),
    ],
)
def test_alert_limits_from_the_protocol_at_their_boundaries(field, value, reading, below, at_, above):
    t = limits(**{field: value})
    assert codes(t, **{reading: value - 1}) == below
    assert codes(t, **{reading: value}) == at_
    assert codes(t, **{reading: value + 1}) == above


@pytest.mark.parametrize(
    ("systolic", "alerts"),
    [(149, []), (150, [("hypertension", "warning")]), (151, [("hypertension", "warning")])],
)
def test_the_hypertension_warning_is_a_protocol_parameter(systolic, alerts):
    assert (
        codes(limits(systolic_warning_at_or_above_mmhg=150), systolic_bp=systolic, diastolic_bp=70) == alerts
    )


@pytest.mark.parametrize(("score", "severity"), [(2, "critical"), (3, "critical"), (4, "warning")])
def test_the_deep_sedation_level_is_a_protocol_parameter(score, severity):
    batch = [{"code": "moaas", "value": score, "observed_at": at(10)}]
    result = evaluate_vitals(
        new_observations=batch,
        baseline={"moaas": Decimal(5)},
        open_episodes=[],
        thresholds=limits(moaas_critical_at_or_below=3),
    )
    assert [a.severity for a in result.raised] == [severity]


def test_a_local_policy_alert_says_so_and_a_label_one_does_not():
    batch = [
        {"code": "heart_rate", "value": 111, "observed_at": at(10)},
        {"code": "systolic_bp", "value": 185, "observed_at": at(10)},
        {"code": "diastolic_bp", "value": 90, "observed_at": at(10)},
    ]
    result = evaluate_vitals(new_observations=batch, baseline={}, open_episodes=[], thresholds=None)
    messages = {a.code: a.message for a in result.raised}
    assert messages["tachycardia"] == "Heart rate 111 /min > 110 /min (limit set by local policy)."
    assert "local policy" not in messages["hypertension_critical"]


def test_escalation_limits_come_from_the_protocol():
    from kapstone.domain.monitoring import escalation_due

    t = limits(escalate_warning_after_min=5)
    assert not escalation_due(T0, "warning", at(4.99), t)
    assert escalation_due(T0, "warning", at(5), t)


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("alert_limits.spo2_warning_below_pct", 9, "invalid_alert_limit"),
        ("alert_limits.heart_rate_warning_above_per_min", 140, "invalid_alert_limit"),  # above critical 130
        ("alert_limits.moaas_critical_at_or_below", 6, "invalid_alert_limit"),
        ("dependence_limits.craving_review_at", 11, "invalid_dependence_limit"),
        ("dependence_limits.sessions_review_above", 0, "invalid_dependence_limit"),
        ("dissociation_check", "vibes", "invalid_dissociation_check"),
        ("cadss_resolved_at_or_below", 93, "invalid_cadss_resolution"),
    ],
)
def test_protocol_refuses_out_of_range_parameters(field, value, code):
    with pytest.raises(DomainError) as error:
        clone_protocol(get_protocol("kare-alcohol-grabski-2022"), {f"monitoring.{field}": value})
    assert error.value.code == code and error.value.field == f"monitoring.{field}"


def test_an_old_protocol_without_the_new_parameters_still_validates_with_the_defaults():
    for protocol in protocol_library():
        data = protocol_to_dict(protocol)
        for key in ("dissociation_check", "cadss_resolved_at_or_below", "alert_limits", "dependence_limits"):
            del data["monitoring"][key]
        old = protocol_from_dict(data)
        assert old == protocol
        assert (
            old.monitoring.dissociation_check == "cadss"
            and old.monitoring.alert_limits.spo2_warning_below_pct == 94
        )


@pytest.mark.parametrize(
    ("field", "value", "history", "flag"),
    [
        ("sessions_review_above", 2, 2, False),
        ("sessions_review_above", 2, 3, True),
        ("min_interval_days", 14, 14, False),
        ("min_interval_days", 14, 13, True),
    ],
)
def test_dependence_limits_from_the_protocol(field, value, history, flag):
    protocol = clone_protocol(
        get_protocol("kare-alcohol-grabski-2022"), {f"monitoring.dependence_limits.{field}": value}
    )
    d = protocol.monitoring.dependence_limits
    thresholds = DependenceThresholds(
        sessions_review_above=d.sessions_review_above,
        cumulative_dose_review_at_mg=Decimal(d.cumulative_dose_review_at_mg),
        min_interval_days=d.min_interval_days,
        craving_review_at=Decimal(d.craving_review_at),
    )
    first = datetime(2026, 1, 1).date()
    if field == "sessions_review_above":
        doses = [(first + timedelta(days=30 * i), Decimal(50)) for i in range(history)]
        code = "sessions_above_review_count"
    else:
        doses = [(first, Decimal(50)), (first + timedelta(days=history), Decimal(50))]
        code = "short_dosing_interval"
    review = evaluate_dependence(
        dosing_history=doses,
        extra_session_requests=0,
        ketamine_positive_tests_outside_treatment=0,
        thresholds=thresholds,
    )
    assert (code in review.flag_codes) is flag
    if flag:
        assert "Local policy" in next(f.source for f in review.flags if f.code == code)
