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


# --- Added for the resource modules of the fhir-types branch (additions only). ---------------

#: Questionnaires without a published canonical (all of ours): ``{KAPSTONE_QUESTIONNAIRE}/phq-9``.
KAPSTONE_QUESTIONNAIRE = "https://kapstone.example/fhir/Questionnaire"
#: FHIR R4 code systems (http://hl7.org/fhir/R4/terminologies-systems.html).
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
CONSENT_CATEGORY = "http://terminology.hl7.org/CodeSystem/consentcategorycodes"
AE_SERIOUSNESS = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"
AE_SEVERITY = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
AE_OUTCOME = "http://terminology.hl7.org/CodeSystem/adverse-event-outcome"
AE_CAUSALITY_ASSESS = "http://terminology.hl7.org/CodeSystem/adverse-event-causality-assess"
DOSE_RATE_TYPE = "http://terminology.hl7.org/CodeSystem/dose-rate-type"


def staff_identifier_system() -> str:
    """The identifier system of this server's staff accounts (no Practitioner resource is served;
    a reference names the account by identifier, the FHIR "logical reference")."""
    return f"{settings.BASE_URL.rstrip('/')}/fhir/identifier/staff"


def practitioner_ref(user_id: int) -> dict[str, Any]:
    """A logical reference to a staff member: ``{"type": "Practitioner", "identifier": …}``,
    by account id only (no name: a join per row for thousands of vitals, and not needed)."""
    return {
        "type": "Practitioner",
        "identifier": {"system": staff_identifier_system(), "value": str(user_id)},
    }


def number(value: Any) -> int | float:
    """A Decimal as a JSON number: an int when whole (``72``), else a float (``36.8``)."""
    from decimal import Decimal

    as_decimal = value if isinstance(value, Decimal) else Decimal(str(value))
    if as_decimal == as_decimal.to_integral_value():
        return int(as_decimal)
    return float(as_decimal)


def ucum_quantity(value: Any, code: str, unit: str = "") -> dict[str, Any]:
    """A ``Quantity`` in UCUM: value, unit as shown, system and code."""
    return {"value": number(value), "unit": unit or code, "system": UCUM, "code": code}


def concept(*codings: dict[str, str], text: str = "") -> dict[str, Any]:
    """A ``CodeableConcept`` of the given codings and an optional text."""
    out: dict[str, Any] = {}
    if codings:
        out["coding"] = list(codings)
    if text:
        out["text"] = text
    return out


def fhir_date(value: Any) -> str | None:
    """A date as a FHIR date (``YYYY-MM-DD``), or None."""
    return value.isoformat() if value is not None else None
