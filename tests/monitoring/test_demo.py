"""The demo's monitoring data: past sessions get a record, today one session is being monitored."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

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


def test_today_a_session_recovers_with_its_discharge_waiting_on_dissociation(
    alice, nina, clinic_a, course_a, lot_50
):
    from kapstone.monitoring import selectors
    from kapstone.monitoring.demo_dissociation import seed_discharge_waiting_on_dissociation
    from tests.dosing.conftest import first_dosing

    # The scenario places dosing 3.5 h before now, within the clinic's today: put the clinic in
    # a zone where it is at least 4 h past midnight now (New York's small hours would leave no
    # room, and the seed then rightly places nothing).
    clinic_a.timezone = next(
        zone
        for zone in ("America/New_York", "Europe/London", "Asia/Tokyo", "America/Los_Angeles")
        if 4 <= timezone.now().astimezone(ZoneInfo(zone)).hour <= 22
    )
    clinic_a.save(update_fields=["timezone"])
    session = first_dosing(course_a)
    session.scheduled_date = clinic_today(clinic_a)
    session.save(update_fields=["scheduled_date"])
    seeded = seed_discharge_waiting_on_dissociation(
        clinic=clinic_a, nurse=nina, prescriber=alice, today=clinic_today(clinic_a)
    )
    assert seeded == session
    session.refresh_from_db()
    assert session.status == "recovering"
    evaluation = selectors.discharge_evaluation(
        session=session, now=timezone.now(), escort_confirmed=True, driving_advice_given=True
    )
    assert [c.code for c in evaluation.unmet] == ["dissociation_resolved"]  # only dissociation waits
    assert next(c for c in evaluation.criteria if c.code == "dissociation_resolved").value == "CADSS 11 of 92"
    assert Observation.objects.filter(session=session, observed_at__gt=timezone.now()).count() == 0
    count = Observation.objects.count()
    assert (
        seed_discharge_waiting_on_dissociation(
            clinic=clinic_a, nurse=nina, prescriber=alice, today=clinic_today(clinic_a)
        )
        is None
    )
    assert Observation.objects.count() == count  # idempotent
