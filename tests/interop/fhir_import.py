"""Helpers of the FHIR import tests: transaction Bundles as a FHIR client writes them, and the
row counts that must not move when an import is refused."""

from __future__ import annotations

import json
from typing import Any

from kapstone.audit.models import AuditEvent
from kapstone.interop.fhir import refs
from kapstone.interop.fhir.refs import BIRTH_SEX
from kapstone.patients.models import BodyMeasurement, Diagnosis, LiverTest, Patient
from tests.interop.conftest import FHIR, validate

PATIENT_URL = "urn:uuid:6f1c2b0e-3d7a-4c1e-9a55-0d8f4e2b7a11"


def mrn_identifier(clinic, mrn: str) -> dict[str, str]:
    return {"system": refs.mrn_system(clinic), "value": mrn}


def entry(resource: dict[str, Any], full_url: str | None = None, method: str = "POST") -> dict[str, Any]:
    out: dict[str, Any] = {
        "resource": resource,
        "request": {"method": method, "url": resource["resourceType"]},
    }
    if full_url:
        out["fullUrl"] = full_url
    return out


def patient(clinic, mrn: str = "A-2001", **changes) -> dict[str, Any]:
    resource = {
        "resourceType": "Patient",
        "identifier": [mrn_identifier(clinic, mrn)],
        "name": [{"use": "official", "family": "Quarrington", "given": ["Robin"]}],
        "extension": [{"url": BIRTH_SEX, "valueCode": "F"}],
        "gender": "female",
        "birthDate": "1984-03-09",
        "telecom": [
            {"system": "phone", "value": "555-0142"},
            {"system": "email", "value": "robin@example.org"},
        ],
    }
    resource.update(changes)
    return resource


def subject(reference: str = PATIENT_URL) -> dict[str, str]:
    return {"reference": reference}


def condition(code: str = "F10.20", ref: dict | None = None, **changes) -> dict[str, Any]:
    resource = {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": refs.CONDITION_CLINICAL, "code": "active"}]},
        "verificationStatus": {"coding": [{"system": refs.CONDITION_VERIFICATION, "code": "confirmed"}]},
        "code": {"coding": [{"system": refs.ICD10CM, "code": code}]},
        "subject": ref or subject(),
    }
    resource.update(changes)
    return resource


def quantity(value: Any, code: str) -> dict[str, Any]:
    return {"value": value, "unit": code, "system": refs.UCUM, "code": code}


def vital(
    loinc: str, value: Any, unit: str, at: str = "2026-11-30T09:15:00-05:00", ref=None, **changes
) -> dict:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": refs.OBSERVATION_CATEGORY, "code": "vital-signs"}]}],
        "code": {"coding": [{"system": refs.LOINC, "code": loinc}]},
        "subject": ref or subject(),
        "effectiveDateTime": at,
        "valueQuantity": quantity(value, unit),
    }
    resource.update(changes)
    return resource


def weight(kg: Any = 81.4, **changes) -> dict[str, Any]:
    return vital("29463-7", kg, "kg", **changes)


def height(cm: Any = 171, **changes) -> dict[str, Any]:
    return vital("8302-2", cm, "cm", **changes)


def liver(
    loinc: str = "1742-6",
    value: Any = 31,
    unit: str = "U/L",
    high: Any = 40,
    day: str = "2026-11-30",
    ref=None,
    **changes,
) -> dict:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": refs.OBSERVATION_CATEGORY, "code": "laboratory"}]}],
        "code": {"coding": [{"system": refs.LOINC, "code": loinc}]},
        "subject": ref or subject(),
        "effectiveDateTime": day,
        "valueQuantity": quantity(value, unit),
        "referenceRange": [{"high": quantity(high, unit)}],
    }
    resource.update(changes)
    return resource


def transaction(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def post(fhir, body: Any, query: str = "", content_type: str = "application/fhir+json", path: str = ""):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return fhir.client.post(FHIR + path + query, data=data, content_type=content_type, **fhir.headers)


def counts() -> dict[str, int]:
    """Rows an import writes (or, refused, must not)."""
    return {
        "patients": Patient.objects.count(),
        "diagnoses": Diagnosis.objects.count(),
        "measurements": BodyMeasurement.objects.count(),
        "liver_tests": LiverTest.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def issues_of(response, status: int = 422) -> list[tuple[str, str, str]]:
    """(expression, FHIR issue code, our code) of each issue of a refusal; the outcome validates
    and every issue has words."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    validate(body)
    assert body["resourceType"] == "OperationOutcome"
    out = []
    for issue in body["issue"]:
        assert issue["details"]["text"]
        out.append(
            (
                (issue.get("expression") or [""])[0],
                issue["code"],
                issue["details"]["coding"][0]["code"],
            )
        )
    return out
