"""FHIR AdverseEvent, QuestionnaireResponse and Consent (issue 16): codes and status mapping for
known rows, the Part 2 provision, searches with their refusals, clinic scoping and ``since``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from fhir.resources.R4B.adverseevent import AdverseEvent
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from kapstone.interop.fhir.errors import SearchError
from kapstone.interop.fhir.resources import adverse_event, consent, questionnaire_response
from kapstone.outcomes.services import questionnaire_record
from kapstone.patients.services import clinic_today, consent_record
from kapstone.safety.services import adverse_event_report

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(alice, patient_a):
    return adverse_event_report(
        actor=alice,
        patient=patient_a,
        term="blood_pressure_increased",
        onset_at=timezone.now() - timedelta(hours=2),
        grade=3,
        serious=True,
        seriousness_criteria=["hospitalisation"],
        relatedness="probable",
        action_taken="drug_withdrawn",
        outcome="recovering",
    )


def test_an_adverse_event(event, patient_a):
    found = adverse_event.read(str(event.pk), clinic_ids={patient_a.clinic_id})
    AdverseEvent.model_validate(found)
    assert found["actuality"] == "actual"
    assert found["event"]["coding"][0]["code"] == "ae-blood_pressure_increased"
    assert found["event"]["text"] == "Blood pressure increased"
    assert [c["code"] for c in found["seriousness"]["coding"]] == [
        "serious",
        "SeriousResultsInHospitalization",
    ]
    assert found["severity"]["coding"][0]["code"] == "severe"
    assert found["severity"]["text"] == "CTCAE grade 3 (Severe)"
    assert found["outcome"]["coding"][0]["code"] == "recovering"
    assert found["date"] == event.onset_at.isoformat()
    (suspect,) = found["suspectEntity"]
    assert suspect["instance"]["reference"] == "#ketamine"
    assert found["contained"][0]["code"]["coding"][0] == {
        "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
        "code": "6130",
        "display": "ketamine",
    }
    assert suspect["causality"][0]["assessment"]["coding"][0]["code"] == "Probably-Likely"
    assert "encounter" not in found  # reported outside a session


def test_adverse_event_search(event, patient_a, clinic_b):
    clinic = {patient_a.clinic_id}
    every = adverse_event.search(clinic_ids=clinic, params={})
    assert [r["id"] for r in every] == [str(event.pk)]
    assert adverse_event.search(clinic_ids=clinic, params={"patient": [f"Patient/{patient_a.pk}"]}) == every
    day = event.onset_at.astimezone(timezone.get_fixed_timezone(0)).date()
    assert adverse_event.search(clinic_ids=clinic, params={"date": [f"ge{day - timedelta(days=1)}"]}) == every
    assert adverse_event.search(clinic_ids=clinic, params={"date": [f"gt{day}"]}) == []
    assert adverse_event.search(clinic_ids=clinic, params={"date": [f"lt{event.onset_at.isoformat()}"]}) == []
    assert adverse_event.search(clinic_ids={clinic_b.pk}, params={}) == []
    assert adverse_event.read(str(event.pk), clinic_ids={clinic_b.pk}) is None
    assert adverse_event.for_patient(patient_a, since=timezone.now()) == []
    assert adverse_event.for_patient(patient_a) == every
    for params, code in (
        ({"date": ["yesterday"]}, "invalid_date"),
        ({"seriousness": ["serious"]}, "unknown_search_parameter"),
    ):
        with pytest.raises(SearchError) as refused:
            adverse_event.search(clinic_ids=clinic, params=params)
        assert refused.value.code == code


def test_a_questionnaire_response(nina, patient_a, clinic_b):
    row = questionnaire_record(
        actor=nina, patient=patient_a, instrument="gad-7", answers=[0, 1, 2, 3, 0, 1, 2]
    )
    clinic = {patient_a.clinic_id}
    found = questionnaire_response.read(str(row.pk), clinic_ids=clinic)
    QuestionnaireResponse.model_validate(found)
    assert found["status"] == "completed"
    assert found["questionnaire"] == "https://kapstone.example/fhir/Questionnaire/gad-7"
    assert found["authored"] == row.entered_at.isoformat()
    assert found["source"]["identifier"]["value"] == str(nina.pk)
    assert [i["linkId"] for i in found["item"]] == [str(n) for n in range(1, 8)]
    assert found["item"][3]["answer"][0]["valueCoding"]["code"] == "gad-7-answer-3"
    assert found["item"][3]["answer"][0]["valueCoding"]["display"]
    assert questionnaire_response.search(clinic_ids=clinic, params={"patient": [str(patient_a.pk)]}) == [
        found
    ]
    assert questionnaire_response.search(clinic_ids={clinic_b.pk}, params={}) == []
    assert questionnaire_response.read(str(row.pk), clinic_ids={clinic_b.pk}) is None
    assert questionnaire_response.for_patient(patient_a, since=timezone.now()) == []
    with pytest.raises(SearchError):
        questionnaire_response.search(clinic_ids=clinic, params={"questionnaire": ["x"]})


def test_consents_with_the_part_2_provision(alice, patient_a, clinic_b):
    today = clinic_today(patient_a.clinic)
    treatment = consent_record(
        actor=alice,
        patient=patient_a,
        kind="treatment",
        status="granted",
        effective_on=today,
        document_version="v1",
    )
    sharing = consent_record(
        actor=alice,
        patient=patient_a,
        kind="data_sharing",
        status="granted",
        effective_on=today,
        document_version="v1",
    )
    clinic = {patient_a.clinic_id}
    found = consent.read(str(sharing.pk), clinic_ids=clinic)
    Consent.model_validate(found)
    assert found["status"] == "active"
    assert found["scope"]["coding"][0]["code"] == "patient-privacy"
    assert found["policyRule"]["coding"][0]["code"] == "42CFRPart2"
    assert found["policy"][0]["uri"].endswith("section-2.31")
    assert found["provision"]["type"] == "permit"
    assert found["provision"]["action"][0]["coding"][0]["code"] == "disclose"
    assert found["provision"]["actor"][0]["role"]["coding"][0]["code"] == "IRCP"
    first = consent.read(str(treatment.pk), clinic_ids=clinic)
    assert first["scope"]["coding"][0]["code"] == "treatment" and first["status"] == "active"

    mark = timezone.now()
    withdrawn = consent_record(
        actor=alice,
        patient=patient_a,
        kind="data_sharing",
        status="withdrawn",
        effective_on=today,
        document_version="v1",
    )
    every = {r["id"]: r for r in consent.for_patient(patient_a)}
    for resource in every.values():
        Consent.model_validate(resource)
    assert every[str(sharing.pk)]["status"] == "inactive"  # replaced by the withdrawal
    assert every[str(withdrawn.pk)]["status"] == "inactive"
    assert every[str(withdrawn.pk)]["provision"]["type"] == "deny"
    assert every[str(treatment.pk)]["status"] == "active"
    # since: the withdrawal and the grant it ended changed; the treatment consent did not.
    assert {r["id"] for r in consent.for_patient(patient_a, since=mark)} == {
        str(sharing.pk),
        str(withdrawn.pk),
    }
    assert len(consent.search(clinic_ids=clinic, params={"patient": [f"Patient/{patient_a.pk}"]})) == 3
    assert consent.search(clinic_ids={clinic_b.pk}, params={}) == []
    assert consent.read(str(sharing.pk), clinic_ids={clinic_b.pk}) is None
    with pytest.raises(SearchError) as refused:
        consent.search(clinic_ids=clinic, params={"patient": ["Patient/"]})
    assert refused.value.code == "invalid_reference"
