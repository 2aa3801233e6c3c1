"""Discharge criteria: when a monitored patient may leave.

Sources: the Modified Aldrete score ≥ 9 (its circulation item compares BP with ±20 % of
baseline); the Spravato REMS (observe at least 2 hours and until sedation, dissociation and
respiratory depression have resolved; "when would this patient have been ready to leave?"); the
CADSS (Bremner et al. 1998) for dissociation; each criterion's own source is on its rule.
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

#: How dissociation is shown resolved before discharge (the protocol's ``dissociation_check``).
DISSOCIATION_BY_CADSS = "cadss"
DISSOCIATION_BY_ATTESTATION = "attestation"
#: The 23-item CADSS total runs 0–92 (clinical.md §3.6).
CADSS_MAX_TOTAL = 92


@dataclass(frozen=True)
class CadssTotal:
    """A CADSS total (0–92) scored at ``observed_at``."""

    observed_at: datetime
    total: int


@dataclass(frozen=True)
class DissociationCheck:
    """How this discharge checks that dissociation has resolved.

    ``method`` ``cadss``: the latest CADSS after the end of dosing has a total at or below the
    pre-dose CADSS total (the latest at or before the start of dosing) when there is one, or at
    or below ``cadss_resolved_at_or_below``, whichever is higher. ``attestation``: a clinician
    attested after the end of dosing that dissociation has resolved (``attested_at``, the latest
    attestation).
    """

    method: str = DISSOCIATION_BY_CADSS
    cadss: tuple[CadssTotal, ...] = ()
    cadss_resolved_at_or_below: int = 0
    attested_at: datetime | None = None


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
            "dissociation_resolved",
            "Dissociation resolved",
            "Spravato REMS (FDA REMS 386): monitor until sedation, dissociation and respiratory "
            "depression have resolved; dissociation measured with the CADSS (Bremner et al., "
            "J Trauma Stress 1998). The resolution level without a pre-dose CADSS, and whether a "
            "clinician's attestation is used instead, are local policy (the protocol).",
        ),
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


def _coerce_dissociation(raw: object) -> DissociationCheck:
    if raw is None:
        return DissociationCheck()
    if isinstance(raw, Mapping):
        try:
            raw = DissociationCheck(**dict(raw))
        except TypeError:
            raise DomainError(
                "invalid_argument",
                "dissociation must have method, cadss, cadss_resolved_at_or_below and attested_at.",
                field="dissociation",
            ) from None
    if not isinstance(raw, DissociationCheck):
        raise DomainError(
            "invalid_argument", "dissociation must be a DissociationCheck.", field="dissociation"
        )
    if raw.method not in (DISSOCIATION_BY_CADSS, DISSOCIATION_BY_ATTESTATION):
        raise DomainError(
            "invalid_argument",
            f"dissociation.method must be 'cadss' or 'attestation', got {raw.method!r}.",
            field="dissociation.method",
        )
    level = int_arg(raw.cadss_resolved_at_or_below, field="dissociation.cadss_resolved_at_or_below")
    if level > CADSS_MAX_TOTAL:
        raise DomainError(
            "invalid_number",
            f"dissociation.cadss_resolved_at_or_below must be 0–{CADSS_MAX_TOTAL}, got {level}.",
            field="dissociation.cadss_resolved_at_or_below",
        )
    scores = []
    for index, item in enumerate(
        sequence_arg(raw.cadss, field="dissociation.cadss", code="invalid_argument")
    ):
        where = f"dissociation.cadss[{index}]"
        if isinstance(item, CadssTotal):
            score = item
        elif isinstance(item, Mapping) and "observed_at" in item and "total" in item:
            score = CadssTotal(item["observed_at"], item["total"])
        elif isinstance(item, tuple | list) and len(item) == 2:
            score = CadssTotal(item[0], item[1])
        else:
            raise DomainError("invalid_argument", f"{where} must be (observed_at, total).", field=where)
        aware_arg(score.observed_at, field=f"{where}.observed_at")
        total = int_arg(score.total, field=f"{where}.total")
        if total > CADSS_MAX_TOTAL:
            raise DomainError(
                "answer_out_of_range",
                f"{where}: a CADSS total is 0–{CADSS_MAX_TOTAL}, got {total}.",
                field=where,
            )
        scores.append(score)
    attested = optional_aware_arg(raw.attested_at, field="dissociation.attested_at")
    return DissociationCheck(raw.method, tuple(sorted(scores, key=lambda c: c.observed_at)), level, attested)


def _dissociation_criterion(
    check: DissociationCheck, *, start: datetime, end: datetime | None, now: datetime
) -> tuple[DischargeCriterion, datetime | None]:
    """The ``dissociation_resolved`` criterion and, when met, since when (for ``ready_at``)."""
    source = DISCHARGE_CRITERIA["dissociation_resolved"].source
    if check.method == DISSOCIATION_BY_ATTESTATION:
        requirement = "a clinician attests, after the end of dosing, that dissociation has resolved"
        attested = check.attested_at
        if end is None:
            return DischargeCriterion(
                "dissociation_resolved", False, "dosing has not ended", requirement, source
            ), None
        if attested is None or attested <= end or attested > now:
            value = "no attestation since dosing ended"
            return DischargeCriterion("dissociation_resolved", False, value, requirement, source), None
        return DischargeCriterion(
            "dissociation_resolved", True, "attested by a clinician", requirement, source
        ), attested
    scores = [c for c in check.cadss if c.observed_at <= now]
    before = [c for c in scores if c.observed_at <= start]
    baseline = before[-1].total if before else None
    level = (
        check.cadss_resolved_at_or_below
        if baseline is None
        else max(baseline, check.cadss_resolved_at_or_below)
    )
    if baseline is not None and baseline >= check.cadss_resolved_at_or_below:
        requirement = f"a CADSS after the last dose with a total ≤ {level} (the pre-dose CADSS)"
    else:
        requirement = f"a CADSS after the last dose with a total ≤ {level} (the protocol's resolution level)"
    if end is None:
        return DischargeCriterion(
            "dissociation_resolved", False, "dosing has not ended", requirement, source
        ), None
    after = [c for c in scores if c.observed_at > end]
    if not after:
        value = "no CADSS recorded since dosing ended"
        return DischargeCriterion("dissociation_resolved", False, value, requirement, source), None
    latest = after[-1]
    met = latest.total <= level
    value = f"CADSS {latest.total} of {CADSS_MAX_TOTAL}"
    since = _met_since([(c.observed_at, c.total <= level) for c in after]) if met else None
    return DischargeCriterion("dissociation_resolved", met, value, requirement, source), since


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
    dissociation: object = None,
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
    6. ``dissociation_resolved``: the REMS objective (monitor until sedation, dissociation and
       respiratory depression have resolved), by the protocol's method (:class:`DissociationCheck`,
       ``dissociation``; None: by CADSS with none recorded, so unmet): a CADSS after the end of
       dosing with a total at or below the pre-dose CADSS (or the protocol's resolution level,
       default 0, local policy, whichever is higher), or a clinician's attestation after the
       end of dosing.
    7. ``escort_confirmed`` and 8. ``driving_advice_given`` (label: no driving until the next day
       after restful sleep; transport arranged).

    ``ready_at`` — when the patient "would have been ready to leave" had there been no 2-hour rule
    (the REMS Patient Monitoring Form question). Defined as the earliest instant T, not before the
    end of dosing, such that from T up to now the record shows criteria 2–6 continuously met:
    for MOAA/S, Aldrete and each of systolic, diastolic and heart rate, T is no earlier than the
    first reading of the unbroken run of passing readings that ends with the latest one (readings
    taken during dosing count towards the run, pre-dose readings do not); T is no earlier than
    the resolution of the last critical alert. It ignores the minimum observation time, the
    escort and the driving advice (logistics, not clinical state); T is no earlier than the first
    CADSS of the unbroken run of resolved CADSS totals ending with the latest (or the attestation).
    None while any of criteria 2–6 is unmet or dosing has not ended. ``ready_at_min_after_dosing_start`` is that instant in whole minutes from the start
    of dosing, rounded up (the form asks for minutes from the start of administration).

    Refusals: ``invalid_datetime``/``naive_datetime``, ``invalid_session_times``,
    ``invalid_observation``/``unknown_vital``, ``invalid_baseline``, ``invalid_argument``,
    ``invalid_number``, ``invalid_thresholds``.
    Source: Spravato label/REMS (≥ 2 h, no driving, transport; clinical.md §3.2, software.md §2.2;
    until dissociation has resolved, §8), MOAA/S (§3.5), CADSS (§3.6), modified Aldrete ≥ 9 and
    ±20 % circulation (§3.7), issue 5.
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
    dissociation_check = _coerce_dissociation(dissociation)

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

    dissociation_criterion, dissociation_since = _dissociation_criterion(
        dissociation_check, start=start, end=end, now=now
    )
    criteria.append(dissociation_criterion)
    since.append(dissociation_since)

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
    clinical_met = all(c.met for c in criteria[1:6])
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
