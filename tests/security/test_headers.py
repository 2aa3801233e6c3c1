"""Security headers on every page."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_login_page_headers(client):
    response = client.get(reverse("accounts:login"))
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cache-Control"] == "no-store"


def test_no_inline_scripts_or_cdn_in_pages(as_user, alice, patient_a):
    client = as_user(alice)
    for url in (reverse("patients:list"), reverse("patients:chart", args=[patient_a.pk])):
        body = response_body = client.get(url).content.decode()
        assert "<script>" not in body and "onclick=" not in body and "style=" not in response_body
        assert "cdn" not in body.lower() and "https://" not in body


def test_health_is_public_and_says_nothing_more(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_unknown_url_is_a_plain_404(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert b"Traceback" not in response.content


def test_api_answers_json_404_for_unknown_patient_route(client):
    response = client.get("/api/v1/patients/not-a-number")
    assert response.status_code in (401, 404)
