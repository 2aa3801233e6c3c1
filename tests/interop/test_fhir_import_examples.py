"""HL7's published R4 examples of the imported types, parsed with fhir.resources (R4B) and fed to
the import; and fuzzing of the import body: no input answers 500, a refusal writes nothing."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kapstone.patients.models import Patient
from tests.interop.conftest import FhirClient, validate
from tests.interop.fhir_import import (
    PATIENT_URL,
    condition,
    counts,
    entry,
    issues_of,
    liver,
    mrn_identifier,
    patient,
    post,
    transaction,
    weight,
)

pytestmark = pytest.mark.django_db

EXAMPLES = Path(__file__).parent / "fhir_examples"


def example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def examples_bundle() -> dict:
    """The three examples as one transaction, the records naming the Patient entry by its
    fullUrl (the examples say ``Patient/example``, an id on HL7's server, not on ours)."""
    records = [example("condition-example.json"), example("observation-example.json")]
    for record in records:
        record["subject"] = {"reference": PATIENT_URL}
    return transaction(entry(example("patient-example.json"), PATIENT_URL), *(entry(r) for r in records))


@pytest.mark.parametrize(
    "name", ["patient-example.json", "condition-example.json", "observation-example.json"]
)
def test_the_hl7_examples_are_valid_r4b(name):
    resource = validate(example(name))
    assert resource.get_resource_type() == name.split("-")[0].capitalize()


def test_the_hl7_examples_as_published_are_refused_each_with_its_issue(alice, clinic_a):
    fhir = FhirClient(alice)
    before = counts()
    found = issues_of(post(fhir, examples_bundle()))
    assert found == [
        # An MRN of "Acme Healthcare" (urn:oid:1.2.36.146.595.217.0.1), not of clinic A.
        ("Bundle.entry[0].resource.identifier", "invalid", "mrn_system_unknown"),
        # "Burn of ear" in SNOMED CT: not an ICD-10-CM code of our catalogue.
        ("Bundle.entry[1].resource.code", "not-supported", "condition_code_not_importable"),
        # 185 [lb_av] on 2016-03-28: pounds, and a day without a time.
        ("Bundle.entry[2].resource.valueQuantity.code", "value", "unit_not_supported"),
        ("Bundle.entry[2].resource.effectiveDateTime", "value", "effective_time_required"),
    ]
    assert counts() == before


def test_the_hl7_patient_example_with_the_clinics_mrn_is_imported(alice, clinic_a):
    resource = example("patient-example.json")
    resource["identifier"][0]["system"] = mrn_identifier(clinic_a, "")["system"]
    validate(resource)
    response = post(FhirClient(alice), transaction(entry(resource, PATIENT_URL)))
    assert response.status_code == 200, response.content[:400]
    created = Patient.objects.get(clinic=clinic_a, mrn="12345")
    assert (created.given_name, created.family_name, str(created.birth_date), created.sex_at_birth) == (
        "Peter James",
        "Chalmers",
        "1974-12-25",
        "unknown",  # the example has gender male, and no birth sex: administrative gender is not it
    )
    assert created.phone == "(03) 5555 6473"  # the first phone given
    assert created.address == "534 Erewhon St PeasantVille, Rainbow, Vic  3999"  # address.text as written


# --- fuzzing --------------------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
#: Values a sender gets wrong: the right shape of text with a wrong content, or another type.
AWKWARD = (
    st.sampled_from(
        [
            "",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "2026-02-30",
            "2026-11-30T25:00:00Z",
            "urn:uuid:",
            "Patient/",
            "Patient/1/2",
            "Patient/99999999999999999999999",
            "1e999999",
            "F10.20",
            "kg",
            "U/L",
            "umol/L",
            "\x00",
            "١٢٣",
        ]
    )
    | JSON
)


def _valid(clinic) -> dict:
    return transaction(
        entry(patient(clinic), PATIENT_URL),
        entry(condition()),
        entry(weight()),
        entry(liver("1975-2", 0.6, "mg/dL", 1.2)),
    )


def _paths(value, prefix=()):
    """Every path into a JSON value (keys and indexes), the value itself included."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


@pytest.fixture
def fuzz_target(alice, clinic_a):
    return FhirClient(alice), clinic_a


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_valid_bundle_with_any_element_replaced_never_answers_500(fuzz_target, data):
    fhir, clinic = fuzz_target
    bundle = copy.deepcopy(_valid(clinic))
    paths = list(_paths(bundle))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        path = data.draw(st.sampled_from(paths))
        replacement = data.draw(AWKWARD)
        if not path:
            bundle = replacement
            break
        holder = bundle
        try:
            for step in path[:-1]:
                holder = holder[step]
            holder[path[-1]] = replacement
        except (KeyError, IndexError, TypeError):
            continue  # an earlier replacement removed this path
    before = counts()
    response = post(fhir, bundle)
    assert response.status_code in (200, 400, 413, 422), response.content[:300]
    body = response.json()
    validate(body)
    if response.status_code == 200:
        assert body["type"] == "transaction-response"
    else:
        assert counts() == before


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=JSON | st.binary(max_size=60).map(lambda b: b.decode("latin-1")))
def test_any_json_or_text_body_never_answers_500(fuzz_target, body):
    fhir, _ = fuzz_target
    before = counts()
    response = post(fhir, body if isinstance(body, str) else json.dumps(body))
    assert response.status_code in (400, 413, 422), response.content[:300]
    validate(response.json())
    assert counts() == before
