"""Cohort assembly: which courses are in a cohort, and each course's derived outcome.

Reads through the ORM in a fixed number of queries (courses, dosing sessions, use days,
toxicology tests), then derives each course's outcome with the pure domain functions
(``derive_abstinence``, ``derive_relapse``). Statistics stay in ``kapstone.domain.stats``.

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

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from kapstone.accounts.access import clinic_ids_for
from kapstone.accounts.models import Role
from kapstone.care.models import CareSession, TreatmentCourse
from kapstone.domain import tlfb
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.outcomes import (
    ABSTINENT,
    NOT_ABSTINENT,
    UNKNOWN,
    OutcomeDefinition,
    derive_abstinence,
    derive_relapse,
)
from kapstone.domain.protocols import DOSING, Protocol, protocol_from_dict
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


def anchor_date_for(
    course: TreatmentCourse, protocol: Protocol, last_given: date | None
) -> tuple[date, bool]:
    """(anchor date, whether it came from a given dosing session). See the module docstring."""
    planned = planned_last_dosing_day(protocol)
    if last_given is None or planned is None:
        return course.start_date, False
    return last_given - timedelta(days=planned), True


def _courses(user, filters: CohortFilter) -> tuple[list[int], list[TreatmentCourse]]:
    clinic_ids = report_clinic_ids(user)
    if filters.clinic_id is not None:
        # A clinic that is not the user's is simply empty: no oracle for other clinics.
        clinic_ids = [c for c in clinic_ids if c == filters.clinic_id]
    qs = TreatmentCourse.objects.filter(clinic_id__in=clinic_ids).select_related("patient")
    if filters.protocol_slug:
        qs = qs.filter(protocol_slug=filters.protocol_slug)
    if filters.arm:
        qs = qs.filter(arm=filters.arm)
    if filters.enrolled_from:
        qs = qs.filter(start_date__gte=filters.enrolled_from)
    if filters.enrolled_to:
        qs = qs.filter(start_date__lte=filters.enrolled_to)
    return clinic_ids, list(qs.order_by("start_date", "id"))


def _last_given_dosing(courses: Iterable[TreatmentCourse]) -> dict[int, date]:
    rows = CareSession.objects.filter(course__in=list(courses), kind=DOSING, status=DISCHARGED).values_list(
        "course_id", "scheduled_date"
    )
    last: dict[int, date] = {}
    for course_id, day in rows:
        last[course_id] = max(day, last.get(course_id, day))
    return last


def _calendars(patient_ids: list[int]) -> tuple[dict, dict]:
    """Current TLFB days and toxicology results per (patient, substance). The current value of a
    day is its latest row (entered_at, then id)."""
    days: dict[tuple[int, str], dict[date, tlfb.TlfbDay]] = defaultdict(dict)
    for row in UseDay.objects.filter(patient_id__in=patient_ids).order_by("day", "entered_at", "id"):
        days[(row.patient_id, row.substance)][row.day] = tlfb.TlfbDay(
            day=row.day,
            substance=row.substance,
            used=row.used,
            standard_drinks=row.standard_drinks,
            amount=row.amount,
            amount_unit=row.amount_unit or None,
        )
    tests: dict[tuple[int, str], list[tlfb.ToxicologyResult]] = defaultdict(list)
    for row in ToxicologyTest.objects.filter(patient_id__in=patient_ids).order_by("collected_on", "id"):
        tests[(row.patient_id, row.substance)].append(
            tlfb.ToxicologyResult(
                day=row.collected_on,
                substance=row.substance,
                method=row.method,
                result=row.result,
                confirmed=row.confirmed,
            )
        )
    return days, tests


def _heavy_day_sex(sex_at_birth: str) -> str:
    # As the outcomes chart: a sex other than male/female takes the lower (female) threshold.
    return sex_at_birth if sex_at_birth in tlfb.SEXES else "female"


def cohort_assemble(*, user, filters: CohortFilter, today: date) -> Cohort:
    """The courses of ``filters`` in the user's report clinics, each with its derived outcome.

    Not audited here: the report and export selectors audit what leaves. ``today`` decides which
    outcome windows have closed.
    """
    clinic_ids, courses = _courses(user, filters)
    protocols: dict[tuple[str, int], Protocol] = {}
    by_slug: dict[str, Protocol] = {}
    kept: list[tuple[TreatmentCourse, Protocol]] = []
    skipped = 0
    for course in courses:
        key = (course.protocol_slug, course.protocol_version)
        if key not in protocols:
            try:
                protocols[key] = protocol_from_dict(course.protocol_data)
            except DomainError:
                skipped += 1
                continue
        protocol = protocols[key]
        if filters.substance and protocol.outcome.substance != filters.substance:
            continue
        by_slug.setdefault(course.protocol_slug, protocol)
        kept.append((course, protocol))
    last_given = _last_given_dosing(course for course, _ in kept)
    days, tests = _calendars(sorted({course.patient_id for course, _ in kept}))
    outcomes = []
    for course, protocol in kept:
        try:
            definition = outcome_definition_for(protocol)
        except DomainError:
            skipped += 1
            continue
        anchor, on_dosing = anchor_date_for(course, protocol, last_given.get(course.pk))
        key = (course.patient_id, definition.substance)
        calendar = list(days.get(key, {}).values())
        results = tests.get(key, [])
        try:
            abstinence = derive_abstinence(
                calendar, results, definition=definition, anchor_date=anchor, as_of=today
            ).status
        except WorkflowConflict:
            abstinence = OPEN
        relapse = derive_relapse(
            calendar,
            results,
            definition=definition,
            anchor_date=anchor,
            sex=_heavy_day_sex(course.patient.sex_at_birth),
        )
        arm = course.arm or NO_ARM
        outcomes.append(
            CourseOutcome(
                course_id=course.pk,
                patient_id=course.patient_id,
                clinic_id=course.clinic_id,
                protocol_slug=course.protocol_slug,
                protocol_title=course.protocol_title,
                arm=arm,
                substance=definition.substance,
                group=course.protocol_slug if filters.group_by == "protocol" else arm,
                start_date=course.start_date,
                anchor_date=anchor,
                anchored_on_dosing=on_dosing,
                abstinence=abstinence,
                relapse_time_days=relapse.time_days,
                relapse_event=relapse.event,
                relapse_has_follow_up=relapse.has_follow_up,
            )
        )
    return Cohort(
        filters=filters,
        clinic_ids=tuple(clinic_ids),
        outcomes=tuple(outcomes),
        protocols=by_slug,
        skipped=skipped,
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
