"""`kapstone token create USERNAME` prints one line that the API accepts."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from kapstone.accounts.models import ApiToken
from tests.conftest import audit_count

pytestmark = pytest.mark.django_db


def test_create_prints_a_token_on_one_line_and_it_works(nina, patient_a):
    out = StringIO()
    call_command("token", "create", "nina", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    token = lines[0]
    assert token.startswith("kap_") and len(token) > 40
    response = Client().get(f"/api/v1/patients/{patient_a.pk}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert audit_count(action="create", object_type="api_token") == 1


def test_unknown_user_is_refused(db):
    with pytest.raises(CommandError) as error:
        call_command("token", "create", "nobody")
    assert error.value.returncode == 2
    assert ApiToken.objects.count() == 0


def test_list_and_revoke(nina, patient_a):
    out = StringIO()
    call_command("token", "create", "nina", stdout=out)
    token = out.getvalue().strip()
    listing = StringIO()
    call_command("token", "list", "nina", stdout=listing)
    assert token[:12] in listing.getvalue() and token not in listing.getvalue()
    call_command("token", "revoke", token[:12], stdout=StringIO())
    response = Client().get(f"/api/v1/patients/{patient_a.pk}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401
