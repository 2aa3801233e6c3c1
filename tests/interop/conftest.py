"""FHIR test helpers: a client with a bearer token, and validation with fhir.resources (R4B)."""

from __future__ import annotations

import importlib

import pytest
from django.test import Client

from kapstone.accounts.services import api_token_create

FHIR = "/fhir/r4"


class FhirClient:
    """GETs under /fhir/r4 as one user (a bearer token, as a FHIR client sends it)."""

    def __init__(self, user=None) -> None:
        self.client = Client()
        self.headers = {}
        if user is not None:
            self.headers["HTTP_AUTHORIZATION"] = f"Bearer {api_token_create(actor=None, user=user)[1]}"

    def get(self, path: str, params=None, **extra):
        return self.client.get(FHIR + path, params or {}, **self.headers, **extra)

    def request(self, method: str, path: str, **extra):
        return self.client.generic(method, FHIR + path, **self.headers, **extra)


@pytest.fixture
def fhir_as():
    return FhirClient


def validate(resource: dict):
    """The R4B model of the resource's type, validating it (raises on any invalid element)."""
    kind = resource["resourceType"]
    module = importlib.import_module(f"fhir.resources.R4B.{kind.lower()}")
    return getattr(module, kind).model_validate(resource)


def outcome_of(response, status: int, issue_code: str, code: str | None = None) -> dict:
    """The OperationOutcome of an error answer: its status, content type, codes; validated."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    validate(body)
    issue = body["issue"][0]
    assert issue["code"] == issue_code
    assert issue["details"]["text"]
    if code is not None:
        assert issue["details"]["coding"][0]["code"] == code
    return body
