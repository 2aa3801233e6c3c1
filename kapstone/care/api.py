"""Care pathway API: protocols, enrolment, sessions and their transitions."""
# No "from __future__ import annotations" in API modules: django-ninja resolves the operation
# signatures through the role wrapper, which lives in another module, so annotations must be real.

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Schema, Status

from kapstone.accounts.access import (
    ALL_STAFF,
    CLINICAL,
    DOSING_CLINICIANS,
    PATIENT_READ,
    PRESCRIBERS,
    clinic_ids_for,
    has_role,
)
from kapstone.accounts.api_kit import (
    FilterDate,
    Forbidden,
    KapstoneRouter,
    Page,
    RecordId,
    StrictSchema,
    api_roles,
    paginated,
    text,
)
from kapstone.accounts.models import Role
from kapstone.care import selectors, services
from kapstone.care.protocols import protocols_for_clinics
from kapstone.domain.errors import DomainError
from kapstone.domain.protocols import DOSING
from kapstone.domain.sessions import SESSION_STATES
from kapstone.patients.selectors import patient_get_for_user

router = KapstoneRouter()


class ProtocolOut(Schema):
    slug: str
    version: int
    title: str
    source: str
    indication: str
    clinic_id: int | None


@router.get("/protocols", response=list[ProtocolOut])
@api_roles(*ALL_STAFF)
@paginated
def list_protocols(request: HttpRequest):
    return [
        {
            "slug": p.slug,
            "version": p.version,
            "title": p.title,
            "source": p.source,
            "indication": p.indication,
            "clinic_id": owner,
        }
        for p, owner in protocols_for_clinics(clinic_ids_for(request.auth, ALL_STAFF))
    ]


class CourseIn(StrictSchema):
    protocol: text(80, min_length=1)
    start_date: date
    arm: text(40) = ""
    version: int | None = None


class SessionOut(Schema):
    id: int
    kind: str
    scheduled_for: date
    status: str


class CourseOut(Schema):
    id: int
    protocol: str
    version: int
    start_date: date
    arm: str
    status: str
    sessions: list[SessionOut]


def _session_out(session) -> dict:
    return {
        "id": session.pk,
        "kind": session.kind,
        "scheduled_for": session.scheduled_date,
        "status": session.status,
    }


@router.post("/patients/{int:patient_id}/courses", response={201: CourseOut})
@api_roles(Role.PRESCRIBER)
def enrol(request: HttpRequest, patient_id: RecordId, payload: CourseIn):
    patient = patient_get_for_user(user=request.auth, patient_id=patient_id, roles=PRESCRIBERS)
    course = services.course_enrol(
        actor=request.auth,
        patient=patient,
        protocol_slug=payload.protocol,
        protocol_version=payload.version,
        start_date=payload.start_date,
        arm=payload.arm,
    )
    sessions = course.sessions.order_by("scheduled_date", "order")
    return Status(
        201,
        {
            "id": course.pk,
            "protocol": course.protocol_slug,
            "version": course.protocol_version,
            "start_date": course.start_date,
            "arm": course.arm,
            "status": course.status,
            "sessions": [_session_out(s) for s in sessions],
        },
    )


class SessionListOut(SessionOut):
    patient_id: int
    course_id: int
    title: str
    room: str


@router.get("/sessions", response=list[SessionListOut])
@api_roles(*PATIENT_READ)
@paginated(window=True)
def list_sessions(request: HttpRequest, date: FilterDate | None = None, status: str | None = None, **kwargs):
    if status is not None and status not in SESSION_STATES:
        raise DomainError("invalid_status", f"Unknown session status {status!r}.", field="status")
    window = kwargs["page"]
    sessions, total = selectors.session_page_for_user(
        user=request.auth, day=date, status=status, limit=window.limit, offset=window.offset
    )
    return Page(
        [
            _session_out(s)
            | {"patient_id": s.patient_id, "course_id": s.course_id, "title": s.title, "room": s.room}
            for s in sessions
        ],
        total,
    )


class TransitionIn(StrictSchema):
    to: text(20, min_length=1)
    reason: text(500) = ""


@router.post("/sessions/{int:session_id}/transition", response=SessionOut)
@api_roles(*CLINICAL)
def transition(request: HttpRequest, session_id: RecordId, payload: TransitionIn):
    session = selectors.session_get_for_user(user=request.auth, session_id=session_id, roles=CLINICAL)
    roles = DOSING_CLINICIANS if session.kind == DOSING else CLINICAL
    if not has_role(request.auth, roles, session.clinic_id):
        raise Forbidden()
    session = services.session_transition(
        actor=request.auth, session=session, to=payload.to, reason=payload.reason or None
    )
    return _session_out(session)


# --- Day-of checks -------------------------------------------------------------------------------


class DayOfChecksIn(StrictSchema):
    """The day-of inputs (``checks``: input name → value, checked by the domain with its stable
    codes) and the written reasons (``overrides``: check name → reason)."""

    checks: dict[str, Any]
    overrides: dict[str, Any] = {}


class DayOfCheckOutcomeOut(Schema):
    check: str
    label: str
    met: bool
    applicable: bool
    value: Any = None
    code: str | None
    message: str
    source: str
    overridable: bool
    soft: bool
    overridden: bool
    override_reason: str | None


class DayOfCheckOut(Schema):
    id: int
    session_id: int
    cleared: bool
    session_status: str
    recorded_at: datetime
    recorded_by: str
    checks: list[DayOfCheckOutcomeOut]


def _day_of_out(row, session_status: str) -> dict:
    result = row.result
    return {
        "id": row.pk,
        "session_id": row.session_id,
        "cleared": row.cleared,
        "session_status": session_status,
        "recorded_at": row.recorded_at,
        "recorded_by": row.recorded_by.username,
        "checks": [outcome.as_dict() | {"label": outcome.label} for outcome in result.checks],
    }


@router.post("/sessions/{int:session_id}/day-of-checks", response={201: DayOfCheckOut})
@api_roles(*DOSING_CLINICIANS)
def record_day_of_checks(request: HttpRequest, session_id: RecordId, payload: DayOfChecksIn):
    """Record the day-of checks of a checked-in dosing session (a re-check is a new recording);
    the session is cleared when they pass. 201 whether or not they cleared it: ``cleared`` says."""
    session = selectors.session_get_for_user(
        user=request.auth, session_id=session_id, roles=DOSING_CLINICIANS
    )
    row = services.day_of_checks_record(
        actor=request.auth,
        session=session,
        inputs=payload.checks,
        overrides=payload.overrides,
        actor_is_prescriber=has_role(request.auth, PRESCRIBERS, session.clinic_id),
    )
    session.refresh_from_db(fields=["status"])
    return Status(201, _day_of_out(row, session.status))


@router.get("/sessions/{int:session_id}/day-of-checks", response=list[DayOfCheckOut])
@api_roles(*PATIENT_READ)
@paginated
def list_day_of_checks(request: HttpRequest, session_id: RecordId):
    """Every recording of the session's day-of checks, the latest first."""
    session = selectors.session_get_for_user(user=request.auth, session_id=session_id)
    _, checks = selectors.session_history(session=session)
    return [_day_of_out(row, session.status) for row in checks]
