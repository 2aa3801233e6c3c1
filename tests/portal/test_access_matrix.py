"""The portal's access matrix, generated from the routes: every portal page and portal API
operation, as a patient, as each staff role and as nobody (docs/authz-matrix.md, the patient
column). The per-page tests show that a patient sees only their own record."""

from __future__ import annotations

import re

import pytest

from kapstone.accounts.access import PATIENT
from kapstone.accounts.models import Role
from tests.api.test_patients_api import Api
from tests.conftest import make_user, verified_client
from tests.portal.patient_fixtures import *  # noqa: F403 - fixtures
from tests.portal.patient_fixtures import portal_client
from tests.security.test_url_access import OPERATIONS, ROUTES

pytestmark = pytest.mark.django_db

PORTAL_ROUTES = [
    (route, name) for route, name, view in ROUTES if getattr(view, "kapstone_access", None) == PATIENT
]
PORTAL_OPERATIONS = [
    (path, method)
    for path, operation in OPERATIONS
    if getattr(operation.view_func, "kapstone_access", None) == PATIENT
    for method in operation.methods
]


def concrete(route: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?\w+>", "x", route)


def test_the_portal_has_pages_and_operations():
    names = {name for _, name in PORTAL_ROUTES}
    assert {"portal:home", "portal:sessions", "portal:consents", "portal:consent", "portal:settings"} <= names
    assert ("/portal/me", "GET") in PORTAL_OPERATIONS


@pytest.mark.parametrize("role", Role.values)
def test_every_staff_role_is_refused_every_portal_page_and_operation(role, clinic_a, pat):
    user = make_user(f"staff-{role}", clinic_a, role)
    client = verified_client(user)
    api = Api(user)
    for route, name in PORTAL_ROUTES:
        for method in ("get", "post"):
            response = getattr(client, method)(concrete(route))
            assert response.status_code in (403, 405), f"{role} {method} {name}: {response.status_code}"
            assert b"Zzyzxfield" not in response.content
    for path, method in PORTAL_OPERATIONS:
        response = api.client.generic(method, "/api/v1" + concrete(path[1:]), data="{}",
                                      content_type="application/json", **api.headers)  # fmt: skip
        assert response.status_code == 403, f"{role} {method} {path}: {response.status_code}"


def test_a_patient_reaches_every_portal_page_and_operation(pat):
    client = portal_client(pat)
    for route, name in PORTAL_ROUTES:
        response = client.get(concrete(route))
        # A route with a value in it (a kind, an instrument) answers 404 for the made-up "x".
        assert response.status_code in (200, 404, 405), f"{name}: {response.status_code}"
        if "<" not in route:
            assert response.status_code == 200, name
    api = Api(pat)
    for path, method in PORTAL_OPERATIONS:
        if method == "GET":
            assert api.client.get("/api/v1" + concrete(path[1:]), **api.headers).status_code in (200, 404), (
                path
            )
