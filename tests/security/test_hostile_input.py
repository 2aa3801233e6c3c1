"""No request answers 500 for junk typed into a filter or a URL.

Walks every web route (as a user who may enter it) and every API operation with hostile values
(huge and negative numbers, non-numbers, impossible and far-off dates, unknown codes, very long
text, NUL bytes) in every query-string parameter it reads, one at a time and all at once, and
with huge numbers in every numeric path segment. Each must answer with a page or an error, never
a server error. Which parameters a page reads is found by asking it (a probe request records
every name the code looks up), so a new filter cannot slip by; the per-endpoint tests
(tests/<app>/) check what the answer says.
"""

from __future__ import annotations

import re

import pytest
from django.http import QueryDict
from django.test import Client
from django.utils import timezone
from ninja.params.models import QueryModel

from kapstone.accounts.access import AUTHENTICATED, PUBLIC
from kapstone.accounts.models import Role
from kapstone.accounts.services import api_token_create
from kapstone.operations.models import WorkerHeartbeat
from tests.security.test_url_access import OPERATIONS, ROUTES

pytestmark = pytest.mark.django_db

#: Values a person (or a script) may type into any filter.
HOSTILE = {
    "huge": "99999999999999999999",
    "huge_negative": "-99999999999999999999",
    "above_bigint": "9223372036854775808",
    "negative": "-1",
    "zero": "0",
    "not_a_number": "abc",
    "float": "1.5",
    "exponent": "1e309",
    "nan": "NaN",
    "impossible_date": "2026-02-30",
    "first_day_ever": "0001-01-01",
    "last_day_ever": "9999-12-31",
    "far_year": "99999999999999999999-01-01",
    "month_far": "99999999999999999999-1",
    "month_zero": "0001-01",
    "month_last": "9999-12",
    "unknown_code": "no_such_action",
    "long": "9" * 5000,
    "nul": "a\x00b",
    "unicode_digits": "١٢٣",
}
NUMBERS_IN_PATHS = ("99999999999999999999", "9223372036854775808", "0")

ROLE_USERS = {Role.PRESCRIBER: "alice", Role.ADMIN: "adam", Role.NURSE: "nina", Role.RESEARCHER: "bob"}


def _user_for(access) -> str | None:
    """The first of our actors who may enter a route declared with ``access``."""
    if access == PUBLIC:
        return None
    if access == AUTHENTICATED:
        return "alice"
    for role, name in ROLE_USERS.items():
        if role in access:
            return name
    return "terry"


def _concrete(route: str, number: str) -> str:
    return "/" + re.sub(r"<slug:[a-z_]+>", "x", re.sub(r"<int:[a-z_]+>", number, route))


@pytest.fixture
def people(alice, adam, nina, bob, terry):
    return {"alice": alice, "adam": adam, "nina": nina, "bob": bob, "terry": terry}


@pytest.fixture
def clients(as_user, people):
    made: dict[str | None, Client] = {None: Client()}
    made.update({name: as_user(user) for name, user in people.items()})
    return made


def assert_not_a_server_error(response, where: str) -> None:
    assert response.status_code < 500, f"{where}: {response.status_code}"
    assert b"Traceback" not in response.content, where


def names_read(client: Client, path: str, monkeypatch) -> set[str]:
    """The query-string names the view at ``path`` looks up (a non-empty query string binds its
    filter form, which then reads every field)."""
    seen: set[str] = set()
    for method in ("get", "__getitem__", "getlist", "__contains__"):
        original = getattr(QueryDict, method)

        def recording(self, key, *args, _original=original, **kwargs):
            seen.add(key)
            return _original(self, key, *args, **kwargs)

        monkeypatch.setattr(QueryDict, method, recording)
    try:
        client.get(path, {"_probe": "1"})
    finally:
        monkeypatch.undo()
    return seen - {"_probe"}


WEB = [(route, name, view) for route, name, view in ROUTES if name != "accounts:logout"]


def test_the_probe_finds_the_filters_a_page_reads(clients, monkeypatch):
    assert {"patient", "action", "date_from", "date_to"} <= names_read(
        clients["adam"], "/audit/", monkeypatch
    )


@pytest.mark.parametrize(("route", "name", "view"), WEB, ids=[r[1] or r[0] for r in WEB])
def test_every_page_survives_hostile_filters(clients, patient_a, monkeypatch, route, name, view):
    client = clients[_user_for(view.kapstone_access)]
    if name == "ready":
        # /ready answers 503 by design until a worker beats (tests/operations/test_ready.py):
        # a worker alive, so that any 5xx here is the filters' doing.
        now = timezone.now()
        WorkerHeartbeat.objects.create(worker="test:1", started_at=now, seen_at=now)
    # A real patient where the route names one, so patient pages render past their lookup.
    path = _concrete(route.replace("<int:patient_id>", str(patient_a.pk)), "1")
    names = sorted(names_read(client, path, monkeypatch))
    for label, value in HOSTILE.items():
        for query in [{n: value} for n in names] + [dict.fromkeys(names, value)]:
            response = client.get(path, query)
            assert_not_a_server_error(response, f"GET {path} {sorted(query)} = {label}")


NUMBERED = [(route, name, view) for route, name, view in WEB if "<int:" in route]


@pytest.mark.parametrize(("route", "name", "view"), NUMBERED, ids=[r[1] or r[0] for r in NUMBERED])
def test_every_page_survives_huge_numbers_in_its_path(clients, route, name, view):
    client = clients[_user_for(view.kapstone_access)]
    for number in NUMBERS_IN_PATHS:
        path = _concrete(route, number)
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            assert_not_a_server_error(response, f"{method.upper()} {path}")


def _query_names(operation) -> list[str]:
    return [n for model in operation.models if issubclass(model, QueryModel) for n in model.model_fields]


@pytest.mark.parametrize(("path", "operation"), OPERATIONS, ids=[f"{o.methods}{p}" for p, o in OPERATIONS])
def test_every_api_operation_survives_hostile_query_and_path_values(people, patient_a, path, operation):
    user = people[_user_for(operation.view_func.kapstone_access) or "alice"]
    _, token = api_token_create(actor=None, user=user)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    names = _query_names(operation)
    for method in operation.methods:
        if method == "GET":
            url = "/api/v1" + re.sub(r"\{(int:)?[a-z_]+\}", str(patient_a.pk), path)
            for label, value in HOSTILE.items():
                for query in [{n: value} for n in names] + [dict.fromkeys(names, value)]:
                    response = client.get(url, query)
                    assert_not_a_server_error(response, f"GET {url} {sorted(query)} = {label}")
        for number in NUMBERS_IN_PATHS:
            url = "/api/v1" + re.sub(r"\{(int:)?[a-z_]+\}", number, path)
            response = client.generic(method, url, data="{}", content_type="application/json")
            assert_not_a_server_error(response, f"{method} {url}")
