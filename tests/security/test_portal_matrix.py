"""The patient portal's default deny, as a generated matrix.

Every portal page and portal API operation (those declared with the ``patient`` access rule) is
tried as two patients of clinic A, a patient of clinic B, each staff role of clinic A and an
anonymous visitor; every staff page and staff API operation is tried as a patient. A patient
sees their own record and nothing else; staff are refused the portal (403); patients are
refused every staff page and operation (403); a visitor is sent to sign in (401 on the API).
"""

from __future__ import annotations

import re

import pytest
from django.test import Client

from kapstone.accounts.access import PATIENT, PUBLIC
from kapstone.accounts.models import Role
from kapstone.accounts.services import api_token_create
from kapstone.portal.patient_services import invitation_accept, portal_invite
from tests.api.test_patients_api import Api
from tests.conftest import make_user, new_patient, verified_client
from tests.security.test_url_access import OPERATIONS, ROUTES

pytestmark = pytest.mark.django_db

PASSWORD = "a long enough passphrase 7"
PORTAL_ROUTES = [r for r in ROUTES if getattr(r[2], "kapstone_access", None) == PATIENT]
PORTAL_OPERATIONS = [o for o in OPERATIONS if getattr(o[1].view_func, "kapstone_access", None) == PATIENT]
STAFF_ROUTES = [r for r in ROUTES if isinstance(getattr(r[2], "kapstone_access", None), frozenset)]
STAFF_OPERATIONS = [
    o for o in OPERATIONS if isinstance(getattr(o[1].view_func, "kapstone_access", None), frozenset)
]
#: Values for the path parameters of portal routes that are not record ids.
PATH_VALUES = {"instrument": "phq-9", "substance": "alcohol", "kind": "treatment"}


def concrete(route: str) -> str:
    """A URL for a route of the resolver ("portal/<int:id>/") or an API path ("/portal/{id}")."""

    def value(match: re.Match[str]) -> str:
        converter, name = match.group(1), match.group(2)
        return PATH_VALUES.get(name, "1" if converter == "int" else "x")

    filled = re.sub(r"[<{](?:(\w+):)?(\w+)[>}]", value, route)
    return filled if filled.startswith("/") else "/" + filled


def patient_user(nurse, patient, email):
    _, token = portal_invite(actor=nurse, patient=patient, email=email, link_base="http://testserver/i/")
    return invitation_accept(token=token, password=PASSWORD, password_again=PASSWORD).user


@pytest.fixture
def people(clinic_a, clinic_b, nina, carol, adam, alice, terry, bob):
    pat_record = new_patient(nina, clinic_a, mrn="A-7001", given_name="Pat", family_name="Quillon")
    quinn_record = new_patient(nina, clinic_a, mrn="A-7002", given_name="Quinn", family_name="Marrowby")
    nurse_b = make_user("nurse_b", clinic_b, Role.NURSE)
    rhea_record = new_patient(carol, clinic_b, mrn="B-7003", given_name="Rhea", family_name="Tollanby")
    return {
        "pat": patient_user(nina, pat_record, "pat@example.org"),
        "quinn": patient_user(nina, quinn_record, "quinn@example.org"),
        "rhea": patient_user(nurse_b, rhea_record, "rhea@example.org"),
        "staff": {"admin": adam, "prescriber": alice, "nurse": nina, "therapist": terry, "researcher": bob},
        "records": {"pat": pat_record, "quinn": quinn_record, "rhea": rhea_record},
    }


def patient_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_there_are_portal_pages_and_operations_to_check():
    names = {name for _, name, _ in PORTAL_ROUTES}
    assert {"portal:home", "portal:sessions", "portal:consents", "portal:questionnaires", "portal:calendar",
            "portal:progress", "portal:settings"} <= names  # fmt: skip
    paths = {path for path, _ in PORTAL_OPERATIONS}
    assert {"/portal/me", "/portal/questionnaires", "/portal/use-days", "/portal/progress"} <= paths


@pytest.mark.parametrize(("route", "name", "view"), PORTAL_ROUTES, ids=[r[1] for r in PORTAL_ROUTES])
def test_a_patient_reaches_each_portal_page(people, route, name, view):
    response = patient_client(people["pat"]).get(concrete(route))
    # The page after sending a questionnaire sends a visitor who sent none back to the list.
    expected = (200, 302) if name == "portal:questionnaire_done" else (200,)
    assert response.status_code in expected, f"{name}: {response.status_code}"


@pytest.mark.parametrize(("route", "name", "view"), PORTAL_ROUTES, ids=[r[1] for r in PORTAL_ROUTES])
def test_each_portal_page_serves_only_its_own_patient(people, route, name, view):
    url = concrete(route)
    for who in ("pat", "quinn", "rhea"):
        response = patient_client(people[who]).get(url)
        assert response.status_code in (200, 302, 404, 405), f"{who} {url}: {response.status_code}"
        body = response.content.decode()
        for other, record in people["records"].items():
            if other != who:
                assert record.family_name not in body and record.mrn not in body, (
                    f"{who} saw {other} at {url}"
                )
    for role, user in people["staff"].items():
        staff = verified_client(user)
        assert staff.get(url).status_code == 403, f"{role} reached {url}"
        assert staff.post(url).status_code in (403, 405), f"{role} posted to {url}"
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    ("path", "operation"), PORTAL_OPERATIONS, ids=[f"{o.methods}{p}" for p, o in PORTAL_OPERATIONS]
)
def test_each_portal_operation_refuses_staff_and_serves_patients(people, path, operation):
    url = concrete(path)
    for method in operation.methods:
        for role, user in people["staff"].items():
            response = Api(user).client.generic(
                method, "/api/v1" + url, data="{}", content_type="application/json", **Api(user).headers
            )
            assert response.status_code == 403, f"{role} {method} {url}: {response.status_code}"
        for who in ("pat", "quinn", "rhea"):
            token = api_token_create(actor=None, user=people[who])[1]
            api = Api(token=token)
            response = api.client.generic(
                method, "/api/v1" + url, data="{}", content_type="application/json", **api.headers
            )
            assert response.status_code not in (401, 403, 500), (
                f"{who} {method} {url}: {response.status_code}"
            )
            body = response.content.decode()
            for other, record in people["records"].items():
                if other != who:
                    assert record.mrn not in body, f"{who} saw {other} at {url}"


@pytest.mark.parametrize(("route", "name", "view"), STAFF_ROUTES, ids=[r[1] for r in STAFF_ROUTES])
def test_each_staff_page_refuses_a_patient(people, route, name, view):
    url = concrete(route).replace("/1/", f"/{people['records']['pat'].pk}/", 1)
    response = patient_client(people["pat"]).get(url)
    assert response.status_code in (403, 405), f"{url}: {response.status_code}"
    assert people["records"]["quinn"].family_name.encode() not in response.content


@pytest.mark.parametrize(
    ("path", "operation"), STAFF_OPERATIONS, ids=[f"{o.methods}{p}" for p, o in STAFF_OPERATIONS]
)
def test_each_staff_operation_refuses_a_patient(people, path, operation):
    token = api_token_create(actor=None, user=people["pat"])[1]
    api = Api(token=token)
    url = "/api/v1" + concrete(path).replace("/1/", f"/{people['records']['pat'].pk}/", 1)
    for method in operation.methods:
        response = api.client.generic(method, url, data="{}", content_type="application/json", **api.headers)
        assert response.status_code == 403, f"{method} {url}: {response.status_code}"


def test_public_and_patient_rules_are_never_mixed():
    for _, name, view in ROUTES:
        access = getattr(view, "kapstone_access", None)
        assert not (name and name.startswith("portal:") and access not in (PATIENT, PUBLIC)), name
