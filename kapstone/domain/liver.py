"""Liver tests before repeated ketamine dosing: what a result is, and whether dosing may go ahead.

Why: the Ketalar (racemic ketamine) label warns of hepatobiliary injury with repeated or
prolonged use (DailyMed setid 46dab560-8ecd-4d92-8c92-6baa2310b09b; reference clinical.md §8).
The US FDA's case series of medically supervised repeated or continuous ketamine found
hepatobiliary adverse events, mostly cholestatic (Cotter et al., Drug Saf 2021;44(12):1365–1374,
doi 10.1007/s40264-021-01120-9, PMID 34699023), and repeated 100-hour S-ketamine infusions raised
liver enzymes to 3× the upper limit of normal or more in 3 of 6 patients (Noppers et al., Pain
2011;152:2173–2178). The KARE trial excluded patients whose liver tests were above 3× the upper
limit of normal (Grabski et al., Am J Psychiatry 2022;179:152–162, EudraCT 2015-000222-11;
clinical.md §8).

The rule (:func:`evaluate_liver_tests`), with the protocol's ``liver`` block
(:class:`kapstone.domain.protocols.LiverRules`) as its parameters:

* ``liver_tests_missing`` — no result of one of ALT, AST or total bilirubin on or before the
  session's day;
* ``liver_tests_above_limit`` — the latest result of one of them is above ``above_uln_multiple``
  × the laboratory's upper limit of normal (default 3×, KARE; exactly 3× passes);
* ``liver_tests_due`` — before the course's first dose, the panel (as old as its oldest test) is
  older than ``baseline_max_age_days`` (default 30 days, local policy); or
  ``repeat_after_sessions`` doses (default 6, local policy) were given on or after the day of
  the panel, so it must be repeated before the next.

Each is a hard stop: treatment is elective, a blood test can be drawn and read before the next
session, and no source supports dosing past a missing or raised result (Kapstone's decision,
docs/clinical-rules.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from kapstone.domain.errors import DomainError
from kapstone.domain.numbers import format_number, to_number


@dataclass(frozen=True)
class Analyte:
    """One liver test: its key, its name in words, its LOINC code and the units a lab reports."""

    key: str
    words: str
    loinc: str
    units: tuple[str, ...]


#: The three tests of the panel. LOINC: 1742-6 ALT [enzymatic activity/volume] in serum or
#: plasma, 1920-8 AST, 1975-2 total bilirubin [mass/volume] (mg/dL; 14631-6 is its moles/volume
#: twin, µmol/L). Units are UCUM (U/L, mg/dL, umol/L).
ANALYTES: tuple[Analyte, ...] = (
    Analyte("alt", "ALT", "1742-6", ("U/L",)),
    Analyte("ast", "AST", "1920-8", ("U/L",)),
    Analyte("bilirubin", "Total bilirubin", "1975-2", ("mg/dL", "umol/L")),
)
ANALYTE_KEYS: tuple[str, ...] = tuple(a.key for a in ANALYTES)
UNIT_WORDS = {"U/L": "U/L", "mg/dL": "mg/dL", "umol/L": "µmol/L"}

#: A backstop against typing slips, not a clinical rule: no result or limit is negative, and
#: nothing a laboratory reports reaches 100,000 in these units.
VALUE_MAX = Decimal("99999.99")
HUNDREDTH = Decimal("0.01")


def analyte(key: str) -> Analyte:
    for item in ANALYTES:
        if item.key == key:
            return item
    raise DomainError("unknown_liver_test", f"{key!r} is not one of {', '.join(ANALYTE_KEYS)}.", field="test")


def _number(value: Any, *, field: str, words: str) -> Decimal:
    if isinstance(value, bool) or value is None or value == "":
        raise DomainError(f"{field}_required", f"Give the {words}.", field=field)
    number = to_number(value)
    if number is None:
        raise DomainError("invalid_number", f"The {words} must be a number.", field=field)
    return number


@dataclass(frozen=True)
class LiverResultValues:
    test: str
    value: Decimal
    unit: str
    upper_limit: Decimal
    taken_on: date


def validate_liver_result(
    *, test: str, value: Any, unit: str, upper_limit: Any, taken_on: date, today: date
) -> LiverResultValues:
    """A result as it may be stored: a known test, a unit of that test, a value of 0 or more
    and an upper limit of normal above 0 (both at most 99,999.99, to 0.01), taken on a day not
    in the future. Refusals: ``unknown_liver_test``, ``unit_not_for_test``,
    ``value_required``/``upper_limit_required``, ``invalid_number``, ``value_out_of_range``,
    ``upper_limit_out_of_range``, ``date_in_future``."""
    item = analyte(test)
    if unit not in item.units:
        raise DomainError(
            "unit_not_for_test",
            f"{item.words} is reported in {' or '.join(UNIT_WORDS[u] for u in item.units)}.",
            field="unit",
        )
    number = _number(value, field="value", words="result")
    limit = _number(upper_limit, field="upper_limit", words="laboratory's upper limit of normal")
    if not Decimal(0) <= number <= VALUE_MAX:
        raise DomainError(
            "value_out_of_range",
            f"A result of {format_number(number)} {UNIT_WORDS[unit]} is not possible.",
            field="value",
        )
    if not Decimal(0) < limit <= VALUE_MAX:
        raise DomainError(
            "upper_limit_out_of_range",
            f"An upper limit of normal of {format_number(limit)} {UNIT_WORDS[unit]} is not possible.",
            field="upper_limit",
        )
    # Rounded to the stored 0.01 only once in range: a pasted 1e30 is refused, not a crash.
    number, limit = number.quantize(HUNDREDTH), limit.quantize(HUNDREDTH)
    if not isinstance(taken_on, date):
        raise DomainError("taken_on_required", "Give the day the blood was taken.", field="taken_on")
    if taken_on > today:
        raise DomainError(
            "date_in_future", "The blood cannot have been taken in the future.", field="taken_on"
        )
    return LiverResultValues(test=item.key, value=number, unit=unit, upper_limit=limit, taken_on=taken_on)


@dataclass(frozen=True)
class LiverResult:
    """A stored, non-voided result as the rule reads it; ``order`` breaks ties of one day (the
    later entry wins)."""

    test: str
    value: Decimal
    unit: str
    upper_limit: Decimal
    taken_on: date
    order: int = 0


def latest_results(results: Iterable[LiverResult], *, on_or_before: date) -> dict[str, LiverResult]:
    """The latest result of each test taken on or before the day (later entry wins a tie)."""
    latest: dict[str, LiverResult] = {}
    for result in sorted(results, key=lambda r: (r.taken_on, r.order)):
        if result.taken_on <= on_or_before:
            latest[result.test] = result
    return latest


def describe(result: LiverResult) -> str:
    return f"{analyte(result.test).words} {result.value} {UNIT_WORDS.get(result.unit, result.unit)}"


def evaluate_liver_tests(
    *,
    results: Sequence[LiverResult],
    session_date: date,
    first_dose_of_course: bool,
    doses_since: Sequence[date],
    baseline_max_age_days: int,
    repeat_after_sessions: int,
    above_uln_multiple: Decimal,
) -> DomainError | None:
    """Whether the liver tests allow a dose on ``session_date``: None, or the refusal (see the
    module's docstring for the codes and sources).

    ``results``: the patient's non-voided results; ``doses_since``: the days of every dose the
    patient was given (any course, this session excluded); ``first_dose_of_course``: no dose was
    given yet in this session's course. A refusal's message names the test, the value and the
    limit, in words.
    """
    latest = latest_results(results, on_or_before=session_date)
    missing = [analyte(key).words for key in ANALYTE_KEYS if key not in latest]
    if missing:
        return DomainError(
            "liver_tests_missing",
            f"No {', '.join(missing)} result is on record. Liver tests (ALT, AST and total "
            "bilirubin) are needed before ketamine is given (Ketalar label: liver injury with "
            "repeated use). Record the results, then order the dose.",
        )
    for key in ANALYTE_KEYS:
        result = latest[key]
        limit = (result.upper_limit * above_uln_multiple).quantize(Decimal("0.01"))
        if result.value > limit:
            unit = UNIT_WORDS.get(result.unit, result.unit)
            return DomainError(
                "liver_tests_above_limit",
                f"{describe(result)} on {result.taken_on:%Y-%m-%d} is above {above_uln_multiple.normalize()} × "
                f"the laboratory's upper limit of normal ({result.upper_limit} {unit}), that is above "
                f"{limit} {unit}. Dosing is deferred until a prescriber has reviewed it and a repeat "
                "result is within the limit.",
            )
    panel_on = min(r.taken_on for r in latest.values())
    if first_dose_of_course and (session_date - panel_on).days > baseline_max_age_days:
        return DomainError(
            "liver_tests_due",
            f"The liver tests of {panel_on:%Y-%m-%d} are {(session_date - panel_on).days} days old on "
            f"the day of this course's first dose; the protocol needs them within "
            f"{baseline_max_age_days} days. Repeat ALT, AST and total bilirubin, then order the dose.",
        )
    given = sum(1 for day in doses_since if day >= panel_on)
    if given >= repeat_after_sessions:
        return DomainError(
            "liver_tests_due",
            f"{given} doses have been given since the liver tests of {panel_on:%Y-%m-%d}; the protocol "
            f"repeats them after every {repeat_after_sessions}. Repeat ALT, AST and total bilirubin, "
            "then order the dose.",
        )
    return None
