"""Care pathway API: protocols, enrolment, sessions and their transitions."""
# No "from __future__ import annotations" in API modules: django-ninja resolves the operation
# signatures through the role wrapper, which lives in another module, so annotations must be real.

from datetime import date

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
