"""The round trip: a chart exported with $everything, its Patient, Conditions and importable
Observations posted as a transaction into an empty clinic, exported again: the same clinical
content (codes, values, units, dates), under new ids."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone

from kapstone.interop.fhir import refs
from kapstone.patients.models import Patient
from kapstone.patients.services import (
    clinic_today,
    diagnosis_add,
    diagnosis_void,
    liver_test_record,
    liver_test_void,
    measurement_record,
)
from tests.conftest import new_patient, record_liver_panel
from tests.interop.conftest import FhirClient, validate
from tests.interop.fhir_import import post

pytestmark = pytest.mark.django_db

#: Body weight, body height, ALT, AST, total bilirubin (mass and molar): what the import takes.
IMPORTABLE = {"29463-7", "8302-2", "1742-6", "1920-8", "1975-2", "14631-6"}


@pytest.fixture
def chart(alice, nina, clinic_a):
    """A demo-like chart in clinic A: two diagnoses (and a voided one), weights and heights over
    weeks, two liver panels (one bilirubin in µmol/L) and a voided result."""
    patient = new_patient(
        alice,
        clinic_a,
        mrn="A-3001",
        given_name="Morgan",
        family_name="Vellacourt",
        birth_date=date(1979, 8, 2),
        sex_at_birth="male",
        phone="555-0190",
        email="morgan@example.org",
        address="12 Harbour Row, Northport",
        weight_kg="88.2",
        height_cm="180.5",
        measured_at=timezone.now() - timedelta(days=60),
    )
    diagnosis_add(actor=alice, patient=patient, code="F10.20", is_primary=True)
    diagnosis_add(actor=alice, patient=patient, code="F41.1", is_primary=False)
    wrong = diagnosis_add(actor=alice, patient=patient, code="F32.1", is_primary=False)
    diagnosis_void(actor=alice, diagnosis=wrong, reason="Recorded on the wrong chart")
    for days, kg in ((30, "86.9"), (2, "85.4")):
        measurement_record(
            actor=nina,
            patient=patient,
            weight_kg=kg,
            height_cm=None,
            measured_at=timezone.now() - timedelta(days=days),
        )
    today = clinic_today(clinic_a)
    record_liver_panel(alice, patient, taken_on=today - timedelta(days=40))
    record_liver_panel(alice, patient, taken_on=today - timedelta(days=3), alt="58")
    liver_test_record(
        actor=alice,
        patient=patient,
        test="bilirubin",
        value="11",
        unit="umol/L",
        upper_limit="21",
        taken_on=today - timedelta(days=3),
    )
    mistaken = liver_test_record(
        actor=alice, patient=patient, test="ast", value="400", unit="U/L", upper_limit="40", taken_on=today
    )
    liver_test_void(actor=alice, liver_test=mistaken, reason="Another patient's sample")
    return patient


def everything(fhir: FhirClient, patient_id: int) -> list[dict]:
    response = fhir.get(f"/Patient/{patient_id}/$everything")
    assert response.status_code == 200
    validate(response.json())
    return [e["resource"] for e in response.json()["entry"]]


def importable(resource: dict) -> bool:
    kind = resource["resourceType"]
    if kind == "Patient":
        return True
    if kind == "Condition":
        return resource["verificationStatus"]["coding"][0]["code"] == "confirmed"
    if kind == "Observation":
        codes = {c["code"] for c in resource["code"]["coding"] if c["system"] == refs.LOINC}
        return resource["status"] == "final" and bool(codes & IMPORTABLE)
    return False


def as_transaction(resources: list[dict], clinic) -> dict:
    """What a sender does with an export: each resource POSTed under a new urn:uuid, the records'
    subject pointed at the Patient entry, the MRN given in the receiving clinic's system (an MRN
    is a clinic's own: the import takes no other, importer docstring)."""
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    entries = []
    for resource in resources:
        resource = {k: v for k, v in resource.items() if k not in ("id", "meta")}
        if resource["resourceType"] == "Patient":
            resource["identifier"] = [
                {**ident, "system": refs.mrn_system(clinic)} for ident in resource["identifier"]
            ]
            full_url = patient_url
        else:
            resource["subject"] = {"reference": patient_url}
            full_url = f"urn:uuid:{uuid.uuid4()}"
        entries.append(
            {
                "fullUrl": full_url,
                "resource": resource,
                "request": {"method": "POST", "url": resource["resourceType"]},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def clinical(resources: list[dict]) -> dict:
    """The clinical content of an export, without ids, times of entry, authors or the clinic."""
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    conditions = sorted(
        (
            r["code"]["coding"][0]["system"],
            r["code"]["coding"][0]["code"],
            r["code"]["text"],
            r["clinicalStatus"]["coding"][0]["code"],
            r["verificationStatus"]["coding"][0]["code"],
        )
        for r in resources
        if r["resourceType"] == "Condition"
    )
    observations = sorted(
        (
            repr(r["code"]),
            repr(r["category"]),
            r["status"],
            r["effectiveDateTime"],
            repr(r["valueQuantity"]),
            repr(r.get("referenceRange")),
        )
        for r in resources
        if r["resourceType"] == "Observation"
    )
    return {
        "patient": {
            k: patient.get(k) for k in ("name", "gender", "birthDate", "telecom", "address", "active")
        }
        | {"mrn": [i["value"] for i in patient["identifier"]]},
        "conditions": conditions,
        "observations": observations,
    }


def test_export_import_into_an_empty_clinic_and_export_again_keeps_the_clinical_content(
    alice, carol, clinic_b, chart
):
    assert not Patient.objects.filter(clinic=clinic_b).exists()
    exported = everything(FhirClient(alice), chart.pk)
    kept = [r for r in exported if importable(r)]
    # What the chart holds and the import takes: 2 diagnoses, 3 weights, 1 height, 7 liver results.
    kinds = [r["resourceType"] for r in kept]
    assert (kinds.count("Patient"), kinds.count("Condition"), kinds.count("Observation")) == (1, 2, 11)
    # Left out: the voided diagnosis and the voided result (entered in error).
    assert len([r for r in exported if r["resourceType"] in ("Condition", "Observation")]) == 15

    response = post(FhirClient(carol), as_transaction(kept, clinic_b))
    assert response.status_code == 200, response.content[:600]
    assert [e["response"]["status"] for e in response.json()["entry"]] == ["201 Created"] * len(kept)
    copy = Patient.objects.get(clinic=clinic_b)
    assert copy.pk != chart.pk and copy.mrn == "A-3001"

    again = everything(FhirClient(carol), copy.pk)
    assert clinical(again) == clinical(kept)
    ids = {(r["resourceType"], r["id"]) for r in again}
    assert len(ids) == len(again) and ids.isdisjoint({(r["resourceType"], r["id"]) for r in kept})
    # The dates came through as they were (weights to the minute, liver tests as days).
    weights = sorted(
        r["effectiveDateTime"]
        for r in again
        if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "29463-7"
    )
    assert len(weights) == 3 and all(datetime.fromisoformat(w).second == 0 for w in weights)
