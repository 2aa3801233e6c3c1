"""Issue 11, defect 4: every session of the seeded demo happens in the clinic's order of events.

scheduled time ≤ check-in ≤ day-of checks ≤ order ≤ verification ≤ administration start ≤ rate
events ≤ end ≤ discharge; a complete baseline set before the start; vital signs after the start
of the baseline window and not after the discharge; nothing in the future."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from kapstone.care.demo import local_midnight, today_times
from kapstone.care.models import CareSession, DayOfCheck, SessionEvent
from kapstone.demo.seed import seed_demo
from kapstone.dosing.models import Administration, DoseOrder
from kapstone.monitoring.models import Observation
from kapstone.monitoring.selectors import baseline_check, monitoring_protocol

pytestmark = [pytest.mark.django_db, pytest.mark.full_demo]


def scheduled(session: CareSession) -> datetime | None:
    if session.start_time is None:
        return None
    return datetime.combine(
        session.scheduled_date, session.start_time, tzinfo=ZoneInfo(session.clinic.timezone)
    )


def in_order(where: str, steps: list[tuple[str, datetime | None]]) -> None:
    """Each named time is at or after every earlier one (steps without a time are skipped)."""
    seen: list[tuple[str, datetime]] = []
    for name, at in steps:
        if at is None:
            continue
        for earlier, earlier_at in seen:
            assert earlier_at <= at, (
                f"{where}: {name} {at.isoformat()} is before {earlier} {earlier_at.isoformat()}"
            )
        seen.append((name, at))


def test_every_session_of_the_demo_follows_the_order_of_events():
    seed_demo(patients_per_clinic=10, follow_up_per_protocol=1)
    now = timezone.now()
    sessions = list(CareSession.objects.select_related("clinic", "course").exclude(status="scheduled"))
    assert sessions
    dosed = in_progress_today = 0
    for session in sessions:
        where = f"session {session.pk} ({session.kind}, {session.scheduled_date}, {session.status})"
        moves = list(SessionEvent.objects.filter(session=session, kind="transition").order_by("id"))
        # Recorded one after the other, each at or after the previous.
        in_order(where, [(f"move to {m.to_state}", m.at) for m in moves])
        first = {}
        for move in moves:
            first.setdefault(move.to_state, move.at)
        discharged = first.get("discharged")
        steps = [("scheduled time", scheduled(session)), ("check-in", first.get("checked_in"))]
        if session.kind != "dosing":
            in_order(where, [*steps, ("start", first.get("in_progress")), ("end", discharged)])
            continue
        checks = DayOfCheck.objects.filter(session=session).order_by("recorded_at")
        steps += [("day-of checks", c.recorded_at) for c in checks]
        order = DoseOrder.objects.filter(session=session).exclude(status="voided").first()
        administration = Administration.objects.filter(order=order).first() if order else None
        if order is not None:
            steps += [("order", order.ordered_at), ("verification", order.verified_at)]
        if administration is not None:
            dosed += 1
            events = list(administration.rate_events.order_by("at", "id"))
            steps += [("administration start", administration.started_at)]
            # The pump's stop is recorded at the end as charted; an amendment may correct the end.
            steps += [(f"rate {e.kind}", e.at) for e in events if e.kind != "stop"]
            steps += [("end", administration.ended_at)]
            assert administration.overrides.count() == 0, where
            assert baseline_check(session, administration.started_at).complete, where
            window = timedelta(minutes=monitoring_protocol(session).baseline_window_min)
            observed = list(Observation.objects.filter(session=session).values_list("observed_at", flat=True))
            assert observed, where
            assert min(observed) >= administration.started_at - window, where
            if discharged is not None:
                assert max(observed) <= discharged, where
                assert all(e.at <= discharged for e in events), where
            if session.status == "in_progress" and session.scheduled_date == timezone.localdate(
                now, ZoneInfo(session.clinic.timezone)
            ):
                in_progress_today += 1
        steps += [("discharge", discharged)]
        in_order(where, steps)
        # Nothing in the future.
        recorded = [t for _, t in steps if t is not None]
        recorded += list(Observation.objects.filter(session=session).values_list("observed_at", flat=True))
        assert all(t <= now for t in recorded), where
    assert dosed and in_progress_today
    # The patient in the chair is N-1004 / R-1004, as docs/interop.md and `kapstone hl7 simulate
    # --mrn N-1004` say, in each clinic.
    chairs = CareSession.objects.filter(kind="dosing", status="in_progress").select_related(
        "patient", "clinic"
    )
    assert {(s.clinic.slug, s.patient.mrn) for s in chairs} == {("north", "N-1004"), ("river", "R-1004")}


class TestTodayTimes:
    """Today's sessions are placed relative to the moment of seeding, never before midnight."""

    NOW = datetime(2026, 3, 10, 18, 30, tzinfo=ZoneInfo("UTC"))  # 14:30 in New York

    def test_in_the_day_the_times_are_as_asked(self):
        times = today_times(
            now=self.NOW, earliest=self.NOW - timedelta(hours=14), minutes_before=[60, 55, 45]
        )
        assert times == [self.NOW - timedelta(minutes=m) for m in (60, 55, 45)]

    def test_just_after_midnight_they_are_squeezed_after_it_in_order(self):
        now = datetime(2026, 3, 10, 4, 10, tzinfo=ZoneInfo("UTC"))  # 00:10 in New York (EDT)

        class Clinic:
            timezone = "America/New_York"

        midnight = local_midnight(Clinic, now)
        assert midnight.astimezone(ZoneInfo("America/New_York")).time() == time(0, 0)
        times = today_times(now=now, earliest=midnight, minutes_before=[60, 55, 45])
        assert midnight <= times[0] < times[1] < times[2] <= now
        assert times[0] == midnight
