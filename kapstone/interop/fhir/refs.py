"""The one home of FHIR references, identifier systems and code systems used by every resource."""

from __future__ import annotations

from typing import Any

from django.conf import settings

#: Code systems (FHIR R4 terminology, http://hl7.org/fhir/R4/terminologies-systems.html).
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
#: Our own codes (MOAA/S, Aldrete, questionnaire items without a LOINC code…).
KAPSTONE_CODES = "https://kapstone.example/fhir/CodeSystem/kapstone"


def mrn_system(clinic: Any) -> str:
    """The identifier system of one clinic's medical record numbers: a URL under this server's
    base (``KAPSTONE_BASE_URL``), distinct per clinic, so that MRN N-1004 of clinic north is never
    taken for another clinic's N-1004."""
    return f"{settings.BASE_URL.rstrip('/')}/fhir/identifier/mrn/{clinic.slug}"


def reference(resource_type: str, pk: Any) -> dict[str, str]:
    """``{"reference": "Patient/12"}``: logical ids are our primary keys (as the API's ids)."""
    return {"reference": f"{resource_type}/{pk}"}


def patient_ref(patient_id: int) -> dict[str, str]:
    return reference("Patient", patient_id)


def encounter_ref(session_id: int) -> dict[str, str]:
    return reference("Encounter", session_id)


def coding(system: str, code: str, display: str = "") -> dict[str, str]:
    out = {"system": system, "code": str(code)}
    if display:
        out["display"] = display
    return out


def instant(value: Any) -> str | None:
    """An aware datetime as a FHIR instant/dateTime (ISO 8601 with offset), or None."""
    return value.isoformat() if value is not None else None
