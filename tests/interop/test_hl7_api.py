"""POST /api/v1/hl7/v2: the message as text, the ACK as the answer; auth and clinic as elsewhere."""

from __future__ import annotations

import pytest
from django.test import Client

from kapstone.accounts.models import Role
from kapstone.accounts.services import api_token_create, membership_set
from kapstone.audit.models import AuditEvent
from kapstone.interop.models import Hl7Message
from kapstone.monitoring.models import Alert, Observation
from tests.conftest import make_user
from tests.interop.conftest import SPO2, errors, msa, obx, oru

pytestmark = pytest.mark.django_db

URL = "/api/v1/hl7/v2"


def post(user, body, *, content_type="text/plain", query="", token=None):
    if token is None and user is not None:
        token = api_token_create(actor=None, user=user)[1]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return Client().generic("POST", URL + query, data=body, content_type=content_type, **headers)


def counts():
    return Observation.objects.count(), Alert.objects.count(), Hl7Message.objects.count()


def test_a_monitor_posts_a_message_and_gets_the_ack(monitor_a, running):
    response = post(monitor_a, oru(obx(SPO2, 88)))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/hl7-v2")
    ack = response.content.decode()
    assert msa(ack) == ["MSA", "AA", "MSG0001"]
    assert Alert.objects.filter(session=running, code="hypoxemia").count() == 1
    assert Hl7Message.objects.get().peer == f"api:{monitor_a.pk}"


def test_application_hl7_v2_is_accepted_too(monitor_a, running):
    response = post(monitor_a, oru(obx(SPO2, 97)), content_type="application/hl7-v2; charset=utf-8")
    assert response.status_code == 200 and msa(response.content.decode())[1] == "AA"


def test_a_nurse_token_may_post(nina, running):
    response = post(nina, oru(obx(SPO2, 97)))
    assert response.status_code == 200 and msa(response.content.decode())[1] == "AA"


def test_without_a_token_401_in_the_error_shape(running):
    before = counts()
    response = post(None, oru(obx(SPO2, 97)))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert counts() == before


@pytest.mark.parametrize("who", ["adam", "terry", "bob"])
def test_a_role_that_does_not_record_vitals_is_403(request, who, running):
    user = request.getfixturevalue(who)
    before = counts()
    response = post(user, oru(obx(SPO2, 97)))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert counts() == before
    assert b"A-1001" not in response.content


def test_another_clinics_patient_is_unknown_patient(carol, clinic_b, running, patient_b):
    monitor_b = make_user("monitor.b", clinic_b, Role.MONITOR)
    before = counts()
    response = post(monitor_b, oru(obx(SPO2, 97)))  # A-1001 is clinic A's
    ack = response.content.decode()
    assert response.status_code == 200 and msa(ack)[1] == "AE"
    assert errors(ack) == [("unknown_patient", "E")]
    assert "A-1001" not in ack
    assert counts() == before


def test_several_clinics_need_the_clinic_named(alice, clinic_a, clinic_b, running):
    both = make_user("monitor.both", clinic_a, Role.MONITOR)
    membership_set(actor=None, user=both, clinic=clinic_b, role=Role.MONITOR)
    token = api_token_create(actor=None, user=both)[1]
    refused = post(None, oru(obx(SPO2, 97)), token=token)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "clinic_required"
    assert post(None, oru(obx(SPO2, 97)), token=token, query="?clinic=nowhere").status_code == 404
    named = post(None, oru(obx(SPO2, 97)), token=token, query="?clinic=a")
    assert named.status_code == 200 and msa(named.content.decode())[1] == "AA"


def test_a_clinic_not_the_callers_is_404(monitor_a, clinic_b, running):
    response = post(monitor_a, oru(obx(SPO2, 97)), query=f"?clinic={clinic_b.slug}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "body",
    [b"", b"garbage", b'{"observations": []}', b"MSH|^~\\&|X|Y|||2026||ADT^A01|C1|P|2.6"],
)
def test_garbage_is_ar_not_an_error(monitor_a, running, body):
    token = api_token_create(actor=None, user=monitor_a)[1]
    before = (*counts(), AuditEvent.objects.count())
    response = post(None, body, token=token)
    assert response.status_code == 200
    assert msa(response.content.decode())[1] == "AR"
    assert (*counts(), AuditEvent.objects.count()) == before


def test_bytes_that_are_not_utf8_are_ar(monitor_a, running):
    body = oru(obx(SPO2, 97)).replace("Zzyzxfield", "M\u00fcller").encode("latin-1")
    response = post(monitor_a, body)
    assert response.status_code == 200
    ack = response.content.decode()
    assert msa(ack)[1] == "AR" and errors(ack) == [("unparseable_message", "E")]


def test_a_huge_body_is_refused_without_a_500(monitor_a, running):
    before = counts()
    response = post(monitor_a, oru(obx(SPO2, 97)) + "NTE|1||" + "x" * (3 * 1024 * 1024))
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert msa(response.content.decode())[1] == "AR"
    else:
        assert response.json()["error"]["code"] == "bad_request"
    assert counts() == before


def test_the_operation_is_in_the_openapi_document_with_text_bodies(monitor_a):
    schema = Client().get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/hl7/v2"]["post"]
    assert set(operation["requestBody"]["content"]) == {"text/plain", "application/hl7-v2"}
    assert "application/hl7-v2" in operation["responses"]["200"]["content"]


@pytest.mark.parametrize("slug", ["a\x00", "x" * 500])
def test_a_hostile_clinic_query_is_422(monitor_a, slug):
    response = post(
        monitor_a, "MSH|", query="?" + __import__("urllib.parse").parse.urlencode({"clinic": slug})
    )
    assert response.status_code == 422
