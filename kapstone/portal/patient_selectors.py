"""Reads of the signed-in patient's own record for the portal: sessions, preparation, what is due.

Every function takes the patient's account (from ``request.patient_account``), never a patient
id from the request. The ``*_read`` functions are what a page or the API calls: they audit the
read with the patient as actor; the others are building blocks, not audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from kapstone.care.models import CareSession
from kapstone.care.services import course_protocol
from kapstone.domain import patient_sessions
from kapstone.domain.preparation import Instruction, preparation_instructions
from kapstone.patients.models import Patient
from kapstone.patients.services import clinic_today
from kapstone.portal import outcome_selectors
from kapstone.portal.access import audit_own_read
from kapstone.portal.consent import ConsentState, consent_states
from kapstone.portal.models import PatientAccount
from kapstone.portal.selectors import service_profile_current

#: Statuses of a session still ahead of the patient (shown with its preparation).
AHEAD = frozenset({patient_sessions.BOOKED, patient_sessions.UNDER_WAY})


@dataclass(frozen=True)
class PatientSession:
    """One session as its patient sees it: no notes, no dose."""

    id: int
    kind: str
    kind_words: str
    scheduled_date: date
    start_time: time | None
    starts_at: datetime | None  # aware, in the clinic's zone; None while no time is booked
    room: str
    clinic_name: str
    status: str
    status_words: str
    instructions: tuple[Instruction, ...]

    @property
    def is_ahead(self) -> bool:
        return self.status in AHEAD

    @property
    def starts_at_iso(self) -> str:
        """ISO 8601: the date and time with the clinic's offset, or the date alone."""
        return self.starts_at.isoformat() if self.starts_at else self.scheduled_date.isoformat()


def sessions_of(patient: Patient, *, today: date | None = None) -> list[PatientSession]:
    """Every session of the patient's courses, in date and time order, each with its status in
    the patient's words and, for one still ahead, its preparation instructions."""
    clinic = patient.clinic
    today = today or clinic_today(clinic)
    zone = ZoneInfo(clinic.timezone)
    profile = service_profile_current(clinic_id=clinic.pk)
    contact_line = profile.contact_line if profile else ""
    rows = list(
        CareSession.objects.filter(patient=patient)
        .select_related("course")
        .order_by("scheduled_date", "start_time", "order", "id")
    )
    protocols: dict[int, Any] = {}
    result = []
    for row in rows:
        status = patient_sessions.patient_session_status(
            state=row.status, course_status=row.course.status, scheduled_date=row.scheduled_date, today=today
        )
        instructions: tuple[Instruction, ...] = ()
        if status in AHEAD:
            if row.course_id not in protocols:
                protocols[row.course_id] = course_protocol(row.course)
            instructions = preparation_instructions(
                kind=row.kind,
                scheduled_date=row.scheduled_date,
                start_time=row.start_time,
                day_of=protocols[row.course_id].day_of,
                clinic_name=clinic.name,
                contact_line=contact_line,
            )
        result.append(
            PatientSession(
                id=row.pk,
                kind=row.kind,
                kind_words=patient_sessions.session_kind_words(row.kind, group=row.is_group),
                scheduled_date=row.scheduled_date,
                start_time=row.start_time,
                starts_at=datetime.combine(row.scheduled_date, row.start_time, tzinfo=zone)
                if row.start_time
                else None,
                room=row.room,
                clinic_name=clinic.name,
                status=status,
                status_words=patient_sessions.STATUS_WORDS[status],
                instructions=instructions,
            )
        )
    return result


@dataclass(frozen=True)
class PatientHome:
    today: date
    next_session: PatientSession | None
    due: list[Any]  # outcome_selectors.DueQuestionnaire
    has_course: bool
    consents_to_sign: list[ConsentState]


def home_read(*, account: PatientAccount) -> PatientHome:
    """The home page: the next session with its preparation, the questionnaires due, whether
    there is a calendar to keep (a course), and the consents waiting for a signature."""
    patient = account.patient
    today = clinic_today(patient.clinic)
    sessions = sessions_of(patient, today=today)
    home = PatientHome(
        today=today,
        next_session=next((s for s in sessions if s.is_ahead), None),
        due=list(outcome_selectors.due_for_patient(patient, today)),
        has_course=patient.courses.exists(),
        consents_to_sign=[s for s in consent_states(patient) if s.needs_signature],
    )
    audit_own_read(account, "portal_home", due=len(home.due))
    return home


def sessions_read(*, account: PatientAccount) -> tuple[list[PatientSession], list[PatientSession]]:
    """(upcoming, past) sessions of the patient: upcoming soonest first, past latest first."""
    sessions = sessions_of(account.patient)
    today = clinic_today(account.patient.clinic)
    # Ahead: booked or under way, and the sessions of a paused course that have not passed.
    upcoming = [
        s
        for s in sessions
        if s.is_ahead or (s.status == patient_sessions.ON_HOLD and s.scheduled_date >= today)
    ]
    shown = {s.id for s in upcoming}
    past = [s for s in reversed(sessions) if s.id not in shown]
    audit_own_read(account, "portal_sessions", upcoming=len(upcoming), past=len(past))
    return upcoming, past


@dataclass(frozen=True)
class PatientSummary:
    patient: Patient
    sessions: list[PatientSession]
    due: list[Any]


def me_read(*, account: PatientAccount) -> PatientSummary:
    """``GET /api/v1/portal/me``: the patient, every session, what is due."""
    patient = account.patient
    today = clinic_today(patient.clinic)
    summary = PatientSummary(
        patient=patient,
        sessions=sessions_of(patient, today=today),
        due=list(outcome_selectors.due_for_patient(patient, today)),
    )
    audit_own_read(account, "portal_me", sessions=len(summary.sessions), due=len(summary.due))
    return summary


def settings_read(*, account: PatientAccount) -> PatientAccount:
    """The settings page (reminders, language): audited like every portal read."""
    audit_own_read(account, "portal_settings")
    return account
