"""Reads of patient records. Every one is scoped to the user's clinics and audited.

"Not yours" and "does not exist" raise the same Http404, so ids cannot be probed. A request for a
patient that exists in a clinic the user does not belong to is still recorded, as ``denied``,
for the privacy officer; the response does not differ.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.http import Http404

from kapstone.accounts.access import PATIENT_READ, clinic_ids_for
from kapstone.accounts.models import User
from kapstone.audit.services import audit_record
from kapstone.patients.models import BodyMeasurement, Consent, ConsentKind, Diagnosis, Patient, PatientVersion

SEARCH_LIMIT = 200


def _scoped(user: User, roles: Iterable[str]) -> QuerySet[Patient]:
    return Patient.objects.filter(clinic_id__in=clinic_ids_for(user, roles)).select_related("clinic")


def patient_search_for_user(
    *, user: User, search: str = "", limit: int = SEARCH_LIMIT
) -> tuple[list[Patient], int]:
    """Patients of the user's clinics matching ``search`` (name words or MRN prefix); (rows, total)."""
    qs = _scoped(user, PATIENT_READ)
    terms = [t for t in (search or "").split() if t][:4]
    for term in terms:
        qs = qs.filter(
            Q(given_name__icontains=term) | Q(family_name__icontains=term) | Q(mrn__istartswith=term)
        )
    total = qs.count()
    rows = list(qs.order_by("family_name", "given_name", "id")[:limit])
    # The search text itself may be a name: log that a search ran and how much it returned, not what.
    audit_record(
        actor=user,
        action="read",
        object_type="patient_list",
        detail={"searched": bool(terms), "returned": len(rows), "total": total},
    )
    return rows, total


def patient_get_for_user(
    *, user: User, patient_id: int, roles: Iterable[str] = PATIENT_READ, audit: bool = True
) -> Patient:
    """One patient of the user's clinics, or Http404 (identical for missing and not-yours)."""
    patient = _scoped(user, roles).filter(pk=patient_id).first()
    if patient is None:
        exists_elsewhere = Patient.objects.filter(pk=patient_id).values_list("clinic_id", flat=True).first()
        if exists_elsewhere is not None:
            audit_record(
                actor=user,
                action="denied",
                object_type="patient",
                object_id=patient_id,
                patient_id=patient_id,
                clinic_id=exists_elsewhere,
                outcome="denied",
            )
        raise Http404("patient")
    if audit:
        audit_record(
            actor=user,
            action="read",
            object_type="patient",
            object_id=patient.pk,
            patient_id=patient.pk,
            clinic_id=patient.clinic_id,
        )
    return patient


@dataclass(frozen=True)
class PatientChart:
    patient: Patient
    latest_weight: BodyMeasurement | None
    latest_height: BodyMeasurement | None
    measurements: list[BodyMeasurement]
    diagnoses: list[Diagnosis]
    voided_diagnoses: list[Diagnosis]
    consents_current: dict[str, Consent | None]
    consent_history: list[Consent]
    version_count: int


def patient_chart_for_user(*, user: User, patient_id: int) -> PatientChart:
    """Everything the chart header and its first sections show, in a fixed number of queries."""
    patient = patient_get_for_user(user=user, patient_id=patient_id)
    measurements = list(BodyMeasurement.objects.filter(patient=patient).order_by("-measured_on", "-id")[:20])
    diagnoses = list(Diagnosis.objects.filter(patient=patient).order_by("-is_primary", "code"))
    consents = list(
        Consent.objects.filter(patient=patient).select_related("recorded_by").order_by("-recorded_at", "-id")
    )
    current: dict[str, Consent | None] = {kind: None for kind in ConsentKind.values}
    for consent in consents:
        if current[consent.kind] is None:
            current[consent.kind] = consent
    return PatientChart(
        patient=patient,
        latest_weight=next((m for m in measurements if m.weight_kg is not None), None),
        latest_height=next((m for m in measurements if m.height_cm is not None), None),
        measurements=measurements,
        diagnoses=[d for d in diagnoses if d.voided_at is None],
        voided_diagnoses=[d for d in diagnoses if d.voided_at is not None],
        consents_current=current,
        consent_history=consents,
        version_count=patient.version,
    )


def patient_versions_for_user(*, user: User, patient_id: int) -> tuple[Patient, list[PatientVersion]]:
    patient = patient_get_for_user(user=user, patient_id=patient_id)
    versions = list(
        PatientVersion.objects.filter(patient=patient).select_related("recorded_by").order_by("-version")
    )
    return patient, versions


def diagnosis_get_for_user(*, user: User, patient_id: int, diagnosis_id: int) -> Diagnosis:
    """A diagnosis under the right patient of the user's clinics (nested ids checked, OpenEMR #11853)."""
    diagnosis = (
        Diagnosis.objects.select_related("patient")
        .filter(
            pk=diagnosis_id, patient_id=patient_id, patient__clinic_id__in=clinic_ids_for(user, PATIENT_READ)
        )
        .first()
    )
    if diagnosis is None:
        raise Http404("diagnosis")
    return diagnosis
