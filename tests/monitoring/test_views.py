"""Monitoring pages: vitals form, session panel, acknowledgement, live board, discharge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from kapstone.dosing.models import RateEvent
from kapstone.monitoring.models import Alert, Discharge, Observation, ScaleScore
from kapstone.monitoring.services import vitals_record
from tests.conftest import audit_count
from tests.monitoring.test_services import recovering_session

pytestmark = pytest.mark.django_db

FULL_SET = {
    "systolic_bp": "186",
    "diastolic_bp": "92",
    "heart_rate": "88",
    "spo2": "97",
    "respiratory_rate": "14",
    "temperature": "36.9",
    "moaas": "5",
}


def local_now(session) -> str:
    from zoneinfo import ZoneInfo

    return timezone.now().astimezone(ZoneInfo(session.clinic.timezone)).strftime("%Y-%m-%dT%H:%M")


def raise_hypoxemia(nina, session):
    vitals_record(
        actor=nina,
        session=session,
        observations=[{"code": "spo2", "value": 88, "observed_at": timezone.now() - timedelta(seconds=5)}],
    )
    return Alert.objects.get(session=session, code="hypoxemia")


class TestVitalsForm:
    def test_nurse_records_a_full_set_and_sees_the_alert(self, as_user, nina, running):
        before = Observation.objects.count()
        response = as_user(nina).post(
            reverse("monitoring:vitals", args=[running.pk]),
            FULL_SET | {"observed_at": local_now(running)},
            follow=True,
        )
        assert response.status_code == 200
        assert Observation.objects.count() == before + 7
        assert b"Critical alert" in response.content and b"hypertension_critical" in response.content.replace(
            b"&#x27;", b""
        )
        assert audit_count(action="create", object_type="observations", actor=nina) == 2

    def test_form_page_defaults_the_time_to_now(self, as_user, nina, running):
        page = as_user(nina).get(reverse("monitoring:vitals", args=[running.pk]))
        assert page.status_code == 200 and local_now(running).encode() in page.content

    def test_implausible_value_keeps_the_input_and_writes_nothing(self, as_user, nina, running):
        before = Observation.objects.count()
        response = as_user(nina).post(
            reverse("monitoring:vitals", args=[running.pk]),
            FULL_SET | {"spo2": "150", "observed_at": local_now(running)},
        )
        assert response.status_code == 400
        assert b"implausible_value" in response.content and b'value="150"' in response.content
        assert b'value="186"' in response.content
        assert Observation.objects.count() == before and Alert.objects.count() == 0

    def test_empty_form_is_refused(self, as_user, nina, running):
        response = as_user(nina).post(
            reverse("monitoring:vitals", args=[running.pk]), {"observed_at": local_now(running)}
        )
        assert response.status_code == 400 and b"no_observations" in response.content

    def test_requires_login(self, client, running):
        response = client.get(reverse("monitoring:vitals", args=[running.pk]))
        assert response.status_code == 302 and "/accounts/login" in response["Location"]

    def test_other_clinic_gets_404_without_phi(self, as_user, carol, running):
        response = as_user(carol).post(
            reverse("monitoring:vitals", args=[running.pk]), FULL_SET | {"observed_at": local_now(running)}
        )
        assert response.status_code == 404
        assert b"Zzyzxfield" not in response.content and b"A-1001" not in response.content
        assert not Observation.objects.filter(value=186).exists()

    def test_wrong_role_gets_403(self, as_user, terry, running):
        response = as_user(terry).post(
            reverse("monitoring:vitals", args=[running.pk]), FULL_SET | {"observed_at": local_now(running)}
        )
        assert response.status_code == 403 and not Observation.objects.filter(value=186).exists()
        assert audit_count(action="denied", actor=terry) == 1


class TestSessionPanel:
    def test_session_page_shows_alerts_in_words_checks_form_and_chart(self, as_user, nina, running):
        raise_hypoxemia(nina, running)
        page = as_user(nina).get(reverse("care:session", args=[running.pk]))
        assert page.status_code == 200
        html = page.content
        assert b"Critical</span>" in html and b"hypoxemia" in html and b"SpO2 88 % &lt; 90 %." in html
        assert b'id="vitals-figure"' in html and b"SBP critical" in html
        assert reverse("monitoring:acknowledge", args=[Alert.objects.get().pk]).encode() in html
        assert reverse("monitoring:vitals", args=[running.pk]).encode() in html
        assert b"Baseline (before dosing)" in html

    def test_read_only_viewer_sees_no_forms(self, as_user, adam, nina, running):
        raise_hypoxemia(nina, running)
        page = as_user(adam).get(reverse("care:session", args=[running.pk]))
        assert page.status_code == 200 and b"hypoxemia" in page.content
        assert reverse("monitoring:vitals", args=[running.pk]).encode() not in page.content


class TestAcknowledge:
    def test_acknowledge_with_infusion_paused_from_the_board(self, as_user, nina, running, administration):
        alert = raise_hypoxemia(nina, running)
        response = as_user(nina).post(
            reverse("monitoring:acknowledge", args=[alert.pk]),
            {"action": "infusion_paused", "note": "O2 2 L", "next": "board"},
        )
        assert response.status_code == 302 and response["Location"] == reverse("monitoring:board")
        alert.refresh_from_db()
        assert alert.status == "acknowledged" and alert.note == "O2 2 L"
        assert RateEvent.objects.filter(administration=administration, kind="pause").count() == 1

    def test_bad_action_keeps_input_and_writes_nothing(self, as_user, nina, running):
        alert = raise_hypoxemia(nina, running)
        response = as_user(nina).post(
            reverse("monitoring:acknowledge", args=[alert.pk]), {"action": "prayed", "note": "kept note"}
        )
        assert response.status_code == 400 and b"kept note" in response.content
        alert.refresh_from_db()
        assert alert.acknowledged_at is None

    def test_access(self, client, as_user, carol, terry, nina, running):
        alert = raise_hypoxemia(nina, running)
        url = reverse("monitoring:acknowledge", args=[alert.pk])
        assert client.post(url, {"action": "observed"}).status_code == 302
        other = as_user(carol).post(url, {"action": "observed"})
        assert other.status_code == 404 and b"Zzyzxfield" not in other.content
        assert as_user(terry).post(url, {"action": "observed"}).status_code == 403
        alert.refresh_from_db()
        assert alert.acknowledged_at is None


class TestBoard:
    def test_board_lists_monitored_sessions_with_alerts_and_trends(self, as_user, nina, running):
        vitals_record(
            actor=nina,
            session=running,
            observations=[{"code": "heart_rate", "value": 121, "observed_at": timezone.now()}],
        )
        page = as_user(nina).get(reverse("monitoring:board"))
        assert page.status_code == 200
        html = page.content
        assert b"Zzyzxfield" in html and b"tachycardia" in html and b"Warning</span>" in html
        assert b'hx-trigger="every 500ms"' in html and b'aria-label="rising"' in html
        assert audit_count(action="read", object_type="monitoring_board", actor=nina) == 1

    def test_htmx_refresh_returns_the_rows_only(self, as_user, nina, running):
        page = as_user(nina).get(reverse("monitoring:board"), HTTP_HX_REQUEST="true")
        assert page.status_code == 200 and b"<html" not in page.content and b"Zzyzxfield" in page.content

    def test_unacknowledged_critical_alert_escalates_after_two_minutes(self, as_user, nina, running):
        alert = raise_hypoxemia(nina, running)
        Alert.objects.filter(pk=alert.pk).update(escalation_from=timezone.now() - timedelta(minutes=3))
        page = as_user(nina).get(reverse("monitoring:board"))
        assert b"escalate to the prescriber" in page.content

    def test_other_clinic_sees_nothing_and_wrong_role_403(self, client, as_user, carol, terry, running):
        page = as_user(carol).get(reverse("monitoring:board"))
        assert page.status_code == 200 and b"Zzyzxfield" not in page.content
        assert as_user(terry).get(reverse("monitoring:board")).status_code == 403
        assert client.get(reverse("monitoring:board")).status_code == 302


class TestDischargePage:
    def test_shows_each_criterion_with_its_value(self, as_user, alice, nina, cleared_session, lot_50):
        session = recovering_session(
            alice=alice, nina=nina, session=cleared_session, lot=lot_50, ended_minutes_ago=30
        )
        page = as_user(nina).get(reverse("monitoring:discharge", args=[session.pk]))
        assert page.status_code == 200
        assert (
            b"minimum_observation" in page.content
            and b"30 min" in page.content
            and b"Not met" in page.content
        )

    def test_refused_discharge_keeps_input_and_writes_nothing(
        self, as_user, alice, nina, cleared_session, lot_50
    ):
        session = recovering_session(
            alice=alice, nina=nina, session=cleared_session, lot=lot_50, ended_minutes_ago=30
        )
        response = as_user(nina).post(
            reverse("monitoring:discharge", args=[session.pk]),
            {"escort_confirmed": "on", "driving_advice_given": "on"},
        )
        assert response.status_code == 400 and b"discharge_criteria_unmet" in response.content
        assert b'name="escort_confirmed" id="id_escort_confirmed" checked' in response.content
        assert Discharge.objects.count() == 0

    def test_discharge_when_ready(self, as_user, alice, nina, cleared_session, lot_50):
        session = recovering_session(
            alice=alice, nina=nina, session=cleared_session, lot=lot_50, ended_minutes_ago=125
        )
        response = as_user(nina).post(
            reverse("monitoring:discharge", args=[session.pk]),
            {"escort_confirmed": "on", "driving_advice_given": "on"},
        )
        assert response.status_code == 302
        session.refresh_from_db()
        assert session.status == "discharged" and Discharge.objects.get(session=session).criteria_met
        record = as_user(nina).get(reverse("monitoring:discharge", args=[session.pk]))
        assert record.status_code == 200 and b"Criteria at discharge" in record.content
        assert b"Would have been ready to leave" in record.content

    def test_aldrete_form_records_the_score(self, as_user, alice, nina, cleared_session, lot_50):
        session = recovering_session(
            alice=alice, nina=nina, session=cleared_session, lot=lot_50, ended_minutes_ago=30
        )
        form = {
            "observed_at": local_now(session),
            "activity": "2",
            "respiration": "2",
            "circulation": "2",
            "consciousness": "1",
            "oxygen_saturation": "2",
        }
        response = as_user(nina).post(reverse("monitoring:aldrete", args=[session.pk]), form)
        assert response.status_code == 302
        assert ScaleScore.objects.filter(session=session, scale="aldrete", total=9).count() == 1
        bad = as_user(nina).post(reverse("monitoring:aldrete", args=[session.pk]), form | {"activity": "7"})
        assert bad.status_code == 400 and ScaleScore.objects.filter(scale="aldrete").count() == 2

    def test_access(self, client, as_user, carol, terry, running):
        url = reverse("monitoring:discharge", args=[running.pk])
        assert client.get(url).status_code == 302
        other = as_user(carol).get(url)
        assert other.status_code == 404 and b"Zzyzxfield" not in other.content
        assert as_user(terry).get(url).status_code == 403
        assert as_user(terry).post(reverse("monitoring:aldrete", args=[running.pk]), {}).status_code == 403
