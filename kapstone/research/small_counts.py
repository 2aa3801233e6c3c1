"""What a researcher may see of a count: the one home of the small-count rule (issue 15).

Pure functions on plain values (no Django, no database), used by the cohort report
(``selectors``) and the cohort filter form (``forms``). The rule and its sources are stated in
docs/clinical-rules.md ("Small counts and differencing"):

- a count below 11 (0 included) is shown as "<11" (CMS cell size suppression policy, minimum
  cell size 11);
- every other count is rounded to the nearest multiple of 5, and 11 and 12 are shown as 15 (not
  10, which would read as a small count and would pin them to 11–12), so that no count shown is
  exact and the difference of any two counts, in one report or across two reports, cannot be
  pinned to one value from 1 to 10 (CMS: no cell of 1–10 may be derivable "from other reported
  cells or information"; conventional rounding to base 5, OECD glossary of statistical
  disclosure control);
- proportions, their intervals and comparisons are computed from the rounded counts, so they
  give back nothing the counts do not;
- enrolment is filtered by whole calendar quarters, never by day (coarsening, HHS OCR
  de-identification guidance: generalisation).

Source: CMS "CMS Cell Size Suppression Policy" (https://www.hhs.gov/guidance/document/cms-cell-suppression-policy,
also https://www.resdac.org/resconnect/articles/26);
HHS OCR "Guidance Regarding Methods for De-identification of Protected Health Information"
(https://www.hhs.gov/hipaa/for-professionals/privacy/special-topics/de-identification/index.html);
OECD Glossary of Statistical Terms, "Rounding" (https://stats.oecd.org/glossary/detail.asp?ID=6898).
"""

from __future__ import annotations

from datetime import date, timedelta

#: The smallest count shown as a number (CMS: cells of 1–10 are not shown).
SMALL_CELL = 11
#: How a count below ``SMALL_CELL`` is shown.
SUPPRESSED = "<11"
#: The base counts of ``SMALL_CELL`` or more are rounded to.
ROUNDING_BASE = 5
#: The smallest rounded count shown (11 and 12 would round to 10).
SMALLEST_SHOWN = 15
#: How a count is shown when even "<11" would let a small count be worked out (``part_count``).
WITHHELD = "withheld"
#: Decimals of a survival probability, or of a mean score, shown to a researcher.
SURVIVAL_DECIMALS = 2
MEAN_DECIMALS = 1


def shown_count(value: int) -> int | str:
    """A count as a researcher sees it: "<11" below 11, else the nearest multiple of 5 and at
    least 15 (13–17 → 15, 18–22 → 20, …; 11 and 12 → 15).

    Guarantees: monotone (a larger count never shows smaller); a shown 15 stands for 11–17 and
    any other shown r for r − 2 … r + 2 (``count_range``)."""
    if value < SMALL_CELL:
        return SUPPRESSED
    nearest = ROUNDING_BASE * ((value + ROUNDING_BASE // 2) // ROUNDING_BASE)
    return max(nearest, SMALLEST_SHOWN)


def count_range(shown: int | str) -> tuple[int, int]:
    """The counts a value shown by ``shown_count`` may stand for (the reading of the published
    rule: "<11" is 0–10, 15 is 11–17, r is r − 2 … r + 2)."""
    if shown == SUPPRESSED:
        return 0, SMALL_CELL - 1
    if not isinstance(shown, int) or shown % ROUNDING_BASE or shown < SMALLEST_SHOWN:
        raise ValueError(f"not a shown count: {shown!r}")
    half = ROUNDING_BASE // 2
    return (SMALL_CELL if shown == SMALLEST_SHOWN else shown - half), shown + half


def part_count(value: int, total: int) -> int | str:
    """A count that is part of a shown ``total`` (the missing among the not abstinent): "<11"
    below 11, and withheld when the rest (``total - value``) is below 11, so that no reader
    need rely on the rounding alone for the rest (complementary suppression); else rounded."""
    if value < SMALL_CELL:
        return SUPPRESSED
    if total - value < SMALL_CELL:
        return WITHHELD
    return shown_count(value)


def rounded_table(successes: int, failures: int) -> tuple[int, int] | None:
    """The shown (rounded) counts of a two-way split, from which a researcher's proportion,
    interval and comparison are computed; None when either side is below 11 (the proportion
    is then withheld: it would give the small side back)."""
    if successes < SMALL_CELL or failures < SMALL_CELL:
        return None
    first, second = shown_count(successes), shown_count(failures)
    assert isinstance(first, int) and isinstance(second, int)
    return first, second


def rounded_estimate(value: float | None, decimals: int) -> float | None:
    """An estimate (a mean, a survival probability, an interval bound) at the precision a
    researcher sees."""
    return None if value is None else round(value, decimals)


# --- enrolment by calendar quarter ------------------------------------------------------------


def quarter_first_day(day: date) -> date:
    """The first day of the calendar quarter that holds ``day``."""
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def quarter_last_day(day: date) -> date:
    """The last day of the calendar quarter that holds ``day``."""
    first = quarter_first_day(day)
    if first.month == 10:
        return date(first.year, 12, 31)
    return date(first.year, first.month + 3, 1) - timedelta(days=1)


def is_quarter_first_day(day: date) -> bool:
    return day == quarter_first_day(day)


def is_quarter_last_day(day: date) -> bool:
    return day == quarter_last_day(day)
