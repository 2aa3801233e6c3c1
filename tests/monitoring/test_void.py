"""A value entered in error: marked, kept, struck through, and no longer counted by any rule.

The nurse's case (issue 15): a sedated patient, a mistyped SpO2 85 for 95 raises a critical
alert; once the value is marked entered in error the alert state, the discharge criteria and the
"ready to leave" time are those of the remaining values, and the alert's history is kept.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from kapstone.display import clock, moment
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.monitoring import selectors
from kapstone.monitoring.models import Alert, AlertEvent, Discharge, Observation
from kapstone.monitoring.services import (
    alert_acknowledge,
    observation_void,
    session_discharge,
    vitals_record,
)
from kapstone.monitoring.views import monitoring_context
from tests.api.test_patients_api import Api, error_of
from tests.conftest import audit_count, without_csrf
from tests.monitoring.conftest import vitals_set
from tests.monitoring.pages import codes_shown, section, visible_text
from tests.monitoring.test_services import ago, bp, recovering_session

pytestmark = pytest.mark.django_db


def one(code, value, minutes_ago=1.0):
    return [{"code": code, "value": value, "observed_at": ago(minutes_ago)}]


def latest(session, code) -> Observation:
    return Observation.objects.filter(session=session, code=code).order_by("-observed_at", "-id").first()


def open_alerts(session) -> list[tuple[str, str]]:
    return sorted(
        Alert.objects.filter(session=session, resolved_at__isnull=True).values_list("code", "severity")
    )


@pytest.fixture
def recovering(alice, nina, cleared_session, lot_50):
    """Dosing ended 125 min ago with a normal record: every clinical discharge criterion is met."""
    return recovering_session(
        alice=alice, nina=nina, session=cleared_session, lot=lot_50, ended_minutes_ago=125
    )


def criterion(session, code):
    evaluation = selectors.discharge_evaluation(
        session=session, now=timezone.now(), escort_confirmed=True, driving_advice_given=True
    )
    return next(c for c in evaluation.criteria if c.code == code), evaluation


class TestTheNursesCase:
    def test_a_critical_spo2_typo_no_longer_blocks_discharge_once_entered_in_error(self, nina, recovering):
        vitals_record(actor=nina, session=recovering, observations=vitals_set(ago(1), spo2=85))
        assert open_alerts(recovering) == [("hypoxemia", "critical")]
        with pytest.raises(WorkflowConflict) as refused:
            session_discharge(
                actor=nina, session=recovering, escort_confirmed=True, driving_advice_given=True
            )
        assert "No open critical alert (open: Low oxygen saturation" in refused.value.message

        observation_void(actor=nina, observation=latest(recovering, "spo2"), reason="Typed 85 for 95")

        assert open_alerts(recovering) == []
        met, evaluation = criterion(recovering, "no_open_critical_alert")
        assert met.met and evaluation.ready
        discharge = session_discharge(
            actor=nina, session=recovering, escort_confirmed=True, driving_advice_given=True
        )
        assert discharge.criteria_met

    def test_the_alert_and_its_end_stay_in_the_history(self, nina, recovering):
        vitals_record(actor=nina, session=recovering, observations=one("spo2", 85))
        alert = Alert.objects.get(session=recovering, code="hypoxemia")
        alert_acknowledge(actor=nina, alert=alert, action="observed", note="rechecked probe")
        before = timezone.now()
        observation_void(actor=nina, observation=latest(recovering, "spo2"), reason="Typed 85 for 95")

        alert.refresh_from_db()
        assert (alert.code, alert.severity, alert.status) == ("hypoxemia", "critical", "resolved")
        assert alert.entered_in_error and alert.resolved_at >= before
        assert (alert.acknowledged_by, alert.action, alert.note) == (nina, "observed", "rechecked probe")
        events = list(AlertEvent.objects.filter(alert=alert).order_by("id"))
        assert [e.kind for e in events] == ["raised", "acknowledged", "resolved"]
        assert events[-1].message == "Low oxygen saturation ended: value entered in error."
        assert events[-1].actor == nina and events[-1].at == alert.resolved_at
        assert audit_count(action="update", object_type="alert", object_id=str(alert.pk), actor=nina) == 2

    def test_ready_to_leave_does_not_wait_for_an_alert_that_was_entered_in_error(self, nina, recovering):
        vitals_record(actor=nina, session=recovering, observations=one("spo2", 85, minutes_ago=1))
        voided_at = timezone.now()
        observation_void(actor=nina, observation=latest(recovering, "spo2"), reason="Typed 85 for 95")
        _, evaluation = criterion(recovering, "no_open_critical_alert")
        # Ready since the last normal set (2 min ago), not since the typo was struck out.
        assert evaluation.ready_at is not None and evaluation.ready_at < voided_at - timedelta(seconds=30)

    def test_the_next_set_is_evaluated_without_the_episode_of_the_typo(self, nina, running):
        vitals_record(actor=nina, session=running, observations=one("spo2", 85, minutes_ago=2))
        observation_void(actor=nina, observation=latest(running, "spo2"), reason="Typed 85 for 95")
        raised = vitals_record(actor=nina, session=running, observations=one("spo2", 92, minutes_ago=1))
        # A real warning level now raises its own alert: it is not swallowed by the typo's episode.
        assert [(a.code, a.severity) for a in raised] == [("hypoxemia", "warning")]
        assert open_alerts(running) == [("hypoxemia", "warning")]


class TestEveryReaderLeavesTheValueOut:
    def test_latest_values_chart_checks_and_board_read_the_remaining_values(self, as_user, nina, running):
        vitals_record(actor=nina, session=running, observations=vitals_set(ago(1), spo2=85))
        observation_void(actor=nina, observation=latest(running, "spo2"), reason="Typed 85 for 95")
        context = monitoring_context(nina, running)
        spo2 = next(v for v in context["latest"] if v["code"] == "spo2")
        assert spo2["value"] == 98  # the baseline's, not the typo
        [trace] = [
            t for t in context["figure"]["data"] if t.get("name") == "Oxygen saturation by pulse oximetry"
        ]
        assert trace["y"] == [98.0]  # the baseline's; the typo is not drawn
        assert [c.status for c in context["checks"]][:1] == ["done"]
        [row] = selectors.board_rows([running], timezone.now())
        assert next(v for v in row["vitals"] if v["code"] == "spo2")["value"] == 98
        assert row["alerts"] == []
        board = as_user(nina).get(reverse("monitoring:board"))
        assert "Low oxygen saturation" not in visible_text(board.content)


class TestAlertStateFromTheRemainingValues:
    def test_a_critical_upgrade_typo_falls_back_to_the_warning_it_was(self, nina, running):
        vitals_record(actor=nina, session=running, observations=one("heart_rate", 115, minutes_ago=3))
        warning = Alert.objects.get(session=running)
        vitals_record(actor=nina, session=running, observations=one("heart_rate", 135, minutes_ago=2))
        warning.refresh_from_db()
        assert warning.severity == "critical"
        now = timezone.now()
        observation_void(actor=nina, observation=latest(running, "heart_rate"), reason="Typed 135 for 115")
        warning.refresh_from_db()
        assert warning.status == "resolved" and warning.entered_in_error
        fresh = Alert.objects.get(session=running, resolved_at__isnull=True)
        assert (fresh.code, fresh.severity, fresh.status) == ("tachycardia", "warning", "open")
        # The warning stands since the 115 reading; it is shown anew, so its clock starts now.
        assert (
            fresh.raised_at
            == Observation.objects.get(session=running, code="heart_rate", value=115).observed_at
        )
        assert fresh.escalation_from >= now and not fresh.entered_in_error
        assert "115" in fresh.message

    def test_voiding_the_normal_value_that_ended_an_episode_raises_it_again(self, nina, running):
        vitals_record(actor=nina, session=running, observations=one("spo2", 88, minutes_ago=3))
        vitals_record(actor=nina, session=running, observations=one("spo2", 97, minutes_ago=2))
        ended = Alert.objects.get(session=running)
        assert ended.status == "resolved" and not ended.entered_in_error
        observation_void(
            actor=nina, observation=latest(running, "spo2"), reason="Probe on the nurse's finger"
        )
        ended.refresh_from_db()
        assert ended.status == "resolved" and not ended.entered_in_error  # its history is not rewritten
        assert open_alerts(running) == [("hypoxemia", "critical")]
        again = Alert.objects.get(session=running, resolved_at__isnull=True)
        assert again.pk != ended.pk and "88" in again.message
        assert list(again.events.values_list("kind", flat=True)) == ["raised"]

    def test_an_episode_the_remaining_values_still_show_is_left_as_it_is(self, nina, running):
        vitals_record(actor=nina, session=running, observations=one("spo2", 88, minutes_ago=3))
        alert = Alert.objects.get(session=running)
        alert_acknowledge(actor=nina, alert=alert, action="observed")
        vitals_record(actor=nina, session=running, observations=one("spo2", 87, minutes_ago=2))
        observation_void(actor=nina, observation=latest(running, "spo2"), reason="Duplicate entry")
        alert.refresh_from_db()
        assert alert.is_open and alert.status == "acknowledged" and not alert.entered_in_error
        assert Alert.objects.filter(session=running).count() == 1

    def test_a_value_no_rule_reads_leaves_every_episode_alone(self, nina, running):
        vitals_record(actor=nina, session=running, observations=vitals_set(ago(2), spo2=88))
        alert = Alert.objects.get(session=running)
        observation_void(actor=nina, observation=latest(running, "temperature"), reason="Fahrenheit")
        alert.refresh_from_db()
        assert alert.is_open and Alert.objects.filter(session=running).count() == 1

    def test_a_mistaken_baseline_no_longer_makes_a_rise_from_baseline(self, nina, running):
        started = selectors.session_times(running).dosing_started_at
        # A second pre-dose reading typed 100 for 130: the baseline the rise is measured from.
        vitals_record(actor=nina, session=running, observations=bp(started - timedelta(minutes=2), 100, 60))
        vitals_record(actor=nina, session=running, observations=bp(ago(1), 145, 80))
        assert ("bp_rise_from_baseline", "warning") in open_alerts(running)
        typo = Observation.objects.get(session=running, code="systolic_bp", value=100)
        observation_void(actor=nina, observation=typo, reason="Typed 100 for 130")
        # The baseline is now the earlier pre-dose set (124/78): 145 is +21, no rise.
        assert selectors.baseline_in_db(running, selectors.session_times(running))["systolic_bp"] == 124
        assert ("bp_rise_from_baseline", "warning") not in open_alerts(running)


class TestRefusals:
    def counts(self, session):
        return (
            Observation.objects.filter(session=session, voided_at__isnull=False).count(),
            Alert.objects.count(),
            AlertEvent.objects.count(),
            audit_count(action="void"),
            audit_count(object_type="alert"),
        )

    @pytest.mark.parametrize(
        ("reason", "code"),
        [
            ("", "reason_required"),
            ("   ", "reason_required"),
            (None, "reason_required"),
            ("x" * 501, "text_too_long"),
            ("probe\x00off", "invalid_text"),
        ],
    )
    def test_a_reason_is_required_and_checked_and_nothing_is_written(self, nina, running, reason, code):
        vitals_record(actor=nina, session=running, observations=one("spo2", 85))
        before = self.counts(running)
        with pytest.raises(DomainError) as error:
            observation_void(actor=nina, observation=latest(running, "spo2"), reason=reason)
        assert (error.value.code, error.value.field) == (code, "reason")
        assert self.counts(running) == before and open_alerts(running) == [("hypoxemia", "critical")]

    def test_the_reason_required_message_asks_why(self, nina, running):
        with pytest.raises(DomainError) as error:
            observation_void(actor=nina, observation=latest(running, "spo2"), reason=" ")
        assert error.value.message == "Say why the value was entered in error."

    def test_a_value_is_marked_once(self, nina, alice, running):
        row = latest(running, "spo2")
        observation_void(actor=alice, observation=row, reason="Typed 58 for 98")
        before = self.counts(running)
        with pytest.raises(WorkflowConflict) as error:
            observation_void(actor=nina, observation=row, reason="again")
        assert error.value.code == "observation_already_voided"
        row.refresh_from_db()
        assert (row.voided_by, row.void_reason) == (alice, "Typed 58 for 98")
        assert self.counts(running) == before

    @pytest.mark.parametrize("who", ["terry", "adam", "bob"])
    def test_only_the_roles_that_record_vitals_may_mark_a_value(self, request, running, who):
        user = request.getfixturevalue(who)
        before = self.counts(running)
        with pytest.raises(WorkflowConflict) as error:
            observation_void(actor=user, observation=latest(running, "spo2"), reason="x")
        assert error.value.code == "clinician_required"
        assert self.counts(running) == before

    def test_another_clinics_clinician_may_not(self, carol, running):
        with pytest.raises(WorkflowConflict) as error:
            observation_void(actor=carol, observation=latest(running, "spo2"), reason="x")
        assert error.value.code == "clinician_required"

    def test_a_discharged_session_is_closed_to_voids(self, nina, recovering):
        session_discharge(actor=nina, session=recovering, escort_confirmed=True, driving_advice_given=True)
        recovering.refresh_from_db()
        row = latest(recovering, "spo2")
        before = (self.counts(recovering), Discharge.objects.get(session=recovering).criteria)
        with pytest.raises(WorkflowConflict) as error:
            observation_void(actor=nina, observation=row, reason="Typed 95 for 98")
        assert error.value.code == "session_closed"
        assert "discharged" in error.value.message
        row.refresh_from_db()
        assert row.voided_at is None
        assert (self.counts(recovering), Discharge.objects.get(session=recovering).criteria) == before


class TestAudit:
    def test_the_void_is_audited_with_what_it_ended(self, nina, running):
        vitals_record(actor=nina, session=running, observations=one("spo2", 85))
        row = latest(running, "spo2")
        observation_void(actor=nina, observation=row, reason="Typed 85 for 95")
        from kapstone.audit.models import AuditEvent

        event = AuditEvent.objects.get(action="void", object_type="observation", object_id=str(row.pk))
        assert (event.actor, event.patient_id, event.clinic_id) == (
            nina,
            running.patient_id,
            running.clinic_id,
        )
        assert event.detail["code"] == "spo2"
        assert event.detail["alerts_ended"] == ["hypoxemia"] and event.detail["alerts_raised"] == []
        assert "Typed" not in str(event.detail)  # the reason is on the record, not copied into the log


# --- The web page ------------------------------------------------------------------------------


def void_url(observation, session=None):
    return reverse("monitoring:observation_void", args=[(session or observation.session).pk, observation.pk])


def session_url(session):
    return reverse("care:session", args=[session.pk])


def panel_of(response):
    return section(response.content, 'class="panel monitoring"')


def local(session, render, moment_=None):
    """A time as the session's clinic reads it (its pages are in the clinic's zone)."""
    with timezone.override(ZoneInfo(session.clinic.timezone)):
        return render(moment_)


class TestSessionPage:
    def test_each_value_of_each_set_has_a_labelled_mark_in_error_link(self, as_user, nina, running):
        vitals_record(actor=nina, session=running, observations=vitals_set(ago(1), spo2=85))
        page = as_user(nina).get(session_url(running))
        panel = panel_of(page)
        assert "Recorded values" in visible_text(panel)
        spo2 = latest(running, "spo2")
        assert f'href="{void_url(spo2)}"' in panel
        at = local(running, clock, spo2.observed_at)
        assert f'aria-label="Mark SpO2 85 % at {at} as entered in error"' in panel
        valid = Observation.objects.filter(session=running, voided_at__isnull=True).count()
        assert panel.count('class="void-link') == valid == 14  # the baseline set and this one
        assert codes_shown(panel) == []

    def test_who_only_reads_the_session_sees_the_values_without_the_links(
        self, as_user, terry, adam, running
    ):
        for user in (terry, adam):
            panel = panel_of(as_user(user).get(session_url(running)))
            assert "Recorded values" in visible_text(panel) and "void-link" not in panel

    def test_a_long_session_lists_its_newest_sets_and_links_to_all(self, as_user, nina, running):
        started = selectors.session_times(running).dosing_started_at
        for minute in range(1, 13):
            vitals_record(
                actor=nina,
                session=running,
                observations=one("heart_rate", 70 + minute, minutes_ago=8 - minute * 0.5),
            )
        assert selectors.set_times(running).count() == 13 and started is not None
        panel = panel_of(as_user(nina).get(session_url(running)))
        assert "The 12 most recent of 13 sets." in visible_text(panel)
        assert reverse("monitoring:recorded_values", args=[running.pk]) in panel
        page = as_user(nina).get(reverse("monitoring:recorded_values", args=[running.pk]))
        assert page.status_code == 200 and page.content.count(b'class="void-link') == 7 + 12
        assert audit_count(action="read", object_type="session", object_id=str(running.pk), actor=nina) == 2


class TestVoidPage:
    def test_a_nurse_marks_a_typo_and_sees_it_struck_through_with_the_alert_ended(
        self, as_user, nina, running
    ):
        vitals_record(actor=nina, session=running, observations=vitals_set(ago(1), spo2=85))
        spo2 = latest(running, "spo2")
        client = as_user(nina)
        form = client.get(void_url(spo2))
        assert form.status_code == 200
        text = visible_text(form.content)
        assert (
            "Mark a value entered in error" in text
            and "SpO2 85 %" in text
            and codes_shown(form.content) == []
        )
        assert audit_count(action="read", object_type="observation", object_id=str(spo2.pk), actor=nina) == 1

        response = client.post(void_url(spo2), {"reason": "Typed 85 for 95"})
        assert response.status_code == 302
        assert response["Location"] == session_url(running) + "#recorded-values"
        spo2.refresh_from_db()
        assert (spo2.voided_by, spo2.void_reason) == (nina, "Typed 85 for 95")

        page = client.get(session_url(running))
        panel = panel_of(page)
        assert f'<div class="value voided" data-observation="{spo2.pk}"><s>85</s>' in panel
        when = local(running, moment, spo2.voided_at)
        assert f"Entered in error — Nina, {when}: Typed 85 for 95" in visible_text(panel)
        assert f'href="{void_url(spo2)}"' not in panel  # marked once
        assert "Alerts to acknowledge" not in visible_text(panel)  # the typo's alert is history
        assert f"ended {local(running, clock, spo2.voided_at)}: value entered in error" in visible_text(panel)
        assert codes_shown(panel) == []

    def test_a_missing_reason_is_refused_beside_the_field_and_nothing_is_written(
        self, as_user, nina, running
    ):
        spo2 = latest(running, "spo2")
        before = (audit_count(action="void"), Alert.objects.count())
        response = as_user(nina).post(void_url(spo2), {"reason": "   "})
        assert response.status_code == 400
        assert b'data-code="reason_required"' in response.content
        assert b"Say why the value was entered in error." in response.content
        spo2.refresh_from_db()
        assert spo2.voided_at is None and (audit_count(action="void"), Alert.objects.count()) == before

    def test_a_refused_reason_is_kept_in_the_field(self, as_user, nina, running):
        spo2 = latest(running, "spo2")
        too_long = "probe slipped " * 40
        response = as_user(nina).post(void_url(spo2), {"reason": too_long})
        assert response.status_code == 400 and b'data-code="text_too_long"' in response.content
        assert too_long.strip().encode() in response.content
        spo2.refresh_from_db()
        assert spo2.voided_at is None

    def test_the_form_is_labelled_and_keyboard_ready(self, as_user, nina, running):
        body = as_user(nina).get(void_url(latest(running, "spo2"))).content.decode()
        assert '<label for="id_reason">Reason' in body and 'id="id_reason"' in body
        assert 'aria-describedby="id_reason_help"' in body and "autofocus" in body
        assert '<button type="submit" class="primary">Mark entered in error</button>' in body

    def test_a_value_already_marked_says_so_and_a_second_post_is_refused(self, as_user, nina, alice, running):
        spo2 = latest(running, "spo2")
        observation_void(actor=alice, observation=spo2, reason="Typed 58 for 98")
        page = as_user(nina).get(void_url(spo2))
        assert page.status_code == 200 and "Already marked entered in error by" in visible_text(page.content)
        response = as_user(nina).post(void_url(spo2), {"reason": "again"})
        assert response.status_code == 400 and b'data-code="observation_already_voided"' in response.content
        assert audit_count(action="void") == 1

    def test_a_discharged_session_offers_no_mark_and_refuses_one(self, as_user, nina, recovering):
        session_discharge(actor=nina, session=recovering, escort_confirmed=True, driving_advice_given=True)
        spo2 = latest(recovering, "spo2")
        assert "void-link" not in panel_of(as_user(nina).get(session_url(recovering)))
        page = as_user(nina).get(void_url(spo2))
        assert (
            "This session is discharged" in visible_text(page.content)
            and b"<form" not in page.content.split(b"<main")[-1]
        )
        response = as_user(nina).post(void_url(spo2), {"reason": "Typed 95 for 98"})
        assert response.status_code == 400 and b'data-code="session_closed"' in response.content
        spo2.refresh_from_db()
        assert spo2.voided_at is None and audit_count(action="void") == 0

    @pytest.mark.parametrize("who", ["terry", "adam", "bob"])
    def test_roles_that_do_not_record_vitals_get_403(self, as_user, request, running, who):
        spo2 = latest(running, "spo2")
        for response in (
            as_user(request.getfixturevalue(who)).get(void_url(spo2)),
            as_user(request.getfixturevalue(who)).post(void_url(spo2), {"reason": "x"}),
        ):
            assert response.status_code == 403 and b"Zzyzxfield" not in response.content
        spo2.refresh_from_db()
        assert spo2.voided_at is None

    def test_another_clinic_gets_the_same_404_as_a_missing_value_and_a_denied_row(
        self, as_user, carol, running
    ):
        spo2 = latest(running, "spo2")
        client = as_user(carol)
        theirs = client.post(void_url(spo2), {"reason": "x"})
        missing = client.post(
            reverse("monitoring:observation_void", args=[running.pk, spo2.pk + 10_000]), {"reason": "x"}
        )
        assert theirs.status_code == missing.status_code == 404
        assert without_csrf(theirs.content) == without_csrf(missing.content)
        assert b"Zzyzxfield" not in theirs.content and b"A-1001" not in theirs.content
        assert audit_count(action="denied", object_type="observation", actor=carol) == 1
        spo2.refresh_from_db()
        assert spo2.voided_at is None

    def test_a_value_under_another_sessions_id_is_not_found(self, as_user, nina, running):
        other = running.course.sessions.exclude(pk=running.pk).first()
        spo2 = latest(running, "spo2")
        assert as_user(nina).get(void_url(spo2, session=other)).status_code == 404

    def test_a_huge_id_is_not_found(self, as_user, nina, running):
        url = f"/sessions/{running.pk}/observations/{2**70}/void/"
        assert as_user(nina).get(url).status_code == 404


# --- The API -----------------------------------------------------------------------------------


def api_void(user, observation_id, body):
    return Api(user).post(f"/observations/{observation_id}/void", body)


class TestApi:
    def test_a_nurse_marks_a_value_and_gets_it_back_with_its_void(self, nina, running):
        vitals_record(actor=nina, session=running, observations=one("spo2", 85))
        spo2 = latest(running, "spo2")
        response = api_void(nina, spo2.pk, {"reason": "Typed 85 for 95"})
        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["id"], body["code"], body["value"]) == (spo2.pk, "spo2", 85.0)
        assert (body["voided_by"], body["void_reason"]) == ("nina", "Typed 85 for 95")
        assert body["voided_at"] is not None
        assert open_alerts(running) == []
        assert audit_count(action="void", object_type="observation", object_id=str(spo2.pk)) == 1
        (alert,) = Api(nina).get(f"/sessions/{running.pk}/alerts").json()
        assert (alert["code"], alert["status"], alert["entered_in_error"]) == ("hypoxemia", "resolved", True)
        assert alert["resolved_at"] is not None and alert["acknowledged_at"] is None

    def test_the_list_of_values_carries_the_void_fields(self, nina, running):
        spo2 = latest(running, "spo2")
        observation_void(actor=nina, observation=spo2, reason="Typed 58 for 98")
        page = Api(nina).get(f"/sessions/{running.pk}/vitals", limit=500).json()
        rows = page["items"]
        assert len(rows) == page["count"] == Observation.objects.filter(session=running).count()
        voided = next(r for r in rows if r["id"] == spo2.pk)
        assert (voided["voided_by"], voided["void_reason"]) == ("nina", "Typed 58 for 98")
        others = [r for r in rows if r["id"] != spo2.pk]
        assert all(
            r["voided_at"] is None and r["voided_by"] is None and r["void_reason"] is None for r in others
        )

    def test_twice_is_409(self, nina, running):
        spo2 = latest(running, "spo2")
        assert api_void(nina, spo2.pk, {"reason": "Typed 58 for 98"}).status_code == 200
        response = api_void(nina, spo2.pk, {"reason": "again"})
        assert response.status_code == 409 and error_of(response)["code"] == "observation_already_voided"
        assert audit_count(action="void") == 1

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            ({}, "missing_field"),
            ({"reason": "  "}, "reason_required"),
            ({"reason": "x", "voided_by": 1}, "unknown_field"),
        ],
    )
    def test_a_missing_reason_is_422_and_writes_nothing(self, nina, running, body, code):
        spo2 = latest(running, "spo2")
        response = api_void(nina, spo2.pk, body)
        assert response.status_code == 422
        error = error_of(response)
        assert error["code"] == code and (error["field"] in ("reason", "voided_by"))
        spo2.refresh_from_db()
        assert spo2.voided_at is None and audit_count(action="void") == 0

    def test_another_clinics_value_and_a_missing_one_are_the_same_404(self, carol, running):
        spo2 = latest(running, "spo2")
        theirs = api_void(carol, spo2.pk, {"reason": "x"})
        missing = api_void(carol, spo2.pk + 10_000, {"reason": "x"})
        huge = api_void(carol, 2**70, {"reason": "x"})
        assert theirs.status_code == missing.status_code == huge.status_code == 404
        assert (
            theirs.json()
            == missing.json()
            == huge.json()
            == {"error": {"code": "not_found", "message": "Not found.", "field": None}}
        )
        spo2.refresh_from_db()
        assert spo2.voided_at is None

    @pytest.mark.parametrize("who", ["terry", "adam", "bob"])
    def test_roles_that_do_not_record_vitals_get_403_before_the_body_is_read(self, request, running, who):
        response = api_void(request.getfixturevalue(who), latest(running, "spo2").pk, {})
        assert response.status_code == 403 and error_of(response)["code"] == "forbidden"

    def test_a_discharged_session_is_409_session_closed(self, nina, recovering):
        session_discharge(actor=nina, session=recovering, escort_confirmed=True, driving_advice_given=True)
        response = api_void(nina, latest(recovering, "spo2").pk, {"reason": "late"})
        assert response.status_code == 409 and error_of(response)["code"] == "session_closed"


def test_an_alert_resolved_unacknowledged_stays_to_acknowledge_and_says_why(as_user, nina, running):
    vitals_record(actor=nina, session=running, observations=one("spo2", 85, minutes_ago=2))
    vitals_record(actor=nina, session=running, observations=one("spo2", 98, minutes_ago=1))
    (alert,) = Alert.objects.filter(session=running, code="hypoxemia")
    assert alert.status == "resolved" and alert.acknowledged_at is None and not alert.entered_in_error
    panel = visible_text(panel_of(as_user(nina).get(session_url(running))))
    assert "Alerts to acknowledge" in panel
    assert "stays here until someone acknowledges it, even after the values have returned to normal" in panel
