"""A value entered in error: marked, kept, struck through, and no longer counted by any rule.

The nurse's case (issue 15): a sedated patient, a mistyped SpO2 85 for 95 raises a critical
alert; once the value is marked entered in error the alert state, the discharge criteria and the
"ready to leave" time are those of the remaining values, and the alert's history is kept.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.monitoring import selectors
from kapstone.monitoring.models import Alert, AlertEvent, Discharge, Observation
from kapstone.monitoring.services import (
    alert_acknowledge,
    observation_void,
    session_discharge,
    vitals_record,
)
from tests.conftest import audit_count
from tests.monitoring.conftest import vitals_set
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
