"""The API and the web form of a new patient accept and refuse the same values (issue 15).

``POST /api/v1/patients`` took ``"email": "not-an-email"`` that the web form refuses: each field
had its rules in several places (model, form, schema, service) and they drifted. Each value below
goes to both; they must agree, and a refusal writes nothing.
"""

from __future__ import annotations

import pytest

from kapstone.accounts.models import Role
from kapstone.patients.models import Patient
from tests.api.test_patients_api import Api, error_of
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

#: One valid patient, in the API's names. The web registers it in clinic A and the API in clinic
#: B, so that the same MRN can be tried on both.
BASE = {
    "mrn": "P-1",
    "given_name": "Sage",
    "family_name": "Underhillow",
    "birth_date": "1969-12-01",
    "sex": "female",
}
#: The web form's name for an API field, where they differ.
WEB_NAME = {"sex": "sex_at_birth"}

CASES = [
    ("email", "not-an-email"),
    ("email", "a@b"),
    ("email", "two@@example.com"),
    ("email", "with space@example.com"),
    ("email", "x" * 250 + "@example.com"),
    ("email", "sage@example.com"),
    ("email", "  sage@example.com  "),
    ("email", "sage@example.com\x00"),
    ("email", ""),
    ("phone", "+1 212 555 0148"),
    ("phone", "5" * 40),
    ("phone", "5" * 41),
    ("phone", "555\x000148"),
    ("gender_identity", "x" * 60),
    ("gender_identity", "x" * 61),
    ("given_name", "x" * 100),
    ("given_name", "x" * 101),
    ("given_name", ""),
    ("given_name", "   "),
    ("given_name", "Null\x00Byte"),
    ("given_name", "<script>alert(1)</script>"),
    ("family_name", "x" * 101),
    ("family_name", "  Underhillow  "),
    ("mrn", "has space"),
    ("mrn", "M" * 32),
    ("mrn", "M" * 33),
    ("mrn", ""),
    ("birth_date", "2999-01-01"),
    ("birth_date", "1899-12-31"),
    ("birth_date", "1969-02-30"),
    ("birth_date", "0001-01-01"),
    ("sex", "robot"),
    ("sex", "unknown"),
    ("weight_kg", "72.55"),
    ("weight_kg", "72.555"),
    ("weight_kg", "0.5"),
    ("weight_kg", "1234567"),
    ("weight_kg", "NaN"),
    ("weight_kg", "1e309"),
    ("height_cm", "168"),
    ("height_cm", "168.255"),
    ("height_cm", "99"),
]


def _api(api, field: str, value: str):
    # Numbers as text too, as a client may send them: the schema reads them as numbers.
    return api.post("/patients", BASE | {field: value})


def _web(client, field: str, value: str):
    data = {WEB_NAME.get(k, k): v for k, v in (BASE | {field: value}).items()}
    return client.post("/patients/new/", data)


@pytest.mark.parametrize(("field", "value"), CASES, ids=[f"{f}={v[:24]!r}" for f, v in CASES])
def test_the_api_and_the_web_form_agree(nina, clinic_a, clinic_b, as_user, field, value):
    api = Api(make_user("nora", clinic_b, Role.NURSE))
    before = Patient.objects.count()
    web = _web(as_user(nina), field, value)
    web_accepted = web.status_code == 302
    assert web.status_code in (302, 400), web.status_code
    after_web = Patient.objects.count()
    assert after_web == before + web_accepted

    api = _api(api, field, value)
    api_accepted = api.status_code == 201
    assert api.status_code in (201, 422), api.content
    assert Patient.objects.count() == after_web + api_accepted
    if not api_accepted:
        assert error_of(api)["field"] == field, api.content
    assert api_accepted == web_accepted, (
        f"{field}={value!r}: the web form {'accepts' if web_accepted else 'refuses'} it, "
        f"the API {'accepts' if api_accepted else 'refuses'} it ({api.content[:200]!r})"
    )
    if api_accepted and web_accepted:  # and store the same
        by_api, by_web = Patient.objects.get(clinic=clinic_b), Patient.objects.get(clinic=clinic_a)
        name = WEB_NAME.get(field, field)
        if hasattr(by_api, name):
            assert getattr(by_api, name) == getattr(by_web, name)


def test_an_email_the_web_refuses_is_refused_by_the_api_with_a_code(nina, clinic_a):
    before = Patient.objects.count()
    response = Api(nina).post("/patients", BASE | {"email": "not-an-email"})
    assert response.status_code == 422
    error = error_of(response)
    assert (error["code"], error["field"]) == ("invalid_email", "email")
    assert "e-mail" in error["message"].lower() or "email" in error["message"].lower()
    assert Patient.objects.count() == before
