"""The role check comes before the input is read (DESIGN: default deny). A caller without the
role gets 403 whatever body they send, and never a 422 describing what the operation expects."""

from __future__ import annotations

import pytest

from kapstone.audit.models import AuditEvent
from kapstone.patients.models import Patient
from tests.api.test_patients_api import Api, error_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "body", [{}, {"mrn": 7}, {"unknown": "field"}], ids=["empty", "wrong-type", "unknown"]
)
def test_a_researcher_posting_a_bad_body_is_refused_for_the_role(bob, body):
    before = Patient.objects.count(), AuditEvent.objects.filter(action="denied").count()
    response = Api(bob).post("/patients", body)
    assert response.status_code == 403
    assert error_of(response) == {
        "code": "forbidden",
        "message": "Your role does not allow this.",
        "field": None,
    }
    assert Patient.objects.count() == before[0]
    denied = AuditEvent.objects.filter(action="denied").order_by("-pk").first()
    assert AuditEvent.objects.filter(action="denied").count() == before[1] + 1
    assert (denied.actor_id, denied.object_id, denied.detail) == (
        bob.pk,
        "create_patient",
        {"reason": "role"},
    )


def test_the_same_bad_body_from_a_nurse_is_a_validation_error(nina):
    response = Api(nina).post("/patients", {"unknown": "field"})
    assert response.status_code == 422
    assert error_of(response)["code"] in ("missing_field", "unknown_field")
