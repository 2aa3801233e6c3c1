"""Demo courses: patients enrolled at every stage, and a day board for today.

Called by ``kapstone seed_demo`` after the screenings exist. Sessions in the past are walked
through the same services a nurse or therapist would use (their events carry the seed time).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, time, timedelta
from decimal import Decimal

from kapstone.accounts.models import User
from kapstone.care.enrolment_demo import enrolment_place_before_first_session
from kapstone.care.models import CareSession, TreatmentCourse
from kapstone.care.services import (
    course_change_status,
    course_enrol,
    day_of_checks_record,
    session_transition,
)
from kapstone.domain.protocols import DOSING, get_protocol
from kapstone.patients.models import Patient
from kapstone.screening.selectors import screening_current, screening_is_approved

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
}
# Which protocol suits which primary diagnosis (by ICD-10-CM prefix).
BY_SUBSTANCE = {
    "F10": ("kare-alcohol-grabski-2022", "ketamine-met-alcohol-dakwar-2020", "kpt-alcohol-krupitsky-1997"),
    "F11": ("kpt-heroin-krupitsky-2007",),
    "F14": ("ketamine-mbrp-cocaine-dakwar-2019",),
}


def _protocol_for(patient: Patient, rng: random.Random) -> str | None:
    primary = patient.diagnoses.filter(is_primary=True, voided_at__isnull=True).first()
    if primary is None:
        return None
    options = BY_SUBSTANCE.get(primary.code[:3])
    return rng.choice(options) if options else None


def _complete(session: CareSession, *, nurse: User, therapist: User, give_dose: Callable | None) -> None:
    """Walk a past session through its states as the staff would have.

    ``give_dose(session)`` (from the dosing app, which care may not import) orders, verifies and
    gives the dose of a cleared dosing session, leaving it ``recovering``.
    """
    if session.kind == DOSING:
        session = session_transition(actor=nurse, session=session, to="checked_in")
        day_of_checks_record(actor=nurse, session=session, inputs=PASSING)
        session.refresh_from_db()
        if give_dose is not None:
            give_dose(session)
            session.refresh_from_db()
        else:
            for to in ("in_progress", "recovering"):
                session = session_transition(actor=nurse, session=session, to=to)
        # The demo writes history after the fact: the monitoring seed adds this session's
        # observations afterwards, so the criteria are not evaluated here.
        session_transition(actor=nurse, session=session, to="discharged", discharge_evaluated=True)
    else:
        for to in ("checked_in", "in_progress", "discharged"):
            session = session_transition(actor=therapist, session=session, to=to)


def seed_courses(
    *,
    patients: list[Patient],
    prescriber: User,
    nurse: User,
    therapist: User,
    rng: random.Random,
    today: date,
    give_dose: Callable | None = None,
) -> list[TreatmentCourse]:
    """Enrol the approved patients: finished, mid-course, starting soon, and dosing today."""
    courses = []
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
            _complete(session, nurse=nurse, therapist=therapist, give_dose=give_dose)
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
        courses.append(course)
    return courses


def _today_states(course: TreatmentCourse, *, nurse: User, variant: int) -> None:
    """Put today's dosing session at a different point of the morning for each patient."""
    session = course.sessions.filter(kind=DOSING).order_by("order").first()
    steps = variant % 3  # 0: scheduled, 1: checked in, 2: cleared
    if steps >= 1:
        session = session_transition(actor=nurse, session=session, to="checked_in")
    if steps >= 2:
        day_of_checks_record(actor=nurse, session=session, inputs=PASSING)
