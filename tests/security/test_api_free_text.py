"""The API refuses bad text with the codes of the web forms and the services.

Walks every API operation whose JSON body has a text field (found in the OpenAPI document: a
string with a ``maxLength``, which every ``kapstone.accounts.api_kit.text`` field declares) and
sends, one field at a time, a NUL, a control character, one character over the limit and, where
the field needs a value, only spaces. Each must answer 422 with ``invalid_text``,
``text_too_long`` or ``<field>_required`` naming the field, and write nothing. A new operation
with a text field is walked too.
"""

from __future__ import annotations

import copy
import json
import re

import pytest
from django.apps import apps
from django.test import Client

from kapstone.accounts.access import PATIENT, PUBLIC
from kapstone.accounts.models import Role
from kapstone.accounts.services import api_token_create
from kapstone.portal.patient_services import invitation_accept, portal_invite
from tests.conftest import new_patient
from tests.security.test_object_scope import SCHEMA, _resolve, example
from tests.security.test_url_access import OPERATIONS

pytestmark = pytest.mark.django_db


def text_fields(schema: dict, path: tuple = ()) -> list[tuple[tuple, dict]]:
    """(path in the body, the string's schema) of every bounded string, nested ones included."""
    schema = _resolve(schema)
    found = []
    if schema.get("type") == "object":
        for name, sub in schema.get("properties", {}).items():
            found += text_fields(sub, (*path, name))
    elif schema.get("type") == "array" and "items" in schema:
        found += text_fields(schema["items"], (*path, 0))
    elif schema.get("type") == "string" and "maxLength" in schema:
        found.append((path, schema))
    elif "anyOf" in schema:
        for option in schema["anyOf"]:
            found += text_fields(option, path)
    return found


def body_schema(path: str, method: str) -> dict | None:
    operation = SCHEMA["paths"][re.sub(r"\{\w+:(\w+)\}", r"{\1}", path)][method.lower()]
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    return content["schema"] if content else None


def with_value(body: dict, schema: dict, path: tuple, value: object) -> dict:
    """``body`` with ``value`` at ``path``, creating the objects and list items on the way."""
    body = copy.deepcopy(body)
    node, node_schema = body, _resolve(schema)
    for step, key in enumerate(path):
        last = step == len(path) - 1
        child_schema = _resolve(
            node_schema["items"] if isinstance(key, int) else node_schema["properties"][key]
        )
        if isinstance(key, int):
            while len(node) <= key:
                node.append(example(child_schema))
        if last:
            node[key] = value
        else:
            if not isinstance(key, int) and node.get(key) is None:
                node[key] = example(child_schema) if child_schema.get("type") != "array" else []
            node, node_schema = node[key], child_schema
    return body


CASES = []
for _path, _operation in OPERATIONS:
    access = getattr(_operation.view_func, "kapstone_access", None)
    if access == PUBLIC:
        continue  # the public operations take Any and clean it in the services (test_free_text)
    for _method in _operation.methods:
        _schema = body_schema(_path, _method)
        if _schema is None:
            continue
        for _field, _string in text_fields(_schema):
            CASES.append((_path, _method, access, _field, _string))


def test_there_are_text_fields_to_walk():
    assert len(CASES) >= 25


def row_counts() -> dict[str, int]:
    return {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models()
        if model.__module__.startswith("kapstone.") and not model._meta.proxy
    }


ROLE_ORDER = (Role.PRESCRIBER, Role.NURSE, Role.ADMIN, Role.THERAPIST, Role.RESEARCHER)


@pytest.fixture
def tokens(alice, nina, adam, terry, bob, clinic_a):
    made = {
        role: api_token_create(actor=None, user=user)[1]
        for role, user in (
            (Role.PRESCRIBER, alice),
            (Role.NURSE, nina),
            (Role.ADMIN, adam),
            (Role.THERAPIST, terry),
            (Role.RESEARCHER, bob),
        )
    }
    record = new_patient(nina, clinic_a, mrn="A-8101", given_name="Pat", family_name="Quillon")
    _, invitation = portal_invite(
        actor=nina, patient=record, email="pat@example.org", link_base="http://testserver/i/"
    )
    password = "a long enough passphrase 7"
    account = invitation_accept(token=invitation, password=password, password_again=password)
    made[PATIENT] = api_token_create(actor=None, user=account.user)[1]
    return made


@pytest.mark.parametrize(
    ("path", "method", "access", "field", "string"),
    CASES,
    ids=[f"{m} {p} {'.'.join(map(str, f))}" for p, m, _, f, _ in CASES],
)
def test_bad_text_is_refused_with_the_one_set_of_codes(tokens, path, method, access, field, string):
    token = tokens[PATIENT] if access == PATIENT else tokens[next(r for r in ROLE_ORDER if r in access)]
    schema = body_schema(path, method)
    valid = example(schema)
    name = next(str(part) for part in reversed(field) if not isinstance(part, int))
    limit = string["maxLength"]
    payloads = [
        ("a\x00b", "invalid_text"),
        ("bell\x07", "invalid_text"),
        (7, "invalid_text"),
        ("x" * (limit + 1), "text_too_long"),
    ]
    if string.get("minLength"):
        payloads.append(("   ", f"{name}_required"))
    url = "/api/v1" + re.sub(r"\{(?:\w+:)?\w+\}", "1", path)
    client = Client()
    for value, code in payloads:
        before = row_counts()
        body = with_value(valid, schema, field, value)
        response = client.generic(
            method,
            url,
            data=json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        assert response.status_code == 422, (value, response.status_code, response.content[:300])
        error = response.json()["error"]
        assert (error["code"], error["field"]) == (code, name), (value, error)
        assert row_counts() == before, value


def test_the_schema_still_tells_clients_the_limits():
    reason = SCHEMA["components"]["schemas"]["ReviewIn"]["properties"]["note"]
    assert (reason["type"], reason["maxLength"], reason["minLength"]) == ("string", 5000, 1)
