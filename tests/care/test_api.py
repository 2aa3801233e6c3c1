"""Care API: protocols, enrolment, session list and transitions."""

from __future__ import annotations

import pytest

from kapstone.care.models import TreatmentCourse
from kapstone.patients.services import clinic_today
from tests.api.test_patients_api import Api, error_of
from tests.care.conftest import first_dosing

pytestmark = pytest.mark.django_db
KARE = "kare-alcohol-grabski-2022"


def test_protocols_lists_the_library(nina):
    response = Api(nina).get("/protocols")
    assert response.status_code == 200
    protocols = response.json()["items"]
    assert response.json()["count"] == len(protocols)
    slugs = {p["slug"] for p in protocols}
    assert {
        "kpt-alcohol-krupitsky-1997",
        "kpt-heroin-krupitsky-2007",
        "ketamine-mbrp-cocaine-dakwar-2019",
        "ketamine-met-alcohol-dakwar-2020",
        KARE,
    } <= slugs
    assert set(protocols[0]) >= {"slug", "version", "title", "source"}


def test_enrol_returns_the_schedule(alice, patient_a, eligible_a):
    start = clinic_today(patient_a.clinic).isoformat()
    response = Api(alice).post(
        f"/patients/{patient_a.pk}/courses", {"protocol": KARE, "start_date": start, "arm": "open"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert isinstance(body["id"], int)
    assert [s["kind"] for s in body["sessions"]].count("dosing") == 3
    assert set(body["sessions"][0]) == {"id", "kind", "scheduled_for", "status"}
    assert all(s["status"] == "scheduled" for s in body["sessions"])


def test_enrol_without_approved_screening_is_409(alice, patient_a):
    response = Api(alice).post(
        f"/patients/{patient_a.pk}/courses", {"protocol": KARE, "start_date": "2026-12-01"}
    )
    assert response.status_code == 409
    assert error_of(response)["code"] == "screening_not_approved"
    assert TreatmentCourse.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"protocol": KARE}, "missing_field"),
        ({"protocol": KARE, "start_date": "soon"}, "invalid_value"),
        ({"protocol": KARE, "start_date": "2026-12-01", "clinic_id": 2}, "unknown_field"),
        ({"protocol": "made-up", "start_date": "2026-12-01"}, "unknown_protocol"),
    ],
)
def test_enrol_bad_input(alice, patient_a, eligible_a, body, code):
    response = Api(alice).post(f"/patients/{patient_a.pk}/courses", body)
    assert response.status_code == 422
    assert error_of(response)["code"] == code
    assert TreatmentCourse.objects.count() == 0


def test_enrol_other_clinic_patient_is_404(carol, patient_a, eligible_a):
    response = Api(carol).post(
        f"/patients/{patient_a.pk}/courses", {"protocol": KARE, "start_date": "2026-12-01"}
    )
    assert response.status_code == 404
    assert b"Zzyzxfield" not in response.content


def test_nurse_cannot_enrol(nina, patient_a, eligible_a):
    response = Api(nina).post(
        f"/patients/{patient_a.pk}/courses", {"protocol": KARE, "start_date": "2026-12-01"}
    )
    assert response.status_code == 403


def test_sessions_filter_by_date_and_status(nina, carol, course_a):
    day = course_a.sessions.order_by("scheduled_date").first().scheduled_date.isoformat()
    mine = Api(nina).get("/sessions", date=day).json()["items"]
    assert mine and all(s["scheduled_for"] == day for s in mine)
    assert Api(carol).get("/sessions", date=day).json() == {"items": [], "count": 0}
    assert Api(nina).get("/sessions", status="in_progress").json() == {"items": [], "count": 0}
    bad = Api(nina).get("/sessions", status="asleep")
    assert bad.status_code == 422 and error_of(bad)["code"] == "invalid_status"


def test_transition_and_invalid_transition(nina, course_a):
    session = first_dosing(course_a)
    api = Api(nina)
    ok = api.post(f"/sessions/{session.pk}/transition", {"to": "checked_in"})
    assert ok.status_code == 200 and ok.json()["status"] == "checked_in"
    refused = api.post(f"/sessions/{session.pk}/transition", {"to": "cleared"})
    assert refused.status_code == 409 and error_of(refused)["code"] == "day_of_checks_not_passed"
    illegal = api.post(f"/sessions/{session.pk}/transition", {"to": "discharged"})
    assert illegal.status_code == 409 and error_of(illegal)["code"] == "invalid_transition"


def test_transition_other_clinic_404_and_therapist_403(carol, terry, course_a):
    session = first_dosing(course_a)
    assert Api(carol).post(f"/sessions/{session.pk}/transition", {"to": "checked_in"}).status_code == 404
    assert Api(terry).post(f"/sessions/{session.pk}/transition", {"to": "checked_in"}).status_code == 403
