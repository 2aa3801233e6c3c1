"""Monitoring pages: vitals form, session panel, acknowledgement, live board, discharge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from kapstone.dosing.models import RateEvent
from kapstone.dosing.services import administration_rate_event
from kapstone.monitoring.models import Alert, Discharge, Observation, ScaleScore
from kapstone.monitoring.services import alert_acknowledge, vitals_record
from tests.conftest import audit_count
from tests.monitoring.pages import codes_shown, field_block, section, visible_text
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
        assert b"Critical alert: Blood pressure critically high" in response.content
        assert audit_count(action="create", object_type="observations", actor=nina) == 2

    def test_session_page_form_defaults_the_time_to_now(self, as_user, nina, running):
        page = as_user(nina).get(reverse("care:session", args=[running.pk]))
        assert page.status_code == 200 and local_now(running).encode() in page.content

    def test_the_form_has_no_page_of_its_own_it_lives_on_the_session_page(self, as_user, nina, running):
        page = as_user(nina).get(reverse("monitoring:vitals", args=[running.pk]))
        assert page.status_code == 302
        assert page["Location"] == reverse("care:session", args=[running.pk]) + "#record-vitals"

    def test_every_implausible_value_is_named_beside_its_field_on_the_session_page(
        self, as_user, nina, running
    ):
        before = (Observation.objects.count(), Alert.objects.count(), audit_count(object_type="observations"))
        bad = FULL_SET | {
            "systolic_bp": "400",
            "heart_rate": "-5",
            "temperature": "45",
            "observed_at": local_now(running),
        }
        response = as_user(nina).post(reverse("monitoring:vitals", args=[running.pk]), bad)
        assert response.status_code == 400
        html = response.content.decode()
        # The whole session page again (not a bare form), with the monitoring panel and its chart.
        assert "care/session.html" in [t.name for t in response.templates]
        assert "<html" in html and 'id="monitoring-h"' in html and 'id="vitals-figure"' in html
        expected = {
            "systolic_bp": "Systolic BP 400 mmHg is not possible (40–300 mmHg). Nothing was saved.",
            "heart_rate": "Heart rate −5 /min is not possible (20–250 /min). Nothing was saved.",
            "temperature": "Temperature 45 °C is not possible (25–44 °C). Nothing was saved.",
        }
        for name, message in expected.items():
            block = field_block(html, name)
            assert "has-error" in block and message in visible_text(block), name
        for name in ("diastolic_bp", "spo2", "respiratory_rate"):
            assert "has-error" not in field_block(html, name), name
        # Every value kept as typed, the good ones too.
        for name, value in bad.items():
            if name not in ("moaas", "observed_at"):
                assert f'value="{value}"' in field_block(html, name), name
        assert '<option value="5" selected>' in field_block(html, "moaas")
        form = section(html, 'class="panel monitoring"')
        assert codes_shown(form) == [] and 'data-code="implausible_value"' in form
        after = (Observation.objects.count(), Alert.objects.count(), audit_count(object_type="observations"))
        assert after == before

    def test_htmx_swaps_the_form_with_every_error_and_a_set_reloads_the_page(self, as_user, nina, running):
        client = as_user(nina)
        url = reverse("monitoring:vitals", args=[running.pk])
        bad = FULL_SET | {"spo2": "150", "heart_rate": "-5", "observed_at": local_now(running)}
        refused = client.post(url, bad, HTTP_HX_REQUEST="true")
        assert refused.status_code == 400
        html = refused.content.decode()
        assert "<html" not in html and html.lstrip().startswith("<form")
        assert "SpO2 150 % is not possible (0–100 %). Nothing was saved." in visible_text(
            field_block(html, "spo2")
        )
        assert "Heart rate −5 /min" in visible_text(field_block(html, "heart_rate"))
        assert 'value="150"' in field_block(html, "spo2") and 'value="186"' in field_block(
            html, "systolic_bp"
        )
        assert not Observation.objects.filter(value=186).exists()
        recorded = client.post(url, FULL_SET | {"observed_at": local_now(running)}, HTTP_HX_REQUEST="true")
        assert recorded.status_code == 200
        assert recorded["HX-Redirect"] == reverse("care:session", args=[running.pk])
        assert Observation.objects.filter(value=186).count() == 1

    def test_a_time_in_the_future_is_said_in_the_clinic_zone_beside_the_time(self, as_user, nina, running):
        from zoneinfo import ZoneInfo

        later = timezone.now() + timedelta(days=1)
        local = later.astimezone(ZoneInfo(running.clinic.timezone))
        response = as_user(nina).post(
            reverse("monitoring:vitals", args=[running.pk]),
            FULL_SET | {"observed_at": local.strftime("%Y-%m-%dT%H:%M")},
        )
        assert response.status_code == 400
        block = visible_text(field_block(response.content, "observed_at"))
        # Seven observations at the same time: one message beside the one Time field.
        assert block.count("The time is in the future") == 1
        assert f"The time is in the future ({local:%H:%M} tomorrow). Nothing was saved." in block

    def test_a_session_no_longer_monitored_says_so_on_its_page(
        self, as_user, alice, nina, cleared_session, lot_50
    ):
        session = recovering_session(
            alice=alice, nina=nina, session=cleared_session, lot=lot_50, ended_minutes_ago=125
        )
        client = as_user(nina)
        client.post(
            reverse("monitoring:discharge", args=[session.pk]),
            {"escort_confirmed": "on", "driving_advice_given": "on"},
        )
        before = Observation.objects.count()
        response = client.post(
            reverse("monitoring:vitals", args=[session.pk]),
            FULL_SET | {"observed_at": local_now(session)},
            follow=True,
        )
        assert response.redirect_chain[-1][0] == reverse("care:session", args=[session.pk])
        assert "Vital signs are recorded from check-in until discharge" in visible_text(response.content)
        assert Observation.objects.count() == before

    def test_implausible_value_keeps_the_input_and_writes_nothing(self, as_user, nina, running):
        before = Observation.objects.count()
        response = as_user(nina).post(
            reverse("monitoring:vitals", args=[running.pk]),
            FULL_SET | {"spo2": "150", "observed_at": local_now(running)},
        )
        assert response.status_code == 400
        assert b'data-code="implausible_value"' in response.content and b'value="150"' in response.content
        assert b'value="186"' in response.content
        assert Observation.objects.count() == before and Alert.objects.count() == 0

    def test_empty_form_is_refused(self, as_user, nina, running):
        response = as_user(nina).post(
            reverse("monitoring:vitals", args=[running.pk]), {"observed_at": local_now(running)}
        )
        assert response.status_code == 400 and b'data-code="no_observations"' in response.content
        assert b"Enter at least one value." in response.content

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
        assert (
            b"Critical</span>" in html
            and b"Low oxygen saturation" in html
            and b"SpO2 88 % &lt; 90 %." in html
        )
        assert b'id="vitals-figure"' in html and b"Blood pressure, mmHg" in html
        assert reverse("monitoring:acknowledge", args=[Alert.objects.get().pk]).encode() in html
        assert reverse("monitoring:vitals", args=[running.pk]).encode() in html
        assert b"Baseline (before dosing)" in html
        assert b"SpO2: <strong>88</strong> %" in html  # the latest values by their short names

    def test_read_only_viewer_sees_no_forms(self, as_user, adam, nina, running):
        raise_hypoxemia(nina, running)
        page = as_user(adam).get(reverse("care:session", args=[running.pk]))
        assert page.status_code == 200 and b"Low oxygen saturation" in page.content
        assert reverse("monitoring:vitals", args=[running.pk]).encode() not in page.content


class TestWords:
    def test_session_panel_and_board_show_alert_titles_not_codes(self, as_user, nina, running):
        raise_hypoxemia(nina, running)
        client = as_user(nina)
        page = client.get(reverse("care:session", args=[running.pk])).content.decode()
        panel = section(page, 'class="panel monitoring"')
        assert "Low oxygen saturation" in visible_text(panel) and codes_shown(panel) == []
        assert 'data-code="hypoxemia"' in panel
        assert 'aria-label="Acknowledge: Low oxygen saturation"' in panel
        board = client.get(reverse("monitoring:board")).content.decode()
        assert "Low oxygen saturation" in visible_text(board) and codes_shown(board) == []

    def test_acknowledgement_is_confirmed_in_words(self, as_user, nina, running):
        alert = raise_hypoxemia(nina, running)
        response = as_user(nina).post(
            reverse("monitoring:acknowledge", args=[alert.pk]), {"action": "observed"}, follow=True
        )
        assert "Low oxygen saturation acknowledged: observed." in visible_text(response.content)

    def test_an_action_must_be_chosen_none_is_preselected(self, as_user, nina, running):
        alert = raise_hypoxemia(nina, running)
        client = as_user(nina)
        panel = section(
            client.get(reverse("care:session", args=[running.pk])).content, 'class="panel monitoring"'
        )
        assert '<option value="" selected>Choose the action taken</option>' in panel
        response = client.post(reverse("monitoring:acknowledge", args=[alert.pk]), {"note": "kept"})
        assert response.status_code == 400
        assert "Choose the action taken." in visible_text(field_block(response.content, "action"))
        alert.refresh_from_db()
        assert alert.acknowledged_at is None


class TestInfusionPaused:
    def test_session_and_board_say_paused_since_then_being_given_after_resume(
        self, as_user, nina, running, administration
    ):
        from zoneinfo import ZoneInfo

        alert = raise_hypoxemia(nina, running)
        alert_acknowledge(actor=nina, alert=alert, action="infusion_paused", note="O2 2 L")
        paused = RateEvent.objects.get(administration=administration, kind="pause")
        since = paused.at.astimezone(ZoneInfo(running.clinic.timezone)).strftime("%H:%M")
        client = as_user(nina)
        page = visible_text(client.get(reverse("care:session", args=[running.pk])).content)
        assert f"Infusion paused (since {since})" in page and "Being given" not in page
        board = visible_text(client.get(reverse("monitoring:board")).content)
        assert f"Infusion paused (since {since})" in board
        order_page = visible_text(client.get(reverse("dosing:order", args=[administration.order_id])).content)
        assert f"Infusion paused (since {since})" in order_page and "Being given" not in order_page
        administration_rate_event(actor=nina, administration=administration, kind="resume", at=timezone.now())
        page = visible_text(client.get(reverse("care:session", args=[running.pk])).content)
        assert "Being given" in page and "Infusion paused" not in page
        assert "Infusion paused" not in visible_text(client.get(reverse("monitoring:board")).content)

    def test_the_board_redraws_when_the_infusion_is_paused(self, nina, running, administration):
        from kapstone.accounts.models import Role
        from kapstone.monitoring.selectors import board_token

        now = timezone.now()
        before = board_token(user=nina, roles=[Role.NURSE, Role.PRESCRIBER], now=now)
        administration_rate_event(
            actor=nina, administration=administration, kind="pause", at=now, reason="Nausea"
        )
        assert board_token(user=nina, roles=[Role.NURSE, Role.PRESCRIBER], now=now) != before


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
        assert b"Zzyzxfield" in html and b"Fast heart rate" in html and b"Warning</span>" in html
        assert b'hx-trigger="every 500ms"' in html and b'aria-label="rising"' in html
        assert b'<span class="state st-in_progress">In progress</span>' in html
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
            b"Minimum observation time" in page.content
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
        assert response.status_code == 400 and b'data-code="discharge_criteria_unmet"' in response.content
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

    def test_the_aldrete_form_starts_with_no_item_chosen(self, as_user, alice, nina, cleared_session, lot_50):
        session = recovering_session(
            alice=alice, nina=nina, session=cleared_session, lot=lot_50, ended_minutes_ago=30
        )
        html = as_user(nina).get(reverse("monitoring:discharge", args=[session.pk])).content.decode()
        for item in ("activity", "respiration", "circulation", "consciousness", "oxygen_saturation"):
            block = field_block(html, item)
            assert '<option value="" selected>Choose a score</option>' in block, item
            assert "selected" not in block.replace('<option value="" selected>', ""), item

    def test_an_aldrete_item_left_unchosen_is_refused_naming_each_and_keeping_the_rest(
        self, as_user, alice, nina, cleared_session, lot_50
    ):
        session = recovering_session(
            alice=alice, nina=nina, session=cleared_session, lot=lot_50, ended_minutes_ago=30
        )
        before = (
            ScaleScore.objects.count(),
            Observation.objects.count(),
            audit_count(object_type="scale_score"),
        )
        partial = {
            "observed_at": local_now(session),
            "activity": "2",
            "circulation": "1",
            "consciousness": "2",
        }
        response = as_user(nina).post(reverse("monitoring:aldrete", args=[session.pk]), partial)
        assert response.status_code == 400
        html = response.content.decode()
        assert "Choose a score for each item: Respiration, Oxygen saturation. Nothing was saved." in (
            visible_text(html)
        )
        assert "Choose a score for Respiration." in visible_text(field_block(html, "respiration"))
        assert "Choose a score for Oxygen saturation." in visible_text(field_block(html, "oxygen_saturation"))
        assert '<option value="2" selected>' in field_block(html, "activity")
        assert '<option value="1" selected>' in field_block(html, "circulation")
        after = (
            ScaleScore.objects.count(),
            Observation.objects.count(),
            audit_count(object_type="scale_score"),
        )
        assert after == before
        nothing = as_user(nina).post(
            reverse("monitoring:aldrete", args=[session.pk]), {"observed_at": local_now(session)}
        )
        assert nothing.status_code == 400
        assert "Choose a score for each item: Activity, Respiration, Circulation, Consciousness, Oxygen " in (
            visible_text(nothing.content)
        )

    def test_criteria_and_the_record_speak_words(self, as_user, alice, nina, cleared_session, lot_50):
        session = recovering_session(
            alice=alice, nina=nina, session=cleared_session, lot=lot_50, ended_minutes_ago=125
        )
        client = as_user(nina)
        page = client.get(reverse("monitoring:discharge", args=[session.pk])).content.decode()
        text = visible_text(page)
        for title in ("Minimum observation time", "Sedation (MOAA/S)", "Modified Aldrete score", "Escort"):
            assert title in text
        assert "clinical.md" not in text and "§" not in text and "Issue" not in text
        assert codes_shown(page) == [] and 'data-code="minimum_observation"' in page
        client.post(
            reverse("monitoring:discharge", args=[session.pk]),
            {"escort_confirmed": "on", "driving_advice_given": "on"},
        )
        record = client.get(reverse("monitoring:discharge", args=[session.pk])).content.decode()
        assert "Criteria at discharge" in record and codes_shown(record) == []
        assert "Escort Met yes" in visible_text(record)

    def test_a_refused_discharge_names_the_unmet_criteria_in_words(
        self, as_user, alice, nina, cleared_session, lot_50
    ):
        session = recovering_session(
            alice=alice, nina=nina, session=cleared_session, lot=lot_50, ended_minutes_ago=30
        )
        response = as_user(nina).post(reverse("monitoring:discharge", args=[session.pk]), {})
        text = visible_text(response.content)
        assert response.status_code == 400
        assert "Not ready for discharge: Minimum observation time (30 min; needs" in text
        assert "Escort (no; needs an escort takes the patient home)" in text
        assert codes_shown(response.content) == []

    def test_access(self, client, as_user, carol, terry, running):
        url = reverse("monitoring:discharge", args=[running.pk])
        assert client.get(url).status_code == 302
        other = as_user(carol).get(url)
        assert other.status_code == 404 and b"Zzyzxfield" not in other.content
        assert as_user(terry).get(url).status_code == 403
        assert as_user(terry).post(reverse("monitoring:aldrete", args=[running.pk]), {}).status_code == 403
