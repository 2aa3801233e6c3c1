"""Default deny: every URL declares who may use it, and the declaration holds.

Walks the URL resolver (web views) and the NinjaAPI (operations). A new route without a
declaration fails here, as does a declared route that lets the wrong person in.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from kapstone.accounts.access import AUTHENTICATED, PATIENT, PUBLIC
from kapstone.api.api import api

# The explicit public allow-list: sign-in, health and readiness, the API schema (served by ninja).
PUBLIC_VIEWS = {
    "accounts:login",
    "health",
    "metrics",  # guarded by a token or network rule instead (tests/server/test_metrics.py)
    "ready",
    "portal:start",
    "portal:contact",
    "portal:privacy",
    "portal:invitation",
}


def walk(patterns, prefix="", namespace=None, skip=("api", "fhir")):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or namespace
            if entry.namespace in skip:
                # The NinjaAPI is checked operation by operation below; the FHIR API (FHIR_ROUTES)
                # answers FHIR clients, not browsers.
                continue
            yield from walk(entry.url_patterns, prefix + str(entry.pattern), ns, skip)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace else entry.name
            yield prefix + str(entry.pattern), name, entry.callback


ROUTES = list(walk(get_resolver().url_patterns))
#: The FHIR API at /fhir/r4: declared like every view (checked here), answering OperationOutcomes
#: (401 rather than a sign-in page; its behaviour is tested in tests/interop/).
FHIR_ROUTES = [
    r for r in walk(get_resolver().url_patterns, skip=("api",)) if (r[1] or "").startswith("fhir:")
]
FHIR_PUBLIC = {"fhir:metadata"}  # the CapabilityStatement, public as the FHIR specification expects


def test_there_are_routes_to_check():
    assert len(ROUTES) >= 10
    assert len(FHIR_ROUTES) >= 4


@pytest.mark.parametrize(("route", "name", "view"), FHIR_ROUTES, ids=[r[1] for r in FHIR_ROUTES])
def test_every_fhir_view_declares_access(route, name, view):
    access = getattr(view, "kapstone_access", None)
    assert access is not None, f"{route} ({name}) declares no access rule: default deny"
    assert access == PUBLIC if name in FHIR_PUBLIC else (isinstance(access, frozenset) and access)


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "name", "view"), FHIR_ROUTES, ids=[r[1] for r in FHIR_ROUTES])
def test_anonymous_fhir_clients_get_401_not_a_sign_in_page(client, route, name, view):
    if name in FHIR_PUBLIC:
        return
    methods = getattr(view, "kapstone_methods", ("GET",))
    for method in ("get", "post", "put", "delete"):
        # A method the view does not take is refused first (405); one it takes needs a token.
        status = 401 if method.upper() in methods else 405
        response = getattr(client, method)("/" + route.replace("<path:rest>", "x/y"))
        assert response.status_code == status, f"{method} {route}: {response.status_code}"
        assert response["Content-Type"].startswith("application/fhir+json")
        if status == 405:
            assert response["Allow"] == ", ".join(methods)


def test_only_the_fhir_base_takes_post():
    """The import (POST /fhir/r4 and /fhir/r4/) is the one FHIR write; every other route reads."""
    posting = sorted(name for _, name, view in FHIR_ROUTES if "POST" in getattr(view, "kapstone_methods", ()))
    assert posting == ["fhir:base", "fhir:base-slash"]


@pytest.mark.parametrize(("route", "name", "view"), ROUTES, ids=[r[1] or r[0] for r in ROUTES])
def test_every_view_declares_access(route, name, view):
    access = getattr(view, "kapstone_access", None)
    assert access is not None, f"{route} ({name}) declares no access rule: default deny"
    if access == PUBLIC:
        assert name in PUBLIC_VIEWS, f"{name} is public but not on the allow-list"
    else:
        assert access in (AUTHENTICATED, PATIENT) or (isinstance(access, frozenset) and access)


def api_operations():
    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for operation in path_view.operations:
                yield prefix + path, operation


OPERATIONS = list(api_operations())


def test_there_are_api_operations():
    assert len(OPERATIONS) >= 4


# The explicit public allow-list of the API: the pre-screen and the request to be contacted.
PUBLIC_OPERATIONS = {"/public/prescreen", "/public/referrals"}


@pytest.mark.parametrize(("path", "operation"), OPERATIONS, ids=[f"{o.methods}{p}" for p, o in OPERATIONS])
def test_every_api_operation_declares_roles(path, operation):
    access = getattr(operation.view_func, "kapstone_access", None)
    assert access, f"{path} declares no roles"
    if access == PUBLIC:
        assert path in PUBLIC_OPERATIONS, f"{path} is public but not on the allow-list"
        assert operation.auth_param is None, f"{path} is declared public but not registered with auth=None"
    else:
        # The access rule authenticates the call, so it is checked before the body is read (a
        # caller without the role gets 403, never a 422 describing what the operation expects).
        assert operation.auth_param is operation.view_func.kapstone_auth, (
            f"{path} is on a router that does not check its access rule first (use KapstoneRouter)"
        )


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "operation"), OPERATIONS, ids=[f"{o.methods}{p}" for p, o in OPERATIONS])
def test_every_api_operation_needs_a_token(client, path, operation):
    if path in PUBLIC_OPERATIONS:
        return
    url = "/api/v1" + re.sub(r"\{(int:)?[a-z_]+\}", "1", path)
    for method in operation.methods:
        response = client.generic(method, url, data="{}", content_type="application/json")
        assert response.status_code == 401, f"{method} {url}: {response.status_code}"
        assert response.json()["error"]["code"] == "unauthorized"


def _concrete(route: str) -> str:
    return "/" + re.sub(r"<slug:[a-z_]+>", "x", re.sub(r"<int:[a-z_]+>", "1", route))


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "name", "view"), ROUTES, ids=[r[1] or r[0] for r in ROUTES])
def test_anonymous_users_are_sent_to_sign_in(client, route, name, view):
    if name in PUBLIC_VIEWS:
        return
    for method in ("get", "post"):
        response = getattr(client, method)(_concrete(route))
        assert response.status_code in (302, 405), f"{method} {route}: {response.status_code}"
        if response.status_code == 302:
            assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_researcher_is_refused_every_patient_route(as_user, bob, patient_a):
    client = as_user(bob)
    for route, name, _ in ROUTES:
        if name and name.startswith("patients:"):
            response = client.get(_concrete(route).replace("/1/", f"/{patient_a.pk}/", 1))
            assert response.status_code == 403, name
            assert b"Zzyzxfield" not in response.content
