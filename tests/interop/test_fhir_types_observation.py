"""FHIR Observation (kapstone/interop/fhir/resources/observation.py): the vital-signs codes and
units, the blood-pressure panel, values entered in error, the other kinds (weight, questionnaire
total, urine test, use calendar), every search parameter with its refusals, clinic scoping,
``since`` and a query count that does not grow with the number of vitals (issue 16)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from fhir.resources.R4B.observation import Observation as FhirObservation

from kapstone.interop.fhir.errors import SearchError
from kapstone.interop.fhir.resources import observation
from kapstone.monitoring.models import Observation as VitalRow
from kapstone.monitoring.models import ScaleScore
from kapstone.monitoring.services import observation_void, scale_record, vitals_record
from kapstone.outcomes.services import questionnaire_record, toxicology_record, use_days_record
from kapstone.patients.models import LiverTest
from kapstone.patients.services import clinic_today
from tests.monitoring.conftest import (  # noqa: F401 - shared fixtures, requested by name
    cleared_session,
    course_a,
    eligible_a,
    lot_50,
    running,
    vitals_set,
)

pytestmark = pytest.mark.django_db

EXAMPLES = Path(__file__).parent / "fhir_examples"
UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"


def by_id(resources):
    return {r["id"]: r for r in resources}


def of_code(resources, code):
    return [r for r in resources if any(c["code"] == code for c in r["code"].get("coding", []))]


def test_hl7_published_vital_sign_examples_parse():
    for name in ("observation-example-bloodpressure.json", "observation-example-heart-rate.json"):
        parsed = FhirObservation.model_validate(json.loads((EXAMPLES / name).read_text()))
        assert parsed.category[0].coding[0].code == "vital-signs"
    bp = FhirObservation.model_validate(
        json.loads((EXAMPLES / "observation-example-bloodpressure.json").read_text())
    )
    assert bp.code.coding[0].code == "85354-9"
    assert [c.code.coding[0].code for c in bp.component] == ["8480-6", "8462-4"]


def test_a_vitals_set_maps_to_the_vital_signs_codes_and_units(running):  # noqa: F811
    patient = running.patient
    found = observation.for_patient(patient)
    for resource in found:
        FhirObservation.model_validate(resource)
    panels = of_code(found, "85354-9")
    assert len(panels) == 1  # the baseline set: one panel, not two loose halves
    panel = panels[0]
    assert panel["id"].startswith("bp-")
    assert panel["meta"]["profile"] == ["http://hl7.org/fhir/StructureDefinition/vitalsigns"]
    assert panel["category"][0]["coding"][0]["code"] == "vital-signs"
    assert [(c["code"]["coding"][0]["code"], c["valueQuantity"]["value"]) for c in panel["component"]] == [
        ("8480-6", 124),
        ("8462-4", 78),
    ]
    assert all(
        c["valueQuantity"]["code"] == "mm[Hg]" and c["valueQuantity"]["system"] == UCUM
        for c in panel["component"]
    )
    assert panel["encounter"] == {"reference": f"Encounter/{running.pk}"}
    assert not of_code(found, "8480-6") and not of_code(found, "8462-4")

    (heart_rate,) = of_code(found, "8867-4")
    assert heart_rate["valueQuantity"] == {"value": 72, "unit": "/min", "system": UCUM, "code": "/min"}
    (spo2,) = of_code(found, "59408-5")
    assert [c["code"] for c in spo2["code"]["coding"]] == ["59408-5", "2708-6"]
    assert spo2["valueQuantity"]["code"] == "%"
    (temperature,) = of_code(found, "8310-5")
    assert temperature["valueQuantity"]["value"] == 36.8 and temperature["valueQuantity"]["code"] == "Cel"
    assert of_code(found, "9279-1")[0]["valueQuantity"]["code"] == "/min"
    (moaas,) = of_code(found, "moaas")
    assert moaas["code"]["coding"][0]["system"] == "https://kapstone.example/fhir/CodeSystem/kapstone"
    assert moaas["category"][0]["coding"][0]["code"] == "exam"
    assert "meta" not in moaas or "profile" not in moaas["meta"]
    # The weight the order was computed from (patients.BodyMeasurement) is a 29463-7 in kg.
    weights = of_code(found, "29463-7")
    assert weights and weights[0]["valueQuantity"]["code"] == "kg"
    assert all(r["status"] == "final" for r in found)


def test_a_value_entered_in_error_is_exported_as_such(running, nina):  # noqa: F811
    heart_rate = VitalRow.objects.get(session=running, code="heart_rate")
    systolic = VitalRow.objects.get(session=running, code="systolic_bp")
    diastolic = VitalRow.objects.get(session=running, code="diastolic_bp")
    observation_void(actor=nina, observation=heart_rate, reason="Probe on the wrong finger")
    clinic = {running.clinic_id}
    voided = observation.read(f"vital-{heart_rate.pk}", clinic_ids=clinic)
    assert voided["status"] == "entered-in-error"
    assert "Probe on the wrong finger" in voided["note"][0]["text"]
    FhirObservation.model_validate(voided)
    # Voiding one half of a pressure splits the panel: the systolic in error, the diastolic standing.
    assert observation.read(f"bp-{systolic.pk}", clinic_ids=clinic)["status"] == "final"
    observation_void(actor=nina, observation=systolic, reason="Cuff too small")
    assert observation.read(f"bp-{systolic.pk}", clinic_ids=clinic) is None
    assert observation.read(f"vital-{systolic.pk}", clinic_ids=clinic)["status"] == "entered-in-error"
    standing = observation.read(f"vital-{diastolic.pk}", clinic_ids=clinic)
    assert standing["status"] == "final" and standing["code"]["coding"][0]["code"] == "8462-4"
    # Both halves in error: one panel in error again.
    observation_void(actor=nina, observation=diastolic, reason="Cuff too small")
    assert observation.read(f"bp-{systolic.pk}", clinic_ids=clinic)["status"] == "entered-in-error"
    assert observation.read(f"vital-{diastolic.pk}", clinic_ids=clinic) is None


@pytest.fixture
def outcomes(running, nina):  # noqa: F811
    patient = running.patient
    today = clinic_today(patient.clinic)
    score = questionnaire_record(
        actor=nina, patient=patient, instrument="phq-9", answers=[1, 1, 1, 1, 1, 1, 1, 1, 0]
    )
    pacs = questionnaire_record(actor=nina, patient=patient, instrument="pacs", answers=[1, 1, 1, 1, 1])
    urine = toxicology_record(
        actor=nina,
        patient=patient,
        collected_on=today,
        method="urine_drug_screen",
        results=[{"substance": "cocaine", "result": "negative", "confirmed": False}],
    )
    yesterday = today - timedelta(days=1)
    use_days_record(
        actor=nina, patient=patient, substance="alcohol", days=[{"day": yesterday, "standard_drinks": "2"}]
    )
    later = use_days_record(
        actor=nina, patient=patient, substance="alcohol", days=[{"day": yesterday, "standard_drinks": "4"}]
    )
    cadss = scale_record(actor=nina, session=running, scale="cadss", answers=[1] * 23)
    moaas = scale_record(actor=nina, session=running, scale="moaas", answers=4)
    return {"score": score, "pacs": pacs, "urine": urine[0], "use": later[0], "cadss": cadss, "moaas": moaas}


def test_questionnaire_totals_urine_tests_and_the_use_calendar(running, outcomes):  # noqa: F811
    found = by_id(observation.for_patient(running.patient))
    for resource in found.values():
        FhirObservation.model_validate(resource)
    score = found[f"score-{outcomes['score'].pk}"]
    assert score["category"][0]["coding"][0]["code"] == "survey"
    assert score["code"]["coding"][0] == {"system": LOINC, "code": "44261-6", "display": "PHQ-9 total score"}
    assert score["valueInteger"] == 8
    assert score["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{outcomes['score'].pk}"}]
    pacs = found[f"score-{outcomes['pacs'].pk}"]
    assert pacs["code"]["coding"][0]["code"] == "pacs-total"  # no LOINC code: local
    urine = found[f"urine-{outcomes['urine'].pk}"]
    assert urine["category"][0]["coding"][0]["code"] == "laboratory"
    assert urine["valueCodeableConcept"]["coding"][0]["code"] == "260385009"
    use = found[f"use-{outcomes['use'].pk}"]
    assert use["category"][0]["coding"][0]["code"] == "social-history"
    assert use["valueBoolean"] is True
    assert use["component"][0]["valueQuantity"]["value"] == 4
    # Only the current value of a day: the superseded entry is history.
    use_ids = [k for k in found if k.startswith("use-")]
    assert use_ids == [f"use-{outcomes['use'].pk}"]
    assert observation.read(f"use-{outcomes['use'].pk - 1}", clinic_ids={running.clinic_id}) is None
    # CADSS is kept only as a scale score: a survey total with a local code; MOAA/S, also an
    # observation, is exported once (as vital-<id>), not twice.
    cadss = found[f"scale-{outcomes['cadss'].pk}"]
    assert cadss["code"]["coding"][0]["code"] == "cadss-total"
    assert cadss["valueInteger"] == 23 and cadss["encounter"] == {"reference": f"Encounter/{running.pk}"}
    assert ScaleScore.objects.filter(session=running).count() == 2
    assert [k for k in found if k.startswith("scale-")] == [f"scale-{outcomes['cadss'].pk}"]
    assert f"vital-{outcomes['moaas'].observation_id}" in found
    # The liver panel the dose order needed: LOINC codes, UCUM units, the upper limit of normal.
    alt = LiverTest.objects.get(patient=running.patient, test="alt")
    liver = found[f"liver-{alt.pk}"]
    assert liver["category"][0]["coding"][0]["code"] == "laboratory"
    assert liver["code"]["coding"][0]["code"] == "1742-6"
    assert (
        liver["valueQuantity"]["code"] == "U/L"
        and liver["valueQuantity"]["system"] == "http://unitsofmeasure.org"
    )
    assert liver["referenceRange"][0]["high"]["value"] == float(alt.upper_limit) or int(alt.upper_limit)


def test_search_parameters(running, outcomes):  # noqa: F811
    clinic = {running.clinic_id}
    patient = running.patient
    every = observation.search(clinic_ids=clinic, params={})
    assert every
    assert observation.search(clinic_ids=clinic, params={"patient": [f"Patient/{patient.pk}"]}) == every
    assert observation.search(clinic_ids=clinic, params={"patient": [str(patient.pk)]}) == every
    assert observation.search(clinic_ids=clinic, params={"patient": [str(patient.pk + 1000)]}) == []

    surveys = observation.search(clinic_ids=clinic, params={"category": ["survey"]})
    assert {r["id"].split("-")[0] for r in surveys} == {"score", "scale"}
    system = "http://terminology.hl7.org/CodeSystem/observation-category"
    vital = observation.search(clinic_ids=clinic, params={"category": [f"{system}|vital-signs"]})
    assert {r["id"].split("-")[0] for r in vital} == {"bp", "vital", "weight", "height"}
    assert observation.search(clinic_ids=clinic, params={"category": ["other-system|vital-signs"]}) == []

    rates = observation.search(clinic_ids=clinic, params={"code": [f"{LOINC}|8867-4"]})
    assert [r["code"]["coding"][0]["code"] for r in rates] == ["8867-4"]
    assert observation.search(clinic_ids=clinic, params={"code": ["8867-4"]}) == rates
    either = observation.search(clinic_ids=clinic, params={"code": ["8867-4,85354-9"]})
    assert len(either) == 2

    # A date without a time is a day in the clinic's zone (as for Patient and Encounter).
    zone = ZoneInfo(patient.clinic.timezone)
    observed = VitalRow.objects.get(session=running, code="heart_rate").observed_at.astimezone(zone)
    day = observed.date().isoformat()
    on_the_day = observation.search(clinic_ids=clinic, params={"code": ["8867-4"], "date": [day]})
    assert on_the_day == rates
    assert observation.search(clinic_ids=clinic, params={"code": ["8867-4"], "date": [f"lt{day}"]}) == []
    assert observation.search(clinic_ids=clinic, params={"code": ["8867-4"], "date": [f"ge{day}"]}) == rates
    instant = observed.isoformat()
    assert (
        observation.search(clinic_ids=clinic, params={"code": ["8867-4"], "date": [f"le{instant}"]}) == rates
    )
    assert observation.search(clinic_ids=clinic, params={"code": ["8867-4"], "date": [f"gt{instant}"]}) == []
    assert (
        observation.search(clinic_ids=clinic, params={"code": ["8867-4"], "date": [f"ge{day[:7]}"]}) == rates
    )
    for prefix, found in (("sa", []), ("eb", []), ("ne", [])):
        assert (
            observation.search(clinic_ids=clinic, params={"code": ["8867-4"], "date": [f"{prefix}{day}"]})
            == found
        )
    assert (
        observation.search(clinic_ids=clinic, params={"code": ["8867-4"], "date": [f"eq{instant}"]}) == rates
    )

    wanted = rates[0]["id"]
    assert observation.search(clinic_ids=clinic, params={"_id": [wanted]}) == rates
    assert observation.search(clinic_ids=clinic, params={"_id": ["nothing-1"]}) == []


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"subject": ["Patient/1"]}, "unknown_search_parameter"),
        ({"patient": ["Patient/abc"]}, "invalid_reference"),
        ({"patient": ["Practitioner/1"]}, "invalid_reference"),
        ({"patient": [""]}, "invalid_value"),  # one code for an empty value, as the HTTP API answers
        ({"patient": [" "]}, "invalid_value"),
        ({"date": ["2025-13-01"]}, "invalid_date"),
        ({"date": ["xx2025"]}, "invalid_date"),
        ({"date": ["2025-01-01T10:00"]}, "invalid_date"),  # a dateTime needs its zone
        ({"code": ["a|b|c"]}, "invalid_token"),
        ({"category": ["|"]}, "invalid_token"),
        ({"_id": ["bad id!"]}, "invalid_id"),
    ],
)
def test_bad_search_parameters_are_refused(clinic_a, params, code):
    with pytest.raises(SearchError) as refused:
        observation.search(clinic_ids={clinic_a.pk}, params=params)
    assert refused.value.code == code


def test_another_clinics_rows_are_not_visible(running, outcomes, clinic_b):  # noqa: F811
    found = observation.for_patient(running.patient)
    assert found
    for resource in found:
        assert observation.read(resource["id"], clinic_ids={clinic_b.pk}) is None
        assert observation.read(resource["id"], clinic_ids={running.clinic_id}) == resource
    assert observation.search(clinic_ids={clinic_b.pk}, params={}) == []
    assert observation.search(clinic_ids=set(), params={}) == []
    assert observation.read("nonsense", clinic_ids={running.clinic_id}) is None
    assert observation.read("vital-99999999", clinic_ids={running.clinic_id}) is None


def test_since_returns_only_what_changed(running, nina):  # noqa: F811
    patient = running.patient
    before = observation.for_patient(patient)
    mark = timezone.now()
    assert observation.for_patient(patient, since=mark) == []
    vitals_record(
        actor=nina,
        session=running,
        observations=vitals_set(timezone.now() - timedelta(seconds=5), heart_rate=80),
    )
    changed = observation.for_patient(patient, since=mark)
    assert {r["code"]["coding"][0]["code"] for r in changed} >= {"85354-9", "8867-4"}
    assert not {r["id"] for r in changed} & {r["id"] for r in before}
    # A void counts as a change of the voided value.
    row = VitalRow.objects.filter(session=running, code="heart_rate").order_by("id").first()
    mark = timezone.now()
    observation_void(actor=nina, observation=row, reason="Wrong patient's monitor")
    assert [r["id"] for r in observation.for_patient(patient, since=mark)] == [f"vital-{row.pk}"]


def test_the_query_count_does_not_grow_with_the_number_of_vitals(running, nina):  # noqa: F811
    patient = running.patient
    with CaptureQueriesContext(connection) as few:
        small = observation.for_patient(patient)
    now = timezone.now()
    batch = []
    for i in range(40):
        batch += vitals_set(now - timedelta(minutes=7) + timedelta(seconds=10 * i))
    vitals_record(actor=nina, session=running, observations=batch)
    with CaptureQueriesContext(connection) as many:
        large = observation.for_patient(patient)
    assert len(large) >= len(small) + 40 * 6
    # One query per source table (vitals, measurements, questionnaires, scales, liver tests, urine
    # tests, use calendar), whatever the number of rows.
    assert len(many.captured_queries) == len(few.captured_queries) <= 7
