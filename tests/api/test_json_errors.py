"""Under /api/v1 every answer is JSON in the one error shape (issue 15; DESIGN "Errors").

Unknown paths, ids that are not numbers, and methods an operation does not have used to get the
HTML pages of the web site (or a bare "Method not allowed"): a client parsing JSON broke on them.
"""

from __future__ import annotations

import pytest
from django.test import Client

from kapstone.audit.models import AuditEvent
from kapstone.patients.models import Patient
from tests.api.test_patients_api import Api, error_of

pytestmark = pytest.mark.django_db

NOT_FOUND = {"code": "not_found", "message": "Not found.", "field": None}


def _writes() -> tuple[int, int]:
    return Patient.objects.count(), AuditEvent.objects.exclude(action__in=("read", "denied")).count()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nonexistent",
        "/api/v1/nonexistent/",
        "/api/v1/",
        "/api/v1/patients/abc",
        "/api/v1/patients/-1",
        "/api/v1/patients/1.5",
        "/api/v1/patients/" + "9" * 5000,
        "/api/v1/patients/%00",
        "/api/v1/patients/1/nonexistent",
        "/api/v1/dose-orders/abc/administrations",
        "/api/v1/portal/nonexistent",
    ],
)
@pytest.mark.parametrize("signed_in", [True, False], ids=["token", "anonymous"])
def test_an_unknown_path_is_a_json_404(nina, patient_a, path, signed_in):
    api = Api(nina) if signed_in else Api()
    before = _writes()
    for method in ("get", "post", "delete"):
        response = api.client.generic(
            method.upper(), path, data="{}", content_type="application/json", **api.headers
        )
        assert response.status_code == 404, (method, path, response.content[:200])
        assert response["Content-Type"].startswith("application/json")
        assert error_of(response) == NOT_FOUND
        assert b"Zzyzxfield" not in response.content
    assert _writes() == before


def test_an_unknown_path_and_a_missing_record_answer_alike(nina, patient_a):
    api = Api(nina)
    assert api.get("/patients/abc").content == api.get("/patients/987654").content


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/v1/patients/{id}"),
        ("PUT", "/api/v1/patients/{id}"),
        ("PATCH", "/api/v1/patients/{id}"),
        ("POST", "/api/v1/patients/{id}"),
        ("DELETE", "/api/v1/patients"),
        ("GET", "/api/v1/public/prescreen"),
        ("PUT", "/api/v1/audit/events"),
    ],
)
def test_a_method_not_allowed_is_a_json_405(nina, patient_a, method, path):
    api = Api(nina)
    before = _writes()
    response = api.client.generic(
        method,
        path.replace("{id}", str(patient_a.pk)),
        data="{}",
        content_type="application/json",
        **api.headers,
    )
    assert response.status_code == 405
    assert response["Content-Type"].startswith("application/json")
    error = error_of(response)
    assert error["code"] == "method_not_allowed"
    assert method in error["message"]
    assert response["Allow"]  # the methods the path has, as HTTP asks
    assert _writes() == before
    assert Patient.objects.filter(pk=patient_a.pk).exists()


def test_a_method_not_allowed_without_a_token_is_still_json(patient_a):
    response = Client().delete(f"/api/v1/patients/{patient_a.pk}")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_the_web_site_keeps_its_pages(client):
    """Only /api/v1 answers JSON: an unknown page of the site is still the site's page."""
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    response = client.get("/api/v10/patients")
    assert response["Content-Type"].startswith("text/html")
