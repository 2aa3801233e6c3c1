"""Safety API: report and list a patient's adverse events, a prescriber's review."""
# No "from __future__ import annotations" in API modules: django-ninja resolves the operation
# signatures through the role wrapper, which lives in another module, so annotations must be real.

from datetime import datetime

from django.http import Http404, HttpRequest
from ninja import Schema, Status

from kapstone.accounts.access import scoped_get
from kapstone.accounts.api_kit import KapstoneRouter, RecordId, StrictSchema, api_roles, paginated, text
from kapstone.care.models import CareSession
from kapstone.domain.errors import DomainError
from kapstone.patients.selectors import patient_get_for_user
from kapstone.safety import selectors, services
from kapstone.safety.access import SAFETY_PRESCRIBE, SAFETY_READ, SAFETY_RECORD

router = KapstoneRouter()


class AdverseEventIn(StrictSchema):
    term: text(40, min_length=1)
    term_text: text(500) | None = None
    onset_at: datetime
    grade: int
    serious: bool
    seriousness_criteria: list[text(40)] = []
    relatedness: text(20, min_length=1)
    action_taken: text(30, min_length=1)
    outcome: text(30, min_length=1)
    resolved_at: datetime | None = None
    session_id: RecordId | None = None


class AdverseEventCreated(Schema):
    id: int
    term: str
    grade: int
    serious: bool
    status: str


class AdverseEventOut(Schema):
    id: int
    term: str
    term_text: str | None
    onset_at: datetime
    grade: int
    serious: bool
    seriousness_criteria: list[str]
    relatedness: str
    action_taken: str
    outcome: str
    resolved_at: datetime | None
    session_id: int | None
    status: str
    reviewed: bool


class ReviewIn(StrictSchema):
    note: text(5000, min_length=1)


class ReviewOut(Schema):
    id: int
    adverse_event_id: int
    reviewed_at: datetime


def _event_out(event) -> dict:
    return {
        "id": event.pk,
        "term": event.term,
        "term_text": event.term_text or None,
        "onset_at": event.onset_at,
        "grade": event.grade,
        "serious": event.serious,
        "seriousness_criteria": list(event.seriousness_criteria),
        "relatedness": event.relatedness,
        "action_taken": event.action_taken,
        "outcome": event.outcome,
        "resolved_at": event.resolved_at,
        "session_id": event.session_id,
        "status": event.status,
        "reviewed": bool(getattr(event, "reviewed", False)),
    }


@router.post("/patients/{int:patient_id}/adverse-events", response={201: AdverseEventCreated})
@api_roles(*SAFETY_RECORD)
def report_adverse_event(request: HttpRequest, patient_id: RecordId, payload: AdverseEventIn):
    patient = patient_get_for_user(user=request.auth, patient_id=patient_id, roles=SAFETY_RECORD)
    data = payload.dict()
    session_id = data.pop("session_id")
    session = None
    if session_id is not None:
        try:
            # Another clinic's session is refused as a missing one is, and recorded as denied.
            session = scoped_get(
                CareSession.objects.filter(patient=patient),
                session_id,
                user=request.auth,
                roles=SAFETY_RECORD,
                object_type="session",
                audit=False,
            )
        except Http404:
            raise DomainError(
                "session_not_of_patient", "That session is not one of this patient's.", field="session_id"
            ) from None
    event = services.adverse_event_report(actor=request.auth, patient=patient, session=session, **data)
    return Status(
        201,
        {
            "id": event.pk,
            "term": event.term,
            "grade": event.grade,
            "serious": event.serious,
            "status": event.status,
        },
    )


@router.get("/patients/{int:patient_id}/adverse-events", response=list[AdverseEventOut])
@api_roles(*SAFETY_READ)
@paginated
def list_adverse_events(request: HttpRequest, patient_id: RecordId):
    _, events = selectors.adverse_event_list_for_user(user=request.auth, patient_id=patient_id)
    return [_event_out(event) for event in events]


@router.post("/adverse-events/{int:event_id}/review", response={201: ReviewOut})
@api_roles(*SAFETY_PRESCRIBE)
def review_adverse_event(request: HttpRequest, event_id: RecordId, payload: ReviewIn):
    event = selectors.adverse_event_get_for_user(user=request.auth, event_id=event_id, roles=SAFETY_PRESCRIBE)
    review = services.adverse_event_review(actor=request.auth, event=event, note=payload.note)
    return Status(201, {"id": review.pk, "adverse_event_id": event.pk, "reviewed_at": review.reviewed_at})


class SafetyPlanIn(StrictSchema):
    plan: text(5000, min_length=1)


class SafetyPlanOut(Schema):
    id: int
    plan: str
    prescriber: str
    documented_at: datetime


def _plan_out(row) -> dict:
    return {
        "id": row.pk,
        "plan": row.plan,
        "prescriber": row.prescriber.username,
        "documented_at": row.documented_at,
    }


@router.post("/patients/{int:patient_id}/safety-plans", response={201: SafetyPlanOut})
@api_roles(*SAFETY_PRESCRIBE)
def record_safety_plan(request: HttpRequest, patient_id: RecordId, payload: SafetyPlanIn):
    """A prescriber's safety plan (Stanley & Brown 2012); one documented after a C-SSRS at high
    risk lifts its hold on dosing (``suicide_risk_high``)."""
    patient = patient_get_for_user(user=request.auth, patient_id=patient_id, roles=SAFETY_PRESCRIBE)
    row = services.safety_plan_record(actor=request.auth, patient=patient, plan=payload.plan)
    return Status(201, _plan_out(row))


@router.get("/patients/{int:patient_id}/safety-plans", response=list[SafetyPlanOut])
@api_roles(*SAFETY_READ)
@paginated
def list_safety_plans(request: HttpRequest, patient_id: RecordId):
    patient = patient_get_for_user(user=request.auth, patient_id=patient_id, roles=SAFETY_READ)
    return [_plan_out(row) for row in selectors.safety_plans_of(patient)]
