"""The portal API of a patient's own outcomes (mounted at /api/v1/portal): questionnaires, the
use calendar and progress. Every operation is the token's patient's own (``api_patient``):
no patient id is taken from the request; staff tokens get 403."""
# No "from __future__ import annotations" in API modules: django-ninja resolves the operation
# signatures through the access wrapper, which lives in another module, so annotations must be real.

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from django.http import HttpRequest
from django.urls import reverse
from ninja import Schema, Status
from pydantic import Field, StrictBool

from kapstone.accounts.api_kit import KapstoneRouter, StrictSchema, text
from kapstone.portal import outcome_selectors, outcome_services
from kapstone.portal.access import api_patient

router = KapstoneRouter()


class PortalQuestionnaireIn(StrictSchema):
    # Checked by the domain, as the CLI's `kapstone score` and the staff API are
    # (unknown_instrument, wrong_answer_count, answer_out_of_range, invalid_answer, sex_required).
    instrument: Any
    answers: Any


class CrisisOut(Schema):
    message: str
    phone: str


class PortalQuestionnaireOut(Schema):
    id: int
    total: int
    band: str | None
    flags: list[str]
    crisis: CrisisOut | None = None


@router.post("/questionnaires", response={201: PortalQuestionnaireOut}, exclude_unset=True)
@api_patient
def submit_questionnaire(request: HttpRequest, payload: PortalQuestionnaireIn):
    """The patient's own answers, scored like staff entry. With the self-harm flag the answer
    carries ``crisis``: how to get help now, to show before anything else."""
    response = outcome_services.patient_questionnaire_submit(
        account=request.patient_account,
        instrument=payload.instrument,
        answers=payload.answers,
        alerts_link=request.build_absolute_uri(reverse("outcomes:flags")),
    )
    body: dict[str, Any] = {
        "id": response.pk,
        "total": response.total,
        "band": response.band or None,
        "flags": list(response.flags),
    }
    crisis = outcome_services.crisis_for(response)
    if crisis is not None:
        body["crisis"] = {"message": crisis.message, "phone": crisis.phone}
    return Status(201, body)


class PatientDayIn(StrictSchema):
    day: date
    # At most 99 in a day, to one decimal place (half drinks).
    standard_drinks: Annotated[Decimal, Field(ge=0, le=99, decimal_places=1)] | None = None
    used: StrictBool | None = None


class PatientDaysIn(StrictSchema):
    substance: text(40, min_length=1)
    days: list[PatientDayIn]


class PatientDaysOut(Schema):
    substance: str
    days_given: int
    stored: int
    not_remembered: int


@router.post("/use-days", response={201: PatientDaysOut})
@api_patient
def submit_use_days(request: HttpRequest, payload: PatientDaysIn):
    """Days of the patient's own calendar. A day with neither ``standard_drinks`` nor ``used`` is
    one they do not remember: it stays missing. ``stored`` counts the rows written (a day given
    again with the same value writes nothing)."""
    days = [day.model_dump() for day in payload.days]
    entry = outcome_services.patient_use_days_submit(
        account=request.patient_account, substance=payload.substance, days=days
    )
    return Status(
        201,
        {
            "substance": payload.substance.strip().lower(),
            "days_given": len(days),
            "stored": entry.stored,
            "not_remembered": entry.not_remembered,
        },
    )


class PointOut(Schema):
    date: date
    total: int


class SeriesOut(Schema):
    instrument: str
    points: list[PointOut]


class MonthOut(Schema):
    substance: str
    month: str
    days_reported: int
    days_without_use: int


class ProgressOut(Schema):
    questionnaires: list[SeriesOut]
    days_without_use: list[MonthOut]


@router.get("/progress", response=ProgressOut)
@api_patient
def progress(request: HttpRequest):
    """The patient's own questionnaire totals over time and, per substance and month, the days
    on their calendar and how many of those were without use."""
    data = outcome_selectors.progress_for_patient(account=request.patient_account)
    return {
        "questionnaires": [
            {"instrument": code, "points": [{"date": day, "total": total} for day, total, _ in points]}
            for code, points in data.questionnaires.items()
        ],
        "days_without_use": [
            {
                "substance": m.substance,
                "month": m.month,
                "days_reported": m.days_reported,
                "days_without_use": m.days_without_use,
            }
            for m in data.days_without_use
        ],
    }
