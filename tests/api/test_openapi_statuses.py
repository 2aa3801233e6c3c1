"""The OpenAPI document declares every status an operation can answer, with the error schema
(issue 15), so that a client generator and a status-code conformance check both hold.

The statuses are declared once, by the router (``api_kit.KapstoneRouter``), not by hand per
operation; this walk fails when an operation misses one.
"""

from __future__ import annotations

import pytest

from tests.api.test_patients_api import Api, error_of

pytestmark = pytest.mark.django_db

#: What any operation that needs a token can answer besides its success.
WITH_TOKEN = {"400", "401", "403", "404", "409", "422"}
#: What the public operations (no token, rate-limited) can answer besides their success.
PUBLIC = {"400", "404", "409", "422", "429"}


@pytest.fixture
def document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def _operations(document):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def _resolve(schema: dict, components: dict) -> dict:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def test_every_operation_declares_its_error_statuses_with_the_error_schema(document):
    components = document["components"]["schemas"]
    missing, wrong = [], []
    operations = list(_operations(document))
    assert len(operations) >= 28
    for path, method, operation in operations:
        expected = WITH_TOKEN if operation.get("security") else PUBLIC
        responses = operation["responses"]
        for status in sorted(expected - set(responses)):
            missing.append(f"{method.upper()} {path}: {status}")
        for status in sorted(expected & set(responses)):
            schema = responses[status].get("content", {}).get("application/json", {}).get("schema", {})
            body = _resolve(schema, components)
            error = _resolve(body.get("properties", {}).get("error", {}), components)
            if body.get("required") != ["error"] or not {"code", "message", "field"} <= set(
                error.get("properties", {})
            ):
                wrong.append(f"{method.upper()} {path}: {status} {schema}")
            if not responses[status].get("description"):
                wrong.append(f"{method.upper()} {path}: {status} has no description")
        successes = [s for s in responses if s.startswith("2")]
        assert successes, f"{method.upper()} {path} declares no success"
    assert not missing, "undeclared statuses:\n" + "\n".join(missing)
    assert not wrong, "statuses without the error schema:\n" + "\n".join(wrong)


def test_the_error_schema_allows_the_list_of_errors_of_a_vitals_batch(document):
    components = document["components"]["schemas"]
    error = _resolve(components["ErrorOut"]["properties"]["error"], components)
    assert set(error["properties"]) == {"code", "message", "field", "errors"}
    assert error["required"] == ["code", "message", "field"]


def test_an_answer_matches_what_the_document_says(document, nina):
    """The declared 404 is what a missing patient gets (the schema is not decoration)."""
    declared = document["paths"]["/api/v1/patients/{patient_id}"]["get"]["responses"]
    response = Api(nina).get("/patients/987654")
    assert str(response.status_code) in declared
    assert set(error_of(response)) == {"code", "message", "field"}
