"""Patients API: register, search, read."""
# No "from __future__ import annotations" in API modules: django-ninja resolves the operation
# signatures through the role wrapper, which lives in another module, so annotations must be real.

from datetime import date
from decimal import Decimal
from typing import Literal

from django.http import HttpRequest
from ninja import Router, Schema, Status

from kapstone.accounts.access import PATIENT_READ, PATIENT_WRITE
from kapstone.accounts.api_kit import FilterText, StrictSchema, api_roles, text
from kapstone.patients import selectors, services
from kapstone.patients.models import BodyMeasurement, Patient

router = Router()


class PatientIn(StrictSchema):
    mrn: text(32, min_length=1)
    given_name: text(100, min_length=1)
    family_name: text(100, min_length=1)
    birth_date: date
    sex: Literal["female", "male", "intersex", "unknown"]
    weight_kg: Decimal | None = None
    height_cm: Decimal | None = None
    clinic_id: int | None = None
    gender_identity: text(60) = ""
    phone: text(40) = ""
    email: text(254) = ""


class PatientOut(Schema):
    id: int
    clinic_id: int
    mrn: str
    given_name: str
    family_name: str
    birth_date: date
    sex: str
    gender_identity: str
    weight_kg: float | None
    version: int


def _out(patient: Patient, weight: Decimal | None) -> dict:
    return {
        "id": patient.pk,
        "clinic_id": patient.clinic_id,
        "mrn": patient.mrn,
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "birth_date": patient.birth_date,
        "sex": patient.sex_at_birth,
        "gender_identity": patient.gender_identity,
        "weight_kg": float(weight) if weight is not None else None,
        "version": patient.version,
    }


def _latest_weights(patient_ids: list[int]) -> dict[int, Decimal]:
    weights: dict[int, Decimal] = {}
    rows = (
        BodyMeasurement.objects.filter(patient_id__in=patient_ids, weight_kg__isnull=False)
        .order_by("patient_id", "-measured_on", "-id")
        .values_list("patient_id", "weight_kg")
    )
    for patient_id, weight in rows:
        weights.setdefault(patient_id, weight)
    return weights


@router.post("", response={201: PatientOut})
@api_roles(*PATIENT_WRITE)
def create_patient(request: HttpRequest, payload: PatientIn):
    data = payload.dict()
    patient = services.patient_create(
        actor=request.auth,
        clinic_id=data.pop("clinic_id"),
        sex_at_birth=data.pop("sex"),
        **data,
    )
    return Status(201, _out(patient, _latest_weights([patient.pk]).get(patient.pk)))


@router.get("", response=list[PatientOut])
@api_roles(*PATIENT_READ)
def list_patients(request: HttpRequest, search: FilterText = ""):
    patients, _ = selectors.patient_search_for_user(user=request.auth, search=search[:100])
    weights = _latest_weights([p.pk for p in patients])
    return [_out(p, weights.get(p.pk)) for p in patients]


@router.get("/{int:patient_id}", response=PatientOut)
@api_roles(*PATIENT_READ)
def get_patient(request: HttpRequest, patient_id: int):
    patient = selectors.patient_get_for_user(user=request.auth, patient_id=patient_id)
    return _out(patient, _latest_weights([patient.pk]).get(patient.pk))
