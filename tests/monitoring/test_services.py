"""Monitoring services: episodes through the database, acknowledgement actions, scales, discharge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kapstone.care.models import SessionEvent
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.dosing.models import Administration, RateEvent
from kapstone.dosing.services import administration_complete
from kapstone.monitoring.models import Alert, Discharge, Observation, ScaleScore
from kapstone.monitoring.services import (
    alert_acknowledge,
    observation_void,
    scale_record,
    session_discharge,
    vitals_record,
)
from tests.conftest import audit_count
from tests.monitoring.conftest import start_dosing, vitals_set

pytestmark = pytest.mark.django_db


def ago(minutes: float):
    return timezone.now() - timedelta(minutes=minutes)


def bp(at, systolic, diastolic=80):
    return [
        {"code": "systolic_bp", "value": systolic, "observed_at": at},
        {"code": "diastolic_bp", "value": diastolic, "observed_at": at},
    ]


class TestEpisodes:
    def test_second_high_reading_raises_no_second_alert(self, nina, running):
        first = vitals_record(actor=nina, session=running, observations=bp(ago(3), 185))
        assert [a.code for a in first] == ["hypertension_critical", "bp_rise_from_baseline"]  # 185 is +61
        second = vitals_record(actor=nina, session=running, observations=bp(ago(1), 190))
        assert second == []
        assert Alert.objects.filter(session=running, episode="hypertension").count() == 1
        assert audit_count(action="create", object_type="alert", actor=nina) == 2

    def test_normal_reading_resolves_the_episode_and_a_new_one_can_start(self, nina, running):
        vitals_record(actor=nina, session=running, observations=bp(ago(4), 185))
        vitals_record(actor=nina, session=running, observations=bp(ago(3), 130))
        alert = Alert.objects.get(session=running, code="hypertension_critical")
        assert alert.status == "resolved" and alert.resolved_at is not None
        assert list(alert.events.values_list("kind", flat=True)) == ["raised", "resolved"]
        again = vitals_record(actor=nina, session=running, observations=bp(ago(1), 186))
        assert "hypertension_critical" in [a.code for a in again]
        assert Alert.objects.filter(session=running, episode="hypertension").count() == 2

    def test_warning_episode_is_upgraded_in_place(self, nina, running):
        vitals_record(
            actor=nina,
            session=running,
            observations=[{"code": "heart_rate", "value": 115, "observed_at": ago(3)}],
        )
        alert = Alert.objects.get(session=running, code="tachycardia")
        alert_acknowledge(actor=nina, alert=alert, action="observed")
        upgraded = vitals_record(
            actor=nina,
            session=running,
            observations=[{"code": "heart_rate", "value": 135, "observed_at": ago(1)}],
        )
        assert [(a.pk, a.severity, a.status) for a in upgraded] == [(alert.pk, "critical", "open")]
        alert.refresh_from_db()
        assert alert.acknowledged_at is None and alert.escalation_from == alert.upgraded_at
        assert list(alert.events.order_by("id").values_list("kind", "severity")) == [
            ("raised", "warning"),
            ("acknowledged", "warning"),
            ("upgraded", "critical"),
        ]

    def test_implausible_batch_stores_nothing(self, nina, running):
        before = Observation.objects.count()
        with pytest.raises(DomainError) as error:
            vitals_record(actor=nina, session=running, observations=bp(ago(1), 120, 125))
        assert error.value.code == "implausible_value"
        assert Observation.objects.count() == before and Alert.objects.count() == 0

    def test_only_clinicians_record(self, terry, running):
        with pytest.raises(WorkflowConflict) as error:
            vitals_record(actor=terry, session=running, observations=bp(ago(1), 120))
        assert error.value.code == "clinician_required"

    def test_void_keeps_the_row_and_needs_a_reason(self, nina, running):
        row = Observation.objects.filter(session=running).first()
        with pytest.raises(DomainError):
            observation_void(actor=nina, observation=row, reason=" ")
        observation_void(actor=nina, observation=row, reason="cuff on the wrong arm")
        row.refresh_from_db()
        assert row.is_voided and row.void_reason == "cuff on the wrong arm"
        assert audit_count(action="void", object_type="observation") == 1


class TestAcknowledge:
    def test_infusion_paused_writes_a_pause_rate_event(self, nina, running, administration):
        vitals_record(
            actor=nina, session=running, observations=[{"code": "spo2", "value": 88, "observed_at": ago(1)}]
        )
        alert = Alert.objects.get(session=running)
        done = alert_acknowledge(actor=nina, alert=alert, action="infusion_paused", note="O2 on")
        assert (
            done.status == "acknowledged"
            and done.action == "infusion_paused"
            and done.acknowledged_by == nina
        )
        pause = RateEvent.objects.get(administration=administration, kind="pause")
        assert pause.reason.startswith("Alert hypoxemia")
        assert audit_count(action="update", object_type="alert", actor=nina) == 1
        assert audit_count(action="update", object_type="administration", actor=nina) == 1

    def test_infusion_stopped_ends_the_administration_early(self, nina, alice, running, administration):
        vitals_record(actor=nina, session=running, observations=bp(ago(1), 190))
        alert = Alert.objects.get(session=running, code="hypertension_critical")
        with pytest.raises(DomainError) as error:
            alert_acknowledge(actor=nina, alert=alert, action="infusion_stopped")
        assert error.value.code == "witness_required"
        alert.refresh_from_db()
        assert alert.acknowledged_at is None  # refused whole
        alert_acknowledge(actor=nina, alert=alert, action="infusion_stopped", witness=alice)
        stopped = Administration.objects.get(pk=administration.pk)
        assert stopped.stopped_early and "hypertension_critical" in stopped.stop_reason
        running.refresh_from_db()
        assert running.status == "recovering"

    def test_pause_without_a_running_infusion_is_refused(self, nina, alice, running, administration):
        administration_complete(
            actor=nina, administration=administration, ended_at=timezone.now(), witness=alice
        )
        vitals_record(actor=nina, session=running, observations=bp(ago(0.5), 185))
        alert = Alert.objects.get(session=running, code="hypertension_critical")
        with pytest.raises(WorkflowConflict) as error:
            alert_acknowledge(actor=nina, alert=alert, action="infusion_paused")
        assert error.value.code == "no_running_infusion"


class TestScales:
    def test_moaas_is_an_observation_and_raises_sedation(self, nina, running):
        score = scale_record(actor=nina, session=running, scale="moaas", answers=2, observed_at=ago(1))
        assert score.total == 2 and score.observation.code == "moaas"
        assert Alert.objects.get(session=running).code == "sedation"

    def test_aldrete_and_cadss_record_items_and_version(self, nina, running):
        aldrete = scale_record(actor=nina, session=running, scale="aldrete", answers=[2, 2, 2, 1, 2])
        assert aldrete.total == 9 and aldrete.answers["consciousness"] == 1
        assert aldrete.observation.code == "aldrete_total"
        cadss = scale_record(actor=nina, session=running, scale="cadss", answers=[1] * 23)
        assert cadss.total == 23 and cadss.scoring_version == "cadss@1" and cadss.observation is None
        with pytest.raises(DomainError) as error:
            scale_record(actor=nina, session=running, scale="cadss", answers=[5] * 23)
        assert error.value.code == "answer_out_of_range"
        assert ScaleScore.objects.count() == 2


def recovering_session(*, alice, nina, session, lot, ended_minutes_ago: int, cadss: int | None = 0):
    """A 40-min infusion that ended ``ended_minutes_ago``, with a full record: the last set, the
    Aldrete and (unless ``cadss`` is None) a CADSS whose items sum to ``cadss``, 2 min ago."""
    administration = start_dosing(
        prescriber=alice, nurse=nina, session=session, lot=lot, minutes_ago=ended_minutes_ago + 40
    )
    start = administration.started_at
    vitals_record(actor=nina, session=session, observations=vitals_set(start - timedelta(minutes=5)))
    vitals_record(actor=nina, session=session, observations=vitals_set(start + timedelta(minutes=20)))
    administration_complete(
        actor=nina, administration=administration, ended_at=start + timedelta(minutes=40), witness=alice
    )
    vitals_record(actor=nina, session=session, observations=vitals_set(ago(2)))
    scale_record(actor=nina, session=session, scale="aldrete", answers=[2, 2, 2, 2, 2], observed_at=ago(2))
    if cadss is not None:
        answers = [min(4, max(0, cadss - 4 * i)) for i in range(23)]
        scale_record(actor=nina, session=session, scale="cadss", answers=answers, observed_at=ago(2))
    session.refresh_from_db()
    assert session.status == "recovering"
    return session


class TestDischarge:
    def test_refused_before_the_minimum_observation_time_with_the_reason(
        self, alice, nina, cleared_session, lot_50
    ):
        session = recovering_session(
            alice=alice, nina=nina, session=cleared_session, lot=lot_50, ended_minutes_ago=30
        )
        with pytest.raises(WorkflowConflict) as error:
            session_discharge(actor=nina, session=session, escort_confirmed=True, driving_advice_given=True)
        assert error.value.code == "discharge_criteria_unmet"
        assert "Minimum observation time (30 min; needs" in error.value.message
        session.refresh_from_db()
        assert session.status == "recovering" and Discharge.objects.count() == 0

    def test_allowed_after_it_when_the_criteria_hold(self, alice, nina, cleared_session, lot_50):
        session = recovering_session(
            alice=alice, nina=nina, session=cleared_session, lot=lot_50, ended_minutes_ago=125
        )
        discharge = session_discharge(
            actor=nina, session=session, escort_confirmed=True, driving_advice_given=True
        )
        session.refresh_from_db()
        assert session.status == "discharged" and discharge.criteria_met
        assert all(c["met"] for c in discharge.criteria) and len(discharge.criteria) == 8
        assert discharge.ready_at is not None and discharge.ready_at_min_after_dosing_start >= 40
        assert SessionEvent.objects.filter(session=session, to_state="discharged").count() == 1
        assert audit_count(action="create", object_type="discharge", actor=nina) == 1

    def test_escort_missing_blocks_a_nurse_but_a_prescriber_may_override_with_a_reason(
        self, alice, nina, cleared_session, lot_50
    ):
        session = recovering_session(
            alice=alice, nina=nina, session=cleared_session, lot=lot_50, ended_minutes_ago=125
        )
        with pytest.raises(WorkflowConflict) as error:
            session_discharge(actor=nina, session=session, escort_confirmed=False, driving_advice_given=True)
        assert "Escort (no; needs an escort takes the patient home)" in error.value.message
        with pytest.raises(WorkflowConflict) as error:
            session_discharge(
                actor=nina,
                session=session,
                escort_confirmed=False,
                driving_advice_given=True,
                override_reason="taxi booked by the clinic",
            )
        assert error.value.code == "override_requires_prescriber"
        discharge = session_discharge(
            actor=alice,
            session=session,
            escort_confirmed=False,
            driving_advice_given=True,
            override_reason="taxi booked by the clinic",
        )
        assert not discharge.criteria_met and discharge.override_reason == "taxi booked by the clinic"

    def test_only_a_recovering_session_is_discharged(self, nina, running):
        with pytest.raises(WorkflowConflict) as error:
            session_discharge(actor=nina, session=running, escort_confirmed=True, driving_advice_given=True)
        assert error.value.code == "session_not_recovering"


class TestOverdueSweep:
    def test_a_missed_check_raises_one_vitals_overdue_alert_until_vitals_are_recorded(self, nina, running):
        from io import StringIO

        from django.core.management import call_command

        from kapstone.monitoring.services import vitals_overdue_sweep

        out = StringIO()
        call_command("monitoring_overdue", "--json", stdout=out)
        assert '"raised": 0' in out.getvalue()  # dosing began 8 min ago: the T+10 check is not yet due
        later = timezone.now() + timedelta(minutes=10)
        raised = vitals_overdue_sweep(now=later)
        assert [(a.code, a.severity) for a in raised] == [("vitals_overdue", "warning")]
        assert "T+10 min" in raised[0].message
        assert vitals_overdue_sweep(now=later) == []  # one episode, not one per sweep
        assert audit_count(action="create", object_type="alert", actor_label="system:monitoring_overdue") == 1
        vitals_record(actor=nina, session=running, observations=vitals_set(ago(0.2)))
        alert = Alert.objects.get(session=running, code="vitals_overdue")
        assert alert.status == "resolved"
