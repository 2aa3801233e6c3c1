"""Safety API: report, list and review adverse events; shapes, refusals, scope and roles."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kapstone.audit.models import AuditEvent
from kapstone.safety import services
from kapstone.safety.models import AdverseEvent, AdverseEventReview
from tests.api.test_patients_api import Api, error_of
from tests.care.conftest import first_dosing
from tests.safety.conftest import row_counts, serious_fields

pytestmark = pytest.mark.django_db


def _body(**changes) -> dict:
    body = {
        "term": "blood_pressure_increased",
        "onset_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        "grade": 2,
        "serious": False,
        "relatedness": "probable",
        "action_taken": "infusion_interrupted",
        "outcome": "recovering",
    }
    body.update(changes)
    return body


def test_report_answers_201_with_the_short_shape(nina, patient_a):
    response = Api(nina).post(f"/patients/{patient_a.pk}/adverse-events", _body())
    assert response.status_code == 201, response.content
    event = AdverseEvent.objects.get()
    assert response.json() == {
        "id": event.pk,
        "term": "blood_pressure_increased",
        "grade": 2,
        "serious": False,
        "status": "open",
    }
    assert AuditEvent.objects.filter(object_type="adverse_event", action="create").count() == 1


def test_report_refusals_use_the_error_shape_and_write_nothing(nina, patient_a):
    before = row_counts()
    api = Api(nina)
    cases = [
        (_body(serious=True), 422, "serious_requires_criteria", "seriousness_criteria"),
        (_body(term="hiccups"), 422, "unknown_adverse_event_term", "term"),
        (_body(grade=0), 422, "invalid_grade", "grade"),
        (_body(patient_id=3), 422, "unknown_field", "patient_id"),
        (_body(session_id=999999), 422, "session_not_of_patient", "session_id"),
        ({"term": "nausea"}, 422, "missing_field", "onset_at"),
    ]
    for body, status, code, field in cases:
        response = api.post(f"/patients/{patient_a.pk}/adverse-events", body)
        assert response.status_code == status, (body, response.content)
        error = error_of(response)
        assert error["code"] == code and error["field"] == field, error
    assert row_counts() == before


def test_list_shows_events_with_review_state(alice, nina, patient_a):
    event = services.adverse_event_report(actor=nina, patient=patient_a, **serious_fields())
    response = Api(nina).get(f"/patients/{patient_a.pk}/adverse-events")
    assert response.status_code == 200
    assert response.json()["count"] == 1
    (row,) = response.json()["items"]
    assert row["id"] == event.pk and row["serious"] is True and row["reviewed"] is False
    assert row["seriousness_criteria"] == ["important_medical_event"] and row["status"] == "open"
    assert AuditEvent.objects.filter(action="read", object_type="adverse_event_list", actor=nina).count() == 1


def test_review_by_prescriber_then_close(alice, nina, patient_a):
    event = services.adverse_event_report(actor=nina, patient=patient_a, **serious_fields())
    refused = Api(nina).post(f"/adverse-events/{event.pk}/review", {"note": "fine"})
    assert refused.status_code == 403 and error_of(refused)["code"] == "forbidden"
    empty = Api(alice).post(f"/adverse-events/{event.pk}/review", {"note": ""})
    assert empty.status_code == 422 and AdverseEventReview.objects.count() == 0
    response = Api(alice).post(f"/adverse-events/{event.pk}/review", {"note": "Reviewed; resolved."})
    assert response.status_code == 201
    assert set(response.json()) == {"id", "adverse_event_id", "reviewed_at"}
    assert response.json()["adverse_event_id"] == event.pk
    services.adverse_event_close(actor=alice, event=event)
    closed = Api(alice).post(f"/adverse-events/{event.pk}/review", {"note": "again"})
    assert closed.status_code == 409 and error_of(closed)["code"] == "adverse_event_closed"


def test_other_clinic_404_and_researcher_403(bob, carol, nina, patient_a):
    event = services.adverse_event_report(actor=nina, patient=patient_a, **serious_fields())
    before = row_counts()
    for response in (
        Api(carol).get(f"/patients/{patient_a.pk}/adverse-events"),
        Api(carol).post(f"/patients/{patient_a.pk}/adverse-events", _body()),
        Api(carol).post(f"/adverse-events/{event.pk}/review", {"note": "x"}),
    ):
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"
        assert patient_a.family_name.encode() not in response.content
    for response in (
        Api(bob).get(f"/patients/{patient_a.pk}/adverse-events"),
        Api(bob).post(f"/patients/{patient_a.pk}/adverse-events", _body()),
    ):
        assert response.status_code == 403
        assert patient_a.family_name.encode() not in response.content
    assert row_counts() == before


def test_every_operation_declares_roles_and_needs_a_token(client, patient_a):
    from kapstone.safety.api import router

    operations = [op for view in router.path_operations.values() for op in view.operations]
    assert len(operations) == 5
    for operation in operations:
        assert operation.view_func.kapstone_access
    for method, url in (
        ("POST", f"/api/v1/patients/{patient_a.pk}/adverse-events"),
        ("GET", f"/api/v1/patients/{patient_a.pk}/adverse-events"),
        ("POST", "/api/v1/adverse-events/1/review"),
        ("POST", f"/api/v1/patients/{patient_a.pk}/safety-plans"),
        ("GET", f"/api/v1/patients/{patient_a.pk}/safety-plans"),
    ):
        response = client.generic(method, url, data="{}", content_type="application/json")
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_a_session_of_another_clinic_is_refused_as_missing_and_recorded_as_denied(
    alice, nina, carol, patient_a, patient_b, course_a
):
    session = first_dosing(course_a)
    before = row_counts()
    denied_before = AuditEvent.objects.filter(action="denied", object_type="session").count()
    response = Api(carol).post(f"/patients/{patient_b.pk}/adverse-events", _body(session_id=session.pk))
    missing = Api(carol).post(f"/patients/{patient_b.pk}/adverse-events", _body(session_id=999999))
    assert response.status_code == missing.status_code == 422
    assert error_of(response) == error_of(missing)
    assert error_of(response)["code"] == "session_not_of_patient"
    assert row_counts() == before
    denied = AuditEvent.objects.filter(action="denied", object_type="session")
    assert denied.count() == denied_before + 1
    assert denied.latest("id").actor == carol and denied.latest("id").object_id == str(session.pk)
