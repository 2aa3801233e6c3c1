"""Patients API: register, search, read; body measurements (record, list); liver tests (record,
list, void)."""
# No "from __future__ import annotations" in API modules: django-ninja resolves the operation
# signatures through the role wrapper, which lives in another module, so annotations must be real.

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from django.http import HttpRequest
from ninja import Schema, Status

from kapstone.accounts.access import CLINICAL, PATIENT_READ, PATIENT_WRITE
from kapstone.accounts.api_kit import (
    FilterText,
    KapstoneRouter,
    Page,
    RecordId,
    StrictSchema,
    api_roles,
    paginated,
    text,
)
from kapstone.domain.liver import ANALYTE_KEYS
from kapstone.domain.patients import SEXES_AT_BIRTH
from kapstone.domain.text import REASON_MAX_CHARS
from kapstone.patients import selectors, services
from kapstone.patients.models import BodyMeasurement, LiverTest, LiverTestUnit, Patient
from kapstone.patients.selectors import weights_in_force

router = KapstoneRouter()


_limit = Patient.text_limit


class PatientIn(StrictSchema):
    """The shape of a new patient; every field's rule is the web form's, applied by the one
    service both call (``patients.services.patient_create``: lengths from the record's columns,
    the e-mail address, the MRN, the birth date, the weight and height)."""

    mrn: text(_limit("mrn"), min_length=1)
    given_name: text(_limit("given_name"), min_length=1)
    family_name: text(_limit("family_name"), min_length=1)
    birth_date: date
    sex: Literal[SEXES_AT_BIRTH]  # type: ignore[valid-type]
    weight_kg: Decimal | None = None
    height_cm: Decimal | None = None
    clinic_id: RecordId | None = None
    gender_identity: text(_limit("gender_identity")) = ""
    phone: text(_limit("phone")) = ""
    email: text(_limit("email")) = ""


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


def _weights(patient_ids: list[int]) -> dict[int, Decimal]:
    """Each patient's weight in force now (the one rule: patients.selectors.weight_in_force)."""
    return {pid: row.weight_kg for pid, row in weights_in_force(patient_ids=patient_ids).items()}


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
    return Status(201, _out(patient, _weights([patient.pk]).get(patient.pk)))


@router.get("", response=list[PatientOut])
@api_roles(*PATIENT_READ)
@paginated(window=True)
def list_patients(request: HttpRequest, search: FilterText = "", **kwargs):
    window = kwargs["page"]
    patients, total = selectors.patient_search_for_user(
        user=request.auth, search=search, limit=window.limit, offset=window.offset
    )
    weights = _weights([p.pk for p in patients])
    return Page([_out(p, weights.get(p.pk)) for p in patients], total)


@router.get("/{int:patient_id}", response=PatientOut)
@api_roles(*PATIENT_READ)
def get_patient(request: HttpRequest, patient_id: RecordId):
    patient = selectors.patient_get_for_user(user=request.auth, patient_id=patient_id)
    return _out(patient, _weights([patient.pk]).get(patient.pk))


class MeasurementIn(StrictSchema):
    weight_kg: Decimal | None = None
    height_cm: Decimal | None = None
    measured_at: datetime | None = None


class MeasurementOut(Schema):
    id: int
    weight_kg: float | None
    height_cm: float | None
    measured_at: datetime


class MeasurementListOut(MeasurementOut):
    recorded_at: datetime
    voided_at: datetime | None
    voided_by: str | None
    void_reason: str | None


def _measurement_out(row: BodyMeasurement) -> dict:
    return {
        "id": row.pk,
        "weight_kg": float(row.weight_kg) if row.weight_kg is not None else None,
        "height_cm": float(row.height_cm) if row.height_cm is not None else None,
        "measured_at": row.measured_at,
    }


@router.post("/{int:patient_id}/measurements", response={201: MeasurementOut})
@api_roles(*PATIENT_WRITE)
def record_measurement(request: HttpRequest, patient_id: RecordId, payload: MeasurementIn):
    """A weight and/or height taken at ``measured_at`` (default now; never in the future)."""
    patient = selectors.patient_get_for_user(user=request.auth, patient_id=patient_id, roles=PATIENT_WRITE)
    row = services.measurement_record(actor=request.auth, patient=patient, **payload.dict())
    return Status(201, _measurement_out(row))


@router.get("/{int:patient_id}/measurements", response=list[MeasurementListOut])
@api_roles(*PATIENT_READ)
@paginated
def list_measurements(request: HttpRequest, patient_id: RecordId):
    """Every measurement, voided ones with their void, newest taken first."""
    _, rows = selectors.measurement_list_for_user(user=request.auth, patient_id=patient_id)
    return [
        _measurement_out(row)
        | {
            "recorded_at": row.recorded_at,
            "voided_at": row.voided_at,
            "voided_by": row.voided_by.username if row.voided_by_id else None,
            "void_reason": row.void_reason if row.voided_at else None,
        }
        for row in rows
    ]


class LiverTestIn(StrictSchema):
    """One liver test result. ``upper_limit`` is the laboratory's upper limit of normal, in the
    same unit; the rules are the web form's (``patients.services.liver_test_record``)."""

    test: Literal[ANALYTE_KEYS]  # type: ignore[valid-type]
    value: Decimal
    unit: Literal[tuple(LiverTestUnit.values)]  # type: ignore[valid-type]
    upper_limit: Decimal
    taken_on: date


class LiverTestOut(Schema):
    id: int
    test: str
    value: float
    unit: str
    upper_limit: float
    taken_on: date
    recorded_at: datetime
    recorded_by: str
    voided_at: datetime | None
    voided_by: str | None
    void_reason: str | None


class LiverTestVoidIn(StrictSchema):
    reason: text(REASON_MAX_CHARS)


def _liver_test_out(row: LiverTest) -> dict:
    return {
        "id": row.pk,
        "test": row.test,
        "value": float(row.value),
        "unit": row.unit,
        "upper_limit": float(row.upper_limit),
        "taken_on": row.taken_on,
        "recorded_at": row.recorded_at,
        "recorded_by": row.recorded_by.username,
        "voided_at": row.voided_at,
        "voided_by": row.voided_by.username if row.voided_by_id else None,
        "void_reason": row.void_reason if row.voided_at else None,
    }


@router.post("/{int:patient_id}/liver-tests", response={201: LiverTestOut})
@api_roles(*PATIENT_WRITE)
def record_liver_test(request: HttpRequest, patient_id: RecordId, payload: LiverTestIn):
    """An ALT, AST or total bilirubin result with the laboratory's upper limit of normal and the
    day the blood was taken (never in the future). The dosing rule reads it
    (``liver_tests_missing``, ``liver_tests_due``, ``liver_tests_above_limit``)."""
    patient = selectors.patient_get_for_user(user=request.auth, patient_id=patient_id, roles=PATIENT_WRITE)
    row = services.liver_test_record(actor=request.auth, patient=patient, **payload.dict())
    return Status(201, _liver_test_out(row))


@router.get("/{int:patient_id}/liver-tests", response=list[LiverTestOut])
@api_roles(*PATIENT_READ)
@paginated(window=True)
def list_liver_tests(request: HttpRequest, patient_id: RecordId, **kwargs):
    """Every result, voided ones with their void, newest taken first."""
    window = kwargs["page"]
    rows, total = selectors.liver_test_page_for_user(
        user=request.auth, patient_id=patient_id, limit=window.limit, offset=window.offset
    )
    return Page([_liver_test_out(row) for row in rows], total)


@router.post("/{int:patient_id}/liver-tests/{int:liver_test_id}/void", response=LiverTestOut)
@api_roles(*CLINICAL)
def void_liver_test(
    request: HttpRequest, patient_id: RecordId, liver_test_id: RecordId, payload: LiverTestVoidIn
):
    """Mark a result entered in error, with a reason: kept, returned with its void, and no longer
    read by the dosing rule."""
    row = selectors.liver_test_get_for_user(
        user=request.auth, patient_id=patient_id, liver_test_id=liver_test_id
    )
    return _liver_test_out(
        services.liver_test_void(actor=request.auth, liver_test=row, reason=payload.reason)
    )
