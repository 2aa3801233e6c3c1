"""Demo courses: patients enrolled at every stage, and a day board for today.

Called by ``kapstone seed_demo`` after the screenings exist. Sessions in the past are walked
through the same services a nurse or therapist would use, each step at the time it happened on
that day in the clinic's time zone (:data:`DOSING_STEPS`): the services refuse a step before
the one it follows, so the demo obeys the same order of events as the clinic. Today's sessions
are placed relative to the moment the demo is seeded (:func:`today_times`): a session checked in
or cleared this morning was scheduled before now, never after.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.utils import timezone

from kapstone.accounts.models import User
from kapstone.care.enrolment_demo import enrolment_place_before_first_session
from kapstone.care.models import CareSession, TreatmentCourse
from kapstone.care.services import (
    course_change_status,
    course_enrol,
    day_of_checks_record,
    session_transition,
)
from kapstone.domain.errors import WorkflowConflict
from kapstone.domain.protocols import DOSING, get_protocol
from kapstone.patients.models import Patient
from kapstone.screening.selectors import screening_current, screening_is_approved, screening_protocol_reasons

ROOMS = ("Room 1", "Room 2", "Room 3", "Group room")
PASSING = {
    "breath_alcohol_g_per_210l": Decimal("0"),
    "urine_drug_screen_result": "negative",
    "childbearing_potential": False,
    "pregnancy_test_result": None,
    "systolic_bp": 126,
    "diastolic_bp": 79,
    "fasting_hours": Decimal("8"),
    "escort_confirmed": True,
    # Withdrawal (the course's substance: a protocol asks only its own scale), medicines, readiness.
    "ciwa_ar_total": 2,
    "cows_total": 3,
    "benzodiazepine_use": False,
    "sedative_or_opioid_use": False,
    "stimulant_use": False,
    "maoi_use": False,
    "theophylline_use": False,
    "airway_clinician_present": True,
    "resuscitation_equipment_checked": True,
    "vital_signs_monitoring_available": True,
    "prescriber_on_site": True,
}
# Which protocol suits which primary diagnosis (by ICD-10-CM prefix).
BY_SUBSTANCE = {
    "F10": ("kare-alcohol-grabski-2022", "ketamine-met-alcohol-dakwar-2020", "kpt-alcohol-krupitsky-1997"),
    "F11": ("kpt-heroin-krupitsky-2007",),
    "F14": ("ketamine-mbrp-cocaine-dakwar-2019",),
}


#: Minutes after its scheduled start at which each step of a past demo dosing session happens.
#: The dosing and monitoring demos read these too (the order, its check, the baseline set of vital
#: signs and the start), so every session follows the clinic's order of events.
DOSING_STEPS = {
    "checked_in": 2,
    "day_of_checks": 10,
    "ordered": 15,
    "verified": 20,
    "baseline": 25,
    "started": 30,
}
#: The patient is discharged this long after the end of dosing (the monitoring demo records
#: vital signs every 15 min for the 120-min observation, then the Aldrete score).
DISCHARGE_AFTER_END_MIN = 125
#: A therapy session's patient is checked in at its start and the session begins 5 min later.
THERAPY_BEGINS_MIN = 5


def scheduled_at(session: CareSession) -> datetime:
    """The session's scheduled start in the clinic's time zone (09:00 when it has no time)."""
    return datetime.combine(
        session.scheduled_date, session.start_time or time(9, 0), tzinfo=ZoneInfo(session.clinic.timezone)
    )


def step_at(session: CareSession, step: str) -> datetime:
    """When ``step`` (a key of :data:`DOSING_STEPS`) of a past demo dosing session happened."""
    return scheduled_at(session) + timedelta(minutes=DOSING_STEPS[step])


def today_times(*, now: datetime, earliest: datetime, minutes_before: Sequence[float]) -> list[datetime]:
    """Times ``minutes_before`` now (e.g. ``[60, 55, 45]``), squeezed after ``earliest``.

    Today's demo sessions are placed relative to the moment of seeding: seeded at 14:00, a
    session cleared 45 minutes ago was checked in at 13:05 and scheduled at 13:00. When the
    earliest of them would fall before ``earliest`` (local midnight when seeded just after it,
    or the step a session has already reached), all are brought proportionally closer to now,
    keeping their order. Deterministic for a given ``now``."""
    longest = max(minutes_before)
    room = (now - earliest).total_seconds() / 60
    scale = 1.0 if longest <= room else max(room, 0.0) / longest
    return [now - timedelta(minutes=minutes * scale) for minutes in minutes_before]


def local_midnight(clinic, now: datetime) -> datetime:
    """The start of the clinic's day that holds ``now``."""
    tz = ZoneInfo(clinic.timezone)
    return datetime.combine(now.astimezone(tz).date(), time(0, 0), tzinfo=tz)


def _protocol_for(patient: Patient, rng: random.Random) -> str | None:
    primary = patient.diagnoses.filter(is_primary=True, voided_at__isnull=True).first()
    if primary is None:
        return None
    options = BY_SUBSTANCE.get(primary.code[:3])
    if not options:
        return None
    choice = rng.choice(options)
    # A protocol with its own criteria (KARE) only for a patient whose screening meets them.
    fitting = [slug for slug in options if _meets_own_criteria(patient, slug)]
    if choice in fitting or not fitting:
        return choice if choice in fitting else None
    return fitting[0]


def _meets_own_criteria(patient: Patient, slug: str) -> bool:
    current = screening_current(patient)
    if current is None:
        return False
    try:
        return not screening_protocol_reasons(current, get_protocol(slug))
    except WorkflowConflict:
        return False


def walk_past_session(
    session: CareSession, *, nurse: User, therapist: User, give_dose: Callable[[CareSession], datetime | None]
) -> None:
    """Walk a past session through its states as the staff would have, at the times of that day.

    A dosing session: checked in and cleared by the day-of checks (:data:`DOSING_STEPS`), then
    ``give_dose(session)`` (from the apps above care, which care may not import) orders,
    verifies and gives the dose with its baseline and monitoring record, leaving the session
    ``recovering``, and returns when dosing ended; the patient is discharged
    :data:`DISCHARGE_AFTER_END_MIN` later. A therapy session: checked in at its start, begun
    :data:`THERAPY_BEGINS_MIN` later, completed at its end.
    """
    if session.kind == DOSING:
        session = session_transition(
            actor=nurse, session=session, to="checked_in", at=step_at(session, "checked_in")
        )
        day_of_checks_record(
            actor=nurse, session=session, inputs=PASSING, at=step_at(session, "day_of_checks")
        )
        session.refresh_from_db()
        ended = give_dose(session)
        session.refresh_from_db()
        # The demo writes history after the fact: its monitoring record was written with the
        # dose, and the discharge follows the observation (the criteria are not evaluated here).
        session_transition(
            actor=nurse,
            session=session,
            to="discharged",
            discharge_evaluated=True,
            at=ended + timedelta(minutes=DISCHARGE_AFTER_END_MIN),
        )
    else:
        start = scheduled_at(session)
        for to, at in (
            ("checked_in", start),
            ("in_progress", start + timedelta(minutes=THERAPY_BEGINS_MIN)),
            ("discharged", start + timedelta(minutes=max(session.duration_min, THERAPY_BEGINS_MIN + 1))),
        ):
            session = session_transition(actor=therapist, session=session, to=to, at=at)


#: Minutes a past demo dosing session keeps the register busy: from the dispense (at +30) to the
#: end of the longest shipped infusion (52 min). Two past sessions of one day are placed at least
#: this far apart, so that the register receives each dose's entries in the order they happened.
DOSING_SLOT_MIN = 60


def walk_past_sessions(
    sessions: Iterable[CareSession],
    *,
    nurse: User,
    therapist: User,
    give_dose: Callable[[CareSession], datetime | None],
    timeline: Sequence[tuple[datetime, Callable[[], object]]] = (),
) -> None:
    """Walk past sessions of many patients in calendar order, as a clinic works through its days.

    The demo writes history after the fact, one session at a time. Walking patient by patient
    would post an earlier-dated dose after a later one (a late entry in the controlled-substance
    register); walking in date and time order, with the day's dosing sessions at least
    :data:`DOSING_SLOT_MIN` apart (a later one moved to the next free time of that day), gives
    a register whose entries were each recorded when they happened. ``timeline``: other dated
    actions of the demo (a delivery of stock), each run in its place among the sessions.
    """
    pending = sorted(timeline, key=lambda item: item[0])
    busy_until: dict[date, datetime] = {}
    for session in sorted(sessions, key=lambda s: (s.scheduled_date, s.start_time or time(9, 0), s.pk)):
        if session.kind == DOSING:
            free = busy_until.get(session.scheduled_date)
            start = scheduled_at(session)
            if free is not None and start < free and free.date() == session.scheduled_date:
                session.start_time = free.time()
                session.save(update_fields=["start_time"])
                start = scheduled_at(session)
            busy_until[session.scheduled_date] = start + timedelta(minutes=DOSING_SLOT_MIN)
        while pending and pending[0][0] <= scheduled_at(session) + timedelta(minutes=DOSING_STEPS["started"]):
            pending.pop(0)[1]()
        walk_past_session(session, nurse=nurse, therapist=therapist, give_dose=give_dose)
    for _at, action in pending:
        action()


def seed_courses(
    *,
    patients: list[Patient],
    prescriber: User,
    nurse: User,
    therapist: User,
    rng: random.Random,
    today: date,
    give_dose: Callable[[CareSession], datetime | None],
    timeline: Sequence[tuple[datetime, Callable[[], object]]] = (),
) -> list[TreatmentCourse]:
    """Enrol the approved patients: finished, mid-course, starting soon, and dosing today.
    ``timeline``: other dated actions to run in their place among the past sessions."""
    courses = []
    to_walk: list[CareSession] = []
    after_walking: list[tuple[TreatmentCourse, int, int]] = []
    eligible = [p for p in patients if screening_is_approved(screening_current(p)) and _protocol_for(p, rng)]
    for index, patient in enumerate(eligible):
        if TreatmentCourse.objects.filter(patient=patient).exists():
            continue
        slug = _protocol_for(patient, rng)
        protocol = get_protocol(slug)
        first_dose = min(s.day_offset for s in protocol.sessions if s.kind == DOSING)
        stage = index % 5
        if stage == 0:  # dosing today: on the day board
            start = today - timedelta(days=first_dose)
        elif stage == 1:  # finished some months ago
            start = today - timedelta(days=rng.randint(150, 330))
        elif stage == 2:  # mid-course
            start = today - timedelta(days=rng.randint(9, 20))
        elif stage == 3:  # starting soon
            start = today + timedelta(days=rng.randint(1, 10))
        else:  # withdrawn after preparation
            start = today - timedelta(days=rng.randint(30, 90))
        start = max(start, today - timedelta(days=365))
        course = course_enrol(
            actor=prescriber,
            patient=patient,
            protocol_slug=slug,
            start_date=start,
            arm="open-label" if index % 2 else "",
        )
        enrolment_place_before_first_session(course)
        sessions = list(course.sessions.order_by("scheduled_date", "order"))
        for number, session in enumerate(sessions):
            session.start_time = time(8 + (number + index) % 8, 30 if index % 2 else 0)
            session.room = (
                ROOMS[3] if session.kind == "integration" and session.is_group else ROOMS[index % 3]
            )
            session.save(update_fields=["start_time", "room"])
        for session in sessions:
            if session.scheduled_date >= today or (stage == 4 and session.kind == DOSING):
                break
            to_walk.append(session)
        after_walking.append((course, stage, index))
        courses.append(course)
    walk_past_sessions(to_walk, nurse=nurse, therapist=therapist, give_dose=give_dose, timeline=timeline)
    for course, stage, index in after_walking:
        if stage == 1:
            course_change_status(actor=prescriber, course=course, action="complete")
        elif stage == 4:
            course_change_status(
                actor=prescriber,
                course=course,
                action="withdraw",
                reason="Patient chose to continue with outpatient counselling only.",
            )
        elif stage == 0:
            _today_states(course, nurse=nurse, variant=index)
    return courses


#: Today's dosing sessions, by how far they have come: minutes before the seeding moment at which
#: each was scheduled, checked in and (for a cleared one) checked. A cleared session is the one
#: the monitoring demo doses (started 25 min before the seeding moment).
TODAY_CHECKED_IN = (20, 15)
TODAY_CLEARED = (60, 55, 45)


def _today_states(course: TreatmentCourse, *, nurse: User, variant: int) -> None:
    """Put today's dosing session at a different point of the day for each patient, relative to
    the moment of seeding: scheduled later today, checked in a quarter of an hour ago, or
    cleared by the day-of checks 45 min ago (scheduled an hour ago)."""
    session = course.sessions.filter(kind=DOSING).order_by("order").first()
    # 0: scheduled, 1: checked in, 2: cleared. Today's first patient is cleared, so that even a
    # small demo has a dose in progress on the monitoring board (the monitoring demo starts it).
    steps = (2 - variant // 5) % 3
    now = timezone.now()
    tz = ZoneInfo(session.clinic.timezone)
    if steps == 0:
        # Later today when the day has room for it; otherwise the protocol's time stands.
        later = (now + timedelta(minutes=45 + 15 * (variant % 4))).astimezone(tz)
        if later.date() == now.astimezone(tz).date():
            session.start_time = time(later.hour, later.minute - later.minute % 5)
            session.save(update_fields=["start_time"])
        return
    # Several cleared patients are an hour apart, so they do not share a chair at once.
    stagger = 60 * (variant // 15)
    minutes = TODAY_CLEARED if steps == 2 else TODAY_CHECKED_IN
    times = today_times(
        now=now,
        earliest=local_midnight(session.clinic, now),
        minutes_before=[m + stagger for m in minutes],
    )
    local = times[0].astimezone(tz)
    session.start_time = time(local.hour, local.minute)  # to the minute, not after the check-in
    session.save(update_fields=["start_time"])
    session = session_transition(actor=nurse, session=session, to="checked_in", at=times[1])
    if steps == 2:
        day_of_checks_record(actor=nurse, session=session, inputs=PASSING, at=times[2])
