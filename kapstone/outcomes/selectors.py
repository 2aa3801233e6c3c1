"""Reads of outcomes.

The ``*_for_user`` reads are scoped to the user's clinics and audited; "not yours" and "does
not exist" raise the same Http404. The plain helpers (``current_use_days``,
``calendar_summary``, ``follow_up_schedule``…) serve services, the chart section and the
reminder command, whose own write, read event or aggregate output covers them.

What is due for follow-up is never stored: it is computed here, at run time, from each course's
protocol snapshot (``follow_up_dates``) and its last dosing session, so a changed schedule or a
rescheduled session is reflected at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Min

from kapstone.accounts.access import clinic_ids_for, scoped_get
from kapstone.accounts.models import Clinic, User
from kapstone.audit.services import audit_record
from kapstone.care.models import CareSession, CourseStatus, TreatmentCourse
from kapstone.care.services import course_protocol
from kapstone.domain import instruments, tlfb
from kapstone.domain.protocols import DOSING, follow_up_dates, questionnaires_at
from kapstone.domain.sessions import CANCELLED, DISCHARGED, NO_SHOW
from kapstone.outcomes.access import OUTCOMES_READ
from kapstone.outcomes.models import (
    ClinicalFlag,
    CssrsTask,
    FollowUp,
    QuestionnaireResponse,
    ToxicologyTest,
    UseDay,
)
from kapstone.patients.models import Patient
from kapstone.patients.selectors import patient_get_for_user
from kapstone.patients.services import clinic_today, clinic_today_for_user

LATEST_FIRST = ("-administered_on", "-entered_at", "-id")
#: Instruments whose totals are drawn as a trajectory on the chart.
#: Questionnaires charted over time on the patient chart (CADSS belongs to a dosing session).
TRAJECTORY_INSTRUMENTS = ("phq-9", "gad-7", "pacs", "audit", "audit-c", "dast-10")


# --- Questionnaires and flags ----------------------------------------------------------------


@dataclass(frozen=True)
class QuestionnaireHistory:
    patient: Patient
    responses: list[QuestionnaireResponse]
    flags: list[ClinicalFlag]


def questionnaire_list_for_user(*, user: User, patient_id: int) -> QuestionnaireHistory:
    """The patient's questionnaires (newest first) and flags; Http404 if not the user's."""
    patient = patient_get_for_user(user=user, patient_id=patient_id, roles=OUTCOMES_READ, audit=False)
    responses = list(
        QuestionnaireResponse.objects.filter(patient=patient)
        .select_related("entered_by")
        .order_by(*LATEST_FIRST)
    )
    flags = flags_of(patient)
    audit_record(
        actor=user,
        action="read",
        object_type="questionnaire_list",
        object_id=patient.pk,
        patient_id=patient.pk,
        clinic_id=patient.clinic_id,
        detail={"returned": len(responses)},
    )
    return QuestionnaireHistory(patient=patient, responses=responses, flags=flags)


def flags_of(patient: Patient, *, open_only: bool = False) -> list[ClinicalFlag]:
    """The patient's flags, open ones first, newest first. Not audited."""
    qs = ClinicalFlag.objects.filter(patient_id=patient.pk).select_related(
        "response", "acknowledgement", "acknowledgement__acknowledged_by"
    )
    if open_only:
        qs = qs.filter(acknowledgement__isnull=True)
    flags = list(qs.order_by("-raised_at", "-id"))
    return sorted(flags, key=lambda f: is_open(f), reverse=True)


def is_open(flag: ClinicalFlag) -> bool:
    return getattr(flag, "acknowledgement", None) is None


def flag_list_for_user(
    *, user: User, include_acknowledged: bool = False, limit: int = 200
) -> list[ClinicalFlag]:
    """The clinic worklist of flags (open ones; with ``include_acknowledged`` the recent others
    too) across the user's clinics. Lists names, so the read is audited (how many, not who)."""
    qs = ClinicalFlag.objects.filter(clinic_id__in=clinic_ids_for(user, OUTCOMES_READ)).select_related(
        "patient", "response", "acknowledgement", "acknowledgement__acknowledged_by"
    )
    if not include_acknowledged:
        qs = qs.filter(acknowledgement__isnull=True)
    flags = list(qs.order_by("-raised_at", "-id")[:limit])
    audit_record(
        actor=user,
        action="read",
        object_type="clinical_flag_list",
        detail={"returned": len(flags), "include_acknowledged": include_acknowledged},
    )
    return flags


def cssrs_tasks_open_for_user(*, user: User, limit: int = 200) -> list[CssrsTask]:
    """The open C-SSRS tasks of the user's clinics, the earliest due first (the care team's
    worklist, beside the clinical alerts). Lists names, so the read is audited (how many)."""
    tasks = list(
        CssrsTask.objects.filter(clinic_id__in=clinic_ids_for(user, OUTCOMES_READ), closed_at__isnull=True)
        .select_related("patient", "opened_by")
        .order_by("due_at", "id")[:limit]
    )
    audit_record(actor=user, action="read", object_type="cssrs_task_list", detail={"returned": len(tasks)})
    return tasks


def cssrs_tasks_of(patient: Patient) -> list[CssrsTask]:
    """The patient's C-SSRS tasks, open first then the newest. Not audited (the chart's read)."""
    tasks = list(CssrsTask.objects.filter(patient_id=patient.pk).order_by("-opened_at", "-id"))
    return sorted(tasks, key=lambda t: t.is_open, reverse=True)


def flag_get_for_user(*, user: User, flag_id: int, roles: Iterable[str] = OUTCOMES_READ) -> ClinicalFlag:
    """One flag of the user's clinics, or Http404 (identical for missing and not-yours)."""
    return scoped_get(
        ClinicalFlag.objects.select_related("patient", "acknowledgement"),
        flag_id,
        user=user,
        roles=roles,
        object_type="clinical_flag",
    )


def latest_scores(patient: Patient) -> list[QuestionnaireResponse]:
    """The latest response of each instrument, in the domain's instrument order. Not audited."""
    latest: dict[str, QuestionnaireResponse] = {}
    for response in QuestionnaireResponse.objects.filter(patient_id=patient.pk).order_by(*LATEST_FIRST):
        latest.setdefault(response.instrument, response)
    order = [d.code for d in instruments.instrument_definitions()]
    return sorted(latest.values(), key=lambda r: order.index(r.instrument) if r.instrument in order else 99)


def trajectories(patient: Patient) -> dict[str, list[QuestionnaireResponse]]:
    """Responses of each charted questionnaire, oldest first, in ``TRAJECTORY_INSTRUMENTS``
    order, for the trajectory chart. Not audited."""
    rows = QuestionnaireResponse.objects.filter(
        patient_id=patient.pk, instrument__in=TRAJECTORY_INSTRUMENTS
    ).order_by("administered_on", "entered_at", "id")
    result: dict[str, list[QuestionnaireResponse]] = defaultdict(list)
    for row in rows:
        result[row.instrument].append(row)
    return {code: result[code] for code in TRAJECTORY_INSTRUMENTS if code in result}


# --- Use calendar and toxicology -------------------------------------------------------------


def current_use_days(patient: Patient, substance: str, start: date, end: date) -> dict[date, UseDay]:
    """The current row of each reported day in ``start..end`` (the latest entry of a day wins;
    the earlier ones are its history). Not audited."""
    rows = UseDay.objects.filter(patient_id=patient.pk, substance=substance, day__gte=start, day__lte=end)
    return {row.day: row for row in rows.order_by("day", "entered_at", "id")}


def _as_tlfb(row: UseDay) -> tlfb.TlfbDay:
    return tlfb.TlfbDay(
        day=row.day,
        substance=row.substance,
        used=row.used,
        standard_drinks=row.standard_drinks,
        amount=row.amount,
        amount_unit=row.amount_unit or None,
        marker=row.marker or None,
    )


def _as_result(row: ToxicologyTest) -> tlfb.ToxicologyResult:
    return tlfb.ToxicologyResult(
        day=row.collected_on,
        substance=row.substance,
        method=row.method,
        result=row.result,
        confirmed=row.confirmed,
    )


@dataclass(frozen=True)
class CalendarSummary:
    substance: str
    start: date
    end: date
    summary: tlfb.TlfbSummary
    # The calendar as summarised: reported days with confirmed positive tests merged in.
    days: dict[date, tlfb.TlfbDay]
    tests: list[ToxicologyTest]
    # Sex at birth is neither male nor female: the (lower) female heavy-day threshold was used.
    sex_assumed: bool


def heavy_day_sex(patient: Patient) -> tuple[str, bool]:
    """The sex whose heavy-drinking threshold applies, and whether it was assumed. For a sex at
    birth other than male or female the lower (female) threshold is used, so that no heavy day
    is missed; the page says so."""
    if patient.sex_at_birth in tlfb.SEXES:
        return patient.sex_at_birth, False
    return "female", True


def calendar_summary(patient: Patient, substance: str, start: date, end: date) -> CalendarSummary:
    """The calendar of ``start..end`` with confirmed positive tests counted as use on their day
    (``merge_tests_into_calendar``), summarised by ``summarise_tlfb``. Not audited."""
    rows = current_use_days(patient, substance, start, end)
    tests = list(
        ToxicologyTest.objects.filter(
            patient_id=patient.pk, substance=substance, collected_on__gte=start, collected_on__lte=end
        ).order_by("collected_on", "id")
    )
    merged = tlfb.merge_tests_into_calendar(
        [_as_tlfb(row) for row in rows.values()], [_as_result(t) for t in tests], substance=substance
    )
    sex, assumed = heavy_day_sex(patient)
    summary = tlfb.summarise_tlfb(merged, window_start=start, window_end=end, sex=sex, substance=substance)
    return CalendarSummary(
        substance=substance,
        start=start,
        end=end,
        summary=summary,
        days={d.day: d for d in merged},
        tests=tests,
        sex_assumed=assumed and substance == tlfb.ALCOHOL,
    )


def substances_of(patient: Patient) -> list[str]:
    """Substances with calendar days or tests for the patient, alcohol first. Not audited."""
    names = set(UseDay.objects.filter(patient_id=patient.pk).values_list("substance", flat=True).distinct())
    names |= set(
        ToxicologyTest.objects.filter(patient_id=patient.pk).values_list("substance", flat=True).distinct()
    )
    return sorted(names, key=lambda n: (n != tlfb.ALCOHOL, n))


def use_calendar_for_user(*, user: User, patient_id: int, substance: str, start: date, end: date):
    """(patient, the current rows of ``start..end``, the summary); Http404 if not the user's."""
    patient = patient_get_for_user(user=user, patient_id=patient_id, roles=OUTCOMES_READ, audit=False)
    rows = current_use_days(patient, substance, start, end)
    summary = calendar_summary(patient, substance, start, end)
    audit_record(
        actor=user,
        action="read",
        object_type="use_calendar",
        object_id=patient.pk,
        patient_id=patient.pk,
        clinic_id=patient.clinic_id,
        detail={"substance": substance, "start": start.isoformat(), "end": end.isoformat()},
    )
    return patient, rows, summary


def toxicology_list_for_user(*, user: User, patient_id: int, limit: int = 200):
    """(patient, the patient's test results newest first); Http404 if not the user's."""
    patient = patient_get_for_user(user=user, patient_id=patient_id, roles=OUTCOMES_READ, audit=False)
    tests = list(ToxicologyTest.objects.filter(patient=patient).order_by("-collected_on", "-id")[:limit])
    audit_record(
        actor=user,
        action="read",
        object_type="toxicology_list",
        object_id=patient.pk,
        patient_id=patient.pk,
        clinic_id=patient.clinic_id,
        detail={"returned": len(tests)},
    )
    return patient, tests


# --- Follow-up schedule -----------------------------------------------------------------------

DONE, OVERDUE, DUE, UPCOMING = "done", "overdue", "due", "upcoming"


@dataclass(frozen=True)
class FollowUpDue:
    course: TreatmentCourse
    months: int
    due_on: date
    status: str
    record: FollowUp | None

    @property
    def patient(self) -> Patient:
        return self.course.patient


def last_dosing_dates(courses: Iterable[TreatmentCourse]) -> dict[int, date]:
    """Each course's last dosing date: its last discharged dosing session, else (nothing
    discharged yet) its last scheduled one that was not cancelled or missed. A withdrawn
    course that never dosed has none (nothing to follow up). One query."""
    courses = list(courses)
    rows = CareSession.objects.filter(course__in=courses, kind=DOSING).values_list(
        "course_id", "status", "scheduled_date"
    )
    discharged: dict[int, date] = {}
    planned: dict[int, date] = {}
    for course_id, status, scheduled in rows:
        if status == DISCHARGED:
            discharged[course_id] = max(scheduled, discharged.get(course_id, scheduled))
        elif status not in (CANCELLED, NO_SHOW):
            planned[course_id] = max(scheduled, planned.get(course_id, scheduled))
    result = {}
    for course in courses:
        if course.pk in discharged:
            result[course.pk] = discharged[course.pk]
        elif course.pk in planned and course.status != CourseStatus.WITHDRAWN:
            result[course.pk] = planned[course.pk]
    return result


def follow_up_schedule(
    courses: Iterable[TreatmentCourse], *, today: date, within_days: int
) -> list[FollowUpDue]:
    """Every follow-up time point of ``courses``, classified on ``today``: ``done`` (a record
    exists), ``overdue`` (due before today), ``due`` (today … today + ``within_days``, both
    inclusive) or ``upcoming``. Ordered by due date. Not audited."""
    courses = list(courses)
    last = last_dosing_dates(courses)
    records = {(f.course_id, f.months): f for f in FollowUp.objects.filter(course__in=courses)}
    horizon = today + timedelta(days=within_days)
    schedule = []
    for course in courses:
        if course.pk not in last:
            continue
        protocol = course_protocol(course)
        for months, due_on in zip(
            protocol.follow_up_months, follow_up_dates(protocol, last[course.pk]), strict=True
        ):
            record = records.get((course.pk, months))
            if record is not None:
                status = DONE
            elif due_on < today:
                status = OVERDUE
            elif due_on <= horizon:
                status = DUE
            else:
                status = UPCOMING
            schedule.append(
                FollowUpDue(course=course, months=months, due_on=due_on, status=status, record=record)
            )
    return sorted(schedule, key=lambda f: (f.due_on, f.course.pk, f.months))


@dataclass(frozen=True)
class FollowUpWorklist:
    today: date
    within_days: int
    overdue: list[FollowUpDue]
    due: list[FollowUpDue]
    done: list[FollowUpDue]


#: How far back the worklist shows follow-ups already done.
DONE_SHOWN_DAYS = 90


def _today_for(user: User, roles: Iterable[str]) -> date:
    return clinic_today_for_user(user, roles=roles)


def follow_up_worklist_for_user(
    *, user: User, within_days: int, today: date | None = None
) -> FollowUpWorklist:
    """The follow-ups of the user's clinics: overdue, due within ``within_days``, and done in the
    last 90 days. Lists names, so the read is audited (counts only)."""
    if today is None:
        today = _today_for(user, OUTCOMES_READ)
    courses = TreatmentCourse.objects.filter(
        clinic_id__in=clinic_ids_for(user, OUTCOMES_READ)
    ).select_related("patient", "clinic")
    schedule = follow_up_schedule(courses, today=today, within_days=within_days)
    since = today - timedelta(days=DONE_SHOWN_DAYS)
    worklist = FollowUpWorklist(
        today=today,
        within_days=within_days,
        overdue=[f for f in schedule if f.status == OVERDUE],
        due=[f for f in schedule if f.status == DUE],
        done=[f for f in schedule if f.status == DONE and f.record.done_on >= since],
    )
    audit_record(
        actor=user,
        action="read",
        object_type="follow_up_list",
        detail={"within_days": within_days, "overdue": len(worklist.overdue), "due": len(worklist.due)},
    )
    return worklist


def follow_up_counts_for_clinic(
    *, clinic: Clinic, within_days: int, today: date | None = None
) -> tuple[int, int]:
    """(due within ``within_days``, overdue) for one clinic: counts only, no patient data, for
    the reminder emails. Not audited (nothing identifying leaves)."""
    if today is None:
        today = clinic_today(clinic)
    schedule = follow_up_schedule(
        TreatmentCourse.objects.filter(clinic=clinic), today=today, within_days=within_days
    )
    return sum(1 for f in schedule if f.status == DUE), sum(1 for f in schedule if f.status == OVERDUE)


def follow_ups_of_patient(patient: Patient, *, within_days: int = 14) -> list[FollowUpDue]:
    """The patient's follow-up time points (all courses), for the chart. Not audited."""
    courses = TreatmentCourse.objects.filter(patient_id=patient.pk).select_related("patient")
    return follow_up_schedule(courses, today=clinic_today(patient.clinic), within_days=within_days)


# --- What the patient is asked (questionnaires due, the calendar window) -----------------------

#: A follow-up time point opens this many days before its due date (and the baseline before the
#: course start). A programme choice: a patient may answer in the week before the date.
DUE_AHEAD_DAYS = 7


@dataclass(frozen=True)
class QuestionnaireDue:
    """One questionnaire a course asks of its patient now, at one time point (0 = baseline)."""

    course: TreatmentCourse
    months: int
    due_on: date
    instrument: str


def first_dosing_dates(courses: Iterable[TreatmentCourse]) -> dict[int, date]:
    """Each course's first dosing session that was not cancelled or missed (held or planned). One query."""
    rows = (
        CareSession.objects.filter(course__in=list(courses), kind=DOSING)
        .exclude(status__in=(CANCELLED, NO_SHOW))
        .values("course_id")
        .annotate(first=Min("scheduled_date"))
    )
    return {row["course_id"]: row["first"] for row in rows}


def questionnaires_due(patient: Patient, *, today: date) -> list[QuestionnaireDue]:
    """The questionnaires the patient's courses ask for on ``today``, ordered by due date.

    For each course, one time point at most is open: its latest follow-up that is due (within
    :data:`DUE_AHEAD_DAYS`) or overdue, unless it is recorded as done (a later time point
    replaces a missed earlier one: answers months late would describe the wrong time); before
    its first follow-up, for an active or paused course, its baseline, from :data:`DUE_AHEAD_DAYS` before the course start
    until its first dosing session. The instruments are the protocol's for that time point
    (``questionnaires_at``); one is no longer due once a response for that course and time point
    exists, whoever entered it. Not audited (the caller's read covers it).
    """
    courses = list(TreatmentCourse.objects.filter(patient_id=patient.pk).order_by("start_date", "id"))
    if not courses:
        return []
    schedule = follow_up_schedule(courses, today=today, within_days=DUE_AHEAD_DAYS)
    first_dosing = first_dosing_dates(courses)
    ahead = timedelta(days=DUE_AHEAD_DAYS)
    open_points: list[tuple[TreatmentCourse, int, date]] = []
    for course in courses:
        # The latest time point whose window has opened: it replaces every earlier one, and
        # once it is recorded as done nothing of the course is open until the next one.
        opened = [f for f in schedule if f.course.pk == course.pk and f.status != UPCOMING]
        if opened:
            latest = max(opened, key=lambda f: f.due_on)
            if latest.status != DONE:
                open_points.append((course, latest.months, latest.due_on))
        elif course.status in (CourseStatus.ACTIVE, CourseStatus.PAUSED):
            first = first_dosing.get(course.pk)
            if course.start_date - ahead <= today and (first is None or today <= first):
                open_points.append((course, 0, course.start_date))
    answered = set(
        QuestionnaireResponse.objects.filter(course__in=courses, time_point_months__isnull=False).values_list(
            "course_id", "time_point_months", "instrument"
        )
    )
    due = [
        QuestionnaireDue(course=course, months=months, due_on=due_on, instrument=code)
        for course, months, due_on in open_points
        for code in questionnaires_at(course_protocol(course), months)
        if (course.pk, months, code) not in answered
    ]
    return sorted(due, key=lambda d: (d.due_on, d.course.pk))


def self_entry_window_of(patient: Patient, *, today: date | None = None) -> tuple[date, date] | None:
    """The days the patient may fill in their own use calendar (``tlfb.self_entry_window``): the
    last 30 days to today in the clinic's time zone, never before their first course started."""
    first = TreatmentCourse.objects.filter(patient_id=patient.pk).aggregate(first=Min("start_date"))["first"]
    return tlfb.self_entry_window(today=today or clinic_today(patient.clinic), course_start=first)
