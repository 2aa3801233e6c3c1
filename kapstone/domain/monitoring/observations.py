"""Observation definitions (vital signs and bedside scores), reviewing and validating a set of
observations before it is stored, and the pre-dose baseline.

Source: LOINC vital-sign codes and UCUM units from the FHIR R4 vital-signs value set
(software.md §8.1); plausible ranges are data-entry guards, each with its reason below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal

from kapstone.domain.errors import DomainError, DomainErrors
from kapstone.domain.monitoring._common import (
    ONE_MINUTE,
    aware_arg,
    format_number,
    sequence_arg,
    to_number,
    with_unit,
)

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
    number = to_number(value)
    if number is None:
        raise DomainError(
            "invalid_observation",
            f"{where} ({definition.code}): value must be a finite number, got {value!r}.",
            field=f"{where}.value",
        )
    if definition.whole_number and number != number.to_integral_value():
        raise DomainError(
            "invalid_observation",
            f"{where} ({definition.code}): value must be a whole number, got {format_number(number)}.",
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


def coerce_observations(raw: object, *, prefix: str) -> tuple[Observation, ...]:
    items = sequence_arg(raw, field=prefix, code="invalid_observation")
    return tuple(_coerce_observation(item, index=i, prefix=prefix) for i, item in enumerate(items))


def _shown_value(value: Decimal, definition: ObservationDefinition) -> str:
    """A value with its unit as a clinician writes it, with a real minus sign (−5 /min)."""
    return with_unit(value, definition).replace("-", "−")


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
    clock_skew_tolerance: timedelta = ONE_MINUTE,
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
    session_started_at = aware_arg(session_started_at, field="session_started_at")
    now = aware_arg(now, field="now")
    if not isinstance(clock_skew_tolerance, timedelta) or clock_skew_tolerance < timedelta(0):
        raise DomainError(
            "invalid_argument",
            f"clock_skew_tolerance must be a non-negative timedelta, got {clock_skew_tolerance!r}.",
            field="clock_skew_tolerance",
        )
    try:
        items = sequence_arg(observations, field="observations", code="invalid_observation")
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
            low = format_number(definition.plausible_min).replace("-", "−")
            found.append(
                (
                    index,
                    0,
                    DomainError(
                        "implausible_value",
                        f"{definition.label} {_shown_value(obs.value, definition)} is not possible "
                        f"({low}–{with_unit(definition.plausible_max, definition)}). {NOTHING_SAVED}",
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
                        f"Diastolic BP {format_number(obs.value)} mmHg is not below the systolic {format_number(systolic)} "
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
    clock_skew_tolerance: timedelta = ONE_MINUTE,
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
    dosing_started_at = aware_arg(dosing_started_at, field="dosing_started_at")
    latest: dict[str, Observation] = {}
    for obs in coerce_observations(observations, prefix="observations"):
        if obs.observed_at > dosing_started_at:
            continue
        current = latest.get(obs.code)
        if current is None or obs.observed_at >= current.observed_at:
            latest[obs.code] = obs
    return {code: obs.value for code, obs in latest.items()}


def coerce_baseline(baseline: object) -> dict[str, Decimal]:
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
        number = to_number(value)
        if number is None:
            raise DomainError(
                "invalid_baseline",
                f"baseline {key} must be a finite number, got {value!r}.",
                field=f"baseline.{key}",
            )
        result[key] = number
    return result
