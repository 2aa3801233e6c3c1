"""Cohort assembly: which courses are in a cohort, and each course's derived outcome.

The windows and the grouped calendar query are in ``calendar_aggregates``; the stored per-course
summaries (a cache of that query) in ``summaries``; this module chooses the courses, reads them
and derives each outcome.

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
- relapse: first use after the protocol's relapse start (its ``relapse_from_day``, e.g. the
  infusion in Dakwar 2019/2020; else the end of the acute phase), up to its ``relapse_until_day``
  when it has one (for alcohol, the first heavy drinking day, issue 6), censored at the last day
  reported relapse-free; with ``dropout_counts_as_relapse`` a course withdrawn in that window
  before relapsing relapses on the day it was withdrawn (``relapse_with_dropout``).
- percent days abstinent in the protocol's window: days without use / days reported.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from operator import itemgetter
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from django.core.exceptions import EmptyResultSet
from django.db import connections, transaction
from django.db.models import Case, F, Max, Q, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from kapstone.accounts.access import clinic_ids_for
from kapstone.accounts.models import Clinic, Role
from kapstone.audit.models import AuditAction
from kapstone.audit.services import audit_record
from kapstone.care.models import CareSession, CourseEvent, CourseStatus, TreatmentCourse
from kapstone.domain import tlfb
from kapstone.domain.errors import DomainError
from kapstone.domain.outcomes import (
    ABSTINENT,
    NOT_ABSTINENT,
    UNKNOWN,
    OutcomeDefinition,
)
from kapstone.domain.protocols import DOSING, Protocol, protocol_from_dict
from kapstone.domain.sessions import DISCHARGED

#: Who may open the cohort report and download de-identified exports. Researchers see only
#: aggregates (small cells suppressed) and de-identified rows; prescribers and clinic admins see
#: the same report without suppression (they may read the records anyway). Nurses and
#: therapists have no research function: 403.
from kapstone.research.calendar_aggregates import (
    OPEN,
    CalendarBounds,
    as_date,
    bounds_for,
    calendar_aggregates,
    follow_up_windows,
    heavy_day_sex,
    planned_last_dosing_day,
    relapse_with_dropout,
    require_supported,
    window_status,
)
from kapstone.research.models import CourseOutcomeSummary
from kapstone.research.summaries import follow_up_counts, store_summaries, summary_key, summary_row

REPORT_ROLES = frozenset({Role.RESEARCHER, Role.PRESCRIBER, Role.ADMIN})
#: Roles that may see unsuppressed counts (they can read the underlying records).
UNSUPPRESSED_ROLES = frozenset({Role.PRESCRIBER, Role.ADMIN})

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


class CourseOutcome(NamedTuple):
    """One course's derived outcome. Holds internal ids and dates: never rendered as such.
    (A named tuple: 100,000 are built per report.)"""

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
    #: Days reported in the outcome window, and of them days with use (percent days abstinent).
    window_days_reported: int = 0
    window_use_days: int = 0
    #: The relapse event is the course's withdrawal (dropout counted as relapse).
    relapse_dropout: bool = False
    #: The version of the protocol (``protocol_slug``) the outcome was derived with.
    protocol_version: int = 0

    @property
    def percent_days_abstinent(self) -> float | None:
        """Days without use / days reported in the window × 100; None with no day reported or
        while the window is open (clinical.md §4.7)."""
        if self.abstinence == OPEN or not self.window_days_reported:
            return None
        return 100.0 * (self.window_days_reported - self.window_use_days) / self.window_days_reported

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
    #: Courses whose outcome summary was missing or stale and was computed from the calendar.
    recomputed: int = 0
    #: Every valid protocol version of the cohort's courses, by (slug, version).
    versions: dict[tuple[str, int], Protocol] = field(default_factory=dict)

    @property
    def closed(self) -> list[CourseOutcome]:
        return [o for o in self.outcomes if o.abstinence != OPEN]

    @property
    def open_count(self) -> int:
        return sum(1 for o in self.outcomes if o.abstinence == OPEN)


def sees_exact_counts(user, clinic_ids: Iterable[int]) -> bool:
    """True when ``user`` holds an unsuppressed role (prescriber, admin) in every one of
    ``clinic_ids`` (at least one): they may read those records anyway. Anyone else in the
    report (a researcher) sees counts under the small-count rule (``small_counts``) and filters
    enrolment by quarter."""
    clinic_ids = set(clinic_ids)
    return bool(clinic_ids) and clinic_ids <= set(clinic_ids_for(user, UNSUPPRESSED_ROLES))


def report_clinic_ids(user) -> list[int]:
    """The clinics whose courses ``user`` may count: those where they are researcher, prescriber
    or admin."""
    return clinic_ids_for(user, REPORT_ROLES)


def outcome_definition_for(protocol: Protocol) -> OutcomeDefinition:
    """The domain outcome definition for a protocol: its window in course days; relapse counted
    from the protocol's relapse start (``relapse_start_day``: the infusion for Dakwar 2019/2020,
    else the end of the acute phase), followed up to its ``relapse_until_day`` (the horizon),
    with its dropout rule; relapse is the first heavy drinking day for alcohol, else first use
    (issue 6)."""
    outcome = protocol.outcome
    start = outcome.relapse_start_day
    return OutcomeDefinition.from_course_days(
        substance=outcome.substance,
        window_days=outcome.window_days,
        window_ends_day=outcome.window_ends_day,
        acute_phase_end_day=start,
        heavy_day_min_drinks_men=outcome.heavy_day_min_drinks_men,
        heavy_day_min_drinks_women=outcome.heavy_day_min_drinks_women,
        relapse_definition="heavy_day" if outcome.substance == tlfb.ALCOHOL else "any_use",
        relapse_horizon_days=None if outcome.relapse_until_day is None else outcome.relapse_until_day - start,
        dropout_counts_as_relapse=outcome.dropout_counts_as_relapse,
    )


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


#: The columns of ``_course_rows``, in order. The summary's (research.CourseOutcomeSummary) come
#: from an outer join: all None when the course has none; the patient's calendar version is None
#: when their calendar never changed (version 0).
_COURSE_COLUMNS = (
    "pk",
    "patient_id",
    "clinic_id",
    "protocol_slug",
    "protocol_version",
    "start_date",
    "arm",
    "patient__sex_at_birth",
    "current_key",
    "outcome_summary__window_days_reported",
    "outcome_summary__window_use",
    "outcome_summary__relapse_time_days",
    "outcome_summary__relapse_event",
    "outcome_summary__relapse_has_follow_up",
    "outcome_summary__follow_up",
    "outcome_summary__window_use_days",
)


#: Positions in a row of ``_course_rows``; the summary's values (``summary_row``) from ``_SUMMARY``.
_ID, _PATIENT, _CLINIC, _SLUG, _VERSION, _START, _ARM, _SEX, _CURRENT_KEY, _SUMMARY = range(10)


def _course_rows(qs) -> list[tuple]:
    """The courses of ``qs`` as plain tuples of ``_COURSE_COLUMNS``, in id order.

    Plain tuples from values_list, not model instances (100,000 courses must not each decode
    their protocol JSON) nor named tuples (building 100,000 of them is measurable); sorted here,
    not by the database (SQLite sorts the whole joined rows in a temporary b-tree: 0.9 s for
    100,000; docs/benchmarks.md)."""
    # The summary's key, only when it was computed from the patient's current calendar version
    # (compared here, so the versions need not travel); None: no summary, or a stale one.
    current_key = Case(
        When(
            outcome_summary__calendar_version=Coalesce("patient__calendar_version__version", 0),
            then=F("outcome_summary__bounds_key"),
        ),
        default=None,
    )
    rows = _fetch(qs.order_by().annotate(current_key=current_key).values_list(*_COURSE_COLUMNS))
    rows.sort(key=itemgetter(_ID))
    return rows


def _fetch(queryset) -> list[tuple]:
    """The rows of an ORM-built values_list query, fetched on a plain cursor: without Django's
    per-value converters, which on SQLite parse every date and boolean (a third of a second for
    100,000 courses). Dates may then be ISO strings on SQLite: the caller converts them once per
    distinct value (``_DateCache``); booleans may be 0/1."""
    try:
        sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    except EmptyResultSet:  # e.g. no clinic: Django knows without asking the database
        return []
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


class _DateCache(dict):
    """Dates as the database returned them (a date, or an ISO string on SQLite) → dates, each
    distinct value converted once."""

    def __missing__(self, value):
        converted = self[value] = as_date(value)
        return converted


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
    dates = _DateCache()
    return {course_id: dates[last] for course_id, last in _fetch(rows)}


def _dropouts(qs) -> dict[int, date]:
    """The day each withdrawn course of ``qs`` was withdrawn (its withdrawal event, in the
    clinic's time zone): a dropout, for the protocols that count dropout as relapse. Withdrawn
    courses are few; one query."""
    rows = (
        CourseEvent.objects.filter(
            course__in=qs.filter(status=CourseStatus.WITHDRAWN).values("pk"), kind="withdrawn"
        )
        .values("course_id", "course__clinic__timezone")
        .annotate(last=Max("at"))
        .values_list("course_id", "course__clinic__timezone", "last")
    )
    return {
        course_id: timezone.localtime(at, ZoneInfo(zone)).date()
        for course_id, zone, at in rows
        if at is not None
    }


class _Plan:
    """What the courses of one protocol version anchored on one day, for one heavy-day sex, share:
    their bounds (without ids), follow-up months and summary key, and the window statuses
    already worked out (a report derives 100,000 courses from a few thousand plans). Statuses
    are memoised per *shape* (definition, window lengths, which windows have closed on
    ``today``), which many plans share, in ``memo``."""

    __slots__ = (
        "_follow_up",
        "_window",
        "anchor",
        "definition",
        "key",
        "months",
        "on_dosing",
        "template",
        "title",
        "today",
    )

    def __init__(
        self,
        protocol: Protocol,
        definition: OutcomeDefinition,
        anchor: date,
        on_dosing: bool,
        sex: str,
        today: date,
        memo: dict[tuple, dict],
    ):
        windows = follow_up_windows(protocol, anchor)
        self.definition = definition
        self.title = protocol.title
        self.anchor, self.on_dosing = anchor, on_dosing
        self.template = bounds_for(0, 0, definition, anchor, sex, windows)
        self.months = tuple(m for m, _, _ in windows)
        self.key = summary_key(self.template, definition.require_test_confirmation)
        self.today = today
        t = self.template
        self._window = memo.setdefault(
            ("window", definition, (t.window_end - t.window_start).days, today < t.window_end), {}
        )
        self._follow_up = memo.setdefault(
            (
                "follow_up",
                definition,
                self.months,
                tuple(((last - first).days, today < last) for first, last in t.follow_up_windows),
            ),
            {},
        )

    def abstinence(self, reported: int, used: bool) -> str:
        status = self._window.get((reported, used))
        if status is None:
            t = self.template
            status = window_status(self.definition, t.window_start, t.window_end, reported, used, self.today)
            self._window[(reported, used)] = status
        return status

    def follow_up(self, text: str) -> tuple[tuple[int, str], ...]:
        """(months, status) per follow-up window from a summary's "reported:used" counts."""
        statuses = self._follow_up.get(text)
        if statuses is None:
            counts = follow_up_counts(text) if text else ((0, False),) * len(self.months)
            statuses = tuple(
                (month, window_status(self.definition, first, last, reported, used, self.today))
                for month, (first, last), (reported, used) in zip(
                    self.months, self.template.follow_up_windows, counts, strict=True
                )
            )
            self._follow_up[text] = statuses
        return statuses

    def outcome(
        self, row: tuple, start: date, group_by_protocol: bool, summary: tuple, dropout: date | None = None
    ) -> CourseOutcome:
        """The course's outcome from its ``summary_row`` (days reported in the window, use in it,
        relapse time, event and follow-up, follow-up counts text, days with use in the window),
        with the window statuses of ``window_status`` and the dropout rule
        (``relapse_with_dropout``) applied to the withdrawal day ``dropout``."""
        reported, used, time_days, event, has_follow_up, text, use_days = summary
        t = self.template
        time_days, event, has_follow_up, by_dropout = relapse_with_dropout(
            self.definition,
            t.acute_end,
            t.horizon_end,
            (time_days, bool(event), bool(has_follow_up)),
            dropout,
        )
        arm = row[_ARM] or NO_ARM
        return CourseOutcome(
            row[_ID],
            row[_PATIENT],
            row[_CLINIC],
            row[_SLUG],
            self.title,
            arm,
            self.definition.substance,
            row[_SLUG] if group_by_protocol else arm,
            start,
            self.anchor,
            self.on_dosing,
            self.abstinence(reported, bool(used)),
            time_days,
            bool(event),
            bool(has_follow_up),
            self.follow_up(text or ""),
            int(reported or 0),
            int(use_days or 0),
            by_dropout,
            row[_VERSION],
        )


_gc_lock = threading.Lock()
_gc_state = {"holders": 0, "was_enabled": True}


@contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector while a report builds its ~10^5 small objects.

    None of them form cycles (reference counting frees them), but each allocation burst makes
    the collector traverse every live object again: 10–20 % of a 100,000-patient report
    (docs/benchmarks.md). Process-wide, so counted: the collector resumes when the last report
    running in the process leaves, and only if it was enabled before the first came in."""
    with _gc_lock:
        if _gc_state["holders"] == 0:
            _gc_state["was_enabled"] = gc.isenabled()
            gc.disable()
        _gc_state["holders"] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_state["holders"] -= 1
            if _gc_state["holders"] == 0 and _gc_state["was_enabled"]:
                gc.enable()


def cohort_assemble(*, user, filters: CohortFilter, today: date, use_summaries: bool = True) -> Cohort:
    """The courses of ``filters`` in the user's report clinics, each with its derived outcome.

    A fixed number of queries whatever the cohort's size: the courses with their stored outcome
    summaries (values only), one protocol per (slug, version), the last given dosing date per
    course (grouped), and, for the courses whose summary is missing or stale (see
    ``research.models``), one grouped query over their calendars and tests
    (``calendar_aggregates``) whose results are stored as their new summaries. The per-day rows
    never reach Python. ``use_summaries=False`` recomputes every course (the check of
    ``kapstone outcome_summaries --check``, and the tests). Not audited here: the report and
    export selectors audit what leaves. ``today`` decides which outcome windows have closed.
    """
    with gc_paused():
        return _assemble(_clinic_ids(user, filters), filters, today, use_summaries=use_summaries)


def _assemble(
    clinic_ids: list[int], filters: CohortFilter, today: date, *, use_summaries: bool = True
) -> Cohort:
    qs = _course_queryset(clinic_ids, filters)
    rows = _course_rows(qs)
    protocols = _protocols(qs, dict.fromkeys((r[_SLUG], r[_VERSION]) for r in rows))
    definitions: dict[tuple[str, int], OutcomeDefinition | None] = {}
    for key, protocol in protocols.items():
        try:
            definitions[key] = None if protocol is None else outcome_definition_for(protocol)
        except DomainError:
            definitions[key] = None
    last_given = _last_given_dosing(qs) if rows else {}
    dropouts = _dropouts(qs) if rows else {}
    by_slug: dict[str, Protocol] = {}
    plans: dict[tuple, _Plan] = {}
    memo: dict[tuple, dict] = {}
    # Per (slug, version): (protocol, definition, whether it plans dosing sessions) or None
    # when its courses are skipped (invalid) or filtered out (another substance).
    versions: dict[tuple[str, int], tuple | None] = {}
    by_protocol = filters.group_by == "protocol"
    outcomes: list[CourseOutcome | None] = []
    # (index in ``outcomes``, row, start date, plan) of the courses whose summary is missing or
    # stale; their ``outcomes`` slot is filled once the calendar has been read.
    stale: list[tuple[int, tuple, date, _Plan]] = []
    dates = _DateCache()
    skipped = 0
    for row in rows:
        key = (row[_SLUG], row[_VERSION])
        if key not in versions:
            protocol, definition = protocols[key], definitions[key]
            if protocol is not None and filters.substance and protocol.outcome.substance != filters.substance:
                versions[key] = None
            else:
                if protocol is not None:
                    by_slug.setdefault(row[_SLUG], protocol)
                    if definition is not None:
                        require_supported(definition)
                plans_dosing = protocol is not None and planned_last_dosing_day(protocol) is not None
                versions[key] = (protocol, definition, plans_dosing)
        version = versions[key]
        if version is None:
            continue
        protocol, definition, plans_dosing = version
        if protocol is None or definition is None:
            skipped += 1
            continue
        # The anchor (``anchor_date_for``) is set by the last given dosing date when the protocol
        # plans dosing and one was given, else by the start: that date keys the course's plan.
        last = last_given.get(row[_ID])
        on_dosing = last is not None and plans_dosing
        sex = heavy_day_sex(row[_SEX])
        start = dates[row[_START]]
        plan_key = (key, last if on_dosing else start, on_dosing, sex)
        plan = plans.get(plan_key)
        if plan is None:
            # Courses of one protocol version anchored on one day share their dates: once each.
            anchor, _ = anchor_date_for(start, protocol, last)
            plan = plans[plan_key] = _Plan(protocol, definition, anchor, on_dosing, sex, today, memo)
        if use_summaries and row[_CURRENT_KEY] == plan.key:
            outcomes.append(plan.outcome(row, start, by_protocol, row[_SUMMARY:], dropouts.get(row[_ID])))
        else:
            stale.append((len(outcomes), row, start, plan))
            outcomes.append(None)
    for confirmation in sorted({entry[3].definition.require_test_confirmation for entry in stale}):
        batch = [entry for entry in stale if entry[3].definition.require_test_confirmation == confirmation]
        bounds = [CalendarBounds(row[_ID], row[_PATIENT], *plan.template[2:]) for _, row, _, plan in batch]
        fresh = calendar_aggregates(bounds, require_confirmation=confirmation)
        computed = []
        for (index, row, start, plan), course_bounds in zip(batch, bounds, strict=True):
            aggregate = fresh[course_bounds.course_id]
            summary = summary_row(course_bounds, aggregate)
            outcomes[index] = plan.outcome(row, start, by_protocol, summary, dropouts.get(row[_ID]))
            computed.append((course_bounds.course_id, aggregate.calendar_version, plan.key, summary))
        if use_summaries:
            store_summaries(computed)
    return Cohort(
        filters=filters,
        clinic_ids=tuple(clinic_ids),
        outcomes=tuple(outcomes),
        protocols=by_slug,
        skipped=skipped,
        derived_protocols=tuple(
            key for key, version in versions.items() if version is not None and None not in version[:2]
        ),
        recomputed=len(stale),
        versions={key: protocol for key, protocol in protocols.items() if protocol is not None},
    )


def summaries_refresh(*, today: date, rebuild: bool = False) -> dict[str, int]:
    """Bring every course's outcome summary up to date, in every clinic (a maintenance task: after
    a bulk load, so that the first report is not the one that pays; ``rebuild`` deletes them all
    first). Audited with the counts."""
    clinic_ids = list(Clinic.objects.order_by("pk").values_list("pk", flat=True))
    with transaction.atomic():
        deleted = CourseOutcomeSummary.objects.all().delete()[0] if rebuild else 0
        with gc_paused():
            cohort = _assemble(clinic_ids, CohortFilter(), today)
        result = {"courses": len(cohort.outcomes), "recomputed": cohort.recomputed, "deleted": deleted}
        _audit_maintenance(AuditAction.UPDATE, result)
    return result


def _audit_maintenance(action: str, detail: dict[str, int]) -> None:
    """The audit row of ``kapstone outcome_summaries``: counts only."""
    audit_record(
        actor=None,
        actor_label="outcome_summaries",
        action=action,
        object_type="outcome_summaries",
        detail=detail,
    )


def summaries_check(*, today: date) -> dict[str, Any]:
    """Recompute every course's outcome from the calendar and compare it with the outcome from
    the stored summaries (stale ones are refreshed first, as a report would). ``differing``
    lists the course ids whose stored summary gives another outcome than the calendar: it should
    always be empty; ``--rebuild`` replaces them. Audited with the counts."""
    clinic_ids = list(Clinic.objects.order_by("pk").values_list("pk", flat=True))
    stored = _assemble(clinic_ids, CohortFilter(), today)
    fresh = {
        o.course_id: o for o in _assemble(clinic_ids, CohortFilter(), today, use_summaries=False).outcomes
    }
    differing = [o.course_id for o in stored.outcomes if fresh.get(o.course_id) != o]
    result = {"courses": len(stored.outcomes), "recomputed": stored.recomputed, "differing": differing}
    _audit_maintenance(AuditAction.READ, {**result, "differing": len(differing)})
    return result


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
