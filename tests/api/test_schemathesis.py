"""The API against its own OpenAPI document, by schemathesis.

Every operation of ``/api/v1/openapi.json`` gets generated requests (bounded: a few examples per
operation, with and without a valid body) as a prescriber and as a researcher of clinic A, on a
database holding a patient of each clinic. Three checks must hold for every answer: no 5xx
(``not_a_server_error``), a status the document declares for the operation
(``status_code_conformance``) and a body that matches the declared schema for that status
(``response_schema_conformance``).
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

from kapstone.accounts.services import api_token_create

pytestmark = pytest.mark.django_db

APP = get_wsgi_application()
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP)

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 12


@pytest.fixture(autouse=True)
def _one_connection_for_the_test():
    """Requests go through the WSGI handler, which closes the database connection when a request
    ends; the test's transaction (and on PostgreSQL its connection) must outlive each request, as
    Django's own test client arranges."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(alice, bob, patient_a, patient_b):
    """A prescriber's and a researcher's token of clinic A (a patient in each clinic exists)."""
    return {
        role: api_token_create(actor=None, user=user)[1]
        for role, user in (("prescriber", alice), ("researcher", bob))
    }


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
    derandomize=True,
)
def test_every_operation_answers_as_documented(case, tokens):
    for token in tokens.values():
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
