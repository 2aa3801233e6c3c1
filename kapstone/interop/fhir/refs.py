"""The one home of FHIR references, identifier systems and code systems used by every resource."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from kapstone.domain.numbers import to_decimal

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
#: Identifier types (HL7 v2 table 0203; "MR" = medical record number).
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
#: Condition categories and statuses (FHIR R4 Condition).
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
#: The kinds of treatment session (preparation, dosing, integration, follow_up): ours.
KAPSTONE_SESSION_KIND = "https://kapstone.example/fhir/CodeSystem/session-kind"
#: Sex assigned at birth (US Core Birth Sex extension, valueCode F | M | UNK; US Core STU3.1.1,
#: http://hl7.org/fhir/us/core/STU3.1.1/StructureDefinition-us-core-birthsex.html). It is not
#: administrative gender, which says nothing of it.
BIRTH_SEX = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"
#: Recorded sex at birth ↔ its Birth Sex code (intersex has none: the extension is left out).
BIRTH_SEX_CODES = {"female": "F", "male": "M", "unknown": "UNK"}
#: Our stable snake_case error codes, in ``OperationOutcome.issue.details.coding``.
KAPSTONE_ERRORS = "https://kapstone.example/fhir/CodeSystem/error"


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


def base_url() -> str:
    """The FHIR base of this server (``KAPSTONE_BASE_URL`` + ``/fhir/r4``), for ``fullUrl`` and
    links: built from the setting, never from the request's Host header."""
    return f"{settings.BASE_URL.rstrip('/')}/fhir/r4"


def full_url(resource_type: str, pk: Any) -> str:
    return f"{base_url()}/{resource_type}/{pk}"


def referenced_id(value: str, resource_type: str) -> str | None:
    """The logical id in a reference search value to ``resource_type``: ``Patient/12``, ``12``
    or this server's full URL ``…/fhir/r4/Patient/12``; None for a reference to another type or
    server."""
    value = value.strip()
    if value.startswith(base_url() + "/"):
        value = value[len(base_url()) + 1 :]
    if "/" in value:
        kind, _, logical_id = value.partition("/")
        if kind != resource_type or "/" in logical_id:
            return None
        value = logical_id
    return value or None


def patient_id_of(resource: dict[str, Any]) -> int | None:
    """The patient a resource belongs to (its id for a Patient; ``subject``/``patient``
    reference otherwise), or None: for the audit rows of reads and searches."""
    if resource.get("resourceType") == "Patient":
        logical_id = str(resource.get("id", ""))
    else:
        ref = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
        logical_id = referenced_id(ref, "Patient") or ""
    return int(logical_id) if logical_id.isdigit() else None


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
    """A stored number as a JSON number: an int when whole (``72``), else a float (``36.8``)."""
    as_decimal = to_decimal(value, field="value")
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
