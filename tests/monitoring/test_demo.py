"""The demo's monitoring data: past sessions get a record, today one session is being monitored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kapstone.dosing.services import administration_complete
from kapstone.monitoring.demo import seed_monitoring
from kapstone.monitoring.models import Alert, Observation, ScaleScore
from kapstone.patients.services import clinic_today
from tests.monitoring.conftest import start_dosing

pytestmark = pytest.mark.django_db


def test_today_a_cleared_session_is_dosed_with_vitals_and_an_open_alert(
    alice, nina, clinic_a, cleared_session, lot_50
):
    seed_monitoring(clinic=clinic_a, nurse=nina, prescriber=alice, today=clinic_today(clinic_a))
    cleared_session.refresh_from_db()
    assert cleared_session.status == "in_progress"
    assert Observation.objects.filter(session=cleared_session).values("observed_at").distinct().count() == 4
    assert Alert.objects.filter(
        session=cleared_session, resolved_at__isnull=True, acknowledged_at__isnull=True
    ).exists()
    count = Observation.objects.count()
    seed_monitoring(clinic=clinic_a, nurse=nina, prescriber=alice, today=clinic_today(clinic_a))
    assert Observation.objects.count() == count  # idempotent


def test_a_past_session_gets_a_full_record_with_the_aldrete(alice, nina, clinic_a, cleared_session, lot_50):
    administration = start_dosing(
        prescriber=alice, nurse=nina, session=cleared_session, lot=lot_50, minutes_ago=200
    )
    administration_complete(
        actor=nina,
        administration=administration,
        ended_at=administration.started_at + timedelta(minutes=40),
        witness=alice,
    )
    seed_monitoring(clinic=clinic_a, nurse=nina, prescriber=alice, today=clinic_today(clinic_a))
    observations = Observation.objects.filter(session=cleared_session)
    assert observations.filter(code="systolic_bp").count() == 1 + 4 + 8  # baseline, during, two hours after
    assert observations.filter(observed_at__gt=timezone.now()).count() == 0
    assert ScaleScore.objects.get(session=cleared_session).total == 10
    assert not Alert.objects.filter(session=cleared_session, resolved_at__isnull=True).exists()
