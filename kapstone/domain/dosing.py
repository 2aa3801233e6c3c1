"""Weight-based ketamine dosing: the dose, its preparation arithmetic, and the checks around it.

Everything here is exact ``Decimal`` arithmetic on values the caller passes in; nothing reads a
clock or a database. Rounding is ``ROUND_HALF_UP`` everywhere:

* amounts (``dose_mg``, ``bolus_mg``, ``infusion_mg``, administered amounts) to 0.1 mg;
* volumes (``volume_ml``), rates (``rate_mg_per_min``, ``rate_ml_per_h``) and the bag
  concentration to 0.01.

``infusion_mg`` is ``dose_mg - bolus_mg`` of the *rounded* amounts, so the parts always add up
to the dose written on the order. Derived quantities (volume, rates) are computed from the
rounded amounts the nurse sees, then rounded once.

Hard stops raise :class:`~kapstone.domain.errors.DomainError` (input) or
:class:`~kapstone.domain.errors.WorkflowConflict` (state: weight too old, session limits).
Non-blocking observations are returned as warning codes on the result.

Sources: trial doses in clinical.md §1 (0.5 mg/kg IV over 40 min, Dakwar 2019; 0.71 mg/kg as
0.11 mg/kg bolus + 0.6 mg/kg over 50 min, Dakwar 2020; 0.8 mg/kg over 40 min, Grabski 2022;
2.0–2.5 mg/kg IM, Krupitsky 1997–2007). Ranges that no reference fixes are Kapstone's choice
and are listed as such in docs/clinical-rules.md (dosing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.numbers import format_number, to_decimal
from kapstone.domain.patients import (
    WEIGHT_KG_MAX,
    WEIGHT_KG_MIN,
    check_weight_plausible,
    measurement_in_force,
)
from kapstone.domain.text import REASON_MAX_CHARS, clean_text

# --- Parameters ----------------------------------------------------------------------------------

#: Routes Kapstone can order: continuous IV infusion (optionally preceded by a bolus part),
#: intramuscular, intranasal, sublingual, oral.
ROUTES: tuple[str, ...] = ("iv", "im", "in", "sl", "po")
ROUTE_IV = "iv"

#: Inclusive plausible adult weight range (kg): the patient record's one plausibility rule
#: (:mod:`kapstone.domain.patients`), so a weight the chart accepts is a weight a dose can use.
WEIGHT_MIN_KG = WEIGHT_KG_MIN
WEIGHT_MAX_KG = WEIGHT_KG_MAX

#: Default maximum total dose (bolus + infusion) when the protocol gives none. The highest dose
#: in the addiction trials is 2.5 mg/kg IM (Krupitsky 1997, clinical.md §1.1); 3.0 mg/kg lets
#: every trial regimen through while a slipped decimal point (0.5 -> 5) cannot pass.
DEFAULT_MAX_MG_PER_KG = Decimal("3.0")

#: Ceiling on a maximum supplied by a protocol (mg/kg). Chosen: no referenced regimen comes near
#: it (largest 2.5 mg/kg IM; anaesthetic induction 1–2 mg/kg IV, clinical.md §2.4); a configured
#: maximum above it is itself a slip.
MAX_MG_PER_KG_CEILING = Decimal("10")

#: Largest ordered amount any valid order can produce (mg): 300 kg × 10 mg/kg.
ORDERED_DOSE_CEILING_MG = WEIGHT_MAX_KG * MAX_MG_PER_KG_CEILING

#: Inclusive vial concentration range (mg/mL); ketamine HCl is sold as 10, 50 and 100 mg/mL.
CONCENTRATION_MIN_MG_PER_ML = Decimal("1")
CONCENTRATION_MAX_MG_PER_ML = Decimal("100")
STANDARD_CONCENTRATIONS_MG_PER_ML: frozenset[Decimal] = frozenset(
    {Decimal("10"), Decimal("50"), Decimal("100")}
)

#: Inclusive continuous-infusion duration range (min). Chosen: the cited protocols infuse over
#: 40–52 min (clinical.md §1.4–1.6); a rapid part is ordered as the bolus. Below 10 min is
#: most likely a keying slip ("4" for "40": ten times the rate); above 4 h is outside any
#: KAP protocol referenced and longer than a session's monitoring window.
INFUSION_MIN_MIN = Decimal("10")
INFUSION_MAX_MIN = Decimal("240")

#: Inclusive final volume of a prepared infusion (mL). Chosen: 10 mL admits a syringe driver,
#: 1000 mL is the largest standard bag; beyond is a slip and a needless fluid load.
BAG_MIN_ML = Decimal("10")
BAG_MAX_ML = Decimal("1000")

#: Default oldest weight usable for ordering (days before the session).
DEFAULT_WEIGHT_MAX_AGE_DAYS = 30

AMOUNT_QUANTUM = Decimal("0.1")
VOLUME_QUANTUM = Decimal("0.01")
RATE_QUANTUM = Decimal("0.01")

RATE_UNIT_MG_PER_MIN = "mg_per_min"
RATE_UNIT_ML_PER_H = "ml_per_h"
RATE_UNITS: tuple[str, ...] = (RATE_UNIT_MG_PER_MIN, RATE_UNIT_ML_PER_H)

# Warning codes (non-blocking).
WARNING_NONSTANDARD_CONCENTRATION = "nonstandard_concentration"
WARNING_BAG_IGNORED = "bag_ignored_for_route"
WARNING_DURATION_IGNORED = "duration_ignored_for_route"
WARNING_BOLUS_IGNORED = "bolus_ignored_for_route"

#: The warnings in words, for screens (the codes stay in the API and the order's record).
WARNING_WORDS: dict[str, str] = {
    WARNING_NONSTANDARD_CONCENTRATION: "The vial concentration is not one of the usual ketamine strengths "
    "(10, 50 or 100 mg/mL): check the vial.",
    WARNING_BAG_IGNORED: "A bag volume applies only to an infusion; it was left out for this route.",
    WARNING_DURATION_IGNORED: "An infusion time applies only to an infusion; it was left out for this route.",
    WARNING_BOLUS_IGNORED: "A bolus applies only to an infusion; it was left out for this route.",
}


def warning_words(code: str) -> str:
    """A dose warning's code in words."""
    return WARNING_WORDS.get(code, code.replace("_", " ").capitalize())


_SIXTY = Decimal("60")


# --- Number handling -----------------------------------------------------------------------------


def _optional_decimal(value: object, *, field: str) -> Decimal | None:
    return None if value is None else to_decimal(value, field=field)


def _round(value: Decimal, quantum: Decimal) -> Decimal:
    return value.quantize(quantum, rounding=ROUND_HALF_UP)


def _fmt_amount(value: Decimal) -> str:
    """An amount rounded to 0.1 mg for a message (left unrounded if absurdly large)."""
    return format_number(_round(value, AMOUNT_QUANTUM) if abs(value) < Decimal("1e12") else value)


# --- Shared input checks (also used by kapstone.domain.pk) ----------------------------------------


def check_weight_kg(value: object) -> Decimal:
    """The weight as a Decimal within 30–300 kg inclusive, else ``weight_out_of_range``.

    The range is the patient record's (:func:`kapstone.domain.patients.check_weight_plausible`).
    """
    return check_weight_plausible(to_decimal(value, field="weight_kg"))


def check_max_mg_per_kg(value: object | None) -> Decimal:
    """The maximum total dose (mg/kg): the given one if any, else the 3.0 mg/kg default.

    A given maximum must be above 0 and at most 10 mg/kg (``dose_out_of_range`` on
    ``max_mg_per_kg``).
    """
    if value is None:
        return DEFAULT_MAX_MG_PER_KG
    max_mg_per_kg = to_decimal(value, field="max_mg_per_kg")
    if not 0 < max_mg_per_kg <= MAX_MG_PER_KG_CEILING:
        raise DomainError(
            "dose_out_of_range",
            f"The maximum dose must be above 0 and at most {MAX_MG_PER_KG_CEILING} mg/kg; "
            f"got {format_number(max_mg_per_kg)} mg/kg.",
            field="max_mg_per_kg",
        )
    return max_mg_per_kg


def check_mg_per_kg(value: object, *, max_mg_per_kg: Decimal) -> Decimal:
    """The total dose (bolus + infusion) in mg/kg: above 0 and at most the maximum.

    Source: default maximum 3.0 mg/kg (issue 4; above every trial dose in clinical.md §1.7).
    """
    mg_per_kg = to_decimal(value, field="mg_per_kg")
    if mg_per_kg <= 0:
        raise DomainError(
            "dose_out_of_range",
            f"The dose must be above 0 mg/kg; got {format_number(mg_per_kg)} mg/kg.",
            field="mg_per_kg",
        )
    if mg_per_kg > max_mg_per_kg:
        raise DomainError(
            "dose_above_max",
            f"The total dose {format_number(mg_per_kg)} mg/kg is above the maximum of {format_number(max_mg_per_kg)} mg/kg.",
            field="mg_per_kg",
        )
    return mg_per_kg


def check_route(value: object, *, allowed: Sequence[str] = ROUTES) -> str:
    """The route code, lower-cased, if it is one of ``allowed``; else ``route_invalid``."""
    route = value.strip().lower() if isinstance(value, str) else None
    if route not in allowed:
        raise DomainError(
            "route_invalid", f"Route must be one of {', '.join(allowed)}; got {value!r}.", field="route"
        )
    return route


def check_bolus_mg_per_kg(value: object, *, mg_per_kg: Decimal) -> Decimal:
    """The bolus part (mg/kg): above 0 and below the total dose (else ``bolus_exceeds_dose``)."""
    bolus = to_decimal(value, field="bolus_mg_per_kg")
    if bolus <= 0:
        raise DomainError(
            "dose_out_of_range",
            f"The bolus must be above 0 mg/kg (leave it out for no bolus); got {format_number(bolus)} mg/kg.",
            field="bolus_mg_per_kg",
        )
    if bolus >= mg_per_kg:
        raise DomainError(
            "bolus_exceeds_dose",
            f"The bolus {format_number(bolus)} mg/kg must be less than the total dose {format_number(mg_per_kg)} mg/kg "
            "(the bolus is part of the total; an iv order always has an infusion part).",
            field="bolus_mg_per_kg",
        )
    return bolus


def check_over_min(value: object | None) -> Decimal:
    """The infusion duration (min): present and positive (``infusion_requires_duration``), and
    within 10–240 min inclusive (``infusion_time_out_of_range``)."""
    if value is None:
        raise DomainError(
            "infusion_requires_duration",
            "An iv dose is a continuous infusion: give its duration in minutes.",
            field="over_min",
        )
    over_min = to_decimal(value, field="over_min")
    if over_min <= 0:
        raise DomainError(
            "infusion_requires_duration",
            f"The infusion duration must be above 0 min; got {format_number(over_min)} min.",
            field="over_min",
        )
    if not INFUSION_MIN_MIN <= over_min <= INFUSION_MAX_MIN:
        raise DomainError(
            "infusion_time_out_of_range",
            f"The infusion must run {INFUSION_MIN_MIN}–{INFUSION_MAX_MIN} min; got {format_number(over_min)} min.",
            field="over_min",
        )
    return over_min


# --- Dose calculation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DoseCalculation:
    """A weight-based dose and its preparation arithmetic (amounts in mg, volumes in mL)."""

    weight_kg: Decimal
    mg_per_kg: Decimal
    max_mg_per_kg: Decimal
    route: str
    over_min: Decimal | None
    dose_mg: Decimal
    bolus_mg: Decimal | None
    infusion_mg: Decimal | None
    concentration_mg_per_ml: Decimal | None
    volume_ml: Decimal | None
    rate_mg_per_min: Decimal | None
    bag_ml: Decimal | None
    bag_concentration_mg_per_ml: Decimal | None
    rate_ml_per_h: Decimal | None
    warnings: tuple[str, ...]

    @property
    def warning_messages(self) -> list[str]:
        return [warning_words(code) for code in self.warnings]


def calculate_dose(
    *,
    weight_kg: object,
    mg_per_kg: object,
    route: object,
    over_min: object = None,
    bolus_mg_per_kg: object = None,
    concentration_mg_per_ml: object = None,
    bag_ml: object = None,
    max_mg_per_kg: object = None,
) -> DoseCalculation:
    """Calculate a weight-based ketamine dose and how to prepare and run it.

    Guarantees, for every result:

    * ``30 <= weight_kg <= 300`` and ``0 < mg_per_kg <= max_mg_per_kg`` (default 3.0), and
      ``dose_mg <= weight_kg * max_mg_per_kg`` exactly: rounding never lifts a dose over its cap;
    * ``dose_mg = round_half_up(weight_kg * mg_per_kg, 0.1 mg)``, except that where rounding up
      would pass ``weight_kg * max_mg_per_kg`` it rounds down instead (e.g. 216.35 kg at the
      3.0 mg/kg cap is 649.05 mg → 649.0 mg, not 649.1);
    * iv: ``bolus_mg + infusion_mg == dose_mg`` with ``infusion_mg > 0``, and
      ``rate_mg_per_min = round(infusion_mg / over_min, 0.01)``; other routes: ``bolus_mg``,
      ``infusion_mg`` and the rates are ``None``;
    * with a concentration: ``volume_ml = round(dose_mg / concentration, 0.01 mL)`` (the whole
      dose, bolus included, drawn from the vial);
    * iv with a bag: ``rate_ml_per_h = round(bag_ml * 60 / over_min, 0.01)`` for the bag of
      ``bag_ml`` final volume holding ``infusion_mg``, and ``bag_concentration_mg_per_ml =
      round(infusion_mg / bag_ml, 0.01)``.

    Hard stops (DomainError code, field): ``invalid_number`` (any field), ``weight_out_of_range``,
    ``dose_out_of_range`` (mg/kg, bolus or maximum <= 0), ``dose_above_max``, ``route_invalid``,
    ``infusion_requires_duration``, ``infusion_time_out_of_range``, ``bolus_exceeds_dose``,
    ``concentration_out_of_range``, ``bag_volume_out_of_range`` (outside 10–1000 mL, or smaller
    than the drug volume it must hold).

    Warnings: ``nonstandard_concentration`` (not 10, 50 or 100 mg/mL), ``bag_ignored_for_route``,
    ``duration_ignored_for_route``, ``bolus_ignored_for_route`` (an iv-only value given for another
    route: it is parsed, not range-checked, and plays no part in the result).

    Source: trial regimens in clinical.md §1.4–1.7; default maximum and ranges from issue 4;
    duration and bag ranges are Kapstone's choice (docs/clinical-rules.md (dosing)).
    """
    weight = check_weight_kg(weight_kg)
    maximum = check_max_mg_per_kg(max_mg_per_kg)
    total_mg_per_kg = check_mg_per_kg(mg_per_kg, max_mg_per_kg=maximum)
    route_code = check_route(route)
    warnings: list[str] = []

    dose_mg = _round(weight * total_mg_per_kg, AMOUNT_QUANTUM)
    if dose_mg > weight * maximum:
        # A dose at the cap must not be rounded over it.
        dose_mg = (weight * total_mg_per_kg).quantize(AMOUNT_QUANTUM, rounding=ROUND_DOWN)
    if dose_mg <= 0:
        raise DomainError(
            "dose_out_of_range",
            f"{format_number(total_mg_per_kg)} mg/kg for {format_number(weight)} kg rounds to 0 mg.",
            field="mg_per_kg",
        )
    bolus_mg: Decimal | None = None
    infusion_mg: Decimal | None = None
    duration: Decimal | None = None
    rate_mg_per_min: Decimal | None = None

    if route_code == ROUTE_IV:
        if bolus_mg_per_kg is not None:
            bolus = check_bolus_mg_per_kg(bolus_mg_per_kg, mg_per_kg=total_mg_per_kg)
            bolus_mg = _round(weight * bolus, AMOUNT_QUANTUM)
        duration = check_over_min(over_min)
        infusion_mg = dose_mg - (bolus_mg or Decimal(0))
        if infusion_mg <= 0:
            # Only reachable when the bolus is a hair below the dose and both round alike.
            raise DomainError(
                "bolus_exceeds_dose",
                f"After rounding, the bolus {format_number(bolus_mg or Decimal(0))} mg leaves nothing of the "
                f"{format_number(dose_mg)} mg dose for the infusion.",
                field="bolus_mg_per_kg",
            )
        rate_mg_per_min = _round(infusion_mg / duration, RATE_QUANTUM)
    else:
        if over_min is not None:
            to_decimal(over_min, field="over_min")
            warnings.append(WARNING_DURATION_IGNORED)
        if bolus_mg_per_kg is not None:
            to_decimal(bolus_mg_per_kg, field="bolus_mg_per_kg")
            warnings.append(WARNING_BOLUS_IGNORED)

    concentration = _optional_decimal(concentration_mg_per_ml, field="concentration_mg_per_ml")
    volume_ml: Decimal | None = None
    if concentration is not None:
        if not CONCENTRATION_MIN_MG_PER_ML <= concentration <= CONCENTRATION_MAX_MG_PER_ML:
            raise DomainError(
                "concentration_out_of_range",
                f"The vial concentration must be {CONCENTRATION_MIN_MG_PER_ML}–{CONCENTRATION_MAX_MG_PER_ML} "
                f"mg/mL; got {format_number(concentration)} mg/mL.",
                field="concentration_mg_per_ml",
            )
        if concentration not in STANDARD_CONCENTRATIONS_MG_PER_ML:
            warnings.append(WARNING_NONSTANDARD_CONCENTRATION)
        volume_ml = _round(dose_mg / concentration, VOLUME_QUANTUM)

    bag = _optional_decimal(bag_ml, field="bag_ml")
    rate_ml_per_h: Decimal | None = None
    bag_concentration: Decimal | None = None
    if bag is not None and route_code != ROUTE_IV:
        warnings.append(WARNING_BAG_IGNORED)
        bag = None
    if bag is not None:
        assert duration is not None and infusion_mg is not None  # iv validated above
        if not BAG_MIN_ML <= bag <= BAG_MAX_ML:
            raise DomainError(
                "bag_volume_out_of_range",
                f"The prepared infusion must be {BAG_MIN_ML}–{BAG_MAX_ML} mL; got {format_number(bag)} mL.",
                field="bag_ml",
            )
        if concentration is not None and infusion_mg / concentration > bag:
            raise DomainError(
                "bag_volume_out_of_range",
                f"The bag of {format_number(bag)} mL cannot hold the {format_number(infusion_mg / concentration)} mL of drug "
                f"for the {format_number(infusion_mg)} mg infusion at {format_number(concentration)} mg/mL.",
                field="bag_ml",
            )
        rate_ml_per_h = _round(bag * _SIXTY / duration, RATE_QUANTUM)
        bag_concentration = _round(infusion_mg / bag, RATE_QUANTUM)

    return DoseCalculation(
        weight_kg=weight,
        mg_per_kg=total_mg_per_kg,
        max_mg_per_kg=maximum,
        route=route_code,
        over_min=duration,
        dose_mg=dose_mg,
        bolus_mg=bolus_mg,
        infusion_mg=infusion_mg,
        concentration_mg_per_ml=concentration,
        volume_ml=volume_ml,
        rate_mg_per_min=rate_mg_per_min,
        bag_ml=bag,
        bag_concentration_mg_per_ml=bag_concentration,
        rate_ml_per_h=rate_ml_per_h,
        warnings=tuple(warnings),
    )


# --- Which weight --------------------------------------------------------------------------------


def _check_date(value: object, *, field: str) -> date:
    # datetime is a subclass of date; a datetime here would carry a time zone question we refuse.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise DomainError("invalid_date", f"{field} must be a calendar date, got {value!r}.", field=field)
    return value


def _check_non_negative_int(value: object, *, field: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DomainError(
            "invalid_number",
            f"{field} must be a whole number of at least {minimum}, got {value!r}.",
            field=field,
        )
    return value


@dataclass(frozen=True)
class SelectedWeight:
    """The weight a dose is calculated on, and which measurement it is."""

    weight_kg: Decimal
    measured_at: datetime
    entry_order: int
    #: The day it was taken, in the clinic's time zone.
    measured_on: date


def select_weight(
    measurements: Sequence[tuple[datetime, int, object]],
    *,
    at: datetime,
    session_date: date,
    tz: tzinfo,
    max_age_days: int = DEFAULT_WEIGHT_MAX_AGE_DAYS,
) -> SelectedWeight:
    """The weight to dose by: the weight in force at ``at``, if it is recent enough.

    ``measurements`` are ``(measured_at, entry_order, weight_kg)`` of the patient's weights that
    are not voided. The weight in force is the latest taken at or before ``at`` (the session, or
    now if earlier); among weights taken at the same moment the one entered last wins
    (:func:`kapstone.domain.patients.measurement_in_force`). Its age is counted in days of the
    clinic's calendar (``tz``) before ``session_date``; a weight exactly ``max_age_days`` old is
    still usable.

    Refusals: ``weight_missing`` (WorkflowConflict; none taken at or before ``at``),
    ``weight_too_old`` (WorkflowConflict; with both dates), ``invalid_measurement`` /
    ``naive_datetime`` / ``invalid_datetime`` / ``invalid_number`` (DomainError) for malformed
    entries. The weight itself is not range-checked here: :func:`calculate_dose` does that with
    the patient record's plausibility rule.

    Source: issue 4 ("a weight older than the protocol allows (default 30 days) blocks ordering
    until re-weighed"; the 30-day default is the issue's, not a published standard); issue 11,
    defect 1 (the weight in force).
    """
    session = _check_date(session_date, field="session_date")
    max_age = _check_non_negative_int(max_age_days, field="max_age_days")
    if not isinstance(tz, tzinfo):
        raise DomainError("invalid_timezone", "tz must be a time zone.", field="tz")
    chosen = measurement_in_force(measurements, at=at)
    if chosen is None:
        raise WorkflowConflict(
            "weight_missing",
            f"No weight is recorded on or before the session on {session.isoformat()}; weigh the patient.",
            field="weight_kg",
        )
    measured_at, entry_order, raw_weight = chosen
    weight = to_decimal(raw_weight, field="weight_kg")
    measured_on = measured_at.astimezone(tz).date()
    age_days = (session - measured_on).days
    if age_days > max_age:
        raise WorkflowConflict(
            "weight_too_old",
            f"The latest weight ({measured_on.isoformat()}) is {age_days} days before the session on "
            f"{session.isoformat()}; the protocol allows {max_age} days. Re-weigh before ordering.",
            field="weight_kg",
        )
    return SelectedWeight(
        weight_kg=weight, measured_at=measured_at, entry_order=entry_order, measured_on=measured_on
    )


# --- Session limits ------------------------------------------------------------------------------


def check_session_limits(
    *,
    previous_dosing_dates: Sequence[date],
    session_date: date,
    min_days_between: int,
    max_sessions: int,
) -> None:
    """Refuse a dosing session that breaks the course's interval or session-count limit.

    ``previous_dosing_dates`` are the patient's other dosing sessions in the course (each counts
    once). Refusals (WorkflowConflict): ``max_dosing_sessions_reached`` when there are already
    ``max_sessions``; ``dosing_interval_too_short`` when any of them is fewer than
    ``min_days_between`` days from ``session_date`` (on either side, so a back-dated entry cannot
    slip two doses together); a gap of exactly ``min_days_between`` days is allowed. Messages
    give the dates.

    Source: the protocol's limits (issue 4); e.g. KARE spaced three infusions 1–3 weeks apart
    (Grabski 2022), Krupitsky 2007 gave three sessions monthly (clinical.md §1.3, §1.6).
    """
    session = _check_date(session_date, field="session_date")
    min_days = _check_non_negative_int(min_days_between, field="min_days_between")
    max_count = _check_non_negative_int(max_sessions, field="max_sessions", minimum=1)
    if isinstance(previous_dosing_dates, (str, bytes)) or not isinstance(previous_dosing_dates, Sequence):
        raise DomainError(
            "invalid_date", "previous_dosing_dates must be a list of dates.", field="previous_dosing_dates"
        )
    previous = sorted(_check_date(d, field="previous_dosing_dates") for d in previous_dosing_dates)
    if len(previous) >= max_count:
        listed = ", ".join(d.isoformat() for d in previous)
        raise WorkflowConflict(
            "max_dosing_sessions_reached",
            f"The course allows {max_count} dosing sessions and {len(previous)} are recorded ({listed}); "
            f"no session on {session.isoformat()}.",
            field="session_date",
        )
    for other in previous:
        gap_days = abs((session - other).days)
        if gap_days < min_days:
            raise WorkflowConflict(
                "dosing_interval_too_short",
                f"The session on {session.isoformat()} is {gap_days} days from the dosing session on "
                f"{other.isoformat()}; the protocol requires at least {min_days} days "
                f"(earliest next date {(other + timedelta(days=min_days)).isoformat()}).",
                field="session_date",
            )


# --- Independent double check --------------------------------------------------------------------


def compare_verification(
    order_weight_kg: object,
    order_concentration: object,
    check_weight_kg: object,
    check_concentration: object,
) -> None:
    """Compare a second clinician's re-entered weight and vial concentration with the order's.

    Values are compared as exact Decimals after conversion (``70`` equals ``70.0``; ``70.05``
    does not equal ``70.1``). A concentration may be ``None`` on both sides (an order without a
    vial concentration). On mismatch raises DomainError ``verification_mismatch`` with the field
    (``weight_kg`` first, then ``concentration_mg_per_ml``); the message never contains either
    value, so the check stays independent. Returns ``None`` when both match.

    Source: issue 4 (independent double check by a second clinician, blind to the first values).
    """
    pairs = (
        ("weight_kg", "weight", order_weight_kg, check_weight_kg),
        ("concentration_mg_per_ml", "vial concentration", order_concentration, check_concentration),
    )
    for field, label, ordered, checked in pairs:
        ordered_value = _optional_decimal(ordered, field=field)
        checked_value = _optional_decimal(checked, field=field)
        if ordered_value != checked_value:
            raise DomainError(
                "verification_mismatch",
                f"The re-entered {label} does not match the order. Re-measure or re-read the vial; "
                "if it still differs, the order must be corrected by the prescriber.",
                field=field,
            )


# --- Administered amount -------------------------------------------------------------------------


@dataclass(frozen=True)
class RateSegment:
    """One stretch of an infusion at a constant rate, from ``start`` to ``end`` (aware datetimes).

    ``unit`` is ``mg_per_min`` or ``ml_per_h`` (the latter needs the bag concentration). A pause
    is a gap between segments, or a segment at rate 0.
    """

    start: datetime
    end: datetime
    rate: Decimal
    unit: str


def _aware(value: object, *, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise DomainError("invalid_datetime", f"{field} must be a datetime, got {value!r}.", field=field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise DomainError("naive_datetime", f"{field} must carry a time zone.", field=field)
    return value


def _coerce_segment(raw: object, index: int) -> RateSegment:
    if isinstance(raw, RateSegment):
        start, end, rate, unit = raw.start, raw.end, raw.rate, raw.unit
    elif isinstance(raw, Mapping):
        missing = [key for key in ("start", "end", "rate", "unit") if key not in raw]
        if missing:
            raise DomainError(
                "invalid_segment", f"Rate segment {index} lacks {', '.join(missing)}.", field="segments"
            )
        start, end, rate, unit = raw["start"], raw["end"], raw["rate"], raw["unit"]
    else:
        raise DomainError("invalid_segment", f"Rate segment {index} is not a segment.", field="segments")
    start = _aware(start, field="start")
    end = _aware(end, field="end")
    if end <= start:
        raise DomainError(
            "segment_time_invalid",
            f"Rate segment {index} ends ({end.isoformat()}) at or before it starts ({start.isoformat()}).",
            field="segments",
        )
    rate_value = to_decimal(rate, field="rate")
    if rate_value < 0:
        raise DomainError("rate_out_of_range", f"Rate segment {index} has a negative rate.", field="rate")
    if unit not in RATE_UNITS:
        raise DomainError(
            "rate_unit_invalid",
            f"Rate unit must be one of {', '.join(RATE_UNITS)}; got {unit!r}.",
            field="unit",
        )
    return RateSegment(start=start, end=end, rate=rate_value, unit=unit)


def _minutes(delta: timedelta) -> Decimal:
    # Exact: timedelta holds whole days, seconds and microseconds.
    micro = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return Decimal(micro) / Decimal(60_000_000)


def administered_amount_mg(
    *,
    ordered_dose_mg: object,
    segments: Sequence[RateSegment | Mapping[str, object]] = (),
    bolus_given: bool = False,
    bolus_mg: object = None,
    bag_concentration_mg_per_ml: object = None,
) -> Decimal:
    """The amount actually given (mg, 0.1 mg ROUND_HALF_UP), computed from the administration record.

    ``bolus_mg`` counts when ``bolus_given`` (for a single IM/IN/SL/PO dose pass the amount given
    as ``bolus_mg``). Each rate segment adds ``rate * minutes`` (mg/min) or ``rate * hours *
    bag concentration`` (mL/h); gaps between segments are pauses. Segments may come in any order
    but must not overlap.

    The record may imply slightly more than ordered because pump rates are rounded to 0.01: it is
    accepted when the excess is within the rounding allowance (0.05 mg for the dose, plus half a
    rate unit, 0.005 mg/min or 0.005 mL/h × concentration, over each segment's running time) and
    the result is then the ordered dose, since the prepared drug holds no more. A larger excess is
    refused with DomainError ``administered_exceeds_order``. The result is never more than
    ``ordered_dose_mg``.

    Other refusals: ``invalid_number``, ``dose_out_of_range`` (ordered dose <= 0), ``invalid_segment``,
    ``invalid_datetime``, ``naive_datetime``, ``segment_time_invalid``, ``segments_overlap``,
    ``rate_out_of_range``, ``rate_unit_invalid``, ``bag_concentration_required``,
    ``bolus_exceeds_dose``.

    Source: issue 4 (administration record: rate changes, pauses, the actual amount given).
    """
    ordered = to_decimal(ordered_dose_mg, field="ordered_dose_mg")
    if not 0 < ordered <= ORDERED_DOSE_CEILING_MG:
        raise DomainError(
            "dose_out_of_range",
            f"The ordered dose must be above 0 and at most {ORDERED_DOSE_CEILING_MG} mg; "
            f"got {format_number(ordered)} mg.",
            field="ordered_dose_mg",
        )
    if not isinstance(bolus_given, bool):
        raise DomainError("invalid_boolean", "bolus_given must be true or false.", field="bolus_given")
    total = Decimal(0)
    allowance = AMOUNT_QUANTUM / 2
    if bolus_given:
        if bolus_mg is None:
            raise DomainError(
                "invalid_number", "A bolus was given: record its amount in mg.", field="bolus_mg"
            )
        bolus = to_decimal(bolus_mg, field="bolus_mg")
        if bolus < 0:
            raise DomainError("dose_out_of_range", "The bolus cannot be negative.", field="bolus_mg")
        if bolus > ordered:
            raise DomainError(
                "bolus_exceeds_dose",
                f"The bolus {format_number(bolus)} mg is more than the ordered dose {format_number(ordered)} mg.",
                field="bolus_mg",
            )
        total += bolus
    elif bolus_mg is not None:
        to_decimal(bolus_mg, field="bolus_mg")

    if isinstance(segments, (str, bytes, Mapping)) or not isinstance(segments, Sequence):
        raise DomainError("invalid_segment", "segments must be a list of rate segments.", field="segments")
    parsed = sorted((_coerce_segment(raw, i) for i, raw in enumerate(segments)), key=lambda s: s.start)
    concentration = _optional_decimal(bag_concentration_mg_per_ml, field="bag_concentration_mg_per_ml")
    if concentration is not None and concentration <= 0:
        raise DomainError(
            "concentration_out_of_range",
            "The bag concentration must be above 0 mg/mL.",
            field="bag_concentration_mg_per_ml",
        )
    previous_end: datetime | None = None
    half_rate_unit = RATE_QUANTUM / 2
    for segment in parsed:
        if previous_end is not None and segment.start < previous_end:
            raise DomainError(
                "segments_overlap",
                f"The rate segment starting {segment.start.isoformat()} overlaps the one ending "
                f"{previous_end.isoformat()}.",
                field="segments",
            )
        previous_end = segment.end
        minutes = _minutes(segment.end - segment.start)
        # Only time spent running counts towards the rate-rounding allowance: a zero-rate
        # segment (a pause) must not widen it.
        running = segment.rate > 0
        if segment.unit == RATE_UNIT_MG_PER_MIN:
            total += segment.rate * minutes
            allowance += half_rate_unit * minutes if running else 0
        else:
            if concentration is None:
                raise DomainError(
                    "bag_concentration_required",
                    "A rate in mL/h needs the bag concentration (mg/mL) to give an amount.",
                    field="bag_concentration_mg_per_ml",
                )
            total += segment.rate * minutes / _SIXTY * concentration
            allowance += half_rate_unit * minutes / _SIXTY * concentration if running else 0

    if total > ordered + allowance:
        raise DomainError(
            "administered_exceeds_order",
            f"The record implies {_fmt_amount(total)} mg given, more than the "
            f"{format_number(ordered)} mg ordered; check the rates and times.",
            field="segments",
        )
    return min(_round(total, AMOUNT_QUANTUM), ordered)


# --- Vial lots of one administration, and amendments ---------------------------------------------

#: Most lots one administration may draw from. Kapstone's choice: a dose is drawn from one vial
#: lot, or finished from a second when the first runs out; five covers any real preparation and
#: refuses a runaway list.
MAX_LOTS_PER_ADMINISTRATION = 5


def _lot_amount(value: object, *, field: str, allow_zero: bool = False) -> Decimal:
    amount = to_decimal(value, field=field)
    if amount < 0 or (amount == 0 and not allow_zero) or amount > ORDERED_DOSE_CEILING_MG:
        low = "0 or more" if allow_zero else "above 0"
        raise DomainError(
            "amount_out_of_range",
            f"The amount must be {low} and at most {ORDERED_DOSE_CEILING_MG} mg; got {format_number(amount)} mg.",
            field=field,
        )
    if amount != amount.quantize(AMOUNT_QUANTUM, rounding=ROUND_DOWN):
        raise DomainError(
            "amount_precision",
            f"Record amounts to 0.1 mg; {format_number(amount)} mg has more decimal places.",
            field=field,
        )
    return amount.quantize(AMOUNT_QUANTUM)


def check_lot_split(
    lines: Sequence[tuple[object, object]], *, dose_mg: object
) -> list[tuple[object, Decimal]]:
    """The vial lots an administration is drawn from, as ``(lot key, mg)`` pairs.

    One to :data:`MAX_LOTS_PER_ADMINISTRATION` lots (``lots_required``, ``too_many_lots``), each
    named once (``lot_repeated``), each with an amount above 0 at 0.1 mg resolution
    (``amount_out_of_range``, ``amount_precision``), adding up to exactly the ordered dose
    (``lots_total_mismatch``): what is drawn up is the dose on the order. Fields are ``lots``
    for the list and ``lots.<i>.mg`` (0-based) for one amount.

    Source: issue 4 ("Administration record: vial lot(s) used"); the limits are Kapstone's choice.
    """
    dose = to_decimal(dose_mg, field="dose_mg")
    if not lines:
        raise DomainError("lots_required", "Name the vial lot the dose is drawn from.", field="lots")
    if len(lines) > MAX_LOTS_PER_ADMINISTRATION:
        raise DomainError(
            "too_many_lots",
            f"A dose is drawn from at most {MAX_LOTS_PER_ADMINISTRATION} lots; got {len(lines)}.",
            field="lots",
        )
    seen: set[object] = set()
    result: list[tuple[object, Decimal]] = []
    for index, (key, mg) in enumerate(lines):
        if key in seen:
            raise DomainError(
                "lot_repeated", "Each lot is listed once; add its amounts together.", field="lots"
            )
        seen.add(key)
        result.append((key, _lot_amount(mg, field=f"lots.{index}.mg")))
    total = sum((mg for _, mg in result), Decimal(0))
    if total != dose:
        raise DomainError(
            "lots_total_mismatch",
            f"The lots add up to {format_number(total)} mg; the order is {format_number(dose)} mg.",
            field="lots",
        )
    return result


def split_given_by_lot(dispensed_mg: Sequence[object], given_mg: object) -> list[tuple[Decimal, Decimal]]:
    """Share the amount given among the lots, in the order they were drawn: ``(given, wasted)``
    per lot, each pair adding up to that lot's dispensed amount.

    The first lot's drug is given first (the syringe or bag is made up from it first); what
    remains unused is left in the last lots and is wasted from them, so each lot's register
    balances on its own. Refuses ``given_exceeds_dispensed`` and a negative amount
    (``amount_out_of_range``). Kapstone's choice (the issue says only "vial lot(s) used").
    """
    dispensed = [to_decimal(mg, field="dispensed_mg") for mg in dispensed_mg]
    given = to_decimal(given_mg, field="given_mg")
    if given < 0 or any(mg <= 0 for mg in dispensed):
        raise DomainError("amount_out_of_range", "Amounts must not be negative.", field="given_mg")
    total = sum(dispensed, Decimal(0))
    if given > total:
        raise DomainError(
            "given_exceeds_dispensed",
            f"{format_number(given)} mg given is more than the {format_number(total)} mg dispensed.",
            field="given_mg",
        )
    remaining = given
    result: list[tuple[Decimal, Decimal]] = []
    for mg in dispensed:
        part = min(mg, remaining)
        remaining -= part
        result.append((part, mg - part))
    return result


#: What an amendment may correct on an ended administration. Quantities are per vial lot.
AMEND_ENDED_AT = "ended_at"
AMEND_STOP_REASON = "stop_reason"
AMEND_GIVEN_MG = "given_mg"
AMEND_WASTED_MG = "wasted_mg"
AMENDABLE_FIELDS: tuple[str, ...] = (AMEND_ENDED_AT, AMEND_STOP_REASON, AMEND_GIVEN_MG, AMEND_WASTED_MG)
QUANTITY_FIELDS: tuple[str, ...] = (AMEND_GIVEN_MG, AMEND_WASTED_MG)


@dataclass(frozen=True)
class LotCorrection:
    """A lot line after a quantity amendment and what the register must record for it.

    ``delta_mg`` is new − old of the corrected quantity (given or wasted); the lot's dispensed
    amount moves by the same delta, since dispensed = given + wasted for every lot.
    """

    given_mg: Decimal
    wasted_mg: Decimal
    dispensed_mg: Decimal
    delta_mg: Decimal


def check_amendment_reason(reason: object) -> str:
    """The reason for a correction: required free text of at most 500 characters
    (:func:`kapstone.domain.text.clean_text`)."""
    return clean_text(
        reason,
        field="reason",
        max_chars=REASON_MAX_CHARS,
        required=True,
        label="The reason",
        missing_message="Say why the record is corrected.",
    )


def amend_lot_quantity(
    *,
    field: str,
    new_value: object,
    given_mg: object,
    wasted_mg: object,
    other_lots_given_mg: object = Decimal(0),
    ordered_dose_mg: object,
) -> LotCorrection:
    """Correct the amount given or wasted from one lot of an ended administration.

    The new amount is 0 or more at 0.1 mg resolution (``amount_out_of_range``,
    ``amount_precision`` on ``new_value``); it must differ from the recorded one
    (``amendment_unchanged``). The administration's total given (this lot plus
    ``other_lots_given_mg``) may not exceed the ordered dose (``given_above_order``): the prepared
    drug held no more, and a tenfold slip must not reach the register. Kapstone's choice.
    """
    if field not in QUANTITY_FIELDS:
        raise DomainError("invalid_field", f"{field!r} is not an amount of a lot.", field="field")
    given = to_decimal(given_mg, field="given_mg")
    wasted = to_decimal(wasted_mg, field="wasted_mg")
    new = _lot_amount(new_value, field="new_value", allow_zero=True)
    old = given if field == AMEND_GIVEN_MG else wasted
    if new == old:
        raise DomainError(
            "amendment_unchanged",
            f"The record already says {format_number(old)} mg; nothing to correct.",
            field="new_value",
        )
    if field == AMEND_GIVEN_MG:
        given = new
        ordered = to_decimal(ordered_dose_mg, field="ordered_dose_mg")
        total = given + to_decimal(other_lots_given_mg, field="other_lots_given_mg")
        if total > ordered:
            raise DomainError(
                "given_above_order",
                f"{format_number(total)} mg given in all would be more than the {format_number(ordered)} mg ordered.",
                field="new_value",
            )
    else:
        wasted = new
    return LotCorrection(given_mg=given, wasted_mg=wasted, dispensed_mg=given + wasted, delta_mg=new - old)
