"""Patient, Condition and Encounter: their content, validation with fhir.resources (R4B), and
each search parameter."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from kapstone.care.models import CareSession
from kapstone.care.services import session_transition
from kapstone.domain.sessions import SESSION_STATES
from kapstone.interop.fhir import refs
from kapstone.interop.fhir.resources import encounter
from kapstone.patients.models import Patient
from kapstone.patients.services import clinic_today, diagnosis_add, diagnosis_void
from tests.care.conftest import course_a, eligible_a  # noqa: F401 - shared fixtures
from tests.conftest import new_patient
from tests.interop.conftest import FhirClient, validate

pytestmark = pytest.mark.django_db


def ids(bundle: dict) -> list[str]:
    validate(bundle)
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


# --- Patient ------------------------------------------------------------------------------------


@pytest.fixture
def three(alice, clinic_a, patient_a):
    """Avery Zzyzxfield (1980-05-17, A-1001), Blake Morrow (1975-01-02), Casey Avermann (1990-12-31)."""
    blake = new_patient(
        alice, clinic_a, mrn="A-1002", given_name="Blake", family_name="Morrow", birth_date=date(1975, 1, 2),
        sex_at_birth="male", phone="+1 555 0100", email="blake@example.org", address="1 Main St",
    )  # fmt: skip
    casey = new_patient(
        alice, clinic_a, mrn="A-1003", given_name="Casey", family_name="Avermann", birth_date=date(1990, 12, 31),
        sex_at_birth="intersex",
    )  # fmt: skip
    return patient_a, blake, casey


def test_patient_resource_carries_mrn_name_birth_date_gender_telecom(alice, three):
    _, blake, casey = three
    resource = FhirClient(alice).get(f"/Patient/{blake.pk}").json()
    validate(resource)
    assert resource["identifier"][0]["system"] == refs.mrn_system(blake.clinic)
    assert resource["identifier"][0]["system"].endswith("/fhir/identifier/mrn/a")
    assert resource["identifier"][0]["value"] == "A-1002"
    assert resource["identifier"][0]["type"]["coding"][0]["code"] == "MR"
    assert resource["name"] == [{"use": "official", "family": "Morrow", "given": ["Blake"]}]
    assert resource["birthDate"] == "1975-01-02"
    assert resource["gender"] == "male"
    assert {"system": "phone", "value": "+1 555 0100"} in resource["telecom"]
    assert {"system": "email", "value": "blake@example.org"} in resource["telecom"]
    assert resource["address"] == [{"text": "1 Main St"}]
    assert resource["extension"] == [{"url": refs.BIRTH_SEX, "valueCode": "M"}]
    intersex = FhirClient(alice).get(f"/Patient/{casey.pk}").json()
    assert intersex["gender"] == "other"
    assert "extension" not in intersex  # US Core Birth Sex has no code for it: not guessed


def test_patient_search_by_identifier(alice, three):
    avery, blake, _ = three
    fhir = FhirClient(alice)
    system = refs.mrn_system(avery.clinic)
    assert ids(fhir.get("/Patient", {"identifier": f"{system}|A-1002"}).json()) == [str(blake.pk)]
    assert ids(fhir.get("/Patient", {"identifier": "A-1001"}).json()) == [str(avery.pk)]
    assert ids(fhir.get("/Patient", {"identifier": "A-1001,A-1002"}).json()) == [str(blake.pk), str(avery.pk)]
    assert len(ids(fhir.get("/Patient", {"identifier": f"{system}|"}).json())) == 3
    assert ids(fhir.get("/Patient", {"identifier": "http://other.example/mrn|A-1001"}).json()) == []
    assert ids(fhir.get("/Patient", {"identifier": "|A-1001"}).json()) == []  # ours always have a system
    assert ids(fhir.get("/Patient", {"identifier": "a-1001"}).json()) == []  # tokens are exact


def test_patient_search_by_name_is_case_insensitive_contains_on_given_and_family(alice, three):
    avery, blake, casey = three
    fhir = FhirClient(alice)
    # "aver": Avery (given) and Avermann (family).
    assert set(ids(fhir.get("/Patient", {"name": "AVER"}).json())) == {str(avery.pk), str(casey.pk)}
    assert ids(fhir.get("/Patient", {"name": "orro"}).json()) == [str(blake.pk)]
    assert set(ids(fhir.get("/Patient", {"name": "morrow,zzyzx"}).json())) == {str(avery.pk), str(blake.pk)}
    # Repeated: both must match.
    assert ids(fhir.get("/Patient?name=aver&name=mann").json()) == [str(casey.pk)]
    assert ids(fhir.get("/Patient", {"name": "nobody"}).json()) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1980-05-17", {"avery"}),
        ("eq1980-05-17", {"avery"}),
        ("1980", {"avery"}),
        ("1990-12", {"casey"}),
        ("ne1980-05-17", {"blake", "casey"}),
        ("lt1980-05-17", {"blake"}),
        ("le1980-05-17", {"blake", "avery"}),
        ("gt1980-05-17", {"casey"}),
        ("ge1980-05-17", {"avery", "casey"}),
        ("gt1980", {"casey"}),
        ("lt1975-01-02", set()),
        ("sa1989", {"casey"}),
        ("eb1976", {"blake"}),
    ],
)
def test_patient_search_by_birthdate_with_prefixes(alice, three, value, expected):
    names = {str(p.pk): p.given_name.lower() for p in three}
    found = ids(FhirClient(alice).get("/Patient", {"birthdate": value}).json())
    assert {names[i] for i in found} == expected


def test_patient_birthdate_range_of_two_parameters(alice, three):
    found = ids(FhirClient(alice).get("/Patient?birthdate=ge1976-01-01&birthdate=lt1985").json())
    assert found == [str(three[0].pk)]


def test_patient_search_by_id(alice, three, patient_b):
    avery, blake, _ = three
    fhir = FhirClient(alice)
    assert ids(fhir.get("/Patient", {"_id": f"{avery.pk},{blake.pk}"}).json()) == [
        str(blake.pk),
        str(avery.pk),
    ]
    assert ids(fhir.get("/Patient", {"_id": str(patient_b.pk)}).json()) == []  # another clinic's


# --- Condition ----------------------------------------------------------------------------------


def test_conditions_are_icd10cm_and_searchable_by_patient(alice, clinic_a, patient_a):
    other = new_patient(alice, clinic_a, mrn="A-1009", given_name="Dana", family_name="Other")
    primary = diagnosis_add(actor=alice, patient=patient_a, code="F10.20", is_primary=True)
    comorbid = diagnosis_add(actor=alice, patient=patient_a, code="F11.20", is_primary=False)
    theirs = diagnosis_add(actor=alice, patient=other, code="F12.20", is_primary=True)
    fhir = FhirClient(alice)
    for value in (f"Patient/{patient_a.pk}", str(patient_a.pk), refs.full_url("Patient", patient_a.pk)):
        assert ids(fhir.get("/Condition", {"patient": value}).json()) == [str(primary.pk), str(comorbid.pk)]
    assert ids(fhir.get("/Condition", {"patient": f"Patient/{other.pk}"}).json()) == [str(theirs.pk)]
    assert len(ids(fhir.get("/Condition").json())) == 3
    assert ids(fhir.get("/Condition", {"_id": str(theirs.pk)}).json()) == [str(theirs.pk)]
    resource = fhir.get(f"/Condition/{primary.pk}").json()
    validate(resource)
    assert resource["code"]["coding"] == [
        {
            "system": "http://hl7.org/fhir/sid/icd-10-cm",
            "code": "F10.20",
            "display": "Alcohol dependence, uncomplicated",
        }
    ]
    assert resource["subject"] == {"reference": f"Patient/{patient_a.pk}"}
    assert resource["clinicalStatus"]["coding"][0]["code"] == "active"
    assert resource["verificationStatus"]["coding"][0]["code"] == "confirmed"


def test_a_voided_diagnosis_is_entered_in_error_without_clinical_status(alice, patient_a):
    row = diagnosis_add(actor=alice, patient=patient_a, code="F10.20", is_primary=True)
    diagnosis_void(actor=alice, diagnosis=row, reason="Recorded on the wrong chart")
    resource = FhirClient(alice).get(f"/Condition/{row.pk}").json()
    validate(resource)
    assert resource["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
    assert "clinicalStatus" not in resource


# --- Encounter ----------------------------------------------------------------------------------


def test_every_session_state_has_an_encounter_status():
    assert set(encounter.STATUS) == set(SESSION_STATES)
    assert set(encounter.STATUS.values()) <= encounter.FHIR_STATUSES


@pytest.mark.parametrize("state", SESSION_STATES)
def test_each_state_gives_a_valid_encounter_found_by_its_status(alice, course_a, state):  # noqa: F811
    session = course_a.sessions.order_by("order").first()
    CareSession.objects.filter(pk=session.pk).update(status=state)
    fhir = FhirClient(alice)
    resource = fhir.get(f"/Encounter/{session.pk}").json()
    validate(resource)
    assert resource["status"] == encounter.STATUS[state]
    assert resource["class"]["code"] == "AMB"
    assert resource["type"][0]["coding"][0]["code"] == session.kind
    assert resource["subject"] == {"reference": f"Patient/{course_a.patient_id}"}
    assert str(session.pk) in ids(fhir.get("/Encounter", {"status": encounter.STATUS[state]}).json())
    others = {s for s in encounter.FHIR_STATUSES if s != encounter.STATUS[state]}
    assert str(session.pk) not in ids(fhir.get("/Encounter", {"status": ",".join(sorted(others))}).json())


@pytest.fixture
def attended(nina, course_a):  # noqa: F811
    """A preparation session held yesterday afternoon in the clinic's zone: checked in at 12:00,
    begun at 13:00, ended at 14:00 (3, 2 and 1 h before the returned ``now``, 15:00), so that its
    period lies within one local day whatever the hour the test runs at."""
    session = course_a.sessions.exclude(kind="dosing").order_by("order").first()
    zone = ZoneInfo(course_a.clinic.timezone)
    yesterday = clinic_today(course_a.clinic) - timedelta(days=1)
    session.scheduled_date = yesterday
    session.save(update_fields=["scheduled_date"])
    now = datetime.combine(yesterday, time(15, 0), tzinfo=zone).astimezone(UTC)
    for to, hours in (("checked_in", 3), ("in_progress", 2), ("discharged", 1)):
        session = session_transition(actor=nina, session=session, to=to, at=now - timedelta(hours=hours))
    return session, now


def test_encounter_period_and_history_come_from_the_recorded_moves(alice, attended):
    session, now = attended
    resource = FhirClient(alice).get(f"/Encounter/{session.pk}").json()
    validate(resource)
    assert resource["status"] == "finished"
    assert resource["period"] == {
        "start": (now - timedelta(hours=3)).isoformat(),
        "end": (now - timedelta(hours=1)).isoformat(),
    }
    assert [h["status"] for h in resource["statusHistory"]] == ["arrived", "in-progress", "finished"]
    assert resource["serviceProvider"] == {"display": session.clinic.name}


def test_a_planned_encounter_has_its_planned_period(alice, course_a):  # noqa: F811
    session = course_a.sessions.order_by("order").last()
    resource = FhirClient(alice).get(f"/Encounter/{session.pk}").json()
    validate(resource)
    assert resource["status"] == "planned"
    assert resource["period"]["start"].startswith(session.scheduled_date.isoformat())


def test_encounter_search_by_patient_and_date(alice, clinic_a, attended):
    session, now = attended
    fhir = FhirClient(alice)
    patient = Patient.objects.get(pk=session.patient_id)
    everyone = ids(fhir.get("/Encounter", {"patient": f"Patient/{patient.pk}"}).json())
    assert str(session.pk) in everyone
    assert len(everyone) == CareSession.objects.filter(patient=patient).count()
    other = new_patient(alice, clinic_a, mrn="A-1010", given_name="Eli", family_name="Nosessions")
    assert ids(fhir.get("/Encounter", {"patient": str(other.pk)}).json()) == []
    today = session.scheduled_date.isoformat()  # the day of the whole period, in the clinic's zone
    assert str(session.pk) in ids(fhir.get("/Encounter", {"date": today}).json())
    assert str(session.pk) in ids(fhir.get("/Encounter", {"date": f"eq{today[:7]}"}).json())
    assert str(session.pk) not in ids(fhir.get("/Encounter", {"date": "lt2000-01-01"}).json())
    assert str(session.pk) in ids(fhir.get("/Encounter", {"date": "gt2000-01-01"}).json())
    instant = (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert str(session.pk) in ids(fhir.get("/Encounter", {"date": f"le{instant}"}).json())
    assert str(session.pk) not in ids(fhir.get("/Encounter", {"date": f"sa{instant}"}).json())
    combined = fhir.get("/Encounter", {"patient": str(patient.pk), "status": "finished"}).json()
    assert ids(combined) == [str(session.pk)]
