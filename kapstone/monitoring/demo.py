"""Demo monitoring: vitals and scores for the demo's past dosing sessions, and one session in
progress today with a history of vitals and an open alert (on the live board).

Past sessions are recorded batch by batch through the same storage and alert evaluation as a
live bedside (``services.vitals_record`` with a past ``now``), with the dose (:func:`monitored_dose_giver`):
the baseline set before the start (the dosing service refuses a start without it), then every
check of the schedule until the observation ends, before the patient is discharged. Today's
session is ordered, checked, baselined and started in that order, relative to the moment of
seeding and never before its day-of checks. Idempotent: sessions already recorded are skipped.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from kapstone.accounts.models import Clinic, User
from kapstone.care.demo import DISCHARGE_AFTER_END_MIN, PASSING, today_times
from kapstone.care.models import CareSession, DayOfCheck
from kapstone.care.services import day_of_checks_record, session_last_move
from kapstone.domain.errors import DomainError
from kapstone.domain.sessions import CHECKED_IN, CLEARED, IN_PROGRESS
from kapstone.dosing.demo import dose_giver
from kapstone.dosing.liver_demo import liver_tests_if_needed
from kapstone.dosing.models import Administration
from kapstone.dosing.services import administration_start, dose_order_create, dose_order_verify
from kapstone.inventory.models import Lot
from kapstone.monitoring import selectors
from kapstone.monitoring.models import Observation, ScaleScore
from kapstone.monitoring.services import vitals_record
from kapstone.patients.services import measurement_record

SOURCE = "demo-monitor-01"


def _set(
    rng: random.Random, at: datetime, *, systolic: int, heart_rate: int, moaas: int | None = None
) -> list[dict]:
    values = {
        "systolic_bp": systolic,
        "diastolic_bp": int(systolic * 0.6) + rng.randint(-3, 3),
        "heart_rate": heart_rate,
        "spo2": rng.randint(96, 99),
        "respiratory_rate": rng.randint(12, 17),
        "temperature": Decimal(rng.randint(363, 372)) / 10,
    }
    if moaas is not None:
        values["moaas"] = moaas
    return [{"code": code, "value": value, "observed_at": at} for code, value in values.items()]


#: The last recovery set is taken this long after the end of dosing (the 120-min observation);
#: the demo discharges the patient after it (``care.demo.DISCHARGE_AFTER_END_MIN``).
RECOVERY_MIN = 120
assert RECOVERY_MIN < DISCHARGE_AFTER_END_MIN


def _baseline_values(rng: random.Random) -> tuple[int, int]:
    return rng.randint(112, 134), rng.randint(62, 80)


def _record_baseline(session: CareSession, at: datetime, nurse: User, rng: random.Random) -> None:
    """The pre-dose set (MOAA/S 5) at ``at``, as the bedside records it before the start."""
    systolic, heart_rate = _baseline_values(rng)
    vitals_record(
        actor=nurse,
        session=session,
        observations=_set(rng, at, systolic=systolic, heart_rate=heart_rate, moaas=5),
        source=SOURCE,
        now=at + timedelta(seconds=30),
    )


def _past_record(
    session: CareSession, administration: Administration, nurse: User, rng: random.Random
) -> None:
    """Baseline (unless recorded before the start), every 10 min during dosing, every 15 min
    for two hours after, then the Aldrete."""
    start, end = administration.started_at, administration.ended_at
    baseline = {
        o.code: int(o.value)
        for o in Observation.objects.filter(
            session=session,
            voided_at__isnull=True,
            observed_at__lte=start,
            code__in=("systolic_bp", "heart_rate"),
        )
    }
    if len(baseline) == 2:
        base_sbp, base_hr = baseline["systolic_bp"], baseline["heart_rate"]
        times = []
    else:
        base_sbp, base_hr = _baseline_values(rng)
        times = [start - timedelta(minutes=5)]
    peak = rng.randint(12, 38)  # the BP rise peaks ~40 min after the start (label)
    at = start
    while at + timedelta(minutes=10) <= end:
        at += timedelta(minutes=10)
        times.append(at)
    at = end
    while at + timedelta(minutes=15) <= end + timedelta(minutes=RECOVERY_MIN):
        at += timedelta(minutes=15)
        times.append(at)
    for index, at in enumerate(times):
        minutes = (at - start).total_seconds() / 60
        rise = 0 if minutes <= 0 else int(peak * max(0.0, 1 - abs(minutes - 40) / 60))
        moaas = 5 if minutes <= 0 or at > end + timedelta(minutes=30) else rng.choice((4, 5, 5))
        batch = _set(rng, at, systolic=base_sbp + rise, heart_rate=base_hr + rise // 3, moaas=moaas)
        last = index == len(times) - 1
        if last:
            batch.append({"code": "aldrete_total", "value": 10, "observed_at": at})
        vitals_record(
            actor=nurse, session=session, observations=batch, source=SOURCE, now=at + timedelta(seconds=30)
        )
        if last:
            aldrete = Observation.objects.filter(
                session=session, code="aldrete_total", observed_at=at
            ).latest("pk")
            ScaleScore.objects.create(
                session=session,
                patient_id=session.patient_id,
                clinic_id=session.clinic_id,
                scale="aldrete",
                answers={
                    "activity": 2,
                    "respiration": 2,
                    "circulation": 2,
                    "consciousness": 2,
                    "oxygen_saturation": 2,
                },
                total=10,
                scoring_version="aldrete-modified@1",
                observation_id=aldrete.pk,
                observed_at=at,
                entered_by=nurse,
                entered_at=at + timedelta(seconds=30),
            )


#: Minutes before the seeding moment of each step of today's dose: ordered, verified, the
#: baseline set, the start, two sets during dosing and the last (alerting) set.
TODAY_DOSE = (40, 35, 30, 25, 15, 5, 1)


def _today_timeline(session: CareSession) -> list[datetime]:
    """:data:`TODAY_DOSE` as times, after the session's latest step (its day-of checks)."""
    last = session_last_move(session)
    checks = DayOfCheck.objects.filter(session=session).order_by("-recorded_at").first()
    earliest = max(t for t in (last.at if last else None, checks.recorded_at if checks else None) if t)
    return today_times(now=timezone.now(), earliest=earliest, minutes_before=TODAY_DOSE)


def _start_today(
    session: CareSession, *, nurse: User, prescriber: User, today: date, rng: random.Random
) -> tuple[Administration, list[datetime]] | None:
    """Take today's cleared (or checked-in) dosing session into dosing, started 25 min before
    the moment of seeding: ordered, verified and baselined before that, each after the step
    before it (brought closer to now when the session was checked in only just before)."""
    if session.status == CHECKED_IN:
        checked_in = session_last_move(session).at
        day_of_checks_record(
            actor=nurse,
            session=session,
            inputs=PASSING,
            at=checked_in + (timezone.now() - checked_in) / 4,
        )
        session.refresh_from_db()
    if session.status != CLEARED:
        return None
    ordered, verified, baseline, started, *later = _today_timeline(session)
    liver_tests_if_needed(session, nurse)
    order_fields = {
        "actor": prescriber,
        "session": session,
        "mg_per_kg": session.dose_rule["mg_per_kg"],
        "concentration_mg_per_ml": "50",
        "bag_ml": "100" if session.dose_rule["route"] == "iv" else None,
        "at": ordered,
    }
    try:
        order = dose_order_create(**order_fields)
    except DomainError:
        # Re-weighed at check-in, before the order.
        measurement_record(
            actor=prescriber, patient=session.patient, weight_kg="74", height_cm=None,
            measured_at=ordered - timedelta(minutes=1),
        )  # fmt: skip
        order = dose_order_create(**order_fields)
    dose_order_verify(
        actor=nurse, order=order, weight_kg=order.weight_kg, concentration_mg_per_ml="50", at=verified
    )
    lot = (
        Lot.objects.filter(
            clinic_id=session.clinic_id,
            product__strength_mg_per_ml=Decimal("50"),
            expiry__gt=today,
            balance_mg__gte=order.dose_mg,
        )
        .order_by("expiry")
        .first()
    )
    if lot is None:
        return None
    vitals_record(
        actor=nurse,
        session=session,
        source=SOURCE,
        observations=_set(rng, baseline, systolic=126, heart_rate=74, moaas=5),
    )
    administration = administration_start(
        actor=nurse, order=order, lot=lot, started_at=started, bolus_given=order.bolus_mg is not None
    )
    return administration, later


def _today_record(session: CareSession, times: list[datetime], nurse: User, rng: random.Random) -> None:
    """A rising blood pressure: after the baseline, two sets during dosing (T+10 and T+20 when
    seeded in the day), then a set at the hypertension warning level a minute before the seed,
    left unacknowledged (an open alert, escalating on the board)."""
    during, last = times[:-1], times[-1]
    for at, systolic, heart_rate in zip(during, (138, 150), (80, 86), strict=True):
        vitals_record(
            actor=nurse,
            session=session,
            source=SOURCE,
            observations=_set(rng, at, systolic=systolic, heart_rate=heart_rate, moaas=4),
        )
    vitals_record(
        actor=nurse,
        session=session,
        source=SOURCE,
        observations=_set(rng, last, systolic=172, heart_rate=104, moaas=4),
    )


def monitored_dose_giver(
    *, prescriber: User, nurse: User, rng: random.Random, vitals_rng: random.Random
) -> Callable[[CareSession], datetime | None]:
    """The dosing demo's dose giver with the bedside record around it: the baseline set before
    the start, and after the dose every check until the observation ends, then the Aldrete.
    ``rng`` decides the doses (as before), ``vitals_rng`` the readings."""
    give = dose_giver(
        prescriber=prescriber,
        nurse=nurse,
        rng=rng,
        before_start=lambda session, at: _record_baseline(session, at, nurse, vitals_rng),
    )

    def give_and_monitor(session: CareSession) -> datetime | None:
        ended = give(session)
        if ended is not None:
            administration = selectors.administration_for_session(session)
            with transaction.atomic():
                _past_record(session, administration, nurse, vitals_rng)
        return ended

    return give_and_monitor


def seed_monitoring(*, clinic: Clinic, nurse: User, prescriber: User, today: date) -> None:
    """Vitals for every past dosing session of the clinic, and one session in progress today."""
    rng = random.Random(f"monitoring-{clinic.slug}")
    administrations = (
        Administration.objects.filter(
            order__clinic_id=clinic.pk, ended_at__isnull=False, order__session__kind="dosing"
        )
        .exclude(order__status="voided")
        .select_related("order__session")
        .order_by("started_at")
    )
    for administration in administrations:
        session = administration.order.session
        if Observation.objects.filter(session=session, observed_at__gt=administration.started_at).exists():
            continue  # recorded with its dose (monitored_dose_giver) or by an earlier seed
        with transaction.atomic():
            _past_record(session, administration, nurse, rng)

    today_sessions = CareSession.objects.filter(clinic=clinic, kind="dosing", scheduled_date=today)
    if Observation.objects.filter(session__in=today_sessions, session__status=IN_PROGRESS).exists():
        return
    session = (
        today_sessions.filter(status=IN_PROGRESS).first()
        or today_sessions.filter(status=CLEARED).order_by("start_time", "id").first()
        or today_sessions.filter(status=CHECKED_IN).order_by("start_time", "id").first()
    )
    if session is None:
        return
    if selectors.administration_for_session(session) is not None:
        return  # dosed by an earlier seed
    with transaction.atomic():
        started = _start_today(session, nurse=nurse, prescriber=prescriber, today=today, rng=rng)
        if started is not None:
            _today_record(session, started[1], nurse, rng)
