"""Discharge criteria: when a monitored patient may leave.

Sources: the Modified Aldrete score ≥ 9 (its circulation item compares BP with ±20 % of
baseline); the Spravato REMS (observe at least 2 hours; "when would this patient have been ready to
leave?"); each criterion's own source is on its rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from kapstone.domain.errors import DomainError
from kapstone.domain.monitoring._common import (
    HUNDRED,
    aware_arg,
    bool_arg,
    decimal_arg,
    format_number,
    int_arg,
    minutes_between,
    optional_aware_arg,
    sequence_arg,
)
from kapstone.domain.monitoring.alerts import ALERT_RULES, AlertThresholds, coerce_thresholds
from kapstone.domain.monitoring.observations import (
    OBSERVATION_DEFINITIONS,
    Observation,
    coerce_baseline,
    coerce_observations,
)

# --- Discharge ------------------------------------------------------------------------------------


#: Modified Aldrete total that allows discharge (clinical.md §3.7: "≥ 9 allows discharge").
ALDRETE_DISCHARGE_MIN = 9


@dataclass(frozen=True)
class CriticalAlertPeriod:
    """A critical alert episode of the session; ``resolved_at`` None (or later than now) means open."""

    code: str
    raised_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class DischargeCriterionRule:
    """One discharge criterion as a clinician reads it: ``title`` (its name on every screen) and
    ``source``, a citation the clinician can look up (the internal references are in
    docs/clinical-rules.md)."""

    code: str
    title: str
    source: str


DISCHARGE_CRITERIA: Mapping[str, DischargeCriterionRule] = {
    rule.code: rule
    for rule in (
        DischargeCriterionRule(
            "minimum_observation",
            "Minimum observation time",
            "Spravato (esketamine) prescribing information, boxed warning: observe for at least 2 hours.",
        ),
        DischargeCriterionRule(
            "moaas_alert",
            "Sedation (MOAA/S)",
            "MOAA/S, Chernik et al. 1990; Spravato prescribing information.",
        ),
        DischargeCriterionRule(
            "aldrete_score",
            "Modified Aldrete score",
            "Modified Aldrete score (Aldrete 1995): 9 or more allows discharge.",
        ),
        DischargeCriterionRule(
            "vitals_stable",
            "Vital signs stable",
            "Clinic protocol; ±20 % of baseline from the circulation item of the modified Aldrete "
            "score (Aldrete 1995).",
        ),
        DischargeCriterionRule("no_open_critical_alert", "No open critical alert", "Clinic protocol."),
        DischargeCriterionRule(
            "escort_confirmed",
            "Escort",
            "Spravato (esketamine) prescribing information: transport home must be arranged.",
        ),
        DischargeCriterionRule(
            "driving_advice_given",
            "Driving advice",
            "Spravato (esketamine) prescribing information: no driving or machinery until the next "
            "day after restful sleep.",
        ),
    )
}
"""The criteria of :func:`evaluate_discharge`, in its order. Source: see each criterion there."""


def title_for(code: str) -> str:
    """The words a clinician reads for a monitoring code: an alert rule's or a discharge
    criterion's title, an observation's label; any other code as plain words ("something_new"
    → "Something new"), never the code itself."""
    if code in ALERT_RULES:
        return ALERT_RULES[code].title
    if code in DISCHARGE_CRITERIA:
        return DISCHARGE_CRITERIA[code].title
    if code in OBSERVATION_DEFINITIONS:
        return OBSERVATION_DEFINITIONS[code].label
    return str(code).replace("_", " ").strip().capitalize()


@dataclass(frozen=True)
class DischargeCriterion:
    """One discharge criterion: whether it is met, the value found and what is required."""

    code: str
    met: bool
    value: str
    requirement: str
    source: str

    @property
    def title(self) -> str:
        return DISCHARGE_CRITERIA[self.code].title


@dataclass(frozen=True)
class DischargeEvaluation:
    """All criteria in a fixed order; ``ready`` when every one is met.

    ``ready_at``/``ready_at_min_after_dosing_start``: the REMS research variable, see
    :func:`evaluate_discharge`. ``observed_min`` is the whole minutes since the end of dosing.
    """

    ready: bool
    criteria: tuple[DischargeCriterion, ...]
    ready_at: datetime | None
    ready_at_min_after_dosing_start: int | None
    observed_min: int | None

    @property
    def unmet(self) -> tuple[DischargeCriterion, ...]:
        return tuple(c for c in self.criteria if not c.met)


def _vital_stable(
    code: str,
    value: Decimal,
    baseline: Mapping[str, Decimal],
    t: AlertThresholds,
    tolerance_pct: Decimal,
) -> bool:
    """Below every alert threshold of the parameter, or within ±tolerance of baseline short of critical."""
    base = baseline.get(code)
    if code == "systolic_bp":
        below = value < t.systolic_warning_at_or_above_mmhg and (
            base is None or value - base < t.systolic_rise_at_or_above_mmhg
        )
        critical = value >= t.systolic_critical_at_or_above_mmhg
    elif code == "diastolic_bp":
        below = value < t.diastolic_warning_at_or_above_mmhg and (
            base is None or value - base < t.diastolic_rise_at_or_above_mmhg
        )
        critical = value >= t.diastolic_critical_at_or_above_mmhg
    else:
        below = t.heart_rate_warning_below_per_min <= value <= t.heart_rate_warning_above_per_min
        critical = value >= t.heart_rate_critical_at_or_above_per_min
    if below:
        return True
    return (
        base is not None and base > 0 and not critical and abs(value - base) * HUNDRED <= base * tolerance_pct
    )


def _met_since(series: Sequence[tuple[datetime, bool]]) -> datetime | None:
    """Start of the trailing run of passing readings (None if the latest fails or there is none)."""
    since: datetime | None = None
    for observed_at, passed in series:
        if not passed:
            since = None
        elif since is None:
            since = observed_at
    return since


def _coerce_critical_alerts(raw: object) -> tuple[CriticalAlertPeriod, ...]:
    items = sequence_arg(raw, field="critical_alerts", code="invalid_argument")
    result = []
    for index, item in enumerate(items):
        where = f"critical_alerts[{index}]"
        if isinstance(item, CriticalAlertPeriod):
            period = item
        elif isinstance(item, Mapping) and "code" in item and "raised_at" in item:
            period = CriticalAlertPeriod(item["code"], item["raised_at"], item.get("resolved_at"))
        else:
            raise DomainError(
                "invalid_argument", f"{where} must have code, raised_at and resolved_at.", field=where
            )
        if not isinstance(period.code, str):
            raise DomainError("invalid_argument", f"{where}.code must be a string.", field=f"{where}.code")
        aware_arg(period.raised_at, field=f"{where}.raised_at")
        optional_aware_arg(period.resolved_at, field=f"{where}.resolved_at")
        result.append(period)
    return tuple(result)


def evaluate_discharge(
    *,
    now: datetime,
    dosing_started_at: datetime,
    dosing_ended_at: datetime | None,
    observations: object,
    baseline: object,
    escort_confirmed: bool,
    driving_advice_given: bool,
    critical_alerts: object = (),
    thresholds: object = None,
    min_observation_min: int = 120,
    baseline_tolerance_pct: object = Decimal(20),
) -> DischargeEvaluation:
    """Whether a recovering patient may be discharged, criterion by criterion.

    ``observations`` is the session record (vitals plus ``moaas`` and ``aldrete_total``), as
    :class:`Observation` objects or mappings; readings after ``now`` are ignored. Criteria, in order:

    1. ``minimum_observation``: at least ``min_observation_min`` (default 120, REMS/label "at least
       2 hours") whole minutes since the end of dosing. Issue 5 counts from the end of dosing,
       which for an infusion is stricter than the REMS count from the first administration.
    2. ``moaas_alert``: the latest MOAA/S taken since dosing ended is 5.
    3. ``aldrete_score``: the latest modified Aldrete total since dosing ended is ≥ 9.
    4. ``vitals_stable``: the latest systolic, diastolic and heart rate since dosing ended each
       either fire no alert rule (below the hypertension warning and the rise from baseline; heart
       rate within 50–110) or lie within ±``baseline_tolerance_pct`` (20 %, the modified Aldrete
       circulation item) of baseline without reaching a critical level.
    5. ``no_open_critical_alert``: no critical alert without ``resolved_at`` (or resolved after now).
    6. ``escort_confirmed`` and 7. ``driving_advice_given`` (label: no driving until the next day
       after restful sleep; transport arranged).

    ``ready_at`` — when the patient "would have been ready to leave" had there been no 2-hour rule
    (the REMS Patient Monitoring Form question). Defined as the earliest instant T, not before the
    end of dosing, such that from T up to now the record shows criteria 2–5 continuously met:
    for MOAA/S, Aldrete and each of systolic, diastolic and heart rate, T is no earlier than the
    first reading of the unbroken run of passing readings that ends with the latest one (readings
    taken during dosing count towards the run, pre-dose readings do not); T is no earlier than
    the resolution of the last critical alert. It ignores the minimum observation time, the
    escort and the driving advice (logistics, not clinical state). None while any of criteria
    2–5 is unmet or dosing has not ended. ``ready_at_min_after_dosing_start`` is that instant in whole minutes from the start
    of dosing, rounded up (the form asks for minutes from the start of administration).

    Refusals: ``invalid_datetime``/``naive_datetime``, ``invalid_session_times``,
    ``invalid_observation``/``unknown_vital``, ``invalid_baseline``, ``invalid_argument``,
    ``invalid_number``, ``invalid_thresholds``.
    Source: Spravato label/REMS (≥ 2 h, no driving, transport; clinical.md §3.2, software.md §2.2),
    MOAA/S (§3.5), modified Aldrete ≥ 9 and ±20 % circulation (§3.7), issue 5.
    """
    now = aware_arg(now, field="now")
    start = aware_arg(dosing_started_at, field="dosing_started_at")
    end = optional_aware_arg(dosing_ended_at, field="dosing_ended_at")
    if end is not None and end < start:
        raise DomainError(
            "invalid_session_times", "dosing_ended_at is before dosing_started_at.", field="dosing_ended_at"
        )
    record = [
        obs for obs in coerce_observations(observations, prefix="observations") if obs.observed_at <= now
    ]
    record.sort(key=lambda o: o.observed_at)
    base = coerce_baseline(baseline)
    limits = coerce_thresholds(thresholds)
    min_observation = int_arg(min_observation_min, field="min_observation_min")
    tolerance = decimal_arg(baseline_tolerance_pct, field="baseline_tolerance_pct")
    escort = bool_arg(escort_confirmed, field="escort_confirmed")
    advice = bool_arg(driving_advice_given, field="driving_advice_given")
    alerts = _coerce_critical_alerts(critical_alerts)

    criteria: list[DischargeCriterion] = []
    observed_min: int | None = None
    if end is None:
        criteria.append(
            DischargeCriterion(
                "minimum_observation",
                False,
                "dosing has not ended",
                f"≥ {min_observation} min since the end of dosing",
                DISCHARGE_CRITERIA["minimum_observation"].source,
            )
        )
    else:
        observed_min = max(0, math.floor(minutes_between(end, now)))
        criteria.append(
            DischargeCriterion(
                "minimum_observation",
                observed_min >= min_observation,
                f"{observed_min} min",
                f"≥ {min_observation} min since the end of dosing",
                DISCHARGE_CRITERIA["minimum_observation"].source,
            )
        )
    after_dosing = end if end is not None else start

    def series(code: str, passes: Any) -> list[tuple[datetime, bool]]:
        # Pre-dose readings say nothing about the state after dosing, so runs start after it began.
        return [(o.observed_at, passes(o.value)) for o in record if o.code == code and o.observed_at > start]

    def latest(code: str) -> Observation | None:
        found = [o for o in record if o.code == code and o.observed_at >= after_dosing]
        return found[-1] if found else None

    since: list[datetime | None] = []

    moaas = latest("moaas")
    criteria.append(
        DischargeCriterion(
            "moaas_alert",
            moaas is not None and moaas.value == 5,
            "not recorded since dosing ended" if moaas is None else f"MOAA/S {format_number(moaas.value)}",
            "MOAA/S 5 (responds readily to name in a normal tone)",
            DISCHARGE_CRITERIA["moaas_alert"].source,
        )
    )
    since.append(_met_since(series("moaas", lambda v: v == 5)) if criteria[-1].met else None)

    aldrete = latest("aldrete_total")
    criteria.append(
        DischargeCriterion(
            "aldrete_score",
            aldrete is not None and aldrete.value >= ALDRETE_DISCHARGE_MIN,
            "not recorded since dosing ended"
            if aldrete is None
            else f"modified Aldrete {format_number(aldrete.value)}",
            "modified Aldrete ≥ 9",
            DISCHARGE_CRITERIA["aldrete_score"].source,
        )
    )
    since.append(
        _met_since(series("aldrete_total", lambda v: v >= ALDRETE_DISCHARGE_MIN))
        if criteria[-1].met
        else None
    )

    vitals = {code: latest(code) for code in ("systolic_bp", "diastolic_bp", "heart_rate")}
    missing = [code for code, obs in vitals.items() if obs is None]
    if missing:
        vitals_met = False
        vitals_value = "not recorded since dosing ended: " + ", ".join(
            OBSERVATION_DEFINITIONS[code].label for code in missing
        )
    else:
        vitals_met = all(
            _vital_stable(code, obs.value, base, limits, tolerance)
            for code, obs in vitals.items()
            if obs is not None
        )
        shown = {code: format_number(obs.value) for code, obs in vitals.items() if obs is not None}
        vitals_value = (
            f"BP {shown['systolic_bp']}/{shown['diastolic_bp']} mmHg, HR {shown['heart_rate']} /min"
        )
        if any(code in base for code in vitals):
            vitals_value += (
                f" (baseline {format_number(base['systolic_bp']) if 'systolic_bp' in base else '?'}/"
                f"{format_number(base['diastolic_bp']) if 'diastolic_bp' in base else '?'} mmHg, "
                f"HR {format_number(base['heart_rate']) if 'heart_rate' in base else '?'} /min)"
            )
    criteria.append(
        DischargeCriterion(
            "vitals_stable",
            vitals_met,
            vitals_value,
            f"BP and heart rate below the alert thresholds, or within ±{format_number(tolerance)} % of baseline "
            "and below the critical level",
            DISCHARGE_CRITERIA["vitals_stable"].source,
        )
    )
    for code in vitals:
        since.append(
            _met_since(series(code, lambda v, c=code: _vital_stable(c, v, base, limits, tolerance)))
            if vitals_met
            else None
        )

    still_open = [a for a in alerts if a.resolved_at is None or a.resolved_at > now]
    criteria.append(
        DischargeCriterion(
            "no_open_critical_alert",
            not still_open,
            "none open" if not still_open else "open: " + ", ".join(title_for(a.code) for a in still_open),
            "no open critical alert",
            DISCHARGE_CRITERIA["no_open_critical_alert"].source,
        )
    )
    cleared = max((a.resolved_at for a in alerts if a.resolved_at is not None), default=None)

    criteria.append(
        DischargeCriterion(
            "escort_confirmed",
            escort,
            "yes" if escort else "no",
            "an escort takes the patient home",
            DISCHARGE_CRITERIA["escort_confirmed"].source,
        )
    )
    criteria.append(
        DischargeCriterion(
            "driving_advice_given",
            advice,
            "given" if advice else "not given",
            "advised not to drive or operate machinery until the next day after restful sleep",
            DISCHARGE_CRITERIA["driving_advice_given"].source,
        )
    )

    ready_at: datetime | None = None
    ready_min: int | None = None
    clinical_met = all(c.met for c in criteria[1:5])
    if end is not None and clinical_met and all(s is not None for s in since):
        candidates = [end, *(s for s in since if s is not None)]
        if cleared is not None:
            candidates.append(cleared)
        ready_at = max(candidates)
        ready_min = math.ceil(minutes_between(start, ready_at))
    return DischargeEvaluation(
        ready=all(c.met for c in criteria),
        criteria=tuple(criteria),
        ready_at=ready_at,
        ready_at_min_after_dosing_start=ready_min,
        observed_min=observed_min,
    )
