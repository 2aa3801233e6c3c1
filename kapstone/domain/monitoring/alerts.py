"""Alert thresholds and rules over vital signs, alert episodes and their escalation.

Sources: the Spravato (esketamine) label and REMS for the blood-pressure rise (≥ 40 mmHg systolic
and/or ≥ 25 mmHg diastolic) and the SBP ≥ 180 / DBP ≥ 110 outliers (label Table 6), any fall in
MOAA/S as sedation and MOAA/S 0 as loss of consciousness; the APA consensus (Sanacora 2017) gives
no numeric limits, so the other thresholds are local policy: protocol parameters
(``monitoring.alert_limits`` of the protocol, fields of ``AlertThresholds``).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from kapstone.domain.errors import DomainError
from kapstone.domain.monitoring._common import (
    CRITICAL,
    SEVERITIES,
    SEVERITY_RANK,
    WARNING,
    aware_arg,
    format_number,
    minutes_between,
    non_negative_threshold,
    sequence_arg,
)
from kapstone.domain.monitoring.observations import coerce_baseline, coerce_observations

# --- Alert thresholds and rules -------------------------------------------------------------------

#: Said after a limit no reference gives (the protocol's ``monitoring.alert_limits``), wherever the
#: limit is shown: the alert's message, the rule's source, docs/clinical-rules.md.
LOCAL_POLICY = " (limit set by local policy)"


@dataclass(frozen=True)
class AlertThresholds:
    """Alert limits of a protocol. Defaults cite their source; "local policy" marks a chosen value.

    Comparisons are in the field names: ``at_or_above`` is ≥, ``above`` is >, ``below`` is <,
    ``at_or_below`` is ≤.
    """

    # Spravato label Table 6: SBP ≥ 180 / DBP ≥ 110 mmHg (used here as the critical level).
    systolic_critical_at_or_above_mmhg: Decimal = Decimal(180)
    diastolic_critical_at_or_above_mmhg: Decimal = Decimal(110)
    # Local policy (protocol's monitoring.alert_limits; issue 5 default; APA 2017 gives no numbers,
    # clinical.md §3.1, §6). Likewise every limit marked "local policy" below.
    systolic_warning_at_or_above_mmhg: Decimal = Decimal(160)
    diastolic_warning_at_or_above_mmhg: Decimal = Decimal(100)
    # Spravato label: an increase of ≥ 40 mmHg systolic and/or ≥ 25 mmHg diastolic.
    systolic_rise_at_or_above_mmhg: Decimal = Decimal(40)
    diastolic_rise_at_or_above_mmhg: Decimal = Decimal(25)
    # Local policy: > 110 a commonly used stop rule (clinical.md §3.1, from memory, unverified); ≥ 130 no source.
    heart_rate_warning_above_per_min: Decimal = Decimal(110)
    heart_rate_critical_at_or_above_per_min: Decimal = Decimal(130)
    # Local policy, no source.
    heart_rate_warning_below_per_min: Decimal = Decimal(50)
    # < 94 local policy; < 90: modified Aldrete scores SpO2 < 90 % as 0 (clinical.md §3.7).
    spo2_warning_below_pct: Decimal = Decimal(94)
    spo2_critical_below_pct: Decimal = Decimal(90)
    # Local policy; respiratory depression is a REMS target outcome (software.md §2.1).
    respiratory_rate_critical_below_per_min: Decimal = Decimal(10)
    # Label: any fall from pre-dose is sedation, 0 is loss of consciousness; ≤ 2 (responds only to
    # prodding or pain) as critical is local policy.
    moaas_critical_at_or_below: Decimal = Decimal(2)
    # Local policy (protocol's monitoring.alert_ack_escalation_min and alert_limits): critical
    # alerts escalate after 2 min unacknowledged (issue 5, no source); warnings after 10 min (no
    # longer than the shortest check interval, no source).
    escalate_critical_after_min: Decimal = Decimal(2)
    escalate_warning_after_min: Decimal = Decimal(10)

    def __post_init__(self) -> None:
        for item in fields(self):
            raw = getattr(self, item.name)
            value = non_negative_threshold(item.name, raw)
            object.__setattr__(self, item.name, value)
        pairs = (
            ("systolic_warning_at_or_above_mmhg", "systolic_critical_at_or_above_mmhg"),
            ("diastolic_warning_at_or_above_mmhg", "diastolic_critical_at_or_above_mmhg"),
            ("heart_rate_warning_above_per_min", "heart_rate_critical_at_or_above_per_min"),
            ("spo2_critical_below_pct", "spo2_warning_below_pct"),
            ("heart_rate_warning_below_per_min", "heart_rate_warning_above_per_min"),
        )
        for low, high in pairs:
            if getattr(self, low) > getattr(self, high):
                raise DomainError(
                    "invalid_thresholds",
                    f"{low} ({format_number(getattr(self, low))}) must not exceed {high} ({format_number(getattr(self, high))}).",
                    field=low,
                )
        if self.moaas_critical_at_or_below > 5:
            raise DomainError(
                "invalid_thresholds",
                "moaas_critical_at_or_below must be within 0–5.",
                field="moaas_critical_at_or_below",
            )

    @classmethod
    def from_mapping(cls, values: object) -> AlertThresholds:
        """Build from protocol configuration (a JSON object); unknown keys are refused."""
        if values is None:
            return cls()
        if not isinstance(values, Mapping):
            raise DomainError("invalid_thresholds", "Alert thresholds must be an object.", field="thresholds")
        names = {item.name for item in fields(cls)}
        for key in values:
            if key not in names:
                raise DomainError("invalid_thresholds", f"Unknown alert threshold {key!r}.", field=str(key))
        return cls(**dict(values))


DEFAULT_THRESHOLDS = AlertThresholds()


def coerce_thresholds(value: object) -> AlertThresholds:
    if value is None:
        return DEFAULT_THRESHOLDS
    if isinstance(value, AlertThresholds):
        return value
    return AlertThresholds.from_mapping(value)


@dataclass(frozen=True)
class AlertRule:
    """One alert code: the episode it belongs to, the severities it can carry, its source, and
    ``title``, the words a clinician reads for it on every screen (the code stays in the API)."""

    code: str
    episode: str
    severities: tuple[str, ...]
    description: str
    source: str
    title: str


ALERT_RULES: Mapping[str, AlertRule] = {
    rule.code: rule
    for rule in (
        AlertRule(
            "hypertension_critical",
            "hypertension",
            (CRITICAL,),
            "Systolic ≥ 180 or diastolic ≥ 110 mmHg.",
            "Spravato label Table 6 (clinical.md §3.2); critical severity is protocol practice.",
            "Blood pressure critically high",
        ),
        AlertRule(
            "hypertension",
            "hypertension",
            (WARNING,),
            "Systolic ≥ 160 or diastolic ≥ 100 mmHg by default; the protocol sets the limits.",
            "Local policy (protocol parameter; default from issue 5): no reference gives a number "
            "(APA 2017 gives none, clinical.md §3.1, §6).",
            "High blood pressure",
        ),
        AlertRule(
            "bp_rise_from_baseline",
            "bp_rise_from_baseline",
            (WARNING,),
            "Systolic ≥ 40 or diastolic ≥ 25 mmHg above baseline.",
            "Spravato label (clinical.md §3.2).",
            "Blood pressure rise from baseline",
        ),
        AlertRule(
            "tachycardia",
            "tachycardia",
            (WARNING, CRITICAL),
            "Heart rate > 110 /min (warning), ≥ 130 /min (critical) by default; the protocol sets the limits.",
            "Local policy (protocol parameters): > 110 is a commonly used stop rule recorded as "
            "unverified (clinical.md §3.1, §6); ≥ 130 has no source.",
            "Fast heart rate",
        ),
        AlertRule(
            "bradycardia",
            "bradycardia",
            (WARNING,),
            "Heart rate < 50 /min by default; the protocol sets the limit.",
            "Local policy (protocol parameter): no source.",
            "Slow heart rate",
        ),
        AlertRule(
            "hypoxemia",
            "hypoxemia",
            (WARNING, CRITICAL),
            "SpO2 < 94 % (warning, by default; the protocol sets it), < 90 % (critical).",
            "Label: pulse oximetry each session (clinical.md §3.2); < 90 % scores 0 on the modified "
            "Aldrete (§3.7); the warning level is local policy (protocol parameter, no source).",
            "Low oxygen saturation",
        ),
        AlertRule(
            "bradypnea",
            "bradypnea",
            (CRITICAL,),
            "Respiratory rate < 10 /min by default; the protocol sets the limit.",
            "Local policy (protocol parameter, no source for the number); respiratory depression is "
            "a REMS target outcome (software.md §2.1).",
            "Slow breathing",
        ),
        AlertRule(
            "sedation",
            "sedation",
            (WARNING, CRITICAL),
            "Any fall in MOAA/S from baseline (warning); MOAA/S ≤ 2 (critical, by default; the protocol "
            "sets it).",
            "Spravato label: any fall from pre-dose is sedation, 0 is loss of consciousness "
            "(clinical.md §3.2, §3.5); the critical level is local policy (protocol parameter).",
            "Sedation (MOAA/S)",
        ),
        AlertRule(
            "vitals_overdue",
            "vitals_overdue",
            (WARNING,),
            "A scheduled check is past its due time plus the grace period.",
            "Label: BP before dosing and ~40 min after (clinical.md §3.2); interval per protocol.",
            "Vital signs overdue",
        ),
    )
}


@dataclass(frozen=True)
class OpenEpisode:
    """An alert episode the app has stored and not yet ended (whatever its acknowledgement).

    ``episode_id`` is the app's key (returned unchanged in upgrades and ends).
    """

    episode_id: Hashable
    code: str
    severity: str
    started_at: datetime


@dataclass(frozen=True)
class RaisedAlert:
    """A new episode opened by this batch.

    ``raised_at`` is the time of the first abnormal reading; ``code``/``severity``/``message``
    are those of the worst reading of the episode within the batch. ``ended_at`` is set when a
    later reading in the same batch already ended the episode (store it resolved).
    """

    code: str
    severity: str
    message: str
    raised_at: datetime
    episode: str
    ended_at: datetime | None = None


@dataclass(frozen=True)
class EpisodeUpgrade:
    """An open warning episode that a critical reading escalated (code may change too)."""

    episode_id: Hashable
    from_code: str
    code: str
    severity: str
    message: str
    upgraded_at: datetime


@dataclass(frozen=True)
class EpisodeEnd:
    """An open episode ended by a normal reading of its parameters (or by the schedule catching up)."""

    episode_id: Hashable
    code: str
    ended_at: datetime
    message: str


@dataclass(frozen=True)
class AlertEvaluation:
    """What to store after a batch: new episodes, upgraded episodes and ended episodes."""

    raised: tuple[RaisedAlert, ...] = ()
    upgraded: tuple[EpisodeUpgrade, ...] = ()
    ended: tuple[EpisodeEnd, ...] = ()

    def notifications(self) -> list[dict[str, str]]:
        """The alerts a nurse must see for this batch (new and upgraded), as API objects."""
        items = [(a.raised_at, a.code, a.severity, a.message) for a in self.raised]
        items += [(u.upgraded_at, u.code, u.severity, u.message) for u in self.upgraded]
        items.sort(key=lambda item: item[0])
        return [
            {"code": code, "severity": severity, "message": message} for _, code, severity, message in items
        ]


def coerce_episodes(raw: object) -> dict[str, OpenEpisode]:
    items = sequence_arg(raw, field="open_episodes", code="invalid_episode")
    by_episode: dict[str, OpenEpisode] = {}
    for index, item in enumerate(items):
        where = f"open_episodes[{index}]"
        if isinstance(item, OpenEpisode):
            episode = item
        elif isinstance(item, Mapping):
            try:
                episode = OpenEpisode(
                    episode_id=item["episode_id"],
                    code=item["code"],
                    severity=item["severity"],
                    started_at=item["started_at"],
                )
            except KeyError as missing:
                raise DomainError(
                    "invalid_episode", f"{where} is missing {missing.args[0]}.", field=where
                ) from None
        else:
            raise DomainError("invalid_episode", f"{where} must be an episode object.", field=where)
        rule = ALERT_RULES.get(episode.code) if isinstance(episode.code, str) else None
        if rule is None:
            raise DomainError(
                "invalid_episode", f"{where}: unknown alert code {episode.code!r}.", field=f"{where}.code"
            )
        if episode.severity not in rule.severities:
            raise DomainError(
                "invalid_episode",
                f"{where}: {episode.code} cannot have severity {episode.severity!r}.",
                field=f"{where}.severity",
            )
        if episode.episode_id is None or not isinstance(episode.episode_id, Hashable):
            raise DomainError(
                "invalid_episode", f"{where}: episode_id is required.", field=f"{where}.episode_id"
            )
        aware_arg(episode.started_at, field=f"{where}.started_at")
        if rule.episode in by_episode:
            raise DomainError(
                "invalid_episode",
                f"{where}: two open {rule.episode} episodes; a parameter has at most one open episode.",
                field=where,
            )
        by_episode[rule.episode] = episode
    return by_episode


@dataclass(frozen=True)
class _Finding:
    """The verdict of one rule on one reading: firing (code set), normal, or unknown (code None)."""

    code: str | None
    severity: str | None
    message: str
    normal: bool


_UNKNOWN = _Finding(None, None, "", False)
_NORMAL = _Finding(None, None, "", True)


def _hypertension(
    reading: Mapping[str, Decimal], _baseline: Mapping[str, Decimal], t: AlertThresholds
) -> _Finding:
    systolic, diastolic = reading.get("systolic_bp"), reading.get("diastolic_bp")
    for code, severity, sys_limit, dia_limit, word in (
        (
            "hypertension_critical",
            CRITICAL,
            t.systolic_critical_at_or_above_mmhg,
            t.diastolic_critical_at_or_above_mmhg,
            "critical",
        ),
        (
            "hypertension",
            WARNING,
            t.systolic_warning_at_or_above_mmhg,
            t.diastolic_warning_at_or_above_mmhg,
            "warning",
        ),
    ):
        parts = []
        if systolic is not None and systolic >= sys_limit:
            parts.append(f"systolic {format_number(systolic)} mmHg ≥ {format_number(sys_limit)} mmHg")
        if diastolic is not None and diastolic >= dia_limit:
            parts.append(f"diastolic {format_number(diastolic)} mmHg ≥ {format_number(dia_limit)} mmHg")
        if parts:
            policy = LOCAL_POLICY if severity == WARNING else ""
            return _Finding(
                code, severity, f"Blood pressure at the {word} level: {'; '.join(parts)}{policy}.", False
            )
    if systolic is not None and diastolic is not None:
        return _NORMAL
    return _UNKNOWN


def _bp_rise(reading: Mapping[str, Decimal], baseline: Mapping[str, Decimal], t: AlertThresholds) -> _Finding:
    parts, evaluable, complete = [], False, True
    for code, word, limit in (
        ("systolic_bp", "systolic", t.systolic_rise_at_or_above_mmhg),
        ("diastolic_bp", "diastolic", t.diastolic_rise_at_or_above_mmhg),
    ):
        base = baseline.get(code)
        if base is None:
            continue
        evaluable = True
        value = reading.get(code)
        if value is None:
            complete = False
            continue
        if value - base >= limit:
            parts.append(
                f"{word} {format_number(value)} mmHg is {format_number(value - base)} mmHg above baseline {format_number(base)} mmHg "
                f"(limit +{format_number(limit)})"
            )
    if parts:
        return _Finding("bp_rise_from_baseline", WARNING, f"Blood pressure rise: {'; '.join(parts)}.", False)
    return _NORMAL if evaluable and complete else _UNKNOWN


def _tachycardia(
    reading: Mapping[str, Decimal], _baseline: Mapping[str, Decimal], t: AlertThresholds
) -> _Finding:
    rate = reading.get("heart_rate")
    if rate is None:
        return _UNKNOWN
    if rate >= t.heart_rate_critical_at_or_above_per_min:
        limit = t.heart_rate_critical_at_or_above_per_min
        return _Finding(
            "tachycardia",
            CRITICAL,
            f"Heart rate {format_number(rate)} /min ≥ {format_number(limit)} /min{LOCAL_POLICY}.",
            False,
        )
    if rate > t.heart_rate_warning_above_per_min:
        limit = t.heart_rate_warning_above_per_min
        return _Finding(
            "tachycardia",
            WARNING,
            f"Heart rate {format_number(rate)} /min > {format_number(limit)} /min{LOCAL_POLICY}.",
            False,
        )
    return _NORMAL


def _bradycardia(
    reading: Mapping[str, Decimal], _baseline: Mapping[str, Decimal], t: AlertThresholds
) -> _Finding:
    rate = reading.get("heart_rate")
    if rate is None:
        return _UNKNOWN
    if rate < t.heart_rate_warning_below_per_min:
        limit = t.heart_rate_warning_below_per_min
        return _Finding(
            "bradycardia",
            WARNING,
            f"Heart rate {format_number(rate)} /min < {format_number(limit)} /min{LOCAL_POLICY}.",
            False,
        )
    return _NORMAL


def _hypoxemia(
    reading: Mapping[str, Decimal], _baseline: Mapping[str, Decimal], t: AlertThresholds
) -> _Finding:
    spo2 = reading.get("spo2")
    if spo2 is None:
        return _UNKNOWN
    if spo2 < t.spo2_critical_below_pct:
        return _Finding(
            "hypoxemia",
            CRITICAL,
            f"SpO2 {format_number(spo2)} % < {format_number(t.spo2_critical_below_pct)} %.",
            False,
        )
    if spo2 < t.spo2_warning_below_pct:
        return _Finding(
            "hypoxemia",
            WARNING,
            f"SpO2 {format_number(spo2)} % < {format_number(t.spo2_warning_below_pct)} %{LOCAL_POLICY}.",
            False,
        )
    return _NORMAL


def _bradypnea(
    reading: Mapping[str, Decimal], _baseline: Mapping[str, Decimal], t: AlertThresholds
) -> _Finding:
    rate = reading.get("respiratory_rate")
    if rate is None:
        return _UNKNOWN
    limit = t.respiratory_rate_critical_below_per_min
    if rate < limit:
        return _Finding(
            "bradypnea",
            CRITICAL,
            f"Respiratory rate {format_number(rate)} /min < {format_number(limit)} /min{LOCAL_POLICY}.",
            False,
        )
    return _NORMAL


def _sedation(
    reading: Mapping[str, Decimal], baseline: Mapping[str, Decimal], t: AlertThresholds
) -> _Finding:
    score = reading.get("moaas")
    if score is None:
        return _UNKNOWN
    # Without a recorded pre-dose score we compare with 5 (alert), the usual pre-dose state: it
    # errs towards alerting rather than missing sedation.
    base = baseline.get("moaas", Decimal(5))
    if score <= t.moaas_critical_at_or_below:
        limit = t.moaas_critical_at_or_below
        return _Finding(
            "sedation",
            CRITICAL,
            f"MOAA/S {format_number(score)} ≤ {format_number(limit)} (deep sedation){LOCAL_POLICY}.",
            False,
        )
    if score < base:
        return _Finding(
            "sedation",
            WARNING,
            f"MOAA/S {format_number(score)} has fallen from baseline {format_number(base)}.",
            False,
        )
    return _NORMAL


RULE_CHECKS = (
    ("hypertension", _hypertension),
    ("bp_rise_from_baseline", _bp_rise),
    ("tachycardia", _tachycardia),
    ("bradycardia", _bradycardia),
    ("hypoxemia", _hypoxemia),
    ("bradypnea", _bradypnea),
    ("sedation", _sedation),
)


def evaluate_vitals(
    *,
    new_observations: object,
    baseline: object,
    open_episodes: object = (),
    thresholds: object = None,
) -> AlertEvaluation:
    """Decide which alerts a batch of observations raises, upgrades and ends.

    Episode model (one open episode per parameter family at a time):

    - Readings are the observations sharing one ``observed_at``; they are applied in time order.
    - Families: ``hypertension`` (codes ``hypertension`` warning and ``hypertension_critical``),
      ``bp_rise_from_baseline``, ``tachycardia``, ``bradycardia``, ``hypoxemia``, ``bradypnea``,
      ``sedation``. So when ``hypertension_critical`` fires, ``hypertension`` is never raised
      separately for that reading. ``bp_rise_from_baseline`` is its own family: a rise is a
      different signal from an absolute level, and the label counts it separately.
    - An abnormal reading with no open episode of its family raises one alert. Further abnormal
      readings in the open episode raise nothing, unless a warning episode meets a critical
      reading: then the episode is **upgraded** (one :class:`EpisodeUpgrade`, code and severity
      replaced). Severity never falls within an episode; a critical episode that improves to the
      warning level stays critical until it ends. The app should treat an upgrade like a new alert
      for acknowledgement and escalation (status back to open, escalation clock from
      ``upgraded_at``).
    - An episode ends at the first later reading in which the family is normal: every parameter
      the rule reads is present and none fires (both systolic and diastolic for the blood-pressure
      families). A reading that lacks a parameter neither continues nor ends its episode.
    - Readings older than an open episode's ``started_at`` do not touch that episode.
    - Sedation compares with ``baseline["moaas"]``, or 5 when no pre-dose score exists;
      ``bp_rise_from_baseline`` needs a baseline systolic or diastolic, else it is silent.

    ``new_observations``: :class:`Observation` objects or mappings (checked for shape and type,
    not plausibility: run :func:`validate_observations` first). ``baseline``: mapping of code to
    value (see :func:`derive_baseline`) or None. ``open_episodes``: :class:`OpenEpisode` objects
    or mappings; ``vitals_overdue`` episodes are passed through untouched.

    Guarantees: never raises for well-formed input; every message names the value and the limit.
    Refusals: ``invalid_observation``/``unknown_vital`` (field ``new_observations[i].<key>``),
    ``invalid_baseline``, ``invalid_episode``, ``invalid_thresholds``.
    Source: see :data:`ALERT_RULES` (Spravato label and REMS, clinical.md §3.1–3.2, §3.5, §3.7).
    """
    observations = coerce_observations(new_observations, prefix="new_observations")
    base = coerce_baseline(baseline)
    open_by_family = coerce_episodes(open_episodes)
    limits = coerce_thresholds(thresholds)

    readings: dict[datetime, dict[str, Decimal]] = {}
    for obs in sorted(observations, key=lambda o: o.observed_at):
        # The same code twice at one instant: the later one in the batch wins (a corrected entry).
        readings.setdefault(obs.observed_at, {})[obs.code] = obs.value

    raised: list[RaisedAlert] = []
    upgraded: dict[Hashable, EpisodeUpgrade] = {}
    ended: list[EpisodeEnd] = []
    # Per family: ("stored", OpenEpisode, severity, code) or ("new", index into raised).
    state: dict[str, tuple[str, Any, str, str]] = {
        family: ("stored", episode, episode.severity, episode.code)
        for family, episode in open_by_family.items()
    }
    for observed_at in sorted(readings):
        reading = readings[observed_at]
        for family, check in RULE_CHECKS:
            current = state.get(family)
            if current is not None and current[0] == "stored" and observed_at < current[1].started_at:
                continue
            finding = check(reading, base, limits)
            if finding.code is not None and finding.severity is not None:
                if current is None:
                    raised.append(
                        RaisedAlert(finding.code, finding.severity, finding.message, observed_at, family)
                    )
                    state[family] = ("new", len(raised) - 1, finding.severity, finding.code)
                elif SEVERITY_RANK[finding.severity] > SEVERITY_RANK[current[2]]:
                    kind, ref, _, _ = current
                    if kind == "stored":
                        upgraded[ref.episode_id] = EpisodeUpgrade(
                            episode_id=ref.episode_id,
                            from_code=ref.code,
                            code=finding.code,
                            severity=finding.severity,
                            message=finding.message,
                            upgraded_at=observed_at,
                        )
                    else:
                        alert = raised[ref]
                        raised[ref] = RaisedAlert(
                            finding.code, finding.severity, finding.message, alert.raised_at, family
                        )
                    state[family] = (kind, ref, finding.severity, finding.code)
            elif finding.normal and current is not None:
                kind, ref, _, code = current
                if kind == "stored":
                    ended.append(
                        EpisodeEnd(
                            episode_id=ref.episode_id,
                            code=code,
                            ended_at=observed_at,
                            message=f"{code} ended: {family.replace('_', ' ')} back within limits.",
                        )
                    )
                else:
                    alert = raised[ref]
                    raised[ref] = RaisedAlert(
                        alert.code, alert.severity, alert.message, alert.raised_at, family, observed_at
                    )
                del state[family]
    return AlertEvaluation(raised=tuple(raised), upgraded=tuple(upgraded.values()), ended=tuple(ended))


def escalation_due(
    alert_raised_at: datetime, severity: str, now: datetime, thresholds: object = None
) -> bool:
    """Whether an unacknowledged alert must now be escalated to the prescriber on the board.

    True when ``now - alert_raised_at`` is at least the protocol's limit for the severity
    (defaults: critical 2 min, issue 5; warning 10 min; both local policy). An alert raised
    "in the future" (clock skew) is not yet due. For an upgraded episode pass ``upgraded_at``.
    Refusals: ``invalid_datetime``/``naive_datetime``, ``invalid_severity``, ``invalid_thresholds``.
    """
    raised_at = aware_arg(alert_raised_at, field="alert_raised_at")
    now = aware_arg(now, field="now")
    if severity not in SEVERITIES:
        raise DomainError(
            "invalid_severity",
            f"severity must be 'warning' or 'critical', got {severity!r}.",
            field="severity",
        )
    limits = coerce_thresholds(thresholds)
    limit_min = (
        limits.escalate_critical_after_min if severity == CRITICAL else limits.escalate_warning_after_min
    )
    return minutes_between(raised_at, now) >= limit_min
