"""FHIR import (POST /fhir/r4, a transaction Bundle): what is written, through which services and
with which audit rows; matching by MRN; every refusal with its code and expression, nothing
written; access."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from kapstone.accounts.models import Role
from kapstone.accounts.services import membership_set
from kapstone.audit.models import AuditEvent
from kapstone.interop.fhir import importer
from kapstone.interop.fhir.refs import BIRTH_SEX
from kapstone.patients.models import BodyMeasurement, Diagnosis, LiverTest, Patient
from kapstone.patients.services import diagnosis_add
from tests.conftest import make_user
from tests.interop.conftest import FhirClient, outcome_of, validate
from tests.interop.fhir_import import (
    PATIENT_URL,
    condition,
    counts,
    entry,
    height,
    issues_of,
    liver,
    mrn_identifier,
    patient,
    post,
    subject,
    transaction,
    weight,
)
from tests.security.test_portal_matrix import patient_user

pytestmark = pytest.mark.django_db


def full_bundle(clinic):
    return transaction(
        entry(patient(clinic), PATIENT_URL),
        entry(condition("F10.20")),
        entry(weight(81.4)),
        entry(height(171)),
        entry(liver("1742-6", 31, "U/L", 40)),
        entry(liver("1975-2", 17, "umol/L", 21)),
    )


# --- success ------------------------------------------------------------------------------------


def test_imports_a_new_patient_with_condition_weight_height_and_liver_tests(alice, clinic_a):
    fhir = FhirClient(alice)
    before = counts()
    response = post(fhir, full_bundle(clinic_a))
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    validate(body)
    assert body["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created"] * 6
    created = Patient.objects.get(clinic=clinic_a, mrn="A-2001")
    assert (created.given_name, created.family_name, created.birth_date, created.sex_at_birth) == (
        "Robin",
        "Quarrington",
        date(1984, 3, 9),
        "female",
    )
    assert (created.phone, created.email) == ("555-0142", "robin@example.org")
    assert [d.code for d in Diagnosis.objects.filter(patient=created)] == ["F10.20"]
    assert not Diagnosis.objects.get(patient=created).is_primary  # the primary is a clinician's choice
    rows = BodyMeasurement.objects.filter(patient=created).order_by("id")
    assert [(r.weight_kg, r.height_cm) for r in rows] == [(Decimal("81.4"), None), (None, Decimal("171.0"))]
    assert rows[0].measured_at == datetime(2026, 11, 30, 14, 15, tzinfo=UTC)
    tests = LiverTest.objects.filter(patient=created).order_by("id")
    assert [(t.test, t.value, t.unit, t.upper_limit, t.taken_on) for t in tests] == [
        ("alt", Decimal("31.00"), "U/L", Decimal("40.00"), date(2026, 11, 30)),
        ("bilirubin", Decimal("17.00"), "umol/L", Decimal("21.00"), date(2026, 11, 30)),
    ]
    after = counts()
    assert {k: after[k] - before[k] for k in after} == {
        "patients": 1,
        "diagnoses": 1,
        "measurements": 2,
        "liver_tests": 2,
        "audit": 7,  # one per service write, and the import's own
    }
    # Each location reads back the resource written.
    locations = [e["response"]["location"] for e in body["entry"]]
    assert locations[0] == f"Patient/{created.pk}"
    assert (
        locations[2] == f"Observation/weight-{rows[0].pk}"
        and locations[3] == f"Observation/height-{rows[1].pk}"
    )
    for location in locations:
        read = fhir.get("/" + location)
        assert read.status_code == 200, location
        assert read.json()["resourceType"] == location.split("/")[0]


def test_each_write_is_audited_by_its_service_and_the_import_once_without_phi(alice, clinic_a):
    fhir = FhirClient(alice)
    start = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    assert post(fhir, full_bundle(clinic_a)).status_code == 200
    created = Patient.objects.get(mrn="A-2001")
    rows = AuditEvent.objects.filter(id__gt=start).exclude(action="read").order_by("id")
    assert [(r.action, r.object_type) for r in rows] == [
        ("create", "patient"),
        ("create", "diagnosis"),
        ("create", "body_measurement"),
        ("create", "body_measurement"),
        ("create", "liver_test"),
        ("create", "liver_test"),
        ("create", "fhir_import"),
    ]
    assert all(r.actor == alice and r.clinic_id == clinic_a.pk for r in rows)
    assert all(r.patient_id == created.pk for r in rows)
    imported = rows.last()
    assert imported.detail == {
        "interface": "fhir",
        "entries": 6,
        "created": {"Condition": 1, "Observation": 4, "Patient": 1},
        "patients_matched": 0,
        "patients": 1,
    }
    for text in ("Quarrington", "Robin", "A-2001", "1984", "555-0142"):
        assert text not in str(imported.detail) and text not in imported.object_id


def test_an_existing_patient_is_matched_by_mrn_answered_200_and_not_changed(alice, clinic_a, patient_a):
    version = patient_a.version
    bundle = transaction(
        entry(
            patient(
                clinic_a, "A-1001", name=[{"family": "Other", "given": ["Name"]}], birthDate="1980-05-17"
            ),
            PATIENT_URL,
        ),
        entry(condition("F41.1")),
        entry(weight(70.2)),
    )
    fhir = FhirClient(alice)
    before = counts()
    body = post(fhir, bundle).json()
    assert body["entry"][0]["response"] == {
        "status": "200 OK",
        "location": f"Patient/{patient_a.pk}",
    }
    assert [e["response"]["status"] for e in body["entry"]][1:] == ["201 Created", "201 Created"]
    patient_a.refresh_from_db()
    assert (patient_a.family_name, patient_a.version) == ("Zzyzxfield", version)
    assert Diagnosis.objects.filter(patient=patient_a, code="F41.1").exists()
    assert counts()["patients"] == before["patients"]
    imported = AuditEvent.objects.get(object_type="fhir_import")
    assert imported.detail["patients_matched"] == 1 and imported.detail["created"] == {
        "Condition": 1,
        "Observation": 1,
    }


def test_records_can_name_the_patient_by_id_or_by_mrn_identifier(alice, clinic_a, patient_a):
    bundle = transaction(
        entry(condition("F41.1", ref=subject(f"Patient/{patient_a.pk}"))),
        entry(weight(70.2, ref={"identifier": mrn_identifier(clinic_a, "A-1001")})),
        entry(liver(ref=subject(f"http://127.0.0.1:8000/fhir/r4/Patient/{patient_a.pk}"))),
    )
    response = post(FhirClient(alice), bundle)
    assert response.status_code == 200, response.content[:400]
    assert Diagnosis.objects.filter(patient=patient_a, code="F41.1").count() == 1
    assert BodyMeasurement.objects.filter(patient=patient_a, weight_kg=Decimal("70.2")).count() == 1
    assert LiverTest.objects.filter(patient=patient_a, test="alt").count() == 1


def test_a_bundle_may_be_posted_to_the_base_with_a_slash(alice, clinic_a):
    response = post(FhirClient(alice), full_bundle(clinic_a), path="/")
    assert response.status_code == 200


def test_the_capability_statement_declares_the_transaction(client):
    rest = client.get("/fhir/r4/metadata").json()["rest"][0]
    assert [i["code"] for i in rest["interaction"]] == ["transaction"]


# --- refusals: one outcome, every bad entry, nothing written ------------------------------------


REFUSALS = [
    # (what is wrong, the entry to put at index 1 or a change to the Patient, expression, issue, code)
    (
        "mrn of another system",
        lambda c: entry(
            patient(c, identifier=[{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345"}]),
            PATIENT_URL,
        ),
        "Bundle.entry[0].resource.identifier",
        "invalid",
        "mrn_system_unknown",
    ),
    (
        "no mrn",
        lambda c: entry(patient(c, identifier=[]), PATIENT_URL),
        "Bundle.entry[0].resource.identifier",
        "required",
        "mrn_required",
    ),
    (
        "malformed mrn (the service's rule)",
        lambda c: entry(patient(c, "!!"), PATIENT_URL),
        "Bundle.entry[0].resource.identifier[0].value",
        "invalid",
        "mrn_invalid",
    ),
    (
        "partial birth date",
        lambda c: entry(patient(c, birthDate="1984"), PATIENT_URL),
        "Bundle.entry[0].resource.birthDate",
        "value",
        "invalid_date",
    ),
    (
        "birth date in the future (the service's rule)",
        lambda c: entry(patient(c, birthDate="2099-01-01"), PATIENT_URL),
        "Bundle.entry[0].resource.birthDate",
        "invalid",
        "birth_date_in_future",
    ),
    (
        "no family name (the service's rule)",
        lambda c: entry(patient(c, name=[{"given": ["Robin"]}]), PATIENT_URL),
        "Bundle.entry[0].resource.name[0].family",
        "invalid",
        "family_name_required",
    ),
    (
        "unknown gender",
        lambda c: entry(patient(c, gender="f"), PATIENT_URL),
        "Bundle.entry[0].resource.gender",
        "value",
        "gender_invalid",
    ),
    (
        "an ICD-10-CM code outside the catalogue (the service's rule)",
        lambda c: entry(condition("I10")),
        "Bundle.entry[1].resource.code.coding[0].code",
        "invalid",
        "diagnosis_code_unknown",
    ),
    (
        "a SNOMED CT condition",
        lambda c: entry(
            condition(code={"coding": [{"system": "http://snomed.info/sct", "code": "39065001"}]})
        ),
        "Bundle.entry[1].resource.code",
        "not-supported",
        "condition_code_not_importable",
    ),
    (
        "a refuted condition",
        lambda c: entry(condition(verificationStatus={"coding": [{"code": "refuted"}]})),
        "Bundle.entry[1].resource.verificationStatus",
        "business-rule",
        "condition_not_confirmed",
    ),
    (
        "a resolved condition",
        lambda c: entry(condition(clinicalStatus={"coding": [{"code": "resolved"}]})),
        "Bundle.entry[1].resource.clinicalStatus",
        "business-rule",
        "condition_not_active",
    ),
    (
        "a weight in pounds",
        lambda c: entry(
            weight(
                valueQuantity={
                    "value": 180,
                    "unit": "lb",
                    "system": "http://unitsofmeasure.org",
                    "code": "[lb_av]",
                }
            )
        ),
        "Bundle.entry[1].resource.valueQuantity.code",
        "value",
        "unit_not_supported",
    ),
    (
        "an implausible weight (the service's rule)",
        lambda c: entry(weight(900)),
        "Bundle.entry[1].resource.valueQuantity.value",
        "invalid",
        "weight_out_of_range",
    ),
    (
        "a weight as text",
        lambda c: entry(weight("81")),
        "Bundle.entry[1].resource.valueQuantity.value",
        "value",
        "invalid_number",
    ),
    (
        "a weight on a day without a time",
        lambda c: entry(weight(at="2026-11-30")),
        "Bundle.entry[1].resource.effectiveDateTime",
        "value",
        "effective_time_required",
    ),
    (
        "a weight in the future (the service's rule)",
        lambda c: entry(weight(at="2099-01-01T09:00:00Z")),
        "Bundle.entry[1].resource.effectiveDateTime",
        "invalid",
        "measured_in_future",
    ),
    (
        "ALT in mg/dL (the service's rule)",
        lambda c: entry(liver(unit="mg/dL")),
        "Bundle.entry[1].resource.valueQuantity.code",
        "invalid",
        "unit_not_for_test",
    ),
    (
        "ALT in mg/dL without a UCUM code: the unit is read",
        lambda c: entry(
            liver(
                valueQuantity={"value": 31, "unit": "mg/dL"},
                referenceRange=[{"high": {"value": 40, "unit": "mg/dL"}}],
            )
        ),
        "Bundle.entry[1].resource.valueQuantity.unit",
        "invalid",
        "unit_not_for_test",
    ),
    (
        "a liver test without the upper limit (the service's rule)",
        lambda c: entry(liver(referenceRange=[])),
        "Bundle.entry[1].resource.referenceRange[0].high.value",
        "invalid",
        "upper_limit_required",
    ),
    (
        "an upper limit in another unit",
        lambda c: entry(
            liver(
                referenceRange=[
                    {
                        "high": {
                            "value": 1,
                            "unit": "mg/dL",
                            "system": "http://unitsofmeasure.org",
                            "code": "mg/dL",
                        }
                    }
                ]
            )
        ),
        "Bundle.entry[1].resource.referenceRange[0].high.code",
        "value",
        "reference_range_unit_mismatch",
    ),
    (
        "blood taken in the future (the service's rule)",
        lambda c: entry(liver(day="2099-01-01")),
        "Bundle.entry[1].resource.effectiveDateTime",
        "invalid",
        "date_in_future",
    ),
    (
        "a heart rate",
        lambda c: entry(weight(code={"coding": [{"system": "http://loinc.org", "code": "8867-4"}]})),
        "Bundle.entry[1].resource.code",
        "not-supported",
        "observation_code_not_importable",
    ),
    (
        "a preliminary result",
        lambda c: entry(liver(status="preliminary")),
        "Bundle.entry[1].resource.status",
        "business-rule",
        "observation_not_final",
    ),
    (
        "an Encounter",
        lambda c: entry({"resourceType": "Encounter", "status": "finished"}),
        "Bundle.entry[1].resource.resourceType",
        "not-supported",
        "resource_type_not_supported",
    ),
    (
        "an update (PUT)",
        lambda c: entry(condition(), method="PUT"),
        "Bundle.entry[1].request.method",
        "not-supported",
        "method_not_supported",
    ),
    (
        "no subject",
        lambda c: entry(condition(subject=None)),
        "Bundle.entry[1].resource.subject",
        "required",
        "subject_required",
    ),
    (
        "an unknown patient",
        lambda c: entry(condition(ref=subject("Patient/999999"))),
        "Bundle.entry[1].resource.subject.reference",
        "not-found",
        "patient_not_found",
    ),
    (
        "an unknown MRN",
        lambda c: entry(condition(ref={"identifier": mrn_identifier(c, "A-9999")})),
        "Bundle.entry[1].resource.subject.identifier",
        "not-found",
        "patient_not_found",
    ),
    (
        "an entry without a resource",
        lambda c: {"request": {"method": "POST", "url": "Condition"}},
        "Bundle.entry[1].resource",
        "required",
        "resource_required",
    ),
]


@pytest.mark.parametrize(
    ("what", "make", "expression", "issue", "code"), REFUSALS, ids=[r[0] for r in REFUSALS]
)
def test_a_bad_entry_refuses_the_whole_bundle_naming_it(alice, clinic_a, what, make, expression, issue, code):
    bundle = full_bundle(clinic_a)
    made = make(clinic_a)
    if made.get("resource", {}).get("resourceType") == "Patient":
        bundle["entry"][0] = made
    else:
        bundle["entry"].insert(1, made)
    fhir = FhirClient(alice)
    before = counts()
    found = issues_of(post(fhir, bundle))
    assert found == [(expression, issue, code)]
    assert counts() == before  # nothing written: no patient, record or audit row


def test_every_bad_entry_is_listed_in_one_outcome_in_entry_order(alice, clinic_a, patient_a):
    bundle = transaction(
        entry(condition("F32.1", ref=subject(f"Patient/{patient_a.pk}"))),  # good
        entry(weight(12, ref=subject(f"Patient/{patient_a.pk}"))),
        entry(liver(ref=subject(f"Patient/{patient_a.pk}"), unit="mg/dL", day="2099-01-01")),
        entry(condition("Z99", ref=subject(f"Patient/{patient_a.pk}"))),
        entry(height(172, ref=subject(f"Patient/{patient_a.pk}"))),  # good
    )
    fhir = FhirClient(alice)
    before = counts()
    found = issues_of(post(fhir, bundle))
    assert [(e, c) for e, _, c in found] == [
        ("Bundle.entry[1].resource.valueQuantity.value", "weight_out_of_range"),
        ("Bundle.entry[2].resource.valueQuantity.code", "unit_not_for_test"),  # the service's first check
        ("Bundle.entry[3].resource.code.coding[0].code", "diagnosis_code_unknown"),
    ]
    assert counts() == before


def test_records_of_a_refused_patient_entry_are_not_written_and_not_reported_twice(alice, clinic_a):
    bundle = full_bundle(clinic_a)
    bundle["entry"][0]["resource"]["birthDate"] = "not a date"
    fhir = FhirClient(alice)
    before = counts()
    assert issues_of(post(fhir, bundle)) == [("Bundle.entry[0].resource.birthDate", "value", "invalid_date")]
    assert counts() == before


def test_a_refusal_late_in_the_bundle_rolls_back_the_writes_before_it(alice, clinic_a):
    bundle = full_bundle(clinic_a)
    bundle["entry"].append(entry(liver("1920-8", 10**6)))
    fhir = FhirClient(alice)
    before = counts()
    assert issues_of(post(fhir, bundle)) == [
        ("Bundle.entry[6].resource.valueQuantity.value", "invalid", "value_out_of_range")
    ]
    assert counts() == before
    assert not Patient.objects.filter(mrn="A-2001").exists()


def test_a_matched_mrn_with_another_birth_date_is_refused_as_a_mismatch(alice, clinic_a, patient_a):
    bundle = transaction(
        entry(patient(clinic_a, "A-1001", birthDate="1981-05-17"), PATIENT_URL), entry(weight())
    )
    fhir = FhirClient(alice)
    before = counts()
    assert issues_of(post(fhir, bundle)) == [
        ("Bundle.entry[0].resource.birthDate", "conflict", "patient_mismatch")
    ]
    assert counts() == before


def test_a_diagnosis_already_on_a_matched_chart_is_refused_by_the_service(alice, clinic_a, patient_a):
    diagnosis_add(actor=alice, patient=patient_a, code="F10.20", is_primary=True)
    bundle = transaction(entry(condition("F10.20", ref=subject(f"Patient/{patient_a.pk}"))))
    fhir = FhirClient(alice)
    before = counts()
    assert issues_of(post(fhir, bundle)) == [
        ("Bundle.entry[0].resource.code.coding[0].code", "invalid", "diagnosis_duplicate")
    ]
    assert counts() == before


def test_two_patient_entries_with_one_mrn_and_duplicate_full_urls_are_refused(alice, clinic_a):
    bundle = transaction(
        entry(patient(clinic_a), PATIENT_URL),
        entry(patient(clinic_a), "urn:uuid:0b1f0000-0000-4000-8000-000000000001"),
        entry(weight(), "urn:uuid:dup"),
        entry(height(), "urn:uuid:dup"),
    )
    fhir = FhirClient(alice)
    before = counts()
    found = issues_of(post(fhir, bundle))
    assert [(e, c) for e, _, c in found] == [
        ("Bundle.entry[0].resource.identifier", "duplicate_patient_entry"),
        ("Bundle.entry[1].resource.identifier", "duplicate_patient_entry"),
        ("Bundle.entry[2].fullUrl", "duplicate_full_url"),
        ("Bundle.entry[3].fullUrl", "duplicate_full_url"),
    ]
    assert counts() == before


def test_a_subject_naming_a_non_patient_entry_is_refused(alice, clinic_a):
    bundle = full_bundle(clinic_a)
    bundle["entry"][1]["fullUrl"] = "urn:uuid:cond"
    bundle["entry"].append(entry(weight(ref=subject("urn:uuid:cond"))))
    assert issues_of(post(FhirClient(alice), bundle)) == [
        ("Bundle.entry[6].resource.subject.reference", "invalid", "subject_not_a_patient")
    ]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{not json", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        ('{"resourceType": "Bundle", "type": "transaction", "entry": [NaN]}', "invalid_json"),
        ("[]", "not_a_transaction"),
        ('{"resourceType": "Patient"}', "not_a_transaction"),
        ('{"resourceType": "Bundle", "type": "batch", "entry": []}', "not_a_transaction"),
        ('{"resourceType": "Bundle", "type": "transaction"}', "bundle_empty"),
        ('{"resourceType": "Bundle", "type": "transaction", "entry": {}}', "bundle_empty"),
        ("[" * 100_000 + "]" * 100_000, "invalid_json"),
    ],
)
def test_malformed_bodies_are_400_with_one_issue(alice, clinic_a, body, code):
    fhir = FhirClient(alice)
    before = counts()
    found = issues_of(post(fhir, body), 400)
    assert [c for _, _, c in found] == [code]
    assert counts() == before


def test_a_body_that_is_not_json_media_is_415(alice, clinic_a):
    found = issues_of(post(FhirClient(alice), full_bundle(clinic_a), content_type="text/plain"), 415)
    assert found == [("", "not-supported", "unsupported_media_type")]


def test_a_body_over_the_upload_limit_is_413(alice, clinic_a, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    fhir = FhirClient(alice)
    before = counts()
    found = issues_of(post(fhir, full_bundle(clinic_a)), 413)
    assert found == [("", "too-costly", "bundle_too_large")]
    assert counts() == before


def test_more_entries_than_the_limit_is_413(alice, clinic_a, monkeypatch):
    monkeypatch.setattr(importer, "MAX_ENTRIES", 5)
    found = issues_of(post(FhirClient(alice), full_bundle(clinic_a)), 413)
    assert found == [("Bundle.entry", "too-costly", "too_many_entries")]
    assert importer.MAX_ENTRIES == 5 and len(full_bundle(clinic_a)["entry"]) == 6


# --- access -------------------------------------------------------------------------------------


def test_anonymous_is_401_and_nothing_is_written(client, clinic_a):
    before = counts()
    response = client.post("/fhir/r4", data="{}", content_type="application/fhir+json")
    outcome_of(response, 401, "login", "unauthorized")
    assert counts() == before


@pytest.mark.parametrize("who", ["researcher", "portal", "monitor"])
def test_researcher_portal_and_monitor_tokens_are_403(who, bob, nina, clinic_a, patient_a):
    user = {
        "researcher": lambda: bob,
        "portal": lambda: patient_user(nina, patient_a, "avery@example.org"),
        "monitor": lambda: make_user("monitor.a", clinic_a, Role.MONITOR),
    }[who]()
    fhir = FhirClient(user)
    before = counts()
    body = outcome_of(post(fhir, full_bundle(clinic_a)), 403, "forbidden", "forbidden")
    assert "Zzyzxfield" not in str(body)
    after = counts()
    assert {k: after[k] - before[k] for k in after if k != "audit"} == dict.fromkeys(
        ["patients", "diagnoses", "measurements", "liver_tests"], 0
    )
    denied = AuditEvent.objects.filter(actor=user, action="denied", object_type="api")
    assert [e.object_id for e in denied] == ["fhir_base"]


@pytest.mark.parametrize("role", ["nina", "terry", "adam"])
def test_every_patient_writing_role_may_import(request, role, clinic_a):
    response = post(FhirClient(request.getfixturevalue(role)), full_bundle(clinic_a))
    assert response.status_code == 200


def test_another_clinics_patient_is_not_found_like_a_missing_one(carol, clinic_b, patient_a):
    fhir = FhirClient(carol)
    before = counts()
    theirs = post(fhir, transaction(entry(condition(ref=subject(f"Patient/{patient_a.pk}")))))
    missing = post(fhir, transaction(entry(condition(ref=subject("Patient/99999999")))))
    assert theirs.json() == missing.json()  # nothing to tell apart
    assert issues_of(theirs) == [
        ("Bundle.entry[0].resource.subject.reference", "not-found", "patient_not_found")
    ]
    by_mrn = post(fhir, transaction(entry(condition(ref={"identifier": mrn_identifier(clinic_b, "A-1001")}))))
    assert issues_of(by_mrn)[0][2] == "patient_not_found"
    for response in (theirs, by_mrn):
        assert "Zzyzxfield" not in response.content.decode() and "A-1001" not in response.content.decode()
    assert counts() == before


def test_a_patient_entry_with_another_clinics_mrn_system_is_refused(carol, clinic_a, clinic_b, patient_a):
    bundle = transaction(entry(patient(clinic_a, "A-1001"), PATIENT_URL))
    found = issues_of(post(FhirClient(carol), bundle))
    assert found == [("Bundle.entry[0].resource.identifier", "invalid", "mrn_system_unknown")]


def test_a_user_of_two_clinics_chooses_one_with_the_clinic_parameter(alice, clinic_a, clinic_b):
    membership_set(actor=None, user=alice, clinic=clinic_b, role=Role.NURSE)
    fhir = FhirClient(alice)
    before = counts()
    found = issues_of(post(fhir, full_bundle(clinic_b)), 400)
    assert found == [("", "required", "clinic_required")]
    assert counts() == before
    response = post(fhir, full_bundle(clinic_b), query="?clinic=b")
    assert response.status_code == 200, response.content[:300]
    assert Patient.objects.get(mrn="A-2001").clinic == clinic_b


def test_a_clinic_parameter_naming_a_clinic_not_ones_own_is_404(alice, clinic_a, clinic_b):
    for slug in ("b", "nowhere"):
        found = issues_of(post(FhirClient(alice), full_bundle(clinic_a), query=f"?clinic={slug}"), 404)
        assert found == [("", "not-found", "not_found")]
    assert post(FhirClient(alice), full_bundle(clinic_a), query="?clinic=a").status_code == 200


def test_get_on_the_base_is_still_404_and_other_methods_405(alice):
    fhir = FhirClient(alice)
    outcome_of(fhir.get(""), 404, "not-found", "not_found")
    response = fhir.request("PUT", "", data="{}", content_type="application/fhir+json")
    outcome_of(response, 405, "not-supported", "method_not_allowed")
    assert response["Allow"] == "GET, POST"


def test_the_documented_example_imports_and_its_refusal_is_as_documented(alice, clinic_a):
    """docs/interop.md, "Import": the Bundle of the curl example (its MRN system and date moved
    to this test's clinic), then the refusal shown there."""
    docs = (Path(__file__).parents[2] / "docs" / "interop.md").read_text(encoding="utf-8")
    text = docs.split("<<'JSON'\n", 1)[1].split("\nJSON\n", 1)[0]
    text = text.replace(
        "http://127.0.0.1:8000/fhir/identifier/mrn/north", mrn_identifier(clinic_a, "")["system"]
    )
    bundle = json.loads(text)
    fhir = FhirClient(alice)
    response = post(fhir, bundle)
    assert response.status_code == 200, response.content[:400]
    assert [e["response"]["status"] for e in response.json()["entry"]] == ["201 Created"] * 4
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = "N-2002"
    bundle["entry"][2]["resource"]["valueQuantity"]["value"] = 814
    del bundle["entry"][3]["resource"]["referenceRange"]
    refused = post(fhir, bundle)
    shown = json.loads(docs.split("A refusal, 422", 1)[1].split("```json\n", 1)[1].split("```", 1)[0])
    assert refused.status_code == 422 and refused.json() == shown


def test_records_before_their_patient_entry_are_written_after_it_and_answered_in_order(alice, clinic_a):
    bundle = transaction(entry(weight(80)), entry(condition()), entry(patient(clinic_a), PATIENT_URL))
    response = post(FhirClient(alice), bundle)
    assert response.status_code == 200, response.content[:300]
    locations = [e["response"]["location"].split("/")[0] for e in response.json()["entry"]]
    assert locations == ["Observation", "Condition", "Patient"]
    created = Patient.objects.get(mrn="A-2001")
    assert BodyMeasurement.objects.get(patient=created).weight_kg == Decimal("80.0")


def test_what_fhir_itself_calls_invalid_is_refused_at_its_path_without_the_value(alice, clinic_a):
    """Elements the import does not read are still checked against FHIR's definition of the type
    (fhir.resources): one not defined, or one of the wrong kind, refuses the Bundle."""
    bundle = full_bundle(clinic_a)
    bundle["entry"][0]["resource"]["favouriteColour"] = "Zzyzx-blue"
    bundle["entry"][0]["resource"]["address"] = [{"line": [7]}]
    bundle["entry"][2]["resource"]["note"] = [{"text": {"nested": "Zzyzx"}}]
    fhir = FhirClient(alice)
    before = counts()
    response = post(fhir, bundle)
    found = issues_of(response)
    assert found == [
        ("Bundle.entry[0].resource.address[0].line[0]", "structure", "invalid_structure"),
        ("Bundle.entry[0].resource.favouriteColour", "structure", "invalid_structure"),
        ("Bundle.entry[2].resource.note[0].text", "structure", "invalid_structure"),
    ]
    texts = [issue["details"]["text"] for issue in response.json()["issue"]]
    assert "favouriteColour is not an element of Patient in FHIR R4." in texts
    assert "Zzyzx" not in json.dumps(response.json())
    assert counts() == before


@pytest.mark.parametrize(
    ("gender", "extension", "sex"),
    [
        ("male", None, "unknown"),  # a man's administrative gender says nothing of pregnancy
        ("female", None, "unknown"),
        ("male", "F", "female"),  # e.g. a trans man: the pregnancy check is asked
        ("female", "M", "male"),
        (None, "UNK", "unknown"),
        ("other", "ASKU", "unknown"),
    ],
)
def test_sex_at_birth_comes_from_the_birth_sex_extension_never_from_gender(
    alice, clinic_a, gender, extension, sex
):
    resource = patient(clinic_a)
    resource.pop("gender")
    resource.pop("extension")
    if gender:
        resource["gender"] = gender
    if extension:
        resource["extension"] = [{"url": BIRTH_SEX, "valueCode": extension}]
    response = post(FhirClient(alice), transaction(entry(resource, PATIENT_URL)))
    assert response.status_code == 200, response.content[:400]
    assert Patient.objects.get(clinic=clinic_a, mrn="A-2001").sex_at_birth == sex


def test_a_birth_sex_code_outside_the_value_set_is_refused(alice, clinic_a):
    resource = patient(
        clinic_a, extension=[{"url": "http://x.example/other"}, {"url": BIRTH_SEX, "valueCode": "X"}]
    )
    fhir = FhirClient(alice)
    before = counts()
    found = issues_of(post(fhir, transaction(entry(resource, PATIENT_URL))))
    assert found == [("Bundle.entry[0].resource.extension[1].valueCode", "value", "birth_sex_invalid")]
    assert counts() == before
