"""FHIR MedicationRequest and MedicationAdministration (issue 16): ketamine in RxNorm with the
product's NDC, the dosage as ordered and as given, SNOMED route, status mapping, the rate events,
the blind check, searches with their refusals, clinic scoping and ``since``."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.medicationrequest import MedicationRequest

from kapstone.dosing.models import DoseOrder
from kapstone.dosing.services import (
    administration_complete,
    administration_rate_event,
    dose_order_create,
    dose_order_void,
)
from kapstone.interop.fhir.errors import SearchError
from kapstone.interop.fhir.resources import medication_administration, medication_request
from kapstone.monitoring.selectors import administration_for_session
from tests.monitoring.conftest import (  # noqa: F401 - shared fixtures, requested by name
    cleared_session,
    course_a,
    eligible_a,
    lot_50,
    running,
)

pytestmark = pytest.mark.django_db

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
SNOMED = "http://snomed.info/sct"


def test_the_order_is_a_medication_request(running):  # noqa: F811
    order = DoseOrder.objects.get(session=running)
    found = medication_request.read(str(order.pk), clinic_ids={running.clinic_id})
    MedicationRequest.model_validate(found)
    assert found["status"] == "active"  # being given
    assert found["intent"] == "order"
    assert found["medicationCodeableConcept"]["coding"] == [
        {"system": RXNORM, "code": "6130", "display": "ketamine"},
        {"system": NDC, "code": "00000-0050-10"},
    ]
    assert found["subject"] == {"reference": f"Patient/{order.patient_id}"}
    assert found["encounter"] == {"reference": f"Encounter/{running.pk}"}
    assert found["requester"]["identifier"]["value"] == str(order.ordered_by_id)
    (dosage,) = found["dosageInstruction"]
    assert dosage["route"]["coding"] == [
        {"system": SNOMED, "code": "47625008", "display": "Intravenous route"}
    ]
    ordered, calculated = dosage["doseAndRate"]
    assert ordered["type"]["coding"][0]["code"] == "ordered"
    assert ordered["doseQuantity"]["value"] == 0.8 and ordered["doseQuantity"]["code"] == "mg/kg"
    assert calculated["doseQuantity"] == {
        "value": float(order.dose_mg) if order.dose_mg % 1 else int(order.dose_mg),
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }
    assert calculated["rateQuantity"]["code"] == "mg/min"
    assert dosage["timing"]["repeat"]["duration"] == 40


def test_an_order_awaiting_its_check_shows_no_numbers_and_a_voided_one_is_cancelled(
    alice,
    cleared_session,  # noqa: F811
    lot_50,  # noqa: F811
):
    order = dose_order_create(
        actor=alice,
        session=cleared_session,
        mg_per_kg="0.8",
        concentration_mg_per_ml="50",
        bag_ml="100",
        at=timezone.now() - timedelta(minutes=30),
    )
    draft = medication_request.read(str(order.pk), clinic_ids={cleared_session.clinic_id})
    MedicationRequest.model_validate(draft)
    assert draft["status"] == "draft"
    text = str(draft)
    assert "doseAndRate" not in text and str(order.dose_mg) not in text and str(order.weight_kg) not in text
    dose_order_void(actor=alice, order=order, reason="Wrong concentration chosen")
    voided = medication_request.read(str(order.pk), clinic_ids={cleared_session.clinic_id})
    assert voided["status"] == "cancelled"
    assert voided["statusReason"]["text"] == "Wrong concentration chosen"
    assert medication_request.search(
        clinic_ids={cleared_session.clinic_id}, params={"status": ["cancelled"]}
    ) == [voided]
    assert (
        medication_request.search(clinic_ids={cleared_session.clinic_id}, params={"status": ["active"]}) == []
    )


def test_the_administration_with_its_rate_events_and_end(running, nina, alice):  # noqa: F811
    administration = administration_for_session(running)
    clinic = {running.clinic_id}
    now = timezone.now()
    administration_rate_event(
        actor=nina, administration=administration, kind="change", at=now - timedelta(minutes=5), rate="100",
        reason="Nausea",
    )  # fmt: skip
    administration_rate_event(
        actor=nina,
        administration=administration,
        kind="pause",
        at=now - timedelta(minutes=3),
        reason="Vomiting",
    )
    paused = medication_administration.read(str(administration.pk), clinic_ids=clinic)
    MedicationAdministration.model_validate(paused)
    assert paused["status"] == "on-hold"
    assert paused["request"] == {"reference": f"MedicationRequest/{administration.order_id}"}
    assert paused["context"] == {"reference": f"Encounter/{running.pk}"}
    # The pump runs a bag: its rate events are in mL/h.
    assert paused["dosage"]["rateQuantity"]["value"] == 100
    assert paused["dosage"]["rateQuantity"]["code"] == "mL/h"
    assert "dose" not in paused["dosage"]  # not known until it ends
    notes = [n["text"] for n in paused["note"]]
    assert notes[0].startswith("Rate start:")
    assert notes[1] == "Rate change: 100 mL/h (Nausea)"
    assert notes[2].startswith("Rate pause: 0") and "Vomiting" in notes[2]
    assert paused["medicationCodeableConcept"]["coding"][1] == {"system": NDC, "code": "00000-0050-10"}
    assert medication_administration.search(clinic_ids=clinic, params={"status": ["on-hold"]}) == [paused]

    mark = timezone.now()
    administration_complete(
        actor=nina,
        administration=administration,
        ended_at=now - timedelta(minutes=1),
        witness=alice,
        stopped_early=True,
        stop_reason="Persistent vomiting",
    )
    administration.refresh_from_db()
    ended = medication_administration.read(str(administration.pk), clinic_ids=clinic)
    MedicationAdministration.model_validate(ended)
    assert ended["status"] == "stopped"
    assert ended["statusReason"][0]["text"] == "Persistent vomiting"
    assert ended["effectivePeriod"]["end"] == administration.ended_at.isoformat()
    assert Decimal(str(ended["dosage"]["dose"]["value"])) == administration.given_mg
    assert ended["dosage"]["dose"]["code"] == "mg"
    # since: the administration and its request changed after ``mark``.
    patient = running.patient
    assert [r["id"] for r in medication_administration.for_patient(patient, since=mark)] == [
        str(administration.pk)
    ]
    assert [r["id"] for r in medication_request.for_patient(patient, since=mark)] == [
        str(administration.order_id)
    ]
    assert medication_administration.for_patient(patient, since=timezone.now()) == []
    assert medication_request.for_patient(patient, since=timezone.now()) == []
    order = medication_request.read(str(administration.order_id), clinic_ids=clinic)
    assert order["status"] == "stopped"


@pytest.mark.parametrize("module", [medication_request, medication_administration])
def test_search_and_scoping(module, running, clinic_b):  # noqa: F811
    clinic = {running.clinic_id}
    patient = running.patient
    every = module.search(clinic_ids=clinic, params={})
    assert len(every) == 1
    assert module.search(clinic_ids=clinic, params={"patient": [f"Patient/{patient.pk}"]}) == every
    assert module.search(clinic_ids=clinic, params={"patient": [str(patient.pk + 99)]}) == []
    assert module.search(clinic_ids=clinic, params={"_id": [every[0]["id"]]}) == every
    assert module.for_patient(patient) == every
    assert module.search(clinic_ids={clinic_b.pk}, params={}) == []
    assert module.read(every[0]["id"], clinic_ids={clinic_b.pk}) is None
    assert module.read("x1", clinic_ids=clinic) is None
    for params, code in (
        ({"status": ["running"]}, "invalid_status"),
        ({"patient": ["Group/1"]}, "invalid_reference"),
        ({"intent": ["order"]}, "unknown_search_parameter"),
    ):
        with pytest.raises(SearchError) as refused:
            module.search(clinic_ids=clinic, params=params)
        assert refused.value.code == code
