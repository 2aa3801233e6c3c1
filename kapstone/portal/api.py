"""API of the public door: the pre-screen and referrals (public, no token) and the clinic's
referral queue (staff, token)."""
# No "from __future__ import annotations" in API modules: django-ninja resolves the operation
# signatures through the role wrapper, which lives in another module, so annotations must be real.

from datetime import date, datetime
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Schema, Status

from kapstone.accounts.api_kit import (
    KapstoneRouter,
    Page,
    RecordId,
    StrictSchema,
    api_public,
    api_roles,
    paginated,
    text,
)
from kapstone.portal import selectors, services
from kapstone.portal.models import Referral

public_router = KapstoneRouter()
router = KapstoneRouter()


def _address(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


# --- Public -------------------------------------------------------------------------------------


class PrescreenIn(StrictSchema):
    # Any JSON: the pre-screen checks the answers itself and names the key at fault.
    answers: Any = None


class PrescreenReasonOut(Schema):
    code: str
    severity: str
    message: str


class MatchOut(Schema):
    clinic_id: int
    clinic_name: str
    protocols: list[str]
    why: list[str]
    wait_weeks: int


class PrescreenOut(Schema):
    result: str
    crisis: bool
    reasons: list[PrescreenReasonOut]
    matches: list[MatchOut]


@public_router.post("/prescreen", response=PrescreenOut, auth=None)
@api_public
def prescreen(request: HttpRequest, payload: PrescreenIn):
    """The provisional result and the matching clinics. Nothing is stored."""
    return services.prescreen_run(answers=payload.answers, address=_address(request)).as_dict()


class ContactIn(StrictSchema):
    name: Any = None
    email: Any = None
    phone: Any = None
    preferred_time: Any = None


class ReferralIn(StrictSchema):
    clinic_id: Any = None
    answers: Any = None
    contact: ContactIn | None = None
    consent_to_contact: Any = None


class ReferenceOut(Schema):
    reference: str


@public_router.post("/referrals", response={201: ReferenceOut}, auth=None)
@api_public
def submit_referral(request: HttpRequest, payload: ReferralIn):
    """Ask a matching clinic to make contact; from now on the referral is that clinic's PHI."""
    referral = services.referral_submit(
        clinic_id=payload.clinic_id,
        answers=payload.answers,
        contact=payload.contact.dict() if payload.contact else None,
        consent_to_contact=payload.consent_to_contact,
        address=_address(request),
    )
    return Status(201, {"reference": referral.reference})


# --- The clinic's queue --------------------------------------------------------------------------


class ContactOut(Schema):
    name: str
    email: str
    phone: str
    preferred_time: str


class ReferralOut(Schema):
    id: int
    reference: str
    status: str
    result: str
    reasons: list[PrescreenReasonOut]
    created_at: datetime
    contact: ContactOut
    overdue: bool


def _referral_out(referral: Referral, overdue: bool) -> dict:
    return {
        "id": referral.pk,
        "reference": referral.reference,
        "status": referral.status,
        "result": referral.result,
        "reasons": referral.reasons,
        "created_at": referral.created_at,
        "contact": {
            "name": referral.contact_name,
            "email": referral.contact_email,
            "phone": referral.contact_phone,
            "preferred_time": referral.preferred_time,
        },
        "overdue": overdue,
    }


@router.get("", response=list[ReferralOut])
@api_roles(*selectors.REFERRAL_STAFF)
@paginated(window=True, array=True)  # issue 12 pins the bare array: the count is in X-Total-Count
def list_referrals(request: HttpRequest, response: HttpResponse, status: text(20) = "", **kwargs):
    window = kwargs["page"]
    rows, total = selectors.referral_queue_page_for_user(
        user=request.auth, status=status or None, limit=window.limit, offset=window.offset
    )
    return Page([_referral_out(row.referral, row.overdue) for row in rows], total)


class StatusIn(StrictSchema):
    to: text(20, min_length=1)
    reason: text(500) = ""


@router.post("/{int:referral_id}/status", response=ReferralOut)
@api_roles(*selectors.REFERRAL_STAFF)
def change_status(request: HttpRequest, referral_id: RecordId, payload: StatusIn):
    referral = selectors.referral_get_for_user(user=request.auth, referral_id=referral_id)
    moved = services.referral_status_change(
        actor=request.auth, referral=referral, to=payload.to, reason=payload.reason
    )
    return _referral_out(moved, selectors.referral_is_overdue(moved))


class ConvertIn(StrictSchema):
    mrn: text(32, min_length=1)
    # Optional: taken from the referral when absent (name split from the one typed; birth date
    # estimated from the age given, and marked so; sex at birth "unknown").
    given_name: text(100) | None = None
    family_name: text(100) | None = None
    birth_date: date | None = None
    sex: Literal["female", "male", "intersex", "unknown"] | None = None


class ConvertOut(Schema):
    patient_id: int
    screening_id: int  # the screening draft pre-filled from the referral's answers


@router.post("/{int:referral_id}/convert", response=ConvertOut)
@api_roles(*selectors.REFERRAL_STAFF)
def convert(request: HttpRequest, referral_id: RecordId, payload: ConvertIn):
    referral = selectors.referral_get_for_user(user=request.auth, referral_id=referral_id)
    patient, draft = services.referral_convert(
        actor=request.auth,
        referral=referral,
        mrn=payload.mrn,
        given_name=payload.given_name or None,
        family_name=payload.family_name or None,
        birth_date=payload.birth_date,
        sex_at_birth=payload.sex,
    )
    return {"patient_id": patient.pk, "screening_id": draft.pk}
