"""Every resource the six resource modules produce, for every patient of the seeded demo,
validates with fhir.resources (R4B models); known rows carry the codes the mapping promises;
another clinic's rows stay out; $everything for the busiest patient takes a bounded number of
queries (issue 16)."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from fhir.resources.R4B import get_fhir_model_class

from kapstone.accounts.models import Clinic
from kapstone.demo.seed import seed_demo
from kapstone.interop.fhir.resources import (
    adverse_event,
    consent,
    medication_administration,
    medication_request,
    observation,
    questionnaire_response,
)
from kapstone.monitoring.models import Observation as VitalRow
from kapstone.patients.models import Patient

pytestmark = [pytest.mark.django_db, pytest.mark.full_demo]

MODULES = (
    observation,
    medication_request,
    medication_administration,
    adverse_event,
    questionnaire_response,
    consent,
)


def validate(resource: dict) -> None:
    model = get_fhir_model_class(resource["resourceType"])
    model.model_validate(resource)


def test_every_resource_of_the_demo_validates_and_stays_in_its_clinic():
    seed_demo(patients_per_clinic=6, follow_up_per_protocol=1)
    clinics = list(Clinic.objects.order_by("id"))
    assert len(clinics) == 2
    counts: Counter = Counter()
    kinds: Counter = Counter()
    for patient in Patient.objects.order_by("id"):
        for module in MODULES:
            for resource in module.for_patient(patient):
                assert resource["resourceType"] == module.RESOURCE_TYPE
                validate(resource)
                counts[module.RESOURCE_TYPE] += 1
                if module is observation:
                    kinds[resource["id"].split("-")[0]] += 1
                    assert resource["subject"] == {"reference": f"Patient/{patient.pk}"}
    # The demo holds every kind (a demo without them would test nothing).
    for module in MODULES:
        assert counts[module.RESOURCE_TYPE] > 0, module.RESOURCE_TYPE
    for kind in ("vital", "bp", "weight", "score", "liver", "urine", "use"):
        assert kinds[kind] > 0, kind

    # Clinic scoping: a search with clinic A's id returns only clinic A's patients' resources,
    # and a read of clinic B's resource with clinic A's id is None.
    a, b = clinics
    for module in MODULES:
        by_clinic = {c.pk: module.search(clinic_ids={c.pk}, params={}) for c in clinics}
        assert by_clinic[a.pk] or by_clinic[b.pk], module.RESOURCE_TYPE
        both = module.search(clinic_ids={a.pk, b.pk}, params={})
        assert len(both) == len(by_clinic[a.pk]) + len(by_clinic[b.pk])
        for clinic, other in ((a, b), (b, a)):
            patients = set(Patient.objects.filter(clinic=clinic).values_list("pk", flat=True))
            for resource in by_clinic[clinic.pk]:
                ref = (resource.get("subject") or resource.get("patient"))["reference"]
                assert int(ref.split("/")[1]) in patients
            if by_clinic[clinic.pk]:
                first = by_clinic[clinic.pk][0]
                assert module.read(first["id"], clinic_ids={other.pk}) is None
                assert module.read(first["id"], clinic_ids={clinic.pk}) == first

    # A blood pressure set is one 85354-9 panel with both components in mm[Hg].
    systolic = VitalRow.objects.filter(code="systolic_bp", voided_at__isnull=True).order_by("id").first()
    panel = observation.read(f"bp-{systolic.pk}", clinic_ids={systolic.clinic_id})
    assert panel["code"]["coding"][0]["code"] == "85354-9"
    assert [c["code"]["coding"][0]["code"] for c in panel["component"]] == ["8480-6", "8462-4"]
    assert {c["valueQuantity"]["code"] for c in panel["component"]} == {"mm[Hg]"}
    assert {c["valueQuantity"]["system"] for c in panel["component"]} == {"http://unitsofmeasure.org"}
    assert panel["component"][0]["valueQuantity"]["value"] == float(systolic.value)
    # The halves are not also exported alone.
    assert observation.read(f"vital-{systolic.pk}", clinic_ids={systolic.clinic_id}) is None

    # $everything for the patient with the most vitals: a bounded number of queries.
    busiest = Counter(VitalRow.objects.values_list("patient_id", flat=True)).most_common(1)[0]
    patient = Patient.objects.get(pk=busiest[0])
    with CaptureQueriesContext(connection) as ctx:
        total = sum(len(m.for_patient(patient)) for m in MODULES)
    assert busiest[1] > 20 and total > 20
    assert len(ctx.captured_queries) <= 16, [q["sql"][:120] for q in ctx.captured_queries]
