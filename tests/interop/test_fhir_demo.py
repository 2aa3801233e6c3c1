"""Over the seeded demo, through the HTTP API: every resource of every registered type the server
produces validates with fhir.resources (R4B), each clinic sees exactly its own (counted for
Patient, Condition and Encounter), every patient's $everything validates, and a bulk export
of a clinic gives every patient, every line validating."""

from __future__ import annotations

import json

import pytest

from kapstone.accounts.models import Clinic, User
from kapstone.audit.models import Disclosure
from kapstone.care.models import CareSession
from kapstone.demo.seed import CLINICS, seed_demo
from kapstone.interop.fhir import registry
from kapstone.patients.models import Diagnosis, Patient
from tests.interop.conftest import FhirClient, validate
from tests.interop.test_fhir_bulk import run_queued

pytestmark = [pytest.mark.django_db, pytest.mark.full_demo]

TYPES = tuple(registry.RESOURCES)


def every(fhir: FhirClient, resource_type: str) -> list[dict]:
    """Every resource of a type, following the ``next`` links."""
    out, params = [], {"_count": "200"}
    while True:
        bundle = fhir.get(f"/{resource_type}", params).json()
        validate(bundle)
        out += [entry["resource"] for entry in bundle.get("entry", [])]
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            assert len(out) == bundle["total"]
            return out
        params = {"_count": "200", "_offset": following[0].rsplit("_offset=", 1)[1]}


def test_every_resource_of_the_demo_validates_and_stays_in_its_clinic(django_capture_on_commit_callbacks):
    seed_demo(patients_per_clinic=6, follow_up_per_protocol=1)
    assert {"Patient", "Condition", "Encounter", "Observation", "MedicationAdministration"} <= set(TYPES)
    for _name, slug, _tz, _prefix in CLINICS:
        clinic = Clinic.objects.get(slug=slug)
        fhir = FhirClient(User.objects.get(username=f"prescriber.{slug}"))
        expected = {
            "Patient": Patient.objects.filter(clinic=clinic),
            "Condition": Diagnosis.objects.filter(patient__clinic=clinic),
            "Encounter": CareSession.objects.filter(clinic=clinic),
        }
        for resource_type in TYPES:
            resources = every(fhir, resource_type)
            for resource in resources:
                validate(resource)
            if resource_type in expected:
                assert sorted(int(r["id"]) for r in resources) == sorted(
                    expected[resource_type].values_list("pk", flat=True)
                ), resource_type
            if resource_type in expected or resource_type == "Observation":
                assert resources, f"the demo has no {resource_type} in {slug}"
        for patient in Patient.objects.filter(clinic=clinic):
            bundle = fhir.get(f"/Patient/{patient.pk}/$everything").json()
            validate(bundle)
            for entry in bundle["entry"]:
                validate(entry["resource"])
            kinds = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
            assert kinds[0] == "Patient"
            assert kinds.count("Encounter") == CareSession.objects.filter(patient=patient).count()
            assert kinds.count("Condition") == Diagnosis.objects.filter(patient=patient).count()
    assert Disclosure.objects.filter(kind="fhir_everything").count() == Patient.objects.count()
    # A FHIR client bulk-exports clinic north as its admin: every line of every file validates,
    # the files hold every patient of the clinic, and the export is one more disclosure.
    north = Clinic.objects.get(slug="north")
    admin = FhirClient(User.objects.get(username="admin.north"))
    with django_capture_on_commit_callbacks(execute=True):
        kickoff = admin.get("/Group/north/$export", HTTP_PREFER="respond-async")
    assert kickoff.status_code == 202
    run_queued()
    manifest = admin.get(kickoff["Content-Location"].split("/fhir/r4", 1)[1]).json()
    exported: dict[str, int] = {}
    for output in manifest["output"]:
        text = admin.get(output["url"].split("/fhir/r4", 1)[1]).content.decode()
        for line in text.splitlines():
            resource = json.loads(line)
            assert resource["resourceType"] == output["type"]
            validate(resource)
        exported[output["type"]] = exported.get(output["type"], 0) + len(text.splitlines())
    assert exported["Patient"] == Patient.objects.filter(clinic=north).count()
    assert exported["Encounter"] == CareSession.objects.filter(clinic=north).count()
    assert {"Observation", "MedicationAdministration", "Condition"} <= set(exported)
    assert Disclosure.objects.get(kind="fhir_bulk_export").patient_count == exported["Patient"]
