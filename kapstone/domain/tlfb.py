"""Timeline Followback (TLFB) calendars, toxicology results, and the drinking outcomes derived from them.

A calendar is a sequence of :class:`TlfbDay` for one patient and one substance: standard drinks
for alcohol, used yes/no (and optionally an amount) for other substances. Days not in the
calendar are *missing* (not reported), never assumed abstinent. Urine drug screens and alcohol
biomarkers (EtG) are :class:`ToxicologyResult` rows; a confirmed positive result counts as use on
its day (:func:`merge_tests_into_calendar`).

Source: Sobell & Sobell 1992 (TLFB method) and the derived outcomes (PDA, PHDD, DDD) in
/work/shared/reference/clinical.md §4.7.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from kapstone.domain.errors import DomainError

ALCOHOL = "alcohol"
SELF_REPORT = "self_report"
TEST = "test"
TEST_RESULTS = ("positive", "negative", "inconclusive")
SEXES = ("male", "female")

_HUNDREDTH = Decimal("0.01")


# --- validation helpers ------------------------------------------------------------------------


def check_calendar_date(value: object, field: str) -> date:
    """``value`` when it is a calendar date (not a datetime), else DomainError ``invalid_date``."""
    # datetime is a subclass of date; a calendar day with a time is a caller bug (time zones!).
    if isinstance(value, datetime) or not isinstance(value, date):
        raise DomainError("invalid_date", f"{field} must be a calendar date, got {value!r}.", field=field)
    return value


def check_substance(value: object, field: str = "substance") -> str:
    """The substance's name, trimmed and lower-case, else DomainError ``invalid_substance``."""
    if not isinstance(value, str) or not value.strip():
        raise DomainError(
            "invalid_substance", f"{field} must be a non-empty name, got {value!r}.", field=field
        )
    return value.strip().lower()


def _check_amount(value: object, field: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise DomainError(
            "invalid_amount", f"{field} must be a Decimal or an integer, got {value!r}.", field=field
        )
    amount = Decimal(value)
    if not amount.is_finite() or amount < 0:
        raise DomainError("invalid_amount", f"{field} must be a finite number ≥ 0, got {value}.", field=field)
    return amount


def _check_sex(sex: object) -> str:
    if sex is None:
        raise DomainError(
            "sex_required",
            "The heavy-drinking threshold differs by sex; give 'male' or 'female'.",
            field="sex",
        )
    if sex not in SEXES:
        raise DomainError("invalid_sex", f"sex must be 'male' or 'female', got {sex!r}.", field="sex")
    return str(sex)


def _pct(part: int, whole: int) -> Decimal | None:
    if whole == 0:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(_HUNDREDTH, rounding=ROUND_HALF_UP)


# --- data --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlfbDay:
    """One calendar day for one substance.

    Alcohol days reported by the patient carry ``standard_drinks`` (``used`` must equal
    ``standard_drinks > 0``). A day created or overridden by a positive test has
    ``source="test"`` and ``standard_drinks=None`` (the amount is unknown);
    ``self_report_overridden`` records that the patient had reported no use that day.
    ``marker`` is the TLFB recall aid (holiday, birthday) shown on the calendar.
    """

    day: date
    substance: str
    used: bool
    standard_drinks: Decimal | None = None
    amount: Decimal | None = None
    amount_unit: str | None = None
    marker: str | None = None
    source: str = SELF_REPORT
    self_report_overridden: bool = False

    def __post_init__(self) -> None:
        check_calendar_date(self.day, "day")
        object.__setattr__(self, "substance", check_substance(self.substance))
        if not isinstance(self.used, bool):
            raise DomainError(
                "invalid_value", f"used must be true or false, got {self.used!r}.", field="used"
            )
        if self.source not in (SELF_REPORT, TEST):
            raise DomainError(
                "invalid_value",
                f"source must be 'self_report' or 'test', got {self.source!r}.",
                field="source",
            )
        drinks = _check_amount(self.standard_drinks, "standard_drinks")
        object.__setattr__(self, "standard_drinks", drinks)
        amount = _check_amount(self.amount, "amount")
        object.__setattr__(self, "amount", amount)
        if self.substance == ALCOHOL:
            if drinks is None and self.source == SELF_REPORT:
                raise DomainError(
                    "drinks_required",
                    f"A self-reported alcohol day ({self.day}) needs the number of standard drinks.",
                    field="standard_drinks",
                )
            if drinks is not None and self.used != (drinks > 0):
                raise DomainError(
                    "inconsistent_day",
                    f"Alcohol day {self.day}: used={self.used} contradicts {drinks} standard drinks.",
                    field="used",
                )
        elif drinks is not None:
            raise DomainError(
                "invalid_value",
                f"standard_drinks applies to alcohol only, not {self.substance}.",
                field="standard_drinks",
            )
        if not self.used and amount is not None and amount != 0:
            raise DomainError(
                "inconsistent_day",
                f"Day {self.day}: an amount of {amount} on a day without use.",
                field="amount",
            )

    @classmethod
    def alcohol(cls, day: date, standard_drinks: Decimal | int, *, marker: str | None = None) -> TlfbDay:
        """A self-reported alcohol day; ``used`` follows from the number of drinks."""
        drinks = _check_amount(standard_drinks, "standard_drinks")
        if drinks is None:
            raise DomainError("drinks_required", "standard_drinks is required.", field="standard_drinks")
        return cls(day=day, substance=ALCOHOL, used=drinks > 0, standard_drinks=drinks, marker=marker)

    @classmethod
    def drug(
        cls,
        day: date,
        substance: str,
        used: bool,
        *,
        amount: Decimal | int | None = None,
        amount_unit: str | None = None,
        marker: str | None = None,
    ) -> TlfbDay:
        """A self-reported day for a substance other than alcohol."""
        if check_substance(substance) == ALCOHOL:
            raise DomainError("invalid_substance", "Use TlfbDay.alcohol for alcohol days.", field="substance")
        return cls(
            day=day,
            substance=substance,
            used=used,
            amount=_check_amount(amount, "amount"),
            amount_unit=amount_unit,
            marker=marker,
        )


@dataclass(frozen=True)
class ToxicologyResult:
    """A urine drug screen or alcohol biomarker (EtG) result for one substance on one day.

    ``substance`` is what the result speaks to ("alcohol" for EtG); ``method`` is free text
    ("urine_drug_screen", "etg"); ``confirmed`` means a confirmatory (laboratory) result rather
    than a presumptive point-of-care screen.
    """

    day: date
    substance: str
    method: str
    result: str
    confirmed: bool

    def __post_init__(self) -> None:
        check_calendar_date(self.day, "day")
        object.__setattr__(self, "substance", check_substance(self.substance))
        if not isinstance(self.method, str) or not self.method.strip():
            raise DomainError("invalid_value", f"method must be named, got {self.method!r}.", field="method")
        if self.result not in TEST_RESULTS:
            raise DomainError(
                "invalid_value",
                f"result must be one of {', '.join(TEST_RESULTS)}, got {self.result!r}.",
                field="result",
            )
        if not isinstance(self.confirmed, bool):
            raise DomainError(
                "invalid_value",
                f"confirmed must be true or false, got {self.confirmed!r}.",
                field="confirmed",
            )

    def counts_as_use(self, *, require_confirmation: bool = True) -> bool:
        """True for a positive result (a confirmed one, unless confirmation is not required)."""
        return self.result == "positive" and (self.confirmed or not require_confirmation)


@dataclass(frozen=True)
class HeavyDrinkingThresholds:
    """Standard drinks in a day at or above which the day is a heavy drinking day.

    Source: FDA draft guidance "Alcoholism: Developing Drugs for Treatment" (Feb 2015), ≥ 5 drinks
    for men and ≥ 4 for women (phrased "> 4" / "> 3"; Dakwar 2020 used the same), clinical.md §4.7.
    The same numbers are NIAAA's heavy-drinking-day definition (from memory; the reference cites FDA).
    """

    male: Decimal = Decimal(5)
    female: Decimal = Decimal(4)

    def __post_init__(self) -> None:
        for field in ("male", "female"):
            value = _check_amount(getattr(self, field), f"heavy_drinks_{field}")
            if value is None or value <= 0:
                raise DomainError(
                    "invalid_threshold",
                    f"heavy_drinks_{field} must be above 0.",
                    field=f"heavy_drinks_{field}",
                )
            object.__setattr__(self, field, value)

    def for_sex(self, sex: object) -> Decimal:
        return self.male if _check_sex(sex) == "male" else self.female


DEFAULT_HEAVY_THRESHOLDS = HeavyDrinkingThresholds()


@dataclass(frozen=True)
class TlfbSummary:
    """Derived outcomes for a window (inclusive at both ends).

    Percentages use the days *reported* as denominator ("days assessed", clinical.md §4.7) and
    are ``None`` when no day was reported; drinking measures are ``None`` for other substances.
    Days whose number of drinks is unknown (created by a positive test) count as drinking days
    but not as heavy days, and are left out of drinks per drinking day.
    """

    substance: str
    window_start: date
    window_end: date
    days_in_window: int
    days_reported: int
    days_missing: int
    days_abstinent: int
    days_used: int
    heavy_drinking_days: int | None
    days_with_unknown_drinks: int | None
    total_standard_drinks: Decimal | None
    percent_days_abstinent: Decimal | None
    percent_heavy_drinking_days: Decimal | None
    drinks_per_drinking_day: Decimal | None


# --- functions ---------------------------------------------------------------------------------


def _check_calendar(days: object, *, substance: str | None = None) -> tuple[TlfbDay, ...]:
    if isinstance(days, str | bytes) or not isinstance(days, Iterable):
        raise DomainError("invalid_calendar", "days must be a list of TlfbDay.", field="days")
    calendar = tuple(days)
    seen: set[date] = set()
    for index, entry in enumerate(calendar):
        if not isinstance(entry, TlfbDay):
            raise DomainError(
                "invalid_calendar",
                f"days[{index}] is {type(entry).__name__}, not a TlfbDay.",
                field=f"days[{index}]",
            )
        if substance is None:
            substance = entry.substance
        elif entry.substance != substance:
            raise DomainError(
                "mixed_substances",
                f"A calendar holds one substance; days[{index}] is {entry.substance}, not {substance}.",
                field=f"days[{index}]",
            )
        if entry.day in seen:
            raise DomainError(
                "duplicate_day", f"{entry.day} appears twice in the calendar.", field=f"days[{index}]"
            )
        seen.add(entry.day)
    return tuple(sorted(calendar, key=lambda entry: entry.day))


def _is_heavy(entry: TlfbDay, threshold: Decimal) -> bool:
    return entry.standard_drinks is not None and entry.standard_drinks >= threshold


def merge_tests_into_calendar(
    days: Sequence[TlfbDay],
    tests: Sequence[ToxicologyResult],
    *,
    substance: str,
    require_confirmation: bool = True,
) -> tuple[TlfbDay, ...]:
    """The calendar with every positive test for ``substance`` counted as use on its day.

    Guarantees: the result is sorted by day with one entry per day; a day reported as no use
    but tested positive becomes ``used=True, source="test", self_report_overridden=True`` with
    the amount unknown; a positive test on an unreported day adds such a day; a day already
    reported as use is kept as reported. Negative and inconclusive results change nothing
    (a negative test does not fill a missing day). Tests for other substances are ignored.
    With ``require_confirmation`` (default) only confirmed positives count.

    Source: issue 6 ("a positive confirmed result counts as use on that day"); EtG confirmation
    as in Dakwar 2020 (clinical.md §1.5, §4.7).
    """
    substance = check_substance(substance)
    calendar = {entry.day: entry for entry in _check_calendar(days, substance=substance)}
    if isinstance(tests, str | bytes) or not isinstance(tests, Iterable):
        raise DomainError("invalid_tests", "tests must be a list of ToxicologyResult.", field="tests")
    for index, test in enumerate(tests):
        if not isinstance(test, ToxicologyResult):
            raise DomainError(
                "invalid_tests",
                f"tests[{index}] is {type(test).__name__}, not a ToxicologyResult.",
                field=f"tests[{index}]",
            )
        if test.substance != substance or not test.counts_as_use(require_confirmation=require_confirmation):
            continue
        existing = calendar.get(test.day)
        if existing is not None and existing.used:
            continue
        if existing is None:
            calendar[test.day] = TlfbDay(day=test.day, substance=substance, used=True, source=TEST)
        else:
            calendar[test.day] = replace(
                existing,
                used=True,
                standard_drinks=None,
                amount=None,
                source=TEST,
                self_report_overridden=True,
            )
    return tuple(calendar[day] for day in sorted(calendar))


def summarise_tlfb(
    days: Sequence[TlfbDay],
    *,
    window_start: date,
    window_end: date,
    sex: str | None,
    substance: str | None = None,
    thresholds: HeavyDrinkingThresholds = DEFAULT_HEAVY_THRESHOLDS,
) -> TlfbSummary:
    """Percent days abstinent, percent heavy drinking days and drinks per drinking day for a window.

    Guarantees: ``days_reported + days_missing == days_in_window``; ``days_abstinent + days_used
    == days_reported``; percentages lie in 0–100, rounded half-up to 0.01. Days outside the
    window are ignored. ``sex`` is required for alcohol (heavy-day threshold) and ignored otherwise.
    ``substance`` is taken from the days when not given; an empty calendar needs it.
    Refusals: ``invalid_date``, ``invalid_window`` (end before start), ``substance_required``,
    ``sex_required``, ``invalid_sex``, and the calendar checks (``invalid_calendar``, ``mixed_substances``,
    ``duplicate_day``).

    Source: PDA = days with 0 drinks / days assessed × 100, PHDD = heavy days / days assessed ×
    100, DDD = total drinks / drinking days (clinical.md §4.7; formulas marked there as from
    memory); heavy day ≥ 5 drinks men, ≥ 4 women (FDA 2015 draft guidance, clinical.md §4.7).
    """
    check_calendar_date(window_start, "window_start")
    check_calendar_date(window_end, "window_end")
    if window_end < window_start:
        raise DomainError(
            "invalid_window",
            f"window_end {window_end} is before window_start {window_start}.",
            field="window_end",
        )
    if substance is not None:
        substance = check_substance(substance)
    calendar = _check_calendar(days, substance=substance)
    if not isinstance(thresholds, HeavyDrinkingThresholds):
        raise DomainError(
            "invalid_threshold", "thresholds must be HeavyDrinkingThresholds.", field="thresholds"
        )
    if substance is None:
        if not calendar:
            raise DomainError(
                "substance_required",
                "The calendar is empty; name the substance it is for.",
                field="substance",
            )
        substance = calendar[0].substance
    in_window = [entry for entry in calendar if window_start <= entry.day <= window_end]
    days_in_window = (window_end - window_start).days + 1
    reported = len(in_window)
    used = [entry for entry in in_window if entry.used]

    heavy = unknown = None
    total_drinks = percent_heavy = drinks_per_day = None
    if substance == ALCOHOL:
        threshold = thresholds.for_sex(sex)
        heavy = sum(1 for entry in used if _is_heavy(entry, threshold))
        known = [entry for entry in used if entry.standard_drinks is not None]
        unknown = len(used) - len(known)
        total_drinks = sum((entry.standard_drinks or Decimal(0) for entry in known), Decimal(0))
        percent_heavy = _pct(heavy, reported)
        if known:
            drinks_per_day = (total_drinks / len(known)).quantize(_HUNDREDTH, rounding=ROUND_HALF_UP)

    return TlfbSummary(
        substance=substance,
        window_start=window_start,
        window_end=window_end,
        days_in_window=days_in_window,
        days_reported=reported,
        days_missing=days_in_window - reported,
        days_abstinent=reported - len(used),
        days_used=len(used),
        heavy_drinking_days=heavy,
        days_with_unknown_drinks=unknown,
        total_standard_drinks=total_drinks,
        percent_days_abstinent=_pct(reported - len(used), reported),
        percent_heavy_drinking_days=percent_heavy,
        drinks_per_drinking_day=drinks_per_day,
    )


def first_use_after(days: Sequence[TlfbDay], after: date) -> date | None:
    """The first day strictly after ``after`` with use recorded, or ``None``.

    Source: time to first drink / first use as a survival endpoint (clinical.md §4.7).
    """
    check_calendar_date(after, "after")
    return next((entry.day for entry in _check_calendar(days) if entry.day > after and entry.used), None)


def first_heavy_day_after(
    days: Sequence[TlfbDay],
    after: date,
    sex: str | None,
    *,
    thresholds: HeavyDrinkingThresholds = DEFAULT_HEAVY_THRESHOLDS,
) -> date | None:
    """The first heavy drinking day strictly after ``after``, or ``None``.

    A day with an unknown number of drinks (a positive test) is not counted as heavy.
    Refuses a non-alcohol calendar with ``not_alcohol``.

    Source: heavy day ≥ 5 drinks men, ≥ 4 women (FDA 2015 draft guidance, clinical.md §4.7).
    """
    check_calendar_date(after, "after")
    calendar = _check_calendar(days)
    if calendar and calendar[0].substance != ALCOHOL:
        raise DomainError(
            "not_alcohol", f"Heavy drinking days apply to alcohol, not {calendar[0].substance}.", field="days"
        )
    threshold = thresholds.for_sex(sex)
    return next((entry.day for entry in calendar if entry.day > after and _is_heavy(entry, threshold)), None)


# --- the patient's own entry -------------------------------------------------------------------

#: How far back a patient may fill in their own calendar from home: the last 30 days, today
#: included. A programme choice within the usual TLFB recall windows of 30–90 days (Sobell &
#: Sobell 1992; clinical.md §4.7), at their short end because a patient recalls alone, without an
#: interviewer's marker days; older days are the clinic's to enter in an interview.
SELF_ENTRY_DAYS = 30


def self_entry_window(*, today: date, course_start: date | None) -> tuple[date, date] | None:
    """The days a patient may report themselves: the last :data:`SELF_ENTRY_DAYS` days up to
    ``today``, never before the start of their (first) treatment course. None when there is no
    such day (no course yet, or one that starts in the future)."""
    check_calendar_date(today, "today")
    start = date.fromordinal(today.toordinal() - SELF_ENTRY_DAYS + 1)
    if course_start is None:
        return None
    start = max(start, check_calendar_date(course_start, "course_start"))
    return (start, today) if start <= today else None


def check_self_entry_day(day: date, window: tuple[date, date] | None, *, field: str = "day") -> None:
    """Refuse (``day_out_of_range``) a day a patient may not report: in the future, before their
    course started, or further back than :data:`SELF_ENTRY_DAYS` days (see
    :func:`self_entry_window`)."""
    check_calendar_date(day, field)
    if window is None:
        raise DomainError(
            "day_out_of_range", "There is no treatment course to fill in a calendar for yet.", field=field
        )
    start, end = window
    if day > end:
        raise DomainError("day_out_of_range", f"{day} is in the future.", field=field)
    if day < start:
        raise DomainError(
            "day_out_of_range",
            f"{day} is before {start}, the first day you can fill in (your course start, or "
            f"{SELF_ENTRY_DAYS} days back).",
            field=field,
        )
