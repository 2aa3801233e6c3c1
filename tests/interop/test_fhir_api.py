"""The FHIR R4 edge (/fhir/r4): metadata, access, OperationOutcomes, paging, audit, disclosure,
and no 500 for hostile input."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kapstone.audit.models import AuditEvent, Disclosure, DisclosurePatient
from kapstone.interop.fhir import registry
from kapstone.interop.fhir.api import COUNT_MAX
from kapstone.patients.services import diagnosis_add
from tests.conftest import new_patient
from tests.interop.conftest import FhirClient, outcome_of, validate
from tests.security.test_portal_matrix import patient_user

pytestmark = pytest.mark.django_db


# --- metadata -----------------------------------------------------------------------------------


def test_metadata_is_public_validates_and_lists_exactly_the_registry(client):
    response = client.get("/fhir/r4/metadata")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    validate(body)
    assert body["fhirVersion"] == "4.0.1"
    resources = body["rest"][0]["resource"]
    # The served types, then Group for its bulk export only (tests/interop/test_fhir_bulk.py).
    assert [r["type"] for r in resources] == [*registry.RESOURCES, "Group"]
    resources = resources[:-1]
    for entry in resources:
        module = registry.RESOURCES[entry["type"]]
        assert {p["name"]: p["type"] for p in entry["searchParam"]} == module.SEARCH_PARAMS
        assert [i["code"] for i in entry["interaction"]] == ["read", "search-type"]
    patient = next(r for r in resources if r["type"] == "Patient")
    assert [op["name"] for op in patient["operation"]] == ["everything"]
    assert all("operation" not in r for r in resources if r["type"] != "Patient")


def test_metadata_accepts_format_json_and_refuses_xml(client):
    assert client.get("/fhir/r4/metadata", {"_format": "json"}).status_code == 200
    assert client.get("/fhir/r4/metadata", {"_format": "application/fhir+json"}).status_code == 200
    outcome_of(
        client.get("/fhir/r4/metadata", {"_format": "xml"}), 406, "not-supported", "unsupported_format"
    )


# --- access -------------------------------------------------------------------------------------


@pytest.fixture
def chart(alice, patient_a):
    """Patient A with one diagnosis."""
    diagnosis = diagnosis_add(actor=alice, patient=patient_a, code="F10.20", is_primary=True)
    return patient_a, diagnosis


def test_anonymous_gets_401_login_and_nothing_is_read(client, chart):
    patient, _ = chart
    before = AuditEvent.objects.filter(action="read").count()
    for path in (f"/Patient/{patient.pk}", "/Patient", f"/Patient/{patient.pk}/$everything", "/Nope"):
        response = client.get("/fhir/r4" + path)
        body = outcome_of(response, 401, "login", "unauthorized")
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert "Zzyzxfield" not in str(body)
    bad = FhirClient()
    bad.headers["HTTP_AUTHORIZATION"] = "Bearer not-a-token"
    outcome_of(bad.get("/Patient"), 401, "login")
    assert AuditEvent.objects.filter(action="read").count() == before


def test_researcher_gets_403_forbidden_audited_as_denied(bob, chart):
    patient, _ = chart
    fhir = FhirClient(bob)
    for path in (f"/Patient/{patient.pk}", "/Patient", "/Condition", f"/Patient/{patient.pk}/$everything"):
        body = outcome_of(fhir.get(path), 403, "forbidden", "forbidden")
        assert "Zzyzxfield" not in str(body) and "A-1001" not in str(body)
    assert AuditEvent.objects.filter(actor=bob, action="denied", object_type="api").count() == 4
    assert not AuditEvent.objects.filter(actor=bob, action__in=["read", "export"]).exists()
    assert Disclosure.objects.count() == 0


def test_patient_portal_account_is_refused(nina, chart):
    patient, _ = chart
    portal_user = patient_user(nina, patient, "avery@example.org")
    fhir = FhirClient(portal_user)
    outcome_of(fhir.get(f"/Patient/{patient.pk}"), 403, "forbidden")
    outcome_of(fhir.get(f"/Patient/{patient.pk}/$everything"), 403, "forbidden")


@pytest.mark.parametrize("role_user", ["alice", "nina", "terry", "adam"])
def test_clinical_roles_and_admin_read_their_clinic(request, role_user, chart):
    patient, diagnosis = chart
    fhir = FhirClient(request.getfixturevalue(role_user))
    assert fhir.get(f"/Patient/{patient.pk}").json()["id"] == str(patient.pk)
    assert fhir.get(f"/Condition/{diagnosis.pk}").status_code == 200


def test_another_clinics_records_are_404_that_leak_nothing(carol, chart, patient_b):
    patient, diagnosis = chart
    fhir = FhirClient(carol)
    missing = outcome_of(fhir.get("/Patient/999999"), 404, "not-found", "not_found")
    theirs = outcome_of(fhir.get(f"/Patient/{patient.pk}"), 404, "not-found", "not_found")
    assert theirs == missing  # identical: nothing to tell apart
    outcome_of(fhir.get(f"/Condition/{diagnosis.pk}"), 404, "not-found")
    outcome_of(fhir.get(f"/Patient/{patient.pk}/$everything"), 404, "not-found")
    # Never in a search either.
    for path, params in (
        ("/Patient", {}),
        ("/Patient", {"name": "Zzyzxfield"}),
        ("/Patient", {"_id": str(patient.pk)}),
        ("/Patient", {"identifier": "A-1001"}),
        ("/Condition", {"patient": f"Patient/{patient.pk}"}),
    ):
        entries = str(fhir.get(path, params).json().get("entry", []))  # the self link echoes the query
        assert "Zzyzxfield" not in entries and "A-1001" not in entries
    assert fhir.get("/Patient").json()["total"] == 1  # carol's own patient
    # The attempts on records of clinic A are recorded for the privacy officer.
    denied = AuditEvent.objects.filter(actor=carol, action="denied", patient_id=patient.pk)
    assert {e.object_type for e in denied} == {"fhir_patient", "fhir_condition", "patient"}
    assert Disclosure.objects.count() == 0


def test_unknown_type_and_paths_are_404(alice, chart):
    fhir = FhirClient(alice)
    for path in (
        "/Observationz",
        "/Observationz/1",
        "/patient/1",
        "/Patient/1/2/3",
        "",
        "/",
        "/Condition/1/$everything",
    ):
        outcome_of(fhir.get(path), 404, "not-found", "not_found")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
def test_other_methods_are_405(alice, chart, method):
    patient, _ = chart
    fhir = FhirClient(alice)
    for path in (f"/Patient/{patient.pk}", "/Patient", "/metadata", f"/Patient/{patient.pk}/$everything"):
        response = fhir.request(method, path, data="{}", content_type="application/fhir+json")
        assert response.status_code == 405
        assert response["Allow"] == "GET"
        if method != "HEAD":
            outcome_of(response, 405, "not-supported", "method_not_allowed")


# --- search errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "issue", "code"),
    [
        ("/Patient", {"nonsense": "1"}, "not-supported", "unknown_search_parameter"),
        ("/Patient", {"name:exact": "Avery"}, "not-supported", "unknown_search_parameter"),
        ("/Patient", {"birthdate": "yesterday"}, "invalid", "invalid_date"),
        ("/Patient", {"birthdate": "ap1980"}, "invalid", "invalid_date"),
        ("/Patient", {"birthdate": "1980-13-01"}, "invalid", "invalid_date"),
        ("/Patient", {"birthdate": "1980-05-17T10:00:00Z"}, "invalid", "invalid_date"),
        ("/Patient", {"name": ""}, "invalid", "invalid_value"),
        ("/Patient", {"_count": "-1"}, "invalid", "invalid_count"),
        ("/Patient", {"_count": str(COUNT_MAX + 1)}, "invalid", "invalid_count"),
        ("/Patient", {"_offset": "x"}, "invalid", "invalid_offset"),
        ("/Condition", {"patient": "Encounter/1"}, "invalid", "invalid_reference"),
        ("/Encounter", {"status": "done"}, "invalid", "invalid_status"),
        ("/Encounter", {"date": "2026-12-01T10:00"}, "invalid", "invalid_date"),
        ("/Condition", {"code": "F10.20"}, "not-supported", "unknown_search_parameter"),
    ],
)
def test_malformed_or_unknown_search_parameters_are_400(alice, chart, path, params, issue, code):
    body = outcome_of(FhirClient(alice).get(path, params), 400, issue, code)
    assert body["issue"][0]["details"]["text"]


def test_read_refuses_search_parameters(alice, chart):
    patient, _ = chart
    outcome_of(FhirClient(alice).get(f"/Patient/{patient.pk}", {"name": "x"}), 400, "not-supported")


# --- paging -------------------------------------------------------------------------------------


def test_count_pages_with_next_links_through_every_match(alice, clinic_a, chart):
    for i in range(6):
        new_patient(alice, clinic_a, mrn=f"A-20{i:02d}", given_name="Pagina", family_name=f"Paged{i}")
    fhir = FhirClient(alice)
    seen, url, pages = [], "/Patient", 0
    params = {"name": "Paged", "_count": "4"}
    while True:
        bundle = fhir.get(url, params).json()
        validate(bundle)
        pages += 1
        assert bundle["total"] == 6
        assert len(bundle["entry"]) <= 4
        for entry in bundle["entry"]:
            assert entry["fullUrl"].endswith(f"/fhir/r4/Patient/{entry['resource']['id']}")
            seen.append(entry["resource"]["id"])
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            break
        parts = urlsplit(following[0])
        assert parts.path == "/fhir/r4/Patient"
        url, params = "/Patient", {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert pages == 2
    assert len(seen) == len(set(seen)) == 6


def test_count_zero_answers_the_total_only(alice, chart):
    bundle = FhirClient(alice).get("/Patient", {"_count": "0"}).json()
    assert bundle["total"] == 1 and bundle.get("entry", []) == []


# --- audit and disclosure -----------------------------------------------------------------------


def test_read_and_search_leave_audit_rows_with_the_patients(alice, chart):
    patient, diagnosis = chart
    fhir = FhirClient(alice)
    fhir.get(f"/Patient/{patient.pk}")
    read = AuditEvent.objects.filter(actor=alice, action="read", object_type="fhir_patient").get()
    assert (read.object_id, read.patient_id, read.clinic_id) == (
        str(patient.pk),
        patient.pk,
        patient.clinic_id,
    )
    fhir.get(f"/Condition/{diagnosis.pk}")
    assert (
        AuditEvent.objects.filter(action="read", object_type="fhir_condition", patient_id=patient.pk).count()
        == 1
    )
    fhir.get("/Patient", {"name": "Zzyzx"})
    search = AuditEvent.objects.filter(actor=alice, action="read", object_type="fhir_search").get()
    assert search.object_id == "Patient"
    assert search.patient_id == patient.pk
    assert search.detail["patients"] == [patient.pk]
    assert search.detail["parameters"] == ["name"]
    assert "Zzyzx" not in str(search.detail)  # what was typed is not kept
    assert Disclosure.objects.count() == 0  # reads are not disclosures


def test_everything_returns_the_record_and_records_one_disclosure(alice, chart):
    patient, _ = chart
    response = FhirClient(alice).get(f"/Patient/{patient.pk}/$everything")
    assert response.status_code == 200
    bundle = response.json()
    validate(bundle)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds[0] == "Patient" and "Condition" in kinds
    assert bundle["total"] == len(bundle["entry"])
    event = AuditEvent.objects.get(action="export", object_type="fhir_everything")
    assert (event.actor, event.patient_id, event.clinic_id) == (alice, patient.pk, patient.clinic_id)
    disclosure = Disclosure.objects.get()
    assert disclosure.audit_event == event
    assert (disclosure.purpose, disclosure.kind, disclosure.recipient_role) == (
        "treatment",
        "fhir_everything",
        "prescriber",
    )
    assert disclosure.recipient == "alice (prescriber)"
    assert disclosure.row_count == len(bundle["entry"])
    assert list(DisclosurePatient.objects.values_list("patient_id", "clinic_id")) == [
        (patient.pk, patient.clinic_id)
    ]


def test_everything_since_leaves_out_what_did_not_change(alice, chart):
    patient, _ = chart
    fhir = FhirClient(alice)
    later = fhir.get(f"/Patient/{patient.pk}/$everything", {"_since": "2999-01-01T00:00:00Z"}).json()
    assert [e["resource"]["resourceType"] for e in later["entry"]] == ["Patient"]
    earlier = fhir.get(f"/Patient/{patient.pk}/$everything", {"_since": "2000-01-01"}).json()
    assert "Condition" in [e["resource"]["resourceType"] for e in earlier["entry"]]
    outcome_of(
        fhir.get(f"/Patient/{patient.pk}/$everything", {"_since": "soon"}), 400, "invalid", "invalid_date"
    )
    outcome_of(fhir.get(f"/Patient/{patient.pk}/$everything", {"_type": "Condition"}), 400, "not-supported")
    assert Disclosure.objects.count() == 2  # the refused ones disclosed nothing


def test_everything_pages_with_count_each_page_one_disclosure_of_what_it_holds(alice, chart):
    patient, _ = chart
    fhir = FhirClient(alice)
    whole = fhir.get(f"/Patient/{patient.pk}/$everything").json()
    assert "link" not in whole and whole["total"] == len(whole["entry"]) >= 3
    seen, params = [], {"_count": "2"}
    while True:
        page = fhir.get(f"/Patient/{patient.pk}/$everything", params).json()
        validate(page)
        assert page["total"] == whole["total"] and len(page["entry"]) <= 2
        seen += page["entry"]
        following = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not following:
            break
        assert "/Patient/" in following[0] and "$everything" in following[0]
        params = {"_count": "2", "_offset": following[0].rsplit("_offset=", 1)[1]}
    assert seen == whole["entry"]  # the pages are the whole record, in order, once
    pages = Disclosure.objects.filter(kind="fhir_everything").order_by("id")[1:]
    assert [d.row_count for d in pages] == [len(e) for e in (seen[i : i + 2] for i in range(0, len(seen), 2))]
    outcome_of(
        fhir.get(f"/Patient/{patient.pk}/$everything", {"_count": "x"}), 400, "invalid", "invalid_count"
    )


# --- hostile input ------------------------------------------------------------------------------

HOSTILE = [
    "",
    "0",
    "-1",
    "1.5",
    "99999999999999999999999",
    "9223372036854775808",
    "%00",
    "\x00",
    "' OR 1=1 --",
    "../../etc/passwd",
    "<script>",
    "Patient/1",
    "eq",
    "ge9999",
    "le0000",
    "eq2026-02-30",
    "a" * 5000,
    "١٢٣",
    ",,,",
    "|",
    "||",
    "\\,",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_never_answer_500(alice, chart, value):
    fhir = FhirClient(alice)
    paths = [
        f"/Patient/{value}",
        f"/Condition/{value}",
        f"/Encounter/{value}",
        f"/Patient/{value}/$everything",
    ]
    for path in paths:
        assert fhir.get(path).status_code in (200, 400, 404), path
    for resource_type, module in registry.RESOURCES.items():
        for name in [*module.SEARCH_PARAMS, "_count", "_offset", "_format", "_since", value]:
            response = fhir.get(f"/{resource_type}", {name: value})
            assert response.status_code in (200, 400, 404, 406), (resource_type, name, response.status_code)
            validate(response.json())


FUZZER = FhirClient()


@pytest.fixture
def fuzzer(alice, chart):
    FUZZER.headers = FhirClient(alice).headers


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40),
    name=st.sampled_from(
        ["name", "birthdate", "identifier", "_id", "patient", "date", "status", "_count", "x"]
    ),
    value=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40),
)
def test_fuzzed_paths_and_parameters_never_answer_500(fuzzer, path, name, value):
    response = FUZZER.client.get("/fhir/r4/" + quote(path, safe="/$"), {name: value}, **FUZZER.headers)
    assert response.status_code < 500
    if response.status_code >= 400:
        validate(response.json())


def test_too_many_parameters_or_values_are_400_outcomes(alice, chart):
    fhir = FhirClient(alice)
    query = "&".join(f"name={i}" for i in range(1200))
    outcome_of(fhir.get(f"/Patient?{query}"), 400, "invalid", "too_many_parameters")
    outcome_of(fhir.get("/Patient", {"_id": ",".join("1" * 60)}), 400, "invalid", "too_many_values")
    widest = ",".join(f"n{i}" for i in range(50))  # the most a search may ask, on every parameter
    assert fhir.get("/Patient?" + "&".join([f"name={widest}"] * 20)).status_code == 200
    assert (
        fhir.get("/Encounter?" + "&".join([f"status={','.join(['planned'] * 24)}"] * 20)).status_code == 200
    )
    # Beyond Django's own limit of fields (DATA_UPLOAD_MAX_NUMBER_FIELDS).
    query = "&".join(f"x{i}=1" for i in range(2100))
    outcome_of(fhir.get(f"/Patient?{query}"), 400, "invalid", "bad_request")


class _Broken:
    """A resource module that fails inside (a bug): the edge answers without internals."""

    RESOURCE_TYPE = "Broken"
    SEARCH_PARAMS: dict[str, str] = {}

    @staticmethod
    def search(*, clinic_ids, params):
        raise RuntimeError("secret internals /srv/kapstone")

    read = search


def test_an_unforeseen_failure_is_an_exception_outcome_without_internals(alice, chart, monkeypatch):
    monkeypatch.setitem(registry.RESOURCES, "Broken", _Broken)
    fhir = FhirClient(alice)
    for path in ("/Broken", "/Broken/1"):
        body = outcome_of(fhir.get(path), 500, "exception", "internal_error")
        assert "secret" not in str(body) and "RuntimeError" not in str(body)
