"""Session monitoring rules: vital signs, alerts, the check schedule, discharge and the dependence watch.

Everything here is a pure function of its arguments (no clock, no database): the ``monitoring``
and ``safety`` apps store observations, alert episodes and reviews, and call these functions to
decide what to store next.

Sources (see /work/shared/reference/clinical.md §3 and software.md §2, §8.1):

- Spravato (esketamine) label and REMS: BP before dosing and about 40 min after, when the rise
  peaks; a rise of ≥ 40 mmHg systolic and/or ≥ 25 mmHg diastolic; SBP ≥ 180 / DBP ≥ 110 reported
  as outliers (label Table 6); pulse oximetry at each session; any fall in MOAA/S from the
  pre-dose score is sedation, MOAA/S 0 is loss of consciousness; observe for at least 2 hours;
  no driving until the next day; the REMS "when would this patient have been ready to leave?"
  question.
- APA consensus (Sanacora 2017): continuous respiratory, cardiovascular and mental-status
  assessment; it gives no numeric thresholds, so the hypertension warning, tachycardia,
  bradycardia, hypoxemia warning and bradypnea limits below are protocol practice (parameters).
- Emory series: BP every 10 min during and every 15 min after a 40-min infusion.
- ASRA/AAPM/ASA 2018 (Cohen et al.): serial infusions should not be given to patients with an
  active substance abuse problem; monitor for abuse with universal precautions.
- Modified Aldrete ≥ 9 for discharge; its circulation item compares BP with ±20 % of baseline.
- LOINC vital-sign codes and UCUM units: FHIR R4 vital-signs value set (software.md §8.1).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from kapstone.domain.errors import DomainError, DomainErrors

WARNING = "warning"
CRITICAL = "critical"
SEVERITIES = (WARNING, CRITICAL)
_SEVERITY_RANK = {WARNING: 1, CRITICAL: 2}

STATUS_DONE = "done"
STATUS_DUE = "due"
STATUS_OVERDUE = "overdue"

_HUNDRED = Decimal(100)
_MINUTE = timedelta(minutes=1)


# --- Small input helpers ---------------------------------------------------------------------------


def _fmt(value: Decimal | int) -> str:
    """A number as a clinician writes it: ``185``, ``37.5`` (no exponent, no trailing zeros)."""
    number = Decimal(value).normalize()
    if number == number.to_integral_value():
        return str(number.quantize(Decimal(1)))
    return format(number, "f")


def _number(value: object) -> Decimal | None:
    """``value`` as a finite Decimal, or None when it is not a number (bool is not a number)."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, Decimal):
            result = value
        elif isinstance(value, int):
            result = Decimal(value)
        elif isinstance(value, float):
            # Through str, so 37.2 stays 37.2 and not its binary expansion.
            result = Decimal(str(value))
        elif isinstance(value, str):
            result = Decimal(value.strip())
        else:
            return None
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def _non_negative_threshold(name: str, raw: object) -> Decimal:
    """A threshold parameter as a Decimal; refuses a non-number or a negative one."""
    value = _number(raw)
    if value is None or value < 0:
        raise DomainError(
            "invalid_thresholds", f"{name} must be a non-negative number, got {raw!r}.", field=name
        )
    return value


def _decimal_arg(value: object, *, field: str, code: str = "invalid_number") -> Decimal:
    result = _number(value)
    if result is None:
        raise DomainError(code, f"{field} must be a finite number, got {value!r}.", field=field)
    return result


def _int_arg(value: object, *, field: str, code: str = "invalid_number", minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DomainError(code, f"{field} must be a whole number, got {value!r}.", field=field)
    if value < minimum:
        raise DomainError(code, f"{field} must be at least {minimum}, got {value}.", field=field)
    return value


def _bool_arg(value: object, *, field: str) -> bool:
    if not isinstance(value, bool):
        raise DomainError("invalid_argument", f"{field} must be true or false, got {value!r}.", field=field)
    return value


def _aware(value: object, *, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise DomainError("invalid_datetime", f"{field} must be a datetime, got {value!r}.", field=field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise DomainError("naive_datetime", f"{field} must carry a time zone.", field=field)
    return value


def _optional_aware(value: object, *, field: str) -> datetime | None:
    return None if value is None else _aware(value, field=field)


def _sequence(value: object, *, field: str, code: str) -> Sequence[Any]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise DomainError(code, f"{field} must be a list, got {type(value).__name__}.", field=field)
    return value


def _with_unit(value: Decimal, definition: ObservationDefinition) -> str:
    return f"{_fmt(value)} {definition.unit_display}".rstrip()


def _minutes_between(start: datetime, end: datetime) -> Decimal:
    return Decimal((end - start).total_seconds()) / Decimal(60)


# --- Observation definitions (vital signs and bedside scores) -----------------------------------


@dataclass(frozen=True)
class ObservationDefinition:
    """One kind of monitored observation: our code, LOINC code, UCUM unit and plausible range.

    ``plausible_min``/``plausible_max`` bound what a live patient (or a working device) can
    produce; a value outside is refused as a recording error, never alerted on.
    ``loinc`` is None where no LOINC code exists (MOAA/S, modified Aldrete: local codes).
    """

    code: str
    display: str
    loinc: str | None
    unit_ucum: str
    unit_display: str
    plausible_min: Decimal
    plausible_max: Decimal
    whole_number: bool
    category: str
    plausibility_note: str
    label: str
    """The short name a clinician reads beside a value ("SpO2", "Systolic BP"), the one used in
    messages and form labels."""


def _definition(
    code: str,
    display: str,
    label: str,
    loinc: str | None,
    ucum: str,
    shown: str,
    low: int,
    high: int,
    note: str,
) -> ObservationDefinition:
    whole = ucum == "{score}"
    category = "exam" if whole else "vital-signs"
    return ObservationDefinition(
        code, display, loinc, ucum, shown, Decimal(low), Decimal(high), whole, category, note, label
    )


# Columns: our code, display, short label, LOINC, UCUM unit, unit as shown, plausible min, plausible
# max, why.
_VITAL_LIST = (
    _definition(
        "systolic_bp", "Systolic blood pressure", "Systolic BP", "8480-6", "mm[Hg]", "mmHg", 40, 300,
        "Upper 300 from issue 5; lower 40 chosen: below it a cuff reading is artefact or arrest.",
    ),
    _definition(
        "diastolic_bp", "Diastolic blood pressure", "Diastolic BP", "8462-4", "mm[Hg]", "mmHg", 20, 200,
        "Chosen: 20–200; and below the systolic of the same reading (issue 5).",
    ),
    _definition(
        "heart_rate", "Heart rate", "Heart rate", "8867-4", "/min", "/min", 20, 250, "20–250 from issue 5."
    ),
    _definition(
        "spo2", "Oxygen saturation by pulse oximetry", "SpO2", "59408-5", "%", "%", 0, 100,
        "0–100 (issue 11): a saturation cannot exceed 100 %; a very low reading is kept, because "
        "refusing it would hide the most dangerous reading (issue 5 had 40 as the lower bound).",
    ),
    _definition(
        "respiratory_rate", "Respiratory rate", "Respiratory rate", "9279-1", "/min", "/min", 0, 80,
        "Chosen: 0–80. 0 (apnoea) is kept because refusing it would hide the most dangerous reading; "
        "above 80 /min is not sustainable breathing in an adult.",
    ),
    _definition(
        "temperature", "Body temperature", "Temperature", "8310-5", "Cel", "°C", 25, 44,
        "Chosen: 25–44 °C (issue 11 names 45 °C as implausible). Outside it an awake outpatient is "
        "not plausible; the bound also refuses a Fahrenheit value typed into the Celsius field (98.6).",
    ),
)  # fmt: skip

_SCORE_LIST = (
    _definition(
        "moaas", "MOAA/S sedation score", "MOAA/S", None, "{score}", "", 0, 5,
        "Scale range 0–5 (Chernik 1990; clinical.md §3.5). No LOINC code found: local code.",
    ),
    _definition(
        "aldrete_total", "Modified Aldrete score", "Modified Aldrete", None, "{score}", "", 0, 10,
        "Scale range 0–10 (five items 0–2; clinical.md §3.7). No LOINC code found: local code.",
    ),
)  # fmt: skip

VITAL_SIGNS: Mapping[str, ObservationDefinition] = {d.code: d for d in _VITAL_LIST}
"""The six vital signs of a session, by our code (form order)."""

OBSERVATION_DEFINITIONS: Mapping[str, ObservationDefinition] = {d.code: d for d in _VITAL_LIST + _SCORE_LIST}
"""Everything :func:`validate_observations` accepts: the vital signs plus the MOAA/S and
modified Aldrete totals, which the sedation alert and the discharge rules read alongside them."""

_BY_LOINC = {d.loinc: d for d in OBSERVATION_DEFINITIONS.values() if d.loinc}


def lookup_observation_definition(code: object) -> ObservationDefinition:
    """The definition for our code (``"spo2"``) or a LOINC code (``"59408-5"``).

    Refuses anything else with ``unknown_vital`` (field ``code``).
    Source: LOINC codes and UCUM units from the FHIR R4 vital-signs value set (software.md §8.1).
    """
    if isinstance(code, str):
        key = code.strip()
        if key in OBSERVATION_DEFINITIONS:
            return OBSERVATION_DEFINITIONS[key]
        if key in _BY_LOINC:
            return _BY_LOINC[key]
    known = ", ".join(OBSERVATION_DEFINITIONS)
    raise DomainError("unknown_vital", f"Unknown observation code {code!r}; known: {known}.", field="code")


@dataclass(frozen=True)
class Observation:
    """One measured value: our code (never the LOINC code), an exact Decimal and an aware time."""

    code: str
    value: Decimal
    observed_at: datetime


def _coerce_observation(raw: object, *, index: int, prefix: str) -> Observation:
    """Shape and type checks for one observation (no range or time-window checks)."""
    where = f"{prefix}[{index}]"
    if isinstance(raw, Observation):
        code, value, observed_at = raw.code, raw.value, raw.observed_at
    elif isinstance(raw, Mapping):
        missing = [key for key in ("code", "value", "observed_at") if key not in raw]
        if missing:
            raise DomainError(
                "invalid_observation",
                f"{where} is missing {', '.join(missing)}.",
                field=f"{where}.{missing[0]}",
            )
        code, value, observed_at = raw["code"], raw["value"], raw["observed_at"]
    else:
        raise DomainError(
            "invalid_observation",
            f"{where} must be an object with code, value and observed_at, got {type(raw).__name__}.",
            field=where,
        )
    if not isinstance(code, str):
        raise DomainError("invalid_observation", f"{where}.code must be a string.", field=f"{where}.code")
    try:
        definition = lookup_observation_definition(code)
    except DomainError as error:
        raise DomainError("unknown_vital", f"{where}: {error.message}", field=f"{where}.code") from None
    number = _number(value)
    if number is None:
        raise DomainError(
            "invalid_observation",
            f"{where} ({definition.code}): value must be a finite number, got {value!r}.",
            field=f"{where}.value",
        )
    if definition.whole_number and number != number.to_integral_value():
        raise DomainError(
            "invalid_observation",
            f"{where} ({definition.code}): value must be a whole number, got {_fmt(number)}.",
            field=f"{where}.value",
        )
    if isinstance(observed_at, str):
        try:
            observed_at = datetime.fromisoformat(observed_at.strip())
        except ValueError:
            raise DomainError(
                "invalid_observation",
                f"{where}.observed_at must be an ISO 8601 date-time, got {observed_at!r}.",
                field=f"{where}.observed_at",
            ) from None
    if not isinstance(observed_at, datetime):
        raise DomainError(
            "invalid_observation",
            f"{where}.observed_at must be a date-time, got {observed_at!r}.",
            field=f"{where}.observed_at",
        )
    if observed_at.tzinfo is None or observed_at.utcoffset() is None:
        raise DomainError(
            "invalid_observation",
            f"{where}.observed_at must carry a time zone (e.g. 2025-01-01T10:00:00Z).",
            field=f"{where}.observed_at",
        )
    return Observation(code=definition.code, value=number, observed_at=observed_at)


def _coerce_observations(raw: object, *, prefix: str) -> tuple[Observation, ...]:
    items = _sequence(raw, field=prefix, code="invalid_observation")
    return tuple(_coerce_observation(item, index=i, prefix=prefix) for i, item in enumerate(items))


def _shown_value(value: Decimal, definition: ObservationDefinition) -> str:
    """A value with its unit as a clinician writes it, with a real minus sign (−5 /min)."""
    return _with_unit(value, definition).replace("-", "−")


def _local_time(moment: datetime, *, now: datetime, zone: tzinfo | None) -> str:
    """``moment`` as the clinic reads it next to ``now``: "10:00", "10:00 tomorrow",
    "10:00 yesterday", "4 Mar 10:00", or "4 Mar 2024 10:00" in another year. Without a zone the
    time is UTC and says so."""
    local, today = moment.astimezone(zone or UTC), now.astimezone(zone or UTC).date()
    clock = local.strftime("%H:%M") + ("" if zone is not None else " UTC")
    if local.date() == today:
        return clock
    if local.date() == today + timedelta(days=1):
        return f"{clock} tomorrow"
    if local.date() == today - timedelta(days=1):
        return f"{clock} yesterday"
    day = f"{local.day} {local:%b}" if local.year == today.year else f"{local.day} {local:%b %Y}"
    return f"{day} {clock}"


@dataclass(frozen=True)
class ObservationReview:
    """What :func:`review_observations` found: the batch normalised (our codes, Decimal values,
    aware times) and every problem with it. The batch may be stored only when ``problems`` is
    empty; ``observations`` then holds every observation in input order."""

    observations: tuple[Observation, ...]
    problems: tuple[DomainError, ...]


NOTHING_SAVED = "Nothing was saved."


def review_observations(
    observations: object,
    *,
    session_started_at: datetime,
    now: datetime,
    clock_skew_tolerance: timedelta = _MINUTE,
    zone: tzinfo | None = None,
) -> ObservationReview:
    """Check a batch of observations and report every problem at once, not only the first.

    The checks and codes are those of :func:`validate_observations`, which raises what this
    returns. Each problem is a :class:`DomainError` whose ``field`` is ``observations[i].<key>``
    (i the 0-based index) and whose message is in words, for the screen beside the field:
    "SpO2 150 % is not possible (0–100 %). Nothing was saved." or "The time is in the future
    (10:00 tomorrow). Nothing was saved." — times in ``zone`` (the clinic's time zone; UTC, said
    so, without one). An observation reports at most one value problem (its range, else the
    diastolic against a plausible systolic of the same reading) and at most one time problem.

    Refusals (raised, not collected: they are the caller's mistakes): ``invalid_datetime`` /
    ``naive_datetime`` for ``now`` or ``session_started_at``, ``invalid_argument`` for a negative
    ``clock_skew_tolerance``.
    Source: as :func:`validate_observations`.
    """
    session_started_at = _aware(session_started_at, field="session_started_at")
    now = _aware(now, field="now")
    if not isinstance(clock_skew_tolerance, timedelta) or clock_skew_tolerance < timedelta(0):
        raise DomainError(
            "invalid_argument",
            f"clock_skew_tolerance must be a non-negative timedelta, got {clock_skew_tolerance!r}.",
            field="clock_skew_tolerance",
        )
    try:
        items = _sequence(observations, field="observations", code="invalid_observation")
    except DomainError as error:
        return ObservationReview((), (error,))
    problems: list[DomainError] = []
    coerced: list[tuple[int, Observation]] = []
    for index, raw in enumerate(items):
        try:
            coerced.append((index, _coerce_observation(raw, index=index, prefix="observations")))
        except DomainError as error:
            problems.append(error)
    latest_allowed = now + clock_skew_tolerance
    value_refused: set[int] = set()
    found: list[tuple[int, int, DomainError]] = []  # (index, 0 value / 1 time, problem)
    for index, obs in coerced:
        definition = OBSERVATION_DEFINITIONS[obs.code]
        where = f"observations[{index}]"
        if not definition.plausible_min <= obs.value <= definition.plausible_max:
            value_refused.add(index)
            low = _fmt(definition.plausible_min).replace("-", "−")
            found.append(
                (
                    index,
                    0,
                    DomainError(
                        "implausible_value",
                        f"{definition.label} {_shown_value(obs.value, definition)} is not possible "
                        f"({low}–{_with_unit(definition.plausible_max, definition)}). {NOTHING_SAVED}",
                        field=f"{where}.value",
                    ),
                )
            )
        if obs.observed_at > latest_allowed:
            when = _local_time(obs.observed_at, now=now, zone=zone)
            found.append(
                (
                    index,
                    1,
                    DomainError(
                        "implausible_value",
                        f"The time is in the future ({when}). {NOTHING_SAVED}",
                        field=f"{where}.observed_at",
                    ),
                )
            )
        elif obs.observed_at < session_started_at:
            began = _local_time(session_started_at, now=now, zone=zone)
            found.append(
                (
                    index,
                    1,
                    DomainError(
                        "implausible_value",
                        f"The time is before the session began ({began}). {NOTHING_SAVED}",
                        field=f"{where}.observed_at",
                    ),
                )
            )
    # A diastolic at or above the systolic of the same reading (same time): compared only with a
    # plausible systolic, and reported only for a diastolic not already refused for its range.
    systolic_by_time: dict[datetime, list[Decimal]] = {}
    for index, obs in coerced:
        if obs.code == "systolic_bp" and index not in value_refused:
            systolic_by_time.setdefault(obs.observed_at, []).append(obs.value)
    for index, obs in coerced:
        if obs.code != "diastolic_bp" or index in value_refused:
            continue
        systolic = next((v for v in systolic_by_time.get(obs.observed_at, ()) if obs.value >= v), None)
        if systolic is not None:
            found.append(
                (
                    index,
                    0,
                    DomainError(
                        "implausible_value",
                        f"Diastolic BP {_fmt(obs.value)} mmHg is not below the systolic {_fmt(systolic)} "
                        f"mmHg of the same reading. {NOTHING_SAVED}",
                        field=f"observations[{index}].value",
                    ),
                )
            )
    problems += [problem for _, _, problem in sorted(found, key=lambda item: (item[0], item[1]))]
    # Shape problems and rule problems in input order (a shape problem stops its own observation).
    problems.sort(key=_problem_index)
    return ObservationReview(tuple(obs for _, obs in coerced), tuple(problems))


def _problem_index(problem: DomainError) -> int:
    field = problem.field or ""
    if field.startswith("observations[") and "]" in field:
        number = field[len("observations[") : field.index("]")]
        if number.isdigit():
            return int(number)
    return -1


def validate_observations(
    observations: object,
    *,
    session_started_at: datetime,
    now: datetime,
    clock_skew_tolerance: timedelta = _MINUTE,
    zone: tzinfo | None = None,
) -> tuple[Observation, ...]:
    """Check a batch of observations and return them normalised (our codes, Decimal values).

    Guarantees: either every observation is returned, in input order, or a DomainError is raised
    and nothing is accepted (one bad value refuses the whole batch). Each observation is a mapping
    or :class:`Observation` with ``code`` (ours or LOINC), ``value`` and an aware ``observed_at``
    (a datetime or ISO 8601 string); extra keys (``source``…) are ignored for the app to read.

    The error raised is a :class:`~kapstone.domain.errors.DomainErrors`: its code, message and
    field are the first problem's, and ``errors`` lists every problem found
    (:func:`review_observations` returns them without raising).

    Refusals (``field`` is ``observations[i].<key>``, i the 0-based index; the message names the
    observation and the value in words, or the time in ``zone``):

    - ``invalid_observation``: not a list, not an object, missing key, non-numeric value, a
      fractional score, an unparsable or naive time.
    - ``unknown_vital``: a code that is neither ours nor a known LOINC code.
    - ``implausible_value``: a value outside the definition's plausible range; a diastolic at or
      above the systolic of the same reading (same ``observed_at``); a time later than ``now``
      plus ``clock_skew_tolerance`` (default 1 min, for device clocks), or before the session began.

    Source: plausibility limits from issue 5 (HR 20–250, systolic ≤ 300, diastolic < systolic) and
    issue 11 (SpO2 0–100 %, 45 °C implausible); the other limits are chosen and justified in
    :data:`OBSERVATION_DEFINITIONS` (``plausibility_note``) and docs/clinical-rules.md (monitoring).
    """
    review = review_observations(
        observations,
        session_started_at=session_started_at,
        now=now,
        clock_skew_tolerance=clock_skew_tolerance,
        zone=zone,
    )
    if review.problems:
        raise DomainErrors(review.problems)
    return review.observations


def derive_baseline(observations: object, *, dosing_started_at: datetime) -> dict[str, Decimal]:
    """The session baseline: the latest value of each code observed at or before the start of dosing.

    Guarantees: keys are our codes; observations after ``dosing_started_at`` are ignored; an
    empty dict when nothing was recorded before dosing. Refuses malformed input like
    :func:`validate_observations` (``invalid_observation``/``unknown_vital``, field
    ``observations[i].<key>``).
    Source: issue 5 ("the pre-dose set is the session's baseline"); label: BP before dosing.
    """
    dosing_started_at = _aware(dosing_started_at, field="dosing_started_at")
    latest: dict[str, Observation] = {}
    for obs in _coerce_observations(observations, prefix="observations"):
        if obs.observed_at > dosing_started_at:
            continue
        current = latest.get(obs.code)
        if current is None or obs.observed_at >= current.observed_at:
            latest[obs.code] = obs
    return {code: obs.value for code, obs in latest.items()}


def _coerce_baseline(baseline: object) -> dict[str, Decimal]:
    if baseline is None:
        return {}
    if not isinstance(baseline, Mapping):
        raise DomainError(
            "invalid_baseline",
            f"baseline must be a mapping of observation code to value, got {type(baseline).__name__}.",
            field="baseline",
        )
    result: dict[str, Decimal] = {}
    for key, value in baseline.items():
        if not isinstance(key, str) or key not in OBSERVATION_DEFINITIONS:
            raise DomainError("invalid_baseline", f"baseline has an unknown code {key!r}.", field="baseline")
        if value is None:
            continue
        number = _number(value)
        if number is None:
            raise DomainError(
                "invalid_baseline",
                f"baseline {key} must be a finite number, got {value!r}.",
                field=f"baseline.{key}",
            )
        result[key] = number
    return result


# --- Alert thresholds and rules -------------------------------------------------------------------


@dataclass(frozen=True)
class AlertThresholds:
    """Alert limits of a protocol. Defaults cite their source; "protocol practice" marks a chosen value.

    Comparisons are in the field names: ``at_or_above`` is ≥, ``above`` is >, ``below`` is <,
    ``at_or_below`` is ≤.
    """

    # Spravato label Table 6: SBP ≥ 180 / DBP ≥ 110 mmHg (used here as the critical level).
    systolic_critical_at_or_above_mmhg: Decimal = Decimal(180)
    diastolic_critical_at_or_above_mmhg: Decimal = Decimal(110)
    # Protocol practice (issue 5 default; APA 2017 gives no numbers, clinical.md §3.1).
    systolic_warning_at_or_above_mmhg: Decimal = Decimal(160)
    diastolic_warning_at_or_above_mmhg: Decimal = Decimal(100)
    # Spravato label: an increase of ≥ 40 mmHg systolic and/or ≥ 25 mmHg diastolic.
    systolic_rise_at_or_above_mmhg: Decimal = Decimal(40)
    diastolic_rise_at_or_above_mmhg: Decimal = Decimal(25)
    # > 110: commonly used stop rule (clinical.md §3.1, from memory, unverified); ≥ 130: protocol practice.
    heart_rate_warning_above_per_min: Decimal = Decimal(110)
    heart_rate_critical_at_or_above_per_min: Decimal = Decimal(130)
    # Protocol practice.
    heart_rate_warning_below_per_min: Decimal = Decimal(50)
    # < 94 protocol practice; < 90: modified Aldrete scores SpO2 < 90 % as 0 (clinical.md §3.7).
    spo2_warning_below_pct: Decimal = Decimal(94)
    spo2_critical_below_pct: Decimal = Decimal(90)
    # Protocol practice; respiratory depression is a REMS target outcome (software.md §2.1).
    respiratory_rate_critical_below_per_min: Decimal = Decimal(10)
    # Label: any fall from pre-dose is sedation, 0 is loss of consciousness; ≤ 2 (responds only to
    # prodding or pain) as critical is protocol practice.
    moaas_critical_at_or_below: Decimal = Decimal(2)
    # Issue 5: critical alerts escalate to the prescriber after 2 min unacknowledged; the warning
    # default (10 min, no longer than the shortest check interval) is protocol practice.
    escalate_critical_after_min: Decimal = Decimal(2)
    escalate_warning_after_min: Decimal = Decimal(10)

    def __post_init__(self) -> None:
        for item in fields(self):
            raw = getattr(self, item.name)
            value = _non_negative_threshold(item.name, raw)
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
                    f"{low} ({_fmt(getattr(self, low))}) must not exceed {high} ({_fmt(getattr(self, high))}).",
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


def _thresholds(value: object) -> AlertThresholds:
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
            "Systolic ≥ 160 or diastolic ≥ 100 mmHg.",
            "Protocol practice (issue 5); APA 2017 gives no number (clinical.md §3.1).",
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
            "Heart rate > 110 /min (warning), ≥ 130 /min (critical).",
            "> 110: common protocol stop rule (clinical.md §3.1, unverified); ≥ 130: protocol practice.",
            "Fast heart rate",
        ),
        AlertRule(
            "bradycardia",
            "bradycardia",
            (WARNING,),
            "Heart rate < 50 /min.",
            "Protocol practice.",
            "Slow heart rate",
        ),
        AlertRule(
            "hypoxemia",
            "hypoxemia",
            (WARNING, CRITICAL),
            "SpO2 < 94 % (warning), < 90 % (critical).",
            "Label: pulse oximetry each session (clinical.md §3.2); < 90 % scores 0 on the modified "
            "Aldrete (§3.7); 94 % is protocol practice.",
            "Low oxygen saturation",
        ),
        AlertRule(
            "bradypnea",
            "bradypnea",
            (CRITICAL,),
            "Respiratory rate < 10 /min.",
            "Protocol practice; respiratory depression is a REMS target outcome (software.md §2.1).",
            "Slow breathing",
        ),
        AlertRule(
            "sedation",
            "sedation",
            (WARNING, CRITICAL),
            "Any fall in MOAA/S from baseline (warning); MOAA/S ≤ 2 (critical).",
            "Spravato label: any fall from pre-dose is sedation, 0 is loss of consciousness "
            "(clinical.md §3.2, §3.5); ≤ 2 critical is protocol practice.",
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


def _coerce_episodes(raw: object) -> dict[str, OpenEpisode]:
    items = _sequence(raw, field="open_episodes", code="invalid_episode")
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
        _aware(episode.started_at, field=f"{where}.started_at")
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
            parts.append(f"systolic {_fmt(systolic)} mmHg ≥ {_fmt(sys_limit)} mmHg")
        if diastolic is not None and diastolic >= dia_limit:
            parts.append(f"diastolic {_fmt(diastolic)} mmHg ≥ {_fmt(dia_limit)} mmHg")
        if parts:
            return _Finding(code, severity, f"Blood pressure at the {word} level: {'; '.join(parts)}.", False)
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
                f"{word} {_fmt(value)} mmHg is {_fmt(value - base)} mmHg above baseline {_fmt(base)} mmHg "
                f"(limit +{_fmt(limit)})"
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
        return _Finding("tachycardia", CRITICAL, f"Heart rate {_fmt(rate)} /min ≥ {_fmt(limit)} /min.", False)
    if rate > t.heart_rate_warning_above_per_min:
        limit = t.heart_rate_warning_above_per_min
        return _Finding("tachycardia", WARNING, f"Heart rate {_fmt(rate)} /min > {_fmt(limit)} /min.", False)
    return _NORMAL


def _bradycardia(
    reading: Mapping[str, Decimal], _baseline: Mapping[str, Decimal], t: AlertThresholds
) -> _Finding:
    rate = reading.get("heart_rate")
    if rate is None:
        return _UNKNOWN
    if rate < t.heart_rate_warning_below_per_min:
        limit = t.heart_rate_warning_below_per_min
        return _Finding("bradycardia", WARNING, f"Heart rate {_fmt(rate)} /min < {_fmt(limit)} /min.", False)
    return _NORMAL


def _hypoxemia(
    reading: Mapping[str, Decimal], _baseline: Mapping[str, Decimal], t: AlertThresholds
) -> _Finding:
    spo2 = reading.get("spo2")
    if spo2 is None:
        return _UNKNOWN
    if spo2 < t.spo2_critical_below_pct:
        return _Finding(
            "hypoxemia", CRITICAL, f"SpO2 {_fmt(spo2)} % < {_fmt(t.spo2_critical_below_pct)} %.", False
        )
    if spo2 < t.spo2_warning_below_pct:
        return _Finding(
            "hypoxemia", WARNING, f"SpO2 {_fmt(spo2)} % < {_fmt(t.spo2_warning_below_pct)} %.", False
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
            "bradypnea", CRITICAL, f"Respiratory rate {_fmt(rate)} /min < {_fmt(limit)} /min.", False
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
        return _Finding("sedation", CRITICAL, f"MOAA/S {_fmt(score)} ≤ {_fmt(limit)} (deep sedation).", False)
    if score < base:
        return _Finding(
            "sedation", WARNING, f"MOAA/S {_fmt(score)} has fallen from baseline {_fmt(base)}.", False
        )
    return _NORMAL


_RULE_CHECKS = (
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
    observations = _coerce_observations(new_observations, prefix="new_observations")
    base = _coerce_baseline(baseline)
    open_by_family = _coerce_episodes(open_episodes)
    limits = _thresholds(thresholds)

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
        for family, check in _RULE_CHECKS:
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
                elif _SEVERITY_RANK[finding.severity] > _SEVERITY_RANK[current[2]]:
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


#: The observation codes each alert family reads: its own rule, and for the two that compare
#: with the baseline (``bp_rise_from_baseline``, ``sedation``) the baseline of the same codes.
FAMILY_CODES: Mapping[str, tuple[str, ...]] = {
    "hypertension": ("systolic_bp", "diastolic_bp"),
    "bp_rise_from_baseline": ("systolic_bp", "diastolic_bp"),
    "tachycardia": ("heart_rate",),
    "bradycardia": ("heart_rate",),
    "hypoxemia": ("spo2",),
    "bradypnea": ("respiratory_rate",),
    "sedation": ("moaas",),
}

ENTERED_IN_ERROR_NOTE = "Re-evaluated after a value was marked entered in error."


def reevaluate_after_void(
    *,
    observations: object,
    baseline: object,
    open_episodes: object,
    voided_code: str,
    now: datetime,
    thresholds: object = None,
) -> AlertEvaluation:
    """The alert state once a value has been marked entered in error, from the values that remain.

    ``observations`` is the session's whole valid record (the voided value left out) and
    ``baseline`` the baseline derived from it. The record is replayed from the start through
    :func:`evaluate_vitals`; for each family that reads ``voided_code`` (:data:`FAMILY_CODES`),
    the episode the replay leaves open is compared with the stored open episode:

    - the same code and severity (the remaining values still show it): nothing changes, its
      acknowledgement stands;
    - otherwise the stored episode ends at ``now`` ("<title> ended: value entered in error.") —
      the app records that it ended because of the error, not because the patient recovered —
      and the replay's episode, if any, is raised anew (``raised_at`` its first abnormal
      reading, the message noting the re-evaluation). So a critical level that only the
      mistaken value reached ends, and the warning the other values show is raised again in its
      own right; a normal value that had ended an episode, once voided, brings that episode back.

    Families that do not read the voided code, and ``vitals_overdue``, are left alone (the check
    schedule is the app's to re-evaluate with :func:`evaluate_overdue`). No episode is upgraded:
    severity never falls within an episode, so a change of severity is an end and a new raise.
    Refusals: as :func:`evaluate_vitals`; ``unknown_vital`` for an unknown ``voided_code``;
    ``invalid_datetime``/``naive_datetime`` for ``now``.
    Source: issue 15 (an entered-in-error value must not count in alerts or discharge); the
    episode model of :func:`evaluate_vitals`.
    """
    now = _aware(now, field="now")
    if not isinstance(voided_code, str) or voided_code not in OBSERVATION_DEFINITIONS:
        raise DomainError("unknown_vital", f"Unknown observation code {voided_code!r}.", field="voided_code")
    stored = _coerce_episodes(open_episodes)
    replay = evaluate_vitals(
        new_observations=observations, baseline=baseline, open_episodes=(), thresholds=thresholds
    )
    still_open = {alert.episode: alert for alert in replay.raised if alert.ended_at is None}
    raised: list[RaisedAlert] = []
    ended: list[EpisodeEnd] = []
    for family, _ in _RULE_CHECKS:
        if voided_code not in FAMILY_CODES[family]:
            continue
        episode, current = stored.get(family), still_open.get(family)
        if (
            episode is not None
            and current is not None
            and (episode.code, episode.severity) == (current.code, current.severity)
        ):
            continue
        if episode is not None:
            ended.append(
                EpisodeEnd(
                    episode_id=episode.episode_id,
                    code=episode.code,
                    ended_at=now,
                    message=f"{title_for(episode.code)} ended: value entered in error.",
                )
            )
        if current is not None:
            raised.append(
                RaisedAlert(
                    current.code,
                    current.severity,
                    f"{current.message} {ENTERED_IN_ERROR_NOTE}",
                    current.raised_at,
                    family,
                )
            )
    return AlertEvaluation(raised=tuple(raised), ended=tuple(ended))


def escalation_due(
    alert_raised_at: datetime, severity: str, now: datetime, thresholds: object = None
) -> bool:
    """Whether an unacknowledged alert must now be escalated to the prescriber on the board.

    True when ``now - alert_raised_at`` is at least the protocol's limit for the severity
    (defaults: critical 2 min, issue 5; warning 10 min, protocol practice). An alert raised
    "in the future" (clock skew) is not yet due. For an upgraded episode pass ``upgraded_at``.
    Refusals: ``invalid_datetime``/``naive_datetime``, ``invalid_severity``, ``invalid_thresholds``.
    """
    raised_at = _aware(alert_raised_at, field="alert_raised_at")
    now = _aware(now, field="now")
    if severity not in SEVERITIES:
        raise DomainError(
            "invalid_severity",
            f"severity must be 'warning' or 'critical', got {severity!r}.",
            field="severity",
        )
    limits = _thresholds(thresholds)
    limit_min = (
        limits.escalate_critical_after_min if severity == CRITICAL else limits.escalate_warning_after_min
    )
    return _minutes_between(raised_at, now) >= limit_min


# --- Monitoring schedule -------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitoringProtocol:
    """A protocol's monitoring timepoints (minutes).

    Defaults: every 10 min during dosing and every 15 min after (Emory series, clinical.md §3.1;
    issue 5 allows 10–15 during dosing); the BP-peak check 40 min after the start of dosing
    (Spravato label); a check is overdue 5 min after it falls due and the baseline must be taken
    within 60 min before dosing (both protocol practice).
    """

    interval_during_dosing_min: int = 10
    interval_after_dosing_min: int = 15
    bp_peak_check_min: int = 40
    overdue_grace_min: int = 5
    baseline_window_min: int = 60

    def __post_init__(self) -> None:
        bounds = {
            "interval_during_dosing_min": (1, 15),
            "interval_after_dosing_min": (1, 60),
            "bp_peak_check_min": (1, 240),
            "overdue_grace_min": (0, 60),
            "baseline_window_min": (1, 24 * 60),
        }
        for name, (low, high) in bounds.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise DomainError(
                    "invalid_monitoring_protocol",
                    f"{name} must be a whole number of minutes within {low}–{high}, got {value!r}.",
                    field=name,
                )

    @classmethod
    def from_mapping(cls, values: object) -> MonitoringProtocol:
        """Build from protocol configuration (a JSON object); unknown keys are refused."""
        if values is None:
            return cls()
        if isinstance(values, MonitoringProtocol):
            return values
        if not isinstance(values, Mapping):
            raise DomainError(
                "invalid_monitoring_protocol",
                "Monitoring protocol must be an object.",
                field="protocol_monitoring",
            )
        names = {item.name for item in fields(cls)}
        for key in values:
            if key not in names:
                raise DomainError(
                    "invalid_monitoring_protocol", f"Unknown monitoring parameter {key!r}.", field=str(key)
                )
        return cls(**dict(values))


@dataclass(frozen=True)
class DueCheck:
    """One scheduled check.

    ``kind`` is ``baseline``, ``during_dosing``, ``bp_peak`` or ``recovery``. A reading taken in
    ``[window_start, window_end)`` (``window_end`` None: open) counts for this check; ``done_at``
    is the first such reading. ``status``: ``done``; ``overdue`` once ``now ≥ overdue_at`` without
    a reading (a check whose window has passed stays ``overdue``: a missed check); otherwise
    ``due`` (including the next upcoming check, whose ``due_at`` may be after ``now``).
    """

    kind: str
    label: str
    minutes_after_dosing_start: int
    due_at: datetime
    overdue_at: datetime
    window_start: datetime
    window_end: datetime | None
    status: str
    done_at: datetime | None


_MAX_CHECKS = 5000


def due_checks(
    *,
    protocol_monitoring: object,
    dosing_started_at: datetime | None,
    dosing_ended_at: datetime | None,
    discharged_at: datetime | None,
    recorded_times: object,
    now: datetime,
) -> list[DueCheck]:
    """The session's check schedule with each check's status at ``now``.

    Timepoints: a baseline before dosing (due at the start of dosing; a reading within
    ``baseline_window_min`` before it, up to the start itself, counts); then a check every
    ``interval_during_dosing_min`` while dosing runs and every ``interval_after_dosing_min`` once
    it has ended (each interval counted from the previous check); the first regular check that
    would fall at or after ``bp_peak_check_min`` is moved back to that minute (the BP-peak check)
    and the grid continues from it, so no gap exceeds the protocol interval. The schedule ends at
    ``discharged_at``; until discharge it runs to the first check due after ``now`` (the next one).
    Before dosing starts (``dosing_started_at`` None) only the baseline is listed, due now.

    Each reading counts once, for the check whose window holds it; windows split halfway between
    consecutive due times. ``recorded_times``: the times of recorded vital-sign sets (at least a
    blood pressure).

    Refusals: ``invalid_monitoring_protocol``; ``invalid_datetime``/``naive_datetime``;
    ``invalid_session_times`` (end before start, discharge before start, discharge without dosing).
    Source: Spravato label (BP before dosing and ~40 min after; observe ≥ 2 h), Emory series
    (every 10 min during, 15 min after), issue 5 (every 10–15 min during the infusion).
    """
    protocol = MonitoringProtocol.from_mapping(protocol_monitoring)
    now = _aware(now, field="now")
    start = _optional_aware(dosing_started_at, field="dosing_started_at")
    end = _optional_aware(dosing_ended_at, field="dosing_ended_at")
    discharged = _optional_aware(discharged_at, field="discharged_at")
    times = sorted(
        _aware(item, field=f"recorded_times[{i}]")
        for i, item in enumerate(_sequence(recorded_times, field="recorded_times", code="invalid_datetime"))
    )
    baseline_window = timedelta(minutes=protocol.baseline_window_min)
    grace = timedelta(minutes=protocol.overdue_grace_min)

    if start is None:
        if end is not None or discharged is not None:
            raise DomainError(
                "invalid_session_times",
                "dosing_ended_at and discharged_at need dosing_started_at.",
                field="dosing_started_at",
            )
        done_at = next((t for t in times if now - baseline_window <= t <= now), None)
        return [
            DueCheck(
                "baseline",
                "Baseline (before dosing)",
                0,
                now,
                now + grace,
                now - baseline_window,
                None,
                STATUS_DONE if done_at else STATUS_DUE,
                done_at,
            )
        ]
    if end is not None and end < start:
        raise DomainError(
            "invalid_session_times", "dosing_ended_at is before dosing_started_at.", field="dosing_ended_at"
        )
    if discharged is not None and discharged < start:
        raise DomainError(
            "invalid_session_times", "discharged_at is before dosing_started_at.", field="discharged_at"
        )

    during = timedelta(minutes=protocol.interval_during_dosing_min)
    after = timedelta(minutes=protocol.interval_after_dosing_min)
    peak = start + timedelta(minutes=protocol.bp_peak_check_min)
    points: list[tuple[datetime, str]] = []
    previous, peak_placed = start, False
    for _ in range(_MAX_CHECKS):
        infusing = end is None or previous < end
        candidate = previous + (during if infusing else after)
        kind = "during_dosing" if end is None or candidate <= end else "recovery"
        if not peak_placed and candidate >= peak:
            candidate, kind, peak_placed = peak, "bp_peak", True
        if discharged is not None and candidate > discharged:
            break
        points.append((candidate, kind))
        if discharged is None and candidate > now:
            break
        previous = candidate

    checks = [
        _make_check(
            "baseline",
            "Baseline (before dosing)",
            start,
            start,
            start - baseline_window,
            start + timedelta(microseconds=1),
            times,
            now,
            grace,
        )
    ]
    labels = {"during_dosing": "during dosing", "bp_peak": "BP peak", "recovery": "recovery"}
    for index, (due_at, kind) in enumerate(points):
        previous_due = points[index - 1][0] if index else start
        window_start = previous_due + (due_at - previous_due) / 2 if index else start + (due_at - start) / 2
        if index + 1 < len(points):
            window_end: datetime | None = due_at + (points[index + 1][0] - due_at) / 2
        elif discharged is not None:
            window_end = discharged + timedelta(microseconds=1)
        else:
            window_end = None
        minutes = int((due_at - start).total_seconds() // 60)
        checks.append(
            _make_check(
                kind,
                f"T+{minutes} min ({labels[kind]})",
                start,
                due_at,
                window_start,
                window_end,
                times,
                now,
                grace,
            )
        )
    return checks


def _make_check(
    kind: str,
    label: str,
    start: datetime,
    due_at: datetime,
    window_start: datetime,
    window_end: datetime | None,
    times: Sequence[datetime],
    now: datetime,
    grace: timedelta,
) -> DueCheck:
    done_at = next((t for t in times if t >= window_start and (window_end is None or t < window_end)), None)
    if done_at is not None:
        status = STATUS_DONE
    elif now >= due_at + grace:
        status = STATUS_OVERDUE
    else:
        status = STATUS_DUE
    minutes = int((due_at - start).total_seconds() // 60)
    return DueCheck(kind, label, minutes, due_at, due_at + grace, window_start, window_end, status, done_at)


def evaluate_overdue(
    *,
    checks: Sequence[DueCheck],
    open_episodes: object = (),
    now: datetime,
    discharged_at: datetime | None = None,
) -> AlertEvaluation:
    """The ``vitals_overdue`` alert from a schedule computed by :func:`due_checks` at ``now``.

    The alert is active when some check is ``overdue`` and no later check is ``done`` (i.e. no
    vitals have been recorded since that check's window opened). A missed check followed by a
    later recorded set is history, not an active alert. One episode at a time: an active alert with
    no open ``vitals_overdue`` episode raises one (``raised_at`` = the check's ``overdue_at``); an
    open episode with nothing active ends at ``now`` (or at ``discharged_at``, after which nothing
    is overdue). Other families in ``open_episodes`` are ignored.
    Refusals: ``invalid_episode``, ``invalid_datetime``/``naive_datetime``, ``invalid_argument``.
    Source: issue 5 (overdue checks flagged on the board); schedule as in :func:`due_checks`.
    """
    now = _aware(now, field="now")
    discharged = _optional_aware(discharged_at, field="discharged_at")
    items = _sequence(checks, field="checks", code="invalid_argument")
    for index, check in enumerate(items):
        if not isinstance(check, DueCheck):
            raise DomainError(
                "invalid_argument", f"checks[{index}] must be a DueCheck.", field=f"checks[{index}]"
            )
    episode = _coerce_episodes(open_episodes).get("vitals_overdue")
    active: DueCheck | None = None
    if discharged is None:
        ordered = sorted(items, key=lambda c: c.due_at)
        for index, check in enumerate(ordered):
            if check.status == STATUS_OVERDUE and not any(
                c.status == STATUS_DONE for c in ordered[index + 1 :]
            ):
                active = check
                break
    if active is not None and episode is None:
        late_min = int(_minutes_between(active.due_at, now))
        message = f"{active.label} was due {late_min} min ago and no vital signs have been recorded since."
        alert = RaisedAlert("vitals_overdue", WARNING, message, active.overdue_at, "vitals_overdue")
        return AlertEvaluation(raised=(alert,))
    if active is None and episode is not None:
        ended_at = discharged if discharged is not None else now
        end = EpisodeEnd(
            episode.episode_id, "vitals_overdue", ended_at, "vitals_overdue ended: checks up to date."
        )
        return AlertEvaluation(ended=(end,))
    return AlertEvaluation()


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
        base is not None
        and base > 0
        and not critical
        and abs(value - base) * _HUNDRED <= base * tolerance_pct
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
    items = _sequence(raw, field="critical_alerts", code="invalid_argument")
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
        _aware(period.raised_at, field=f"{where}.raised_at")
        _optional_aware(period.resolved_at, field=f"{where}.resolved_at")
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
    now = _aware(now, field="now")
    start = _aware(dosing_started_at, field="dosing_started_at")
    end = _optional_aware(dosing_ended_at, field="dosing_ended_at")
    if end is not None and end < start:
        raise DomainError(
            "invalid_session_times", "dosing_ended_at is before dosing_started_at.", field="dosing_ended_at"
        )
    record = [
        obs for obs in _coerce_observations(observations, prefix="observations") if obs.observed_at <= now
    ]
    record.sort(key=lambda o: o.observed_at)
    base = _coerce_baseline(baseline)
    limits = _thresholds(thresholds)
    min_observation = _int_arg(min_observation_min, field="min_observation_min")
    tolerance = _decimal_arg(baseline_tolerance_pct, field="baseline_tolerance_pct")
    escort = _bool_arg(escort_confirmed, field="escort_confirmed")
    advice = _bool_arg(driving_advice_given, field="driving_advice_given")
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
        observed_min = max(0, math.floor(_minutes_between(end, now)))
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
            "not recorded since dosing ended" if moaas is None else f"MOAA/S {_fmt(moaas.value)}",
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
            else f"modified Aldrete {_fmt(aldrete.value)}",
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
        shown = {code: _fmt(obs.value) for code, obs in vitals.items() if obs is not None}
        vitals_value = (
            f"BP {shown['systolic_bp']}/{shown['diastolic_bp']} mmHg, HR {shown['heart_rate']} /min"
        )
        if any(code in base for code in vitals):
            vitals_value += (
                f" (baseline {_fmt(base['systolic_bp']) if 'systolic_bp' in base else '?'}/"
                f"{_fmt(base['diastolic_bp']) if 'diastolic_bp' in base else '?'} mmHg, "
                f"HR {_fmt(base['heart_rate']) if 'heart_rate' in base else '?'} /min)"
            )
    criteria.append(
        DischargeCriterion(
            "vitals_stable",
            vitals_met,
            vitals_value,
            f"BP and heart rate below the alert thresholds, or within ±{_fmt(tolerance)} % of baseline "
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
        ready_min = math.ceil(_minutes_between(start, ready_at))
    return DischargeEvaluation(
        ready=all(c.met for c in criteria),
        criteria=tuple(criteria),
        ready_at=ready_at,
        ready_at_min_after_dosing_start=ready_min,
        observed_min=observed_min,
    )


# --- Dependence and misuse watch -----------------------------------------------------------------


@dataclass(frozen=True)
class DependenceThresholds:
    """Review thresholds for the dependence watch. All defaults are protocol practice (no published
    cut-offs exist for ketamine courses in addiction care); each names its reasoning.
    """

    # More sessions than the largest courses studied (KARE 3 infusions; Krupitsky 2007: 3 sessions).
    sessions_review_above: int = 3
    # 3 × 2.0 mg/kg IM (the largest course in clinical.md §1) for a 100 kg adult (derived here).
    cumulative_dose_review_at_mg: Decimal = Decimal(600)
    # Dosing more often than weekly.
    min_interval_days: int = 7
    # Repeated requests for extra or earlier sessions.
    extra_session_requests_review_at: int = 2
    # Any ketamine-positive urine test outside treatment (label: assess abuse and misuse).
    positive_tests_review_at: int = 1
    # Craving for ketamine on a 0–10 numeric rating (no validated ketamine craving scale found).
    craving_review_at: Decimal = Decimal(5)
    craving_scale_max: Decimal = Decimal(10)

    def __post_init__(self) -> None:
        for item in fields(self):
            raw = getattr(self, item.name)
            value = _non_negative_threshold(item.name, raw)
            if item.type in ("int", int) and value != value.to_integral_value():
                raise DomainError(
                    "invalid_thresholds", f"{item.name} must be a whole number, got {raw!r}.", field=item.name
                )
            object.__setattr__(self, item.name, int(value) if item.type in ("int", int) else value)


@dataclass(frozen=True)
class DoseRecord:
    """One ketamine dose given in the programme: the session date and the total dose in mg."""

    session_date: date
    dose_mg: Decimal


@dataclass(frozen=True)
class CravingScore:
    """A ketamine craving rating (0 to the scale maximum) on a date."""

    rated_on: date
    score: Decimal


@dataclass(frozen=True)
class DependenceFlag:
    """A review flag: code, what was found, the threshold crossed and the source."""

    code: str
    message: str
    source: str


@dataclass(frozen=True)
class DependenceReview:
    """Cumulative exposure and any review flags; ``review_required`` when any flag is raised.

    ``prescriber_decision_required``: ``serial_dosing_with_active_misuse`` is flagged and no
    prescriber decision is documented; the app should block the next dose order until there is one.
    """

    total_dose_mg: Decimal
    session_count: int
    mean_interval_days: Decimal | None
    shortest_interval_days: int | None
    latest_craving: Decimal | None
    flags: tuple[DependenceFlag, ...]
    review_required: bool
    prescriber_decision_required: bool

    @property
    def flag_codes(self) -> tuple[str, ...]:
        return tuple(flag.code for flag in self.flags)


def _coerce_dates(raw: object, *, field: str, kind: str) -> list[tuple[date, Decimal]]:
    items = _sequence(raw, field=field, code="invalid_argument")
    result = []
    for index, item in enumerate(items):
        where = f"{field}[{index}]"
        if kind == "dose":
            if isinstance(item, DoseRecord):
                when, amount = item.session_date, item.dose_mg
            elif isinstance(item, Mapping) and "session_date" in item and "dose_mg" in item:
                when, amount = item["session_date"], item["dose_mg"]
            elif isinstance(item, tuple | list) and len(item) == 2:
                when, amount = item
            else:
                raise DomainError(
                    "invalid_argument", f"{where} must be (session_date, dose_mg).", field=where
                )
        elif isinstance(item, CravingScore):
            when, amount = item.rated_on, item.score
        elif isinstance(item, Mapping) and "rated_on" in item and "score" in item:
            when, amount = item["rated_on"], item["score"]
        elif isinstance(item, tuple | list) and len(item) == 2:
            when, amount = item
        else:
            raise DomainError("invalid_argument", f"{where} must be (rated_on, score).", field=where)
        if isinstance(when, datetime) or not isinstance(when, date):
            raise DomainError("invalid_date", f"{where}: give a calendar date, got {when!r}.", field=where)
        value = _number(amount)
        if value is None or value < 0:
            raise DomainError(
                "invalid_number",
                f"{where}: amount must be a non-negative number, got {amount!r}.",
                field=where,
            )
        result.append((when, value))
    return result


def evaluate_dependence(
    *,
    dosing_history: object,
    extra_session_requests: int,
    ketamine_positive_tests_outside_treatment: int,
    ketamine_craving_scores: object = (),
    active_substance_misuse: bool = False,
    prescriber_decision_documented: bool = False,
    thresholds: DependenceThresholds | None = None,
) -> DependenceReview:
    """Per-patient exposure to ketamine and misuse signals, with review flags.

    ``dosing_history``: :class:`DoseRecord`, ``{"session_date", "dose_mg"}`` or ``(date, mg)``
    items, in any order. ``ketamine_craving_scores``: :class:`CravingScore`, ``{"rated_on",
    "score"}`` or ``(date, score)`` items on a 0–``craving_scale_max`` rating.

    Exposure: total mg, number of sessions, mean interval between consecutive session dates
    (days, one decimal; None with fewer than two sessions), shortest interval (days).
    Flags (each a threshold in :class:`DependenceThresholds`):
    ``sessions_above_review_count`` (sessions > 3), ``cumulative_dose_at_review`` (≥ 600 mg),
    ``short_dosing_interval`` (an interval < 7 days), ``extra_session_requests`` (≥ 2),
    ``ketamine_positive_outside_treatment`` (≥ 1), ``ketamine_craving`` (latest rating ≥ 5/10),
    and ``serial_dosing_with_active_misuse`` (active substance misuse and at least one dose already
    given, so any further dose is serial dosing: ASRA 2018 says serial infusions should not be
    given with an active substance abuse problem; in this programme it requires a prescriber's
    documented decision).

    Refusals: ``invalid_argument``, ``invalid_date`` (a datetime or non-date), ``invalid_number``,
    ``answer_out_of_range`` (a craving rating above the scale maximum), ``invalid_thresholds``.
    Source: ASRA/AAPM/ASA 2018 (clinical.md §3.3: serial infusions and active substance abuse;
    universal precautions against abuse); Spravato label (§3.2: assess abuse and misuse risk);
    thresholds are protocol practice (see :class:`DependenceThresholds`).
    """
    limits = thresholds if thresholds is not None else DependenceThresholds()
    if not isinstance(limits, DependenceThresholds):
        raise DomainError(
            "invalid_thresholds", "thresholds must be DependenceThresholds.", field="thresholds"
        )
    doses = sorted(_coerce_dates(dosing_history, field="dosing_history", kind="dose"))
    cravings = sorted(_coerce_dates(ketamine_craving_scores, field="ketamine_craving_scores", kind="craving"))
    requests = _int_arg(extra_session_requests, field="extra_session_requests")
    positives = _int_arg(
        ketamine_positive_tests_outside_treatment, field="ketamine_positive_tests_outside_treatment"
    )
    misuse = _bool_arg(active_substance_misuse, field="active_substance_misuse")
    decided = _bool_arg(prescriber_decision_documented, field="prescriber_decision_documented")
    for index, (_, score) in enumerate(cravings):
        if score > limits.craving_scale_max:
            raise DomainError(
                "answer_out_of_range",
                f"Craving rating {_fmt(score)} is above the scale maximum {_fmt(limits.craving_scale_max)}.",
                field=f"ketamine_craving_scores[{index}]",
            )

    total = sum((mg for _, mg in doses), Decimal(0))
    count = len(doses)
    intervals = [(later - earlier).days for (earlier, _), (later, _) in itertools.pairwise(doses)]
    mean_interval = (
        (Decimal(sum(intervals)) / Decimal(len(intervals))).quantize(Decimal("0.1")) if intervals else None
    )
    shortest = min(intervals) if intervals else None
    latest_craving = cravings[-1][1] if cravings else None

    protocol = "Protocol practice (DependenceThresholds)."
    flags: list[DependenceFlag] = []
    if count > limits.sessions_review_above:
        flags.append(
            DependenceFlag(
                "sessions_above_review_count",
                f"{count} sessions, more than the review count of {limits.sessions_review_above}.",
                protocol + " Courses studied: KARE 3 infusions, Krupitsky 2007 3 sessions (clinical.md §1).",
            )
        )
    if total >= limits.cumulative_dose_review_at_mg:
        flags.append(
            DependenceFlag(
                "cumulative_dose_at_review",
                f"Cumulative ketamine {_fmt(total)} mg ≥ {_fmt(limits.cumulative_dose_review_at_mg)} mg.",
                protocol,
            )
        )
    if shortest is not None and shortest < limits.min_interval_days:
        flags.append(
            DependenceFlag(
                "short_dosing_interval",
                f"Shortest interval between sessions {shortest} days < {limits.min_interval_days} days.",
                protocol,
            )
        )
    if requests >= limits.extra_session_requests_review_at:
        flags.append(
            DependenceFlag(
                "extra_session_requests",
                f"{requests} requests for extra or earlier sessions "
                f"(review at {limits.extra_session_requests_review_at}).",
                protocol + " ASRA 2018: monitor for abuse (clinical.md §3.3).",
            )
        )
    if positives >= limits.positive_tests_review_at:
        flags.append(
            DependenceFlag(
                "ketamine_positive_outside_treatment",
                f"{positives} ketamine-positive urine test(s) outside treatment.",
                "Spravato label: assess abuse and misuse (clinical.md §3.2); ASRA 2018 (§3.3).",
            )
        )
    if latest_craving is not None and latest_craving >= limits.craving_review_at:
        flags.append(
            DependenceFlag(
                "ketamine_craving",
                f"Latest ketamine craving {_fmt(latest_craving)}/{_fmt(limits.craving_scale_max)} "
                f"≥ {_fmt(limits.craving_review_at)}.",
                protocol,
            )
        )
    serial_flag = misuse and count >= 1
    if serial_flag:
        flags.append(
            DependenceFlag(
                "serial_dosing_with_active_misuse",
                f"Active substance misuse after {count} session(s): further dosing is serial dosing and "
                + (
                    "a prescriber's decision is documented."
                    if decided
                    else "needs a prescriber's documented decision."
                ),
                "ASRA/AAPM/ASA 2018: serial infusions should not be given to patients with an active "
                "substance abuse problem (clinical.md §3.3).",
            )
        )
    return DependenceReview(
        total_dose_mg=total,
        session_count=count,
        mean_interval_days=mean_interval,
        shortest_interval_days=shortest,
        latest_craving=latest_craving,
        flags=tuple(flags),
        review_required=bool(flags),
        prescriber_decision_required=serial_flag and not decided,
    )
