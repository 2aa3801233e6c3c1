"""The outcome windows of a course and the one grouped query over the use calendars.

A course's outcome is derived from a small aggregate of its use calendar and toxicology results
over the protocol's windows (abstinence window, acute phase, follow-up windows), computed by one
grouped SQL query for the whole cohort (``calendar_aggregates``), so the per-day rows never reach
Python (bench/bench_cohort_report.py).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import NamedTuple

from django.db import connections, transaction

from kapstone.domain import tlfb
from kapstone.domain.outcomes import (
    ABSTINENT,
    NOT_ABSTINENT,
    UNKNOWN,
    OutcomeDefinition,
)
from kapstone.domain.protocols import Protocol, add_months
from kapstone.outcomes.models import CalendarVersion, ToxicologyTest, UseDay

#: Who may open the cohort report and download de-identified exports. Researchers see only
#: aggregates (small cells suppressed) and de-identified rows; prescribers and clinic admins see
#: the same report without suppression (they may read the records anyway). Nurses and
#: therapists have no research function: 403.

OPEN = "open"


def planned_last_dosing_day(protocol: Protocol) -> int | None:
    days = [s.day_offset for s in protocol.dosing_sessions]
    return max(days) if days else None


#: Point-prevalence abstinence at a follow-up: the days of the TLFB window that ends on the
#: follow-up date (TLFB usual windows are 30–90 days, Sobell & Sobell 1992, clinical.md §4.7;
#: 30 days chosen, the shortest usual window).
FOLLOW_UP_WINDOW_DAYS = 30


class CalendarBounds(NamedTuple):
    """The days that decide one course's outcome, as calendar dates (see ``_Plan`` and ``relapse_of``);
    ``follow_up_windows`` are the (first, last) days of each follow-up's point-prevalence window.
    (A named tuple: 100,000 of them are built per report.)"""

    course_id: int
    patient_id: int
    substance: str
    window_start: date
    window_end: date
    acute_end: date  # relapse is looked for strictly after this day (``relapse_start_day``)
    heavy_threshold: Decimal | None  # None: relapse is any use
    follow_up_windows: tuple[tuple[date, date], ...] = ()
    #: The last day relapse is looked for (the relapse window's end); None: no end.
    horizon_end: date | None = None


class CalendarAggregate(NamedTuple):
    """What the database reports of one course's merged calendar (current TLFB days and
    positive tests for the outcome's substance):

    - ``window_days_reported``: distinct days in the window with a report or a positive test;
    - ``window_use``: whether any of them is a day with use;
    - ``window_use_days``: how many of them are days with use (for percent days abstinent);
    - ``relapse_day``: the first day after the relapse start (``acute_end``), up to the
      horizon when there is one, with use (any use) or with a reported number of drinks at or
      above the threshold (heavy day);
    - ``last_day``: the last reported or tested day in that stretch;
    - ``follow_up``: (days reported, any use) for each of the bounds' follow-up windows;
    - ``calendar_version``: the patient's ``CalendarVersion`` read in the same statement as the
      rows (0: none yet), which a stored summary of this aggregate records.
    """

    window_days_reported: int = 0
    window_use: bool = False
    relapse_day: date | None = None
    last_day: date | None = None
    follow_up: tuple[tuple[int, bool], ...] = ()
    calendar_version: int = 0
    window_use_days: int = 0


def require_supported(definition: OutcomeDefinition) -> None:
    """The database path implements the rules that ``outcome_definition_for`` sets (the relapse
    window with its horizon, and dropout as relapse, applied by ``relapse_with_dropout``); a
    definition that counts a positive test of unknown amount as a heavy day must not be derived
    by it."""
    if definition.unknown_amount_counts_as_heavy:
        raise ValueError("cohort assembly in the database does not implement this outcome rule")


def as_date(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


# One row per (patient, substance, day) reported (its current row: no later entry of the same
# day exists) plus one per distinct day with a positive test; ``new_day`` is 0 for a test day
# that is also a reported day, so summing it counts distinct days without COUNT(DISTINCT);
# ``new_use`` likewise is 0 for a positive test on a day already reported as a day of use, so
# summing it over used rows counts the distinct days with use (percent days abstinent).
# Every course of ``b`` gets a row (outer join: a course with no calendar has zero counts), with
# its patient's calendar version read by the same statement, so in the same snapshot as the rows.
_AGGREGATE_SQL = """
WITH b AS ({bounds}),
current_days AS (
    SELECT u.patient_id, u.substance, u.day, u.used, u.standard_drinks AS drinks
    FROM {use_day} u
    WHERE u.patient_id IN (SELECT patient_id FROM b)
      AND NOT EXISTS (
        SELECT 1 FROM {use_day} v
        WHERE v.patient_id = u.patient_id AND v.substance = u.substance AND v.day = u.day
          AND (v.entered_at > u.entered_at OR (v.entered_at = u.entered_at AND v.id > u.id))
      )
),
facts AS (
    SELECT patient_id, substance, day, used, drinks, 1 AS new_day, 1 AS new_use FROM current_days
    UNION ALL
    SELECT t.patient_id, t.substance, t.collected_on, TRUE, NULL,
        CASE WHEN EXISTS (
            SELECT 1 FROM {use_day} v
            WHERE v.patient_id = t.patient_id AND v.substance = t.substance AND v.day = t.collected_on
        ) THEN 0 ELSE 1 END,
        CASE WHEN EXISTS (
            SELECT 1 FROM current_days c
            WHERE c.patient_id = t.patient_id AND c.substance = t.substance AND c.day = t.collected_on
              AND c.used
        ) THEN 0 ELSE 1 END
    FROM (
        SELECT DISTINCT patient_id, substance, collected_on FROM {tox}
        WHERE result = 'positive' {confirmed} AND patient_id IN (SELECT patient_id FROM b)
    ) t
)
SELECT b.course_id, COALESCE(MAX(cv.version), 0),
    SUM(CASE WHEN f.day >= b.ws AND f.day <= b.we THEN f.new_day ELSE 0 END),
    MAX(CASE WHEN f.day >= b.ws AND f.day <= b.we AND f.used THEN 1 ELSE 0 END),
    MIN(CASE WHEN f.day > b.ae AND (b.he IS NULL OR f.day <= b.he) AND f.used
        AND (b.th IS NULL OR f.drinks >= b.th) THEN f.day END),
    MAX(CASE WHEN f.day > b.ae AND (b.he IS NULL OR f.day <= b.he) THEN f.day END),
    SUM(CASE WHEN f.day >= b.ws AND f.day <= b.we AND f.used THEN f.new_use ELSE 0 END){windows}
FROM b LEFT JOIN facts f ON f.patient_id = b.patient_id AND f.substance = b.substance
LEFT JOIN {version} cv ON cv.patient_id = b.patient_id
GROUP BY b.course_id
"""


_WINDOW_SQL = """,
    SUM(CASE WHEN f.day >= b.w{k}s AND f.day <= b.w{k}e THEN f.new_day ELSE 0 END),
    MAX(CASE WHEN f.day >= b.w{k}s AND f.day <= b.w{k}e AND f.used THEN 1 ELSE 0 END)"""


_SEPARATOR = chr(31)


_BASE_COLUMNS = ("course_id", "patient_id", "substance", "ws", "we", "ae", "th", "he")


_PG_TYPES = ("int", "int", "text", "date", "date", "date", "numeric", "date")


def _bound_columns(windows: int) -> list[str]:
    return [*_BASE_COLUMNS, *(f"w{k}{end}" for k in range(windows) for end in "se")]


def calendar_aggregates(
    bounds: list[CalendarBounds], *, require_confirmation: bool = True
) -> dict[int, CalendarAggregate]:
    """One grouped query over the use calendar and the toxicology results for every course of
    ``bounds``: the database reads the rows, Python gets one small aggregate per course.

    The current value of a day is its latest row (``entered_at``, then ``id``), as everywhere.
    A positive result (confirmed, unless ``require_confirmation`` is False) counts as use on its
    day; on a day reported without use it makes the day a day with use of unknown amount, which
    is never a heavy day (``merge_tests_into_calendar``).
    """
    if not bounds:
        return {}
    windows = max(len(b.follow_up_windows) for b in bounds)

    flat: dict[tuple, tuple] = {}

    def row(b: CalendarBounds) -> list:
        fixed = (
            b.window_start,
            b.window_end,
            b.acute_end,
            b.heavy_threshold,
            b.horizon_end,
            b.follow_up_windows,
        )
        if fixed not in flat:
            padded = [*b.follow_up_windows, *[(None, None)] * (windows - len(b.follow_up_windows))]
            flat[fixed] = (*fixed[:5], *(day for window in padded for day in window))
        return [b.course_id, b.patient_id, b.substance, *flat[fixed]]

    rows = [row(b) for b in bounds]
    columns = _bound_columns(windows)
    connection = connections[UseDay.objects.db]
    if connection.vendor not in ("postgresql", "sqlite"):  # pragma: no cover - PostgreSQL and SQLite only
        raise NotImplementedError(connection.vendor)

    def plain(value):
        if isinstance(value, date):
            return value.isoformat()
        return float(value) if isinstance(value, Decimal) else value

    # Courses share their dates (same protocol and anchor): convert each set once.
    converted: dict[tuple, list] = {}

    def as_json(r: list) -> list:
        rest = tuple(r[3:])
        if rest not in converted:
            converted[rest] = [plain(v) for v in rest]
        return [r[0], r[1], r[2], *converted[rest]]

    if connection.vendor == "postgresql":
        # One text parameter per column, split by the server (``string_to_array``, chr(31) between
        # values, '' for none): far faster than psycopg quoting 1.7 million array elements, and the
        # planner still sees how many courses there are. Constant column names and types.
        types = [*_PG_TYPES, *["date"] * (2 * windows)]
        texts = []
        for column in zip(*(as_json(r) for r in rows), strict=True):
            values = ["" if v is None else str(v) for v in column]
            if any(_SEPARATOR in v for v in values):
                raise ValueError("a substance name holds a control character")
            texts.append(_SEPARATOR.join(values))
        arrays = ", ".join(f"string_to_array(%s, chr(31), '')::{t}[]" for t in types)
        bounds_sql = f"SELECT * FROM unnest({arrays}) AS x({', '.join(columns)})"  # noqa: S608
        params: list = texts
    else:
        # One JSON parameter (an array per course). Constant column names.
        selected = ", ".join(f"json_extract(value, '$[{i}]') AS {name}" for i, name in enumerate(columns))
        bounds_sql = f"SELECT {selected} FROM json_each(%s)"  # noqa: S608
        params = [json.dumps([as_json(r) for r in rows])]
    sql = _AGGREGATE_SQL.format(
        bounds=bounds_sql,
        use_day=connection.ops.quote_name(UseDay._meta.db_table),
        tox=connection.ops.quote_name(ToxicologyTest._meta.db_table),
        version=connection.ops.quote_name(CalendarVersion._meta.db_table),
        confirmed="AND confirmed" if require_confirmation else "",
        windows="".join(_WINDOW_SQL.format(k=k) for k in range(windows)),
    )
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One analytic query over every calendar row of the cohort: hash tables in memory
            # rather than spilled to disk, and no JIT compilation (seconds of planning here).
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        result = cursor.fetchall()
    return {
        int(r[0]): CalendarAggregate(
            window_days_reported=int(r[2] or 0),
            window_use=bool(r[3]),
            relapse_day=as_date(r[4]),
            last_day=as_date(r[5]),
            window_use_days=int(r[6] or 0),
            follow_up=tuple((int(r[7 + 2 * k] or 0), bool(r[8 + 2 * k])) for k in range(windows)),
            calendar_version=int(r[1]),
        )
        for r in result
    }


def follow_up_windows(protocol: Protocol, anchor: date) -> tuple[tuple[int, date, date], ...]:
    """(months, first day, last day) of each follow-up's point-prevalence window: the
    ``FOLLOW_UP_WINDOW_DAYS`` days ending on the follow-up date, which is the protocol's
    follow-up months after the last dosing date (the dates of ``follow_up_dates``, without its
    per-call validation of the protocol, done once when it was read; the last given dosing
    date when anchored on it, else the planned one)."""
    planned = planned_last_dosing_day(protocol)
    if planned is None:
        return ()
    last_dosing = anchor + timedelta(days=planned)
    return tuple(
        (months, day - timedelta(days=FOLLOW_UP_WINDOW_DAYS - 1), day)
        for months, day in ((m, add_months(last_dosing, m)) for m in protocol.follow_up_months)
    )


def bounds_for(
    course_id: int,
    patient_id: int,
    definition: OutcomeDefinition,
    anchor: date,
    sex: str,
    windows: tuple[tuple[int, date, date], ...] = (),
) -> CalendarBounds:
    return CalendarBounds(
        course_id=course_id,
        patient_id=patient_id,
        substance=definition.substance,
        window_start=anchor + timedelta(days=definition.window_start_day),
        window_end=anchor + timedelta(days=definition.window_end_day),
        acute_end=anchor + timedelta(days=definition.acute_phase_days),
        heavy_threshold=(
            definition.thresholds.for_sex(sex) if definition.relapse_definition == "heavy_day" else None
        ),
        follow_up_windows=tuple((first, last) for _, first, last in windows),
        horizon_end=(
            None
            if definition.relapse_horizon_days is None
            else anchor + timedelta(days=definition.acute_phase_days + definition.relapse_horizon_days)
        ),
    )


def window_status(
    definition: OutcomeDefinition, first: date, last: date, reported: int, used: bool, today: date
) -> str:
    """``derive_abstinence``'s rule for one window: open, not abstinent, abstinent or unknown."""
    if today < last:
        return OPEN
    if used:
        return NOT_ABSTINENT
    coverage = Decimal(reported) / Decimal((last - first).days + 1)
    return ABSTINENT if coverage >= definition.minimum_coverage else UNKNOWN


def relapse_of(acute_end: date, relapse_day: date | None, last_day: date | None) -> tuple[int, bool, bool]:
    """(relapse time in days, relapse event, has follow-up) by the rule of ``derive_relapse``
    (kapstone.domain.outcomes; tests/research/test_cohort_equivalence checks the two agree):
    relapse on the first relapse day after the acute phase (time counted from its end); else
    censored at the last reported day after it (time 0 and no follow-up when there is none)."""
    if relapse_day is not None:
        return max(0, (relapse_day - acute_end).days), True, True
    if last_day is not None:
        return (last_day - acute_end).days, False, True
    return 0, False, False


def relapse_with_dropout(
    definition: OutcomeDefinition,
    acute_end: date,
    horizon_end: date | None,
    relapse: tuple[int, bool, bool],
    dropout: date | None,
) -> tuple[int, bool, bool, bool]:
    """(time, event, has follow-up, whether the event is the dropout): ``relapse`` (from
    ``relapse_of``) with the definition's dropout rule applied as ``derive_relapse`` does: with
    ``dropout_counts_as_relapse``, a course withdrawn on ``dropout`` (on or before the horizon)
    before any relapse relapses that day (time counted from the relapse start, 0 if before it).
    Source: Dakwar 2019, "first use or dropout" (PMID 31230464; clinical.md §1.4, §8)."""
    time_days, event, has_follow_up = relapse
    if not definition.dropout_counts_as_relapse or dropout is None:
        return time_days, event, has_follow_up, False
    if horizon_end is not None and dropout > horizon_end:
        return time_days, event, has_follow_up, False
    dropout_time = (dropout - acute_end).days
    if event and time_days <= dropout_time:
        return time_days, event, has_follow_up, False
    return max(0, dropout_time), True, has_follow_up, True


def heavy_day_sex(sex_at_birth: str) -> str:
    # As the outcomes chart: a sex other than male/female takes the lower (female) threshold.
    return sex_at_birth if sex_at_birth in tlfb.SEXES else "female"
