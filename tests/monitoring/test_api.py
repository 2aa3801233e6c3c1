"""Monitoring API: vitals batches raise alerts, refuse implausible batches whole, acknowledge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kapstone.dosing.models import RateEvent
from kapstone.monitoring.models import Alert, Observation
from tests.api.test_patients_api import Api, error_of
from tests.conftest import audit_count
from tests.monitoring.conftest import vitals_set

pytestmark = pytest.mark.django_db


def post_vitals(user, session, observations):
    body = {"observations": [dict(o, observed_at=o["observed_at"].isoformat()) for o in observations]}
    return Api(user).post(f"/sessions/{session.pk}/vitals", body)


def vitals_error(response) -> dict:
    """A refused vitals batch: the one error shape plus ``errors``, every problem found."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "field", "errors"}, body
    return body["error"]


def one(code, value, at=None):
    return [{"code": code, "value": value, "observed_at": at or timezone.now() - timedelta(seconds=5)}]


def test_systolic_185_raises_hypertension_critical(nina, running):
    before = Observation.objects.count()
    response = post_vitals(nina, running, vitals_set(timezone.now() - timedelta(seconds=5), systolic_bp=185))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] == 7 and Observation.objects.count() == before + 7
    codes = {(a["code"], a["severity"]) for a in body["alerts"]}
    assert ("hypertension_critical", "critical") in codes
    assert ("hypertension", "warning") not in codes  # one episode per family
    assert "185" in next(a["message"] for a in body["alerts"] if a["code"] == "hypertension_critical")
    assert audit_count(action="create", object_type="observations", actor=nina) == 2  # baseline + this batch


def test_spo2_88_raises_hypoxemia_critical(nina, running):
    response = post_vitals(nina, running, one("spo2", 88))
    assert response.status_code == 201
    assert response.json()["alerts"] == [
        {"code": "hypoxemia", "severity": "critical", "message": "SpO2 88 % < 90 %."}
    ]


def test_heart_rate_120_raises_tachycardia_warning(nina, running):
    response = post_vitals(nina, running, one("8867-4", 120))  # the LOINC code is accepted too
    assert response.status_code == 201
    alerts = response.json()["alerts"]
    assert [(a["code"], a["severity"]) for a in alerts] == [("tachycardia", "warning")]
    assert (
        Observation.objects.filter(session=running, code="heart_rate", value=120, loinc="8867-4").count() == 1
    )


def test_batch_with_spo2_150_is_refused_whole_and_stores_nothing(nina, running):
    before = (Observation.objects.count(), Alert.objects.count())
    response = post_vitals(nina, running, vitals_set(timezone.now(), systolic_bp=185, spo2=150))
    assert response.status_code == 422
    error = vitals_error(response)
    assert error["code"] == "implausible_value" and error["field"] == "observations[3].value"
    assert [e["field"] for e in error["errors"]] == ["observations[3].value"]
    assert "150" in error["message"]
    assert (Observation.objects.count(), Alert.objects.count()) == before


def test_every_implausible_value_is_listed_first_in_field_and_all_in_errors(nina, running):
    before = (Observation.objects.count(), Alert.objects.count(), audit_count(object_type="observations"))
    observations = vitals_set(
        timezone.now() - timedelta(seconds=5), systolic_bp=400, heart_rate=-5, temperature=45
    )
    response = post_vitals(nina, running, observations)
    assert response.status_code == 422
    error = vitals_error(response)
    assert (error["code"], error["field"]) == ("implausible_value", "observations[0].value")
    assert error["message"] == "Systolic BP 400 mmHg is not possible (40–300 mmHg). Nothing was saved."
    assert error["errors"] == [
        {
            "code": "implausible_value",
            "message": "Systolic BP 400 mmHg is not possible (40–300 mmHg). Nothing was saved.",
            "field": "observations[0].value",
        },
        {
            "code": "implausible_value",
            "message": "Heart rate −5 /min is not possible (20–250 /min). Nothing was saved.",
            "field": "observations[2].value",
        },
        {
            "code": "implausible_value",
            "message": "Temperature 45 °C is not possible (25–44 °C). Nothing was saved.",
            "field": "observations[5].value",
        },
    ]
    assert (
        Observation.objects.count(),
        Alert.objects.count(),
        audit_count(object_type="observations"),
    ) == before


def test_a_future_time_is_said_in_the_clinic_time_zone(nina, running):
    from zoneinfo import ZoneInfo

    tomorrow = timezone.now() + timedelta(days=1)
    response = post_vitals(nina, running, one("heart_rate", 80, tomorrow))
    assert response.status_code == 422
    local = tomorrow.astimezone(ZoneInfo(running.clinic.timezone))  # 24 h on: always the next day
    error = vitals_error(response)
    assert error["message"] == f"The time is in the future ({local:%H:%M} tomorrow). Nothing was saved."
    assert [e["field"] for e in error["errors"]] == ["observations[0].observed_at"]


def test_unknown_field_and_future_time_are_refused(nina, running):
    response = Api(nina).post(f"/sessions/{running.pk}/vitals", {"observations": [], "patient_id": 3})
    assert response.status_code == 422 and error_of(response)["code"] == "unknown_field"
    response = post_vitals(nina, running, one("heart_rate", 80, timezone.now() + timedelta(minutes=10)))
    assert response.status_code == 422 and vitals_error(response)["code"] == "implausible_value"


def test_list_vitals_and_alerts(nina, running):
    post_vitals(nina, running, one("spo2", 88))
    vitals = Api(nina).get(f"/sessions/{running.pk}/vitals")
    assert vitals.status_code == 200
    assert {"code": "spo2", "value": 88.0, "loinc": "59408-5", "unit": "%"}.items() <= vitals.json()["items"][
        -1
    ].items()
    assert vitals.json()["count"] == len(vitals.json()["items"])
    alerts = Api(nina).get(f"/sessions/{running.pk}/alerts").json()
    assert len(alerts) == 1 and set(alerts[0]) == {
        "id",
        "code",
        "severity",
        "status",
        "raised_at",
        "acknowledged_at",
        "resolved_at",
        "entered_in_error",
    }
    assert alerts[0]["status"] == "open" and alerts[0]["entered_in_error"] is False
    assert alerts[0]["acknowledged_at"] is None and alerts[0]["resolved_at"] is None


def test_acknowledge_with_infusion_paused_writes_the_pause(nina, running, administration):
    post_vitals(nina, running, one("systolic_bp", 185) + one("diastolic_bp", 90))
    alert = Alert.objects.get(session=running, code="hypertension_critical")
    response = Api(nina).post(
        f"/alerts/{alert.pk}/acknowledge", {"action": "infusion_paused", "note": "rechecking"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "acknowledged"
    pause = RateEvent.objects.get(administration=administration, kind="pause")
    assert "hypertension_critical" in pause.reason and pause.rate == 0
    again = Api(nina).post(f"/alerts/{alert.pk}/acknowledge", {"action": "observed"})
    assert again.status_code == 409 and error_of(again)["code"] == "alert_already_acknowledged"


def test_acknowledge_refuses_unknown_action(nina, running):
    post_vitals(nina, running, one("spo2", 88))
    alert = Alert.objects.get(session=running)
    response = Api(nina).post(f"/alerts/{alert.pk}/acknowledge", {"action": "prayed"})
    assert response.status_code == 422 and error_of(response)["code"] == "invalid_action"
    alert.refresh_from_db()
    assert alert.status == "open" and alert.acknowledged_at is None


def test_other_clinic_gets_404_and_wrong_role_403(carol, bob, terry, nina, running):
    refused = post_vitals(carol, running, one("spo2", 97))  # a prescriber, but of clinic B
    assert refused.status_code == 404 and error_of(refused)["code"] == "not_found"
    response = Api(carol).get(f"/sessions/{running.pk}/alerts")
    assert response.status_code == 404 and b"Zzyzxfield" not in response.content
    assert post_vitals(terry, running, one("spo2", 97)).status_code == 403
    assert Api(bob).get(f"/sessions/{running.pk}/vitals").status_code == 403
    post_vitals(nina, running, one("spo2", 88))
    alert = Alert.objects.get(session=running)
    response = Api(carol).post(f"/alerts/{alert.pk}/acknowledge", {"action": "observed"})
    assert response.status_code == 404 and b"Zzyzxfield" not in response.content
    assert Observation.objects.filter(session=running, value=97).count() == 0


def test_session_not_being_monitored_is_409(nina, course_a):
    from tests.care.conftest import first_dosing

    session = first_dosing(course_a)
    response = post_vitals(nina, session, one("spo2", 97))
    assert response.status_code == 409 and error_of(response)["code"] == "session_not_monitored"


def test_a_session_state_is_named_in_words_not_as_a_code(nina, course_a):
    from kapstone.care.services import session_transition
    from tests.care.conftest import first_dosing

    session = session_transition(actor=nina, session=first_dosing(course_a), to="no_show")
    response = post_vitals(nina, session, one("spo2", 97))
    assert response.status_code == 409
    assert error_of(response)["message"].endswith("this session is no show.")
