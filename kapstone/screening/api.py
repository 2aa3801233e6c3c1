"""Screening API: record a screening, sign one off."""
# No "from __future__ import annotations" in API modules: django-ninja resolves the operation
# signatures through the role wrapper, which lives in another module, so annotations must be real.

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Schema, Status
from pydantic import StrictBool

from kapstone.accounts.api_kit import KapstoneRouter, RecordId, StrictSchema, api_roles, text
from kapstone.patients.selectors import patient_get_for_user
from kapstone.screening import selectors, services
from kapstone.screening.access import SCREENING_RECORD, SCREENING_SIGN_OFF
from kapstone.screening.models import Screening, ScreeningSignOff
from kapstone.screening.services import REASON_MAX_CHARS

router = KapstoneRouter()


class ScreeningIn(StrictSchema):
    # The answers are checked by the domain (missing_answer, invalid_answer, implausible_value…),
    # the same check the web form and `kapstone screen` get, so they are not typed here.
    answers: dict[str, Any]


class ReasonOut(Schema):
    code: str
    severity: str
    message: str
    source: str


class ScreeningOut(Schema):
    id: int
    decision: str
    reasons: list[ReasonOut]


class SignOffIn(StrictSchema):
    approve: StrictBool
    reason: text(REASON_MAX_CHARS) = ""


class SignOffOut(Schema):
    id: int
    screening_id: int
    approve: bool
    reason: str
    signed_by: str
    signed_at: datetime


def _screening_out(screening: Screening) -> dict:
    return {"id": screening.pk, "decision": screening.decision, "reasons": screening.reasons}


def _sign_off_out(sign_off: ScreeningSignOff) -> dict:
    return {
        "id": sign_off.pk,
        "screening_id": sign_off.screening_id,
        "approve": sign_off.approve,
        "reason": sign_off.reason,
        "signed_by": sign_off.signed_by.get_username(),
        "signed_at": sign_off.signed_at,
    }


@router.post("/patients/{int:patient_id}/screenings", response={201: ScreeningOut})
@api_roles(*SCREENING_RECORD)
def record_screening(request: HttpRequest, patient_id: RecordId, payload: ScreeningIn):
    patient = patient_get_for_user(user=request.auth, patient_id=patient_id, roles=SCREENING_RECORD)
    screening = services.screening_record(actor=request.auth, patient=patient, answers=payload.answers)
    return Status(201, _screening_out(screening))


@router.post("/screenings/{int:screening_id}/sign-off", response={201: SignOffOut})
@api_roles(*SCREENING_SIGN_OFF)
def sign_off_screening(request: HttpRequest, screening_id: RecordId, payload: SignOffIn):
    screening = selectors.screening_get_for_user(
        user=request.auth, screening_id=screening_id, roles=SCREENING_SIGN_OFF
    )
    sign_off = services.screening_sign_off(
        actor=request.auth, screening=screening, approve=payload.approve, reason=payload.reason
    )
    return Status(201, _sign_off_out(sign_off))
