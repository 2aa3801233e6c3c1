"""Outcomes API: questionnaires, use-calendar days and urine/EtG test results."""
# No "from __future__ import annotations" in API modules: django-ninja resolves the operation
# signatures through the role wrapper, which lives in another module, so annotations must be real.

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Schema, Status
from pydantic import StrictBool

from kapstone.accounts.api_kit import KapstoneRouter, RecordId, StrictSchema, api_roles, paginated, text
from kapstone.outcomes import selectors, services
from kapstone.outcomes.access import OUTCOMES_READ, OUTCOMES_RECORD
from kapstone.outcomes.models import QuestionnaireResponse, ToxicologyTest
from kapstone.patients.selectors import patient_get_for_user

router = KapstoneRouter()


class QuestionnaireIn(StrictSchema):
    # Instrument, answers and sex are checked by the domain (unknown_instrument,
    # wrong_answer_count, answer_out_of_range, invalid_answer, sex_required), the same check
    # the web form and `kapstone score` get, so they are not typed tighter here.
    instrument: Any
    answers: Any
    sex: Any = None
    administered_on: date | None = None
    # 0 = baseline, n = the n-month follow-up of the patient's latest course.
    time_point_months: int | None = None


class QuestionnaireOut(Schema):
    id: int
    instrument: str
    total: int
    band: str | None
    flags: list[str]


class QuestionnaireDetailOut(QuestionnaireOut):
    answers: list[int]
    scoring_version: str
    administered_on: date
    time_point_months: int | None
    # "staff" or "patient" (entered by the patient in the portal).
    source: Literal["staff", "patient"]


def _questionnaire_out(response: QuestionnaireResponse, *, detail: bool = False) -> dict:
    body = {
        "id": response.pk,
        "instrument": response.instrument,
        "total": response.total,
        "band": response.band or None,
        "flags": list(response.flags),
    }
    if detail:
        body |= {
            "answers": response.answers,
            "scoring_version": response.scoring_version,
            "administered_on": response.administered_on,
            "time_point_months": response.time_point_months,
            "source": response.source,
        }
    return body


@router.post("/patients/{int:patient_id}/questionnaires", response={201: QuestionnaireOut})
@api_roles(*OUTCOMES_RECORD)
def record_questionnaire(request: HttpRequest, patient_id: RecordId, payload: QuestionnaireIn):
    patient = patient_get_for_user(user=request.auth, patient_id=patient_id, roles=OUTCOMES_RECORD)
    course = None
    if payload.time_point_months is not None:
        course = patient.courses.order_by("-start_date", "-id").first()
    response = services.questionnaire_record(
        actor=request.auth,
        patient=patient,
        instrument=payload.instrument,
        answers=payload.answers,
        sex=payload.sex,
        course=course,
        time_point_months=payload.time_point_months,
        administered_on=payload.administered_on,
    )
    return Status(201, _questionnaire_out(response))


@router.get("/patients/{int:patient_id}/questionnaires", response=list[QuestionnaireDetailOut])
@api_roles(*OUTCOMES_READ)
@paginated
def list_questionnaires(request: HttpRequest, patient_id: RecordId):
    history = selectors.questionnaire_list_for_user(user=request.auth, patient_id=patient_id)
    return [_questionnaire_out(r, detail=True) for r in history.responses]


class UseDayIn(StrictSchema):
    day: date
    standard_drinks: Decimal | None = None
    used: StrictBool | None = None
    amount: Decimal | None = None
    amount_unit: text(20) | None = None
    marker: text(100) | None = None


class UseDaysIn(StrictSchema):
    substance: text(40, min_length=1)
    days: list[UseDayIn]


class UseDaysOut(Schema):
    substance: str
    days_given: int
    days_written: int


@router.post("/patients/{int:patient_id}/use-days", response={201: UseDaysOut})
@api_roles(*OUTCOMES_RECORD)
def record_use_days(request: HttpRequest, patient_id: RecordId, payload: UseDaysIn):
    patient = patient_get_for_user(user=request.auth, patient_id=patient_id, roles=OUTCOMES_RECORD)
    days = [day.model_dump() for day in payload.days]
    written = services.use_days_record(
        actor=request.auth, patient=patient, substance=payload.substance, days=days
    )
    return Status(
        201,
        {
            "substance": payload.substance.strip().lower(),
            "days_given": len(days),
            "days_written": len(written),
        },
    )


class ToxicologyResultIn(StrictSchema):
    substance: text(40, min_length=1)
    result: str
    confirmed: StrictBool


class ToxicologyIn(StrictSchema):
    collected_on: date
    method: str
    results: list[ToxicologyResultIn]


class ToxicologyOut(Schema):
    id: int
    collected_on: date
    substance: str
    method: str
    result: str
    confirmed: bool


def _test_out(test: ToxicologyTest) -> dict:
    return {
        "id": test.pk,
        "collected_on": test.collected_on,
        "substance": test.substance,
        "method": test.method,
        "result": test.result,
        "confirmed": test.confirmed,
    }


@router.post("/patients/{int:patient_id}/urine-tests", response={201: list[ToxicologyOut]})
@api_roles(*OUTCOMES_RECORD)
def record_urine_tests(request: HttpRequest, patient_id: RecordId, payload: ToxicologyIn):
    patient = patient_get_for_user(user=request.auth, patient_id=patient_id, roles=OUTCOMES_RECORD)
    rows = services.toxicology_record(
        actor=request.auth,
        patient=patient,
        collected_on=payload.collected_on,
        method=payload.method,
        results=[r.model_dump() for r in payload.results],
    )
    return Status(201, [_test_out(t) for t in rows])
