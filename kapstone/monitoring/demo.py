"""Demo monitoring: vitals and scores for the demo's past dosing sessions, and one session in
progress today with a history of vitals and an open alert (on the live board).

Past sessions are recorded batch by batch through the same storage and alert evaluation as a
live bedside (``services._store_batch``, the internal entry point that takes a past ``now``;
public callers always record at the real time). Idempotent: sessions that already have
observations are skipped.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from kapstone.accounts.models import Clinic, User
from kapstone.care.demo import PASSING
from kapstone.care.models import CareSession
from kapstone.care.services import day_of_checks_record
from kapstone.domain.errors import DomainError
from kapstone.domain.sessions import CHECKED_IN, CLEARED, IN_PROGRESS
from kapstone.dosing.models import Administration
from kapstone.dosing.services import administration_start, dose_order_create, dose_order_verify
from kapstone.inventory.models import Lot
from kapstone.monitoring import selectors
from kapstone.monitoring.models import Observation, ScaleScore
from kapstone.monitoring.services import _store_batch, vitals_record
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


def _past_record(
    session: CareSession, administration: Administration, nurse: User, rng: random.Random
) -> None:
    """Baseline, every 10 min during dosing, every 15 min for two hours after, then the Aldrete."""
    start, end = administration.started_at, administration.ended_at
    base_sbp, base_hr = rng.randint(112, 134), rng.randint(62, 80)
    peak = rng.randint(12, 38)  # the BP rise peaks ~40 min after the start (label)
    times = [start - timedelta(minutes=5)]
    at = start
    while at + timedelta(minutes=10) <= end:
        at += timedelta(minutes=10)
        times.append(at)
    at = end
    while at + timedelta(minutes=15) <= end + timedelta(minutes=120):
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
        _, ids = _store_batch(
            actor=nurse, session=session, observations=batch, source=SOURCE, now=at + timedelta(seconds=30)
        )
        if last:
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
                observation_id=ids[-1],
                observed_at=at,
                entered_by=nurse,
                entered_at=at + timedelta(seconds=30),
            )


def _start_today(
    session: CareSession, *, nurse: User, prescriber: User, today: date
) -> Administration | None:
    """Take today's cleared (or checked-in) dosing session into dosing, started 25 min ago."""
    if session.status == CHECKED_IN:
        day_of_checks_record(actor=nurse, session=session, inputs=PASSING)
        session.refresh_from_db()
    if session.status != CLEARED:
        return None
    try:
        order = dose_order_create(
            actor=prescriber,
            session=session,
            mg_per_kg=session.dose_rule["mg_per_kg"],
            concentration_mg_per_ml="50",
            bag_ml="100" if session.dose_rule["route"] == "iv" else None,
        )
    except DomainError:
        measurement_record(actor=prescriber, patient=session.patient, weight_kg="74", height_cm=None)
        order = dose_order_create(
            actor=prescriber,
            session=session,
            mg_per_kg=session.dose_rule["mg_per_kg"],
            concentration_mg_per_ml="50",
            bag_ml="100" if session.dose_rule["route"] == "iv" else None,
        )
    dose_order_verify(actor=nurse, order=order, weight_kg=order.weight_kg, concentration_mg_per_ml="50")
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
    return administration_start(
        actor=nurse,
        order=order,
        lot=lot,
        started_at=timezone.now() - timedelta(minutes=25),
        bolus_given=order.bolus_mg is not None,
    )


def _today_record(
    session: CareSession, administration: Administration, nurse: User, rng: random.Random
) -> None:
    """A rising blood pressure: baseline, T+10 and T+20 normal-ish, then a set at the hypertension
    warning level a minute ago, left unacknowledged (an open alert, escalating on the board)."""
    start = administration.started_at
    for offset, systolic, heart_rate in ((-8, 126, 74), (10, 138, 80), (20, 150, 86)):
        vitals_record(
            actor=nurse,
            session=session,
            source=SOURCE,
            observations=_set(
                rng,
                start + timedelta(minutes=offset),
                systolic=systolic,
                heart_rate=heart_rate,
                moaas=5 if offset < 0 else 4,
            ),
        )
    vitals_record(
        actor=nurse,
        session=session,
        source=SOURCE,
        observations=_set(rng, timezone.now() - timedelta(minutes=1), systolic=172, heart_rate=104, moaas=4),
    )


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
        if Observation.objects.filter(session=session).exists():
            continue
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
    with transaction.atomic():
        administration = selectors.administration_for_session(session)
        if administration is None:
            administration = _start_today(session, nurse=nurse, prescriber=prescriber, today=today)
        if administration is not None:
            _today_record(session, administration, nurse, rng)
