"""Cohort assembly: which courses are in a cohort, and each course's derived outcome.

Reads in a fixed number of queries whatever the cohort's size (courses as values, one protocol
per slug and version, the last given dosing date per course grouped in the database, and one
grouped query over the use calendars and toxicology results), so the per-day rows of 100,000
patients never reach Python (bench/bench_cohort_report.py). Each course's outcome is then derived
from its small aggregate by the rules of ``derive_abstinence`` and ``derive_relapse``
(kapstone.domain.outcomes); tests/research check both paths agree on a generated cohort.
Statistics stay in ``kapstone.domain.stats``.

Anchor (day 0 of the protocol's outcome numbering): the protocol counts its outcome window and
acute phase in course days from the course start, as planned. A course whose dosing slipped
would then be measured on the wrong days, so the anchor is the course's last *given*
(discharged) dosing date minus the day on which the protocol plans its last dosing session;
for a course on schedule this is exactly the course start. A course with no dosing session
given is anchored on its start date (intention to treat: it stays in the cohort).

Outcome per course:
- abstinence in the protocol's window (``abstinent`` / ``not_abstinent`` / ``unknown``); a window
  that has not closed on ``today`` is ``open`` and left out of the proportions (it is neither a
  success nor a failure yet) and counted separately. ``unknown`` (missing follow-up) counts as
  not abstinent in the ITT proportion and is reported separately (``missing``).
- relapse: first use after the acute phase (for alcohol, the first heavy drinking day, issue 6),
  censored at the last day reported relapse-free.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import NamedTuple

from django.db import connections, transaction
from django.db.models import Max, Q

from kapstone.accounts.access import clinic_ids_for
from kapstone.accounts.models import Role
from kapstone.care.models import CareSession, TreatmentCourse
from kapstone.domain import tlfb
from kapstone.domain.errors import DomainError
from kapstone.domain.outcomes import (
    ABSTINENT,
    NOT_ABSTINENT,
    UNKNOWN,
    OutcomeDefinition,
)
from kapstone.domain.protocols import DOSING, Protocol, add_months, protocol_from_dict
from kapstone.domain.sessions import DISCHARGED
from kapstone.outcomes.models import ToxicologyTest, UseDay

#: Who may open the cohort report and download de-identified exports. Researchers see only
#: aggregates (small cells suppressed) and de-identified rows; prescribers and clinic admins see
#: the same report without suppression (they may read the records anyway). Nurses and
#: therapists have no research function: 403.
REPORT_ROLES = frozenset({Role.RESEARCHER, Role.PRESCRIBER, Role.ADMIN})
#: Roles that may see unsuppressed counts (they can read the underlying records).
UNSUPPRESSED_ROLES = frozenset({Role.PRESCRIBER, Role.ADMIN})

OPEN = "open"
GROUP_BY = ("arm", "protocol")
NO_ARM = "(no arm)"


@dataclass(frozen=True)
class CohortFilter:
    """The cohort a user asked for. Empty values mean "all"."""

    protocol_slug: str = ""
    substance: str = ""
    arm: str = ""
    clinic_id: int | None = None
    enrolled_from: date | None = None
    enrolled_to: date | None = None
    group_by: str = "arm"

    def as_detail(self) -> dict:
        """The filter for an audit event: codes and the user's own inputs, no PHI."""
        return {
            "protocol": self.protocol_slug,
            "substance": self.substance,
            "arm": self.arm,
            "clinic_id": self.clinic_id,
            "enrolled_from": self.enrolled_from.isoformat() if self.enrolled_from else "",
            "enrolled_to": self.enrolled_to.isoformat() if self.enrolled_to else "",
            "group_by": self.group_by,
        }


@dataclass(frozen=True)
class CourseOutcome:
    """One course's derived outcome. Holds internal ids and dates: never rendered as such."""

    course_id: int
    patient_id: int
    clinic_id: int
    protocol_slug: str
    protocol_title: str
    arm: str
    substance: str
    group: str
    start_date: date
    anchor_date: date
    anchored_on_dosing: bool
    abstinence: str  # abstinent, not_abstinent, unknown, open
    relapse_time_days: int
    relapse_event: bool
    relapse_has_follow_up: bool
    #: (months, status) at each follow-up of the protocol: 30-day point-prevalence abstinence
    #: (``FOLLOW_UP_WINDOW_DAYS``), the status as ``abstinence``.
    follow_up: tuple[tuple[int, str], ...] = ()

    @property
    def abstinent_itt(self) -> bool | None:
        """True/False for the proportion; None = missing (ITT failure, reported). Open: excluded."""
        if self.abstinence == ABSTINENT:
            return True
        if self.abstinence == NOT_ABSTINENT:
            return False
        return None


@dataclass(frozen=True)
class Cohort:
    filters: CohortFilter
    clinic_ids: tuple[int, ...]
    outcomes: tuple[CourseOutcome, ...]
    protocols: dict[str, Protocol] = field(default_factory=dict)
    skipped: int = 0  # courses whose protocol outcome could not be derived (invalid definition)
    #: (slug, version) of the protocols whose courses are in ``outcomes``.
    derived_protocols: tuple[tuple[str, int], ...] = ()

    @property
    def closed(self) -> list[CourseOutcome]:
        return [o for o in self.outcomes if o.abstinence != OPEN]

    @property
    def open_count(self) -> int:
        return sum(1 for o in self.outcomes if o.abstinence == OPEN)


def report_clinic_ids(user) -> list[int]:
    """The clinics whose courses ``user`` may count: those where they are researcher, prescriber
    or admin."""
    return clinic_ids_for(user, REPORT_ROLES)


def outcome_definition_for(protocol: Protocol) -> OutcomeDefinition:
    """The domain outcome definition for a protocol: its window and acute phase in course days;
    relapse is the first heavy drinking day for alcohol, else first use (issue 6)."""
    outcome = protocol.outcome
    return OutcomeDefinition.from_course_days(
        substance=outcome.substance,
        window_days=outcome.window_days,
        window_ends_day=outcome.window_ends_day,
        acute_phase_end_day=outcome.acute_phase_end_day,
        heavy_day_min_drinks_men=outcome.heavy_day_min_drinks_men,
        heavy_day_min_drinks_women=outcome.heavy_day_min_drinks_women,
        relapse_definition="heavy_day" if outcome.substance == tlfb.ALCOHOL else "any_use",
    )


def planned_last_dosing_day(protocol: Protocol) -> int | None:
    days = [s.day_offset for s in protocol.dosing_sessions]
    return max(days) if days else None


def anchor_date_for(start_date: date, protocol: Protocol, last_given: date | None) -> tuple[date, bool]:
    """(anchor date, whether it came from a given dosing session). See the module docstring."""
    planned = planned_last_dosing_day(protocol)
    if last_given is None or planned is None:
        return start_date, False
    return last_given - timedelta(days=planned), True


def _clinic_ids(user, filters: CohortFilter) -> list[int]:
    clinic_ids = report_clinic_ids(user)
    if filters.clinic_id is not None:
        # A clinic that is not the user's is simply empty: no oracle for other clinics.
        clinic_ids = [c for c in clinic_ids if c == filters.clinic_id]
    return clinic_ids


def _course_queryset(clinic_ids: Iterable[int], filters: CohortFilter):
    qs = TreatmentCourse.objects.filter(clinic_id__in=list(clinic_ids))
    if filters.protocol_slug:
        qs = qs.filter(protocol_slug=filters.protocol_slug)
    if filters.arm:
        qs = qs.filter(arm=filters.arm)
    if filters.enrolled_from:
        qs = qs.filter(start_date__gte=filters.enrolled_from)
    if filters.enrolled_to:
        qs = qs.filter(start_date__lte=filters.enrolled_to)
    return qs


def cohort_courses(cohort: Cohort):
    """The cohort's courses as an unevaluated queryset (for grouped queries by the report):
    the same filter and clinics, narrowed to the protocol versions whose outcome was derived."""
    qs = _course_queryset(cohort.clinic_ids, cohort.filters)
    keys = Q(pk__in=[])
    for slug, version in cohort.derived_protocols:
        keys |= Q(protocol_slug=slug, protocol_version=version)
    return qs.filter(keys)


class _CourseRow(NamedTuple):
    course_id: int
    patient_id: int
    clinic_id: int
    protocol_slug: str
    protocol_version: int
    protocol_title: str
    start_date: date
    arm: str
    sex_at_birth: str


def _course_rows(qs) -> list[_CourseRow]:
    # values_list, not model instances: 100,000 courses must not each decode their protocol JSON.
    fields = (
        "pk",
        "patient_id",
        "clinic_id",
        "protocol_slug",
        "protocol_version",
        "protocol_title",
        "start_date",
        "arm",
        "patient__sex_at_birth",
    )
    return [_CourseRow(*row) for row in qs.order_by("start_date", "id").values_list(*fields)]


def _protocols(qs, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], Protocol | None]:
    """Each (slug, version)'s protocol, read once from one of its courses (a course stores the
    protocol as enrolled; one slug and version is one protocol). None: not a valid protocol."""
    protocols: dict[tuple[str, int], Protocol | None] = {}
    for slug, version in keys:
        data = (
            qs.filter(protocol_slug=slug, protocol_version=version)
            .order_by("id")
            .values_list("protocol_data", flat=True)
            .first()
        )
        try:
            protocols[(slug, version)] = protocol_from_dict(data)
        except DomainError:
            protocols[(slug, version)] = None
    return protocols


def _last_given_dosing(qs) -> dict[int, date]:
    """The last discharged dosing date per course, aggregated in the database."""
    rows = (
        CareSession.objects.filter(course__in=qs.values("pk"), kind=DOSING, status=DISCHARGED)
        .values("course_id")
        .annotate(last=Max("scheduled_date"))
        .values_list("course_id", "last")
    )
    return dict(rows)


#: Point-prevalence abstinence at a follow-up: the days of the TLFB window that ends on the
#: follow-up date (TLFB usual windows are 30–90 days, Sobell & Sobell 1992, clinical.md §4.7;
#: 30 days chosen, the shortest usual window).
FOLLOW_UP_WINDOW_DAYS = 30


class CalendarBounds(NamedTuple):
    """The days that decide one course's outcome, as calendar dates (see ``outcome_from_aggregates``);
    ``follow_up_windows`` are the (first, last) days of each follow-up's point-prevalence window.
    (A named tuple: 100,000 of them are built per report.)"""

    course_id: int
    patient_id: int
    substance: str
    window_start: date
    window_end: date
    acute_end: date
    heavy_threshold: Decimal | None  # None: relapse is any use
    follow_up_windows: tuple[tuple[date, date], ...] = ()


class CalendarAggregate(NamedTuple):
    """What the database reports of one course's merged calendar (current TLFB days and
    positive tests for the outcome's substance):

    - ``window_days_reported``: distinct days in the window with a report or a positive test;
    - ``window_use``: whether any of them is a day with use;
    - ``relapse_day``: the first day after the acute phase with use (any use) or with a
      reported number of drinks at or above the threshold (heavy day);
    - ``last_day``: the last such reported or tested day after the acute phase;
    - ``follow_up``: (days reported, any use) for each of the bounds' follow-up windows.
    """

    window_days_reported: int = 0
    window_use: bool = False
    relapse_day: date | None = None
    last_day: date | None = None
    follow_up: tuple[tuple[int, bool], ...] = ()


def _supported(definition: OutcomeDefinition) -> None:
    """The database path implements the rules that ``outcome_definition_for`` sets; a definition
    with a horizon, dropout or unknown-amount-as-heavy rule must not be derived by it."""
    if (
        definition.relapse_horizon_days is not None
        or definition.dropout_counts_as_relapse
        or definition.unknown_amount_counts_as_heavy
    ):
        raise ValueError("cohort assembly in the database does not implement this outcome rule")


def _as_date(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


# One row per (patient, substance, day) reported (its current row: no later entry of the same
# day exists) plus one per distinct day with a positive test; ``new_day`` is 0 for a test day
# that is also a reported day, so summing it counts distinct days without COUNT(DISTINCT).
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
    SELECT patient_id, substance, day, used, drinks, 1 AS new_day FROM current_days
    UNION ALL
    SELECT t.patient_id, t.substance, t.collected_on, TRUE, NULL,
        CASE WHEN EXISTS (
            SELECT 1 FROM {use_day} v
            WHERE v.patient_id = t.patient_id AND v.substance = t.substance AND v.day = t.collected_on
        ) THEN 0 ELSE 1 END
    FROM (
        SELECT DISTINCT patient_id, substance, collected_on FROM {tox}
        WHERE result = 'positive' {confirmed} AND patient_id IN (SELECT patient_id FROM b)
    ) t
)
SELECT b.course_id,
    SUM(CASE WHEN f.day >= b.ws AND f.day <= b.we THEN f.new_day ELSE 0 END),
    MAX(CASE WHEN f.day >= b.ws AND f.day <= b.we AND f.used THEN 1 ELSE 0 END),
    MIN(CASE WHEN f.day > b.ae AND f.used AND (b.th IS NULL OR f.drinks >= b.th) THEN f.day END),
    MAX(CASE WHEN f.day > b.ae THEN f.day END){windows}
FROM b JOIN facts f ON f.patient_id = b.patient_id AND f.substance = b.substance
GROUP BY b.course_id
"""
_WINDOW_SQL = """,
    SUM(CASE WHEN f.day >= b.w{k}s AND f.day <= b.w{k}e THEN f.new_day ELSE 0 END),
    MAX(CASE WHEN f.day >= b.w{k}s AND f.day <= b.w{k}e AND f.used THEN 1 ELSE 0 END)"""
_SEPARATOR = chr(31)
_BASE_COLUMNS = ("course_id", "patient_id", "substance", "ws", "we", "ae", "th")
_PG_TYPES = ("int", "int", "text", "date", "date", "date", "numeric")


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
        fixed = (b.window_start, b.window_end, b.acute_end, b.heavy_threshold, b.follow_up_windows)
        if fixed not in flat:
            padded = [*b.follow_up_windows, *[(None, None)] * (windows - len(b.follow_up_windows))]
            flat[fixed] = (*fixed[:4], *(day for window in padded for day in window))
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
            window_days_reported=int(r[1] or 0),
            window_use=bool(r[2]),
            relapse_day=_as_date(r[3]),
            last_day=_as_date(r[4]),
            follow_up=tuple((int(r[5 + 2 * k] or 0), bool(r[6 + 2 * k])) for k in range(windows)),
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
    )


def _window_status(
    definition: OutcomeDefinition, first: date, last: date, reported: int, used: bool, today: date
) -> str:
    """``derive_abstinence``'s rule for one window: open, not abstinent, abstinent or unknown."""
    if today < last:
        return OPEN
    if used:
        return NOT_ABSTINENT
    coverage = Decimal(reported) / Decimal((last - first).days + 1)
    return ABSTINENT if coverage >= definition.minimum_coverage else UNKNOWN


def outcome_from_aggregates(
    definition: OutcomeDefinition, bounds: CalendarBounds, aggregate: CalendarAggregate, *, today: date
) -> tuple[str, int, bool, bool]:
    """(abstinence, relapse time in days, relapse event, has follow-up) from the aggregate, by
    the rules of ``derive_abstinence`` and ``derive_relapse`` (kapstone.domain.outcomes; the
    tests check the two paths agree on a generated cohort):

    - window still open on ``today`` → ``open``; any use in the window → not abstinent; else
      abstinent when the days reported cover ``minimum_coverage`` of the window, else unknown;
    - relapse on the first relapse day after the acute phase (time counted from its end); else
      censored at the last reported day after it (time 0 and no follow-up when there is none).
    """
    abstinence = _window_status(
        definition,
        bounds.window_start,
        bounds.window_end,
        aggregate.window_days_reported,
        aggregate.window_use,
        today,
    )
    if aggregate.relapse_day is not None:
        return abstinence, max(0, (aggregate.relapse_day - bounds.acute_end).days), True, True
    if aggregate.last_day is not None:
        return abstinence, (aggregate.last_day - bounds.acute_end).days, False, True
    return abstinence, 0, False, False


def _heavy_day_sex(sex_at_birth: str) -> str:
    # As the outcomes chart: a sex other than male/female takes the lower (female) threshold.
    return sex_at_birth if sex_at_birth in tlfb.SEXES else "female"


def cohort_assemble(*, user, filters: CohortFilter, today: date) -> Cohort:
    """The courses of ``filters`` in the user's report clinics, each with its derived outcome.

    A fixed number of queries whatever the cohort's size: the courses (values only), one
    protocol per (slug, version), the last given dosing date per course (grouped), and one
    grouped query over the calendars and tests (``calendar_aggregates``); the per-day rows never
    reach Python. Not audited here: the report and export selectors audit what leaves.
    ``today`` decides which outcome windows have closed.
    """
    clinic_ids = _clinic_ids(user, filters)
    qs = _course_queryset(clinic_ids, filters)
    rows = _course_rows(qs)
    protocols = _protocols(qs, dict.fromkeys((r.protocol_slug, r.protocol_version) for r in rows))
    definitions: dict[tuple[str, int], OutcomeDefinition | None] = {}
    for key, protocol in protocols.items():
        try:
            definitions[key] = None if protocol is None else outcome_definition_for(protocol)
        except DomainError:
            definitions[key] = None
    last_given = _last_given_dosing(qs) if rows else {}
    by_slug: dict[str, Protocol] = {}
    kept: list[tuple[_CourseRow, OutcomeDefinition, CalendarBounds, date, bool, tuple[int, ...]]] = []
    plans: dict[tuple, tuple[CalendarBounds, tuple[int, ...]]] = {}
    planned_days: dict[tuple[str, int], int | None] = {}
    skipped = 0
    for row in rows:
        key = (row.protocol_slug, row.protocol_version)
        protocol, definition = protocols[key], definitions[key]
        if protocol is None:
            skipped += 1
            continue
        if filters.substance and protocol.outcome.substance != filters.substance:
            continue
        by_slug.setdefault(row.protocol_slug, protocol)
        if definition is None:
            skipped += 1
            continue
        _supported(definition)
        if key not in planned_days:
            planned_days[key] = planned_last_dosing_day(protocol)
        # As ``anchor_date_for``, with the protocol's planned day looked up once.
        last, planned = last_given.get(row.course_id), planned_days[key]
        if last is None or planned is None:
            anchor, on_dosing = row.start_date, False
        else:
            anchor, on_dosing = last - timedelta(days=planned), True
        sex = _heavy_day_sex(row.sex_at_birth)
        plan = plans.get((key, anchor, sex))
        if plan is None:
            # Courses of one protocol version anchored on one day share their dates: once each.
            windows = follow_up_windows(protocol, anchor)
            plan = (bounds_for(0, 0, definition, anchor, sex, windows), tuple(m for m, _, _ in windows))
            plans[(key, anchor, sex)] = plan
        template, months = plan
        bounds = CalendarBounds(row.course_id, row.patient_id, *template[2:])
        kept.append((row, definition, bounds, anchor, on_dosing, months))
    aggregates: dict[int, CalendarAggregate] = {}
    for confirmation in sorted({k[1].require_test_confirmation for k in kept}):
        aggregates |= calendar_aggregates(
            [k[2] for k in kept if k[1].require_test_confirmation == confirmation],
            require_confirmation=confirmation,
        )
    empty = CalendarAggregate()
    outcomes = []
    for row, definition, bounds, anchor, on_dosing, months in kept:
        aggregate = aggregates.get(row.course_id, empty)
        abstinence, time_days, event, has_follow_up = outcome_from_aggregates(
            definition, bounds, aggregate, today=today
        )
        counts = aggregate.follow_up or ((0, False),) * len(months)
        follow_up = tuple(
            (month, _window_status(definition, first, last, reported, used, today))
            for month, (first, last), (reported, used) in zip(
                months, bounds.follow_up_windows, counts[: len(months)], strict=True
            )
        )
        arm = row.arm or NO_ARM
        outcomes.append(
            CourseOutcome(
                course_id=row.course_id,
                patient_id=row.patient_id,
                clinic_id=row.clinic_id,
                protocol_slug=row.protocol_slug,
                protocol_title=row.protocol_title,
                arm=arm,
                substance=definition.substance,
                group=row.protocol_slug if filters.group_by == "protocol" else arm,
                start_date=row.start_date,
                anchor_date=anchor,
                anchored_on_dosing=on_dosing,
                abstinence=abstinence,
                relapse_time_days=time_days,
                relapse_event=event,
                relapse_has_follow_up=has_follow_up,
                follow_up=follow_up,
            )
        )
    return Cohort(
        filters=filters,
        clinic_ids=tuple(clinic_ids),
        outcomes=tuple(outcomes),
        protocols=by_slug,
        skipped=skipped,
        derived_protocols=tuple(dict.fromkeys((k[0].protocol_slug, k[0].protocol_version) for k in kept)),
    )


__all__ = [
    "ABSTINENT",
    "NOT_ABSTINENT",
    "OPEN",
    "UNKNOWN",
    "Cohort",
    "CohortFilter",
    "CourseOutcome",
    "cohort_assemble",
]
