"""FHIR Condition from ``patients.Diagnosis`` (http://hl7.org/fhir/R4/condition.html): the
patient's diagnoses as recorded on the chart (substance use disorders F10–F19 and the comorbid
conditions of ``kapstone.domain.patients``' catalogue), coded in ICD-10-CM
(system http://hl7.org/fhir/sid/icd-10-cm, http://hl7.org/fhir/R4/icd.html).

- ``category``: ``problem-list-item`` (condition-category): the chart's diagnosis list.
- ``clinicalStatus`` ``active`` and ``verificationStatus`` ``confirmed``; a voided diagnosis is
  ``entered-in-error`` without a clinical status (invariant con-5), so that a receiver that
  imported it can retract it.
- ``recordedDate``: when it was recorded; ``meta.lastUpdated``: that, or the void.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from kapstone.interop.fhir import refs
from kapstone.interop.fhir import search as sp
from kapstone.patients.models import Diagnosis, Patient

RESOURCE_TYPE = "Condition"
SEARCH_PARAMS = {"_id": "token", "patient": "reference"}


def to_fhir(diagnosis: Diagnosis) -> dict[str, Any]:
    voided = diagnosis.voided_at is not None
    resource: dict[str, Any] = {
        "resourceType": RESOURCE_TYPE,
        "id": str(diagnosis.pk),
        "meta": {"lastUpdated": refs.instant(diagnosis.voided_at or diagnosis.recorded_at)},
        "verificationStatus": {
            "coding": [
                refs.coding(
                    refs.CONDITION_VERIFICATION,
                    "entered-in-error" if voided else "confirmed",
                    "Entered in Error" if voided else "Confirmed",
                )
            ]
        },
        "category": [
            {"coding": [refs.coding(refs.CONDITION_CATEGORY, "problem-list-item", "Problem List Item")]}
        ],
        "code": {
            "coding": [refs.coding(refs.ICD10CM, diagnosis.code, diagnosis.name)],
            "text": diagnosis.name,
        },
        "subject": refs.patient_ref(diagnosis.patient_id),
        "recordedDate": refs.instant(diagnosis.recorded_at),
    }
    if not voided:
        resource["clinicalStatus"] = {"coding": [refs.coding(refs.CONDITION_CLINICAL, "active", "Active")]}
    return resource


def _diagnoses(clinic_ids: set[int]) -> QuerySet[Diagnosis]:
    return Diagnosis.objects.filter(patient__clinic_id__in=sorted(clinic_ids))


def read(logical_id: str, *, clinic_ids: set[int]) -> dict | None:
    pk = sp.pk_of(logical_id)
    row = _diagnoses(clinic_ids).filter(pk=pk).first() if pk else None
    return to_fhir(row) if row is not None else None


def owner(logical_id: str) -> tuple[int, int] | None:
    """(clinic id, patient id) of the record, whoever may see it (for the ``denied`` audit)."""
    pk = sp.pk_of(logical_id)
    row = (
        Diagnosis.objects.filter(pk=pk).values_list("patient__clinic_id", "patient_id").first()
        if pk
        else None
    )
    return (row[0], row[1]) if row else None


def search(*, clinic_ids: set[int], params: dict[str, list[str]]) -> list[dict]:
    sp.check_params(params, SEARCH_PARAMS)
    qs = sp.scoped(_diagnoses(clinic_ids), params, clinic_ids=clinic_ids, clinic_field="patient__clinic_id")
    return [to_fhir(row) for row in qs.order_by("patient_id", "-is_primary", "code", "id")]


def for_patient(patient: Patient, *, since: datetime | None = None) -> list[dict]:
    qs = Diagnosis.objects.filter(patient=patient)
    if since is not None:
        qs = qs.filter(Q(recorded_at__gte=since) | Q(voided_at__gte=since))
    return [to_fhir(row) for row in qs.order_by("-is_primary", "code", "id")]
