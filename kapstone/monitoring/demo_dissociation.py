"""Demo: a patient recovering today whose discharge waits for dissociation to resolve.

Issue 14 asks the demo to show the REMS objective at work: the patient has been observed for two
hours, the vital signs are back to baseline, MOAA/S 5 and modified Aldrete 10, but the CADSS taken
after the dose still shows dissociation, so the discharge page says "Discharge waits for
dissociation to resolve" and a discharge is refused with ``dissociation_not_resolved``.

One of today's dosing sessions still scheduled is walked, relative to the moment of seeding,
through check-in, the day-of checks, the order, its verification, the baseline set, the dose and
its end, recovery checks every 15 minutes, the Aldrete and two CADSS after the dose (the later one
lower but not resolved), and left recovering. Everything goes through the services a bedside uses.
Idempotent: nothing is done when one of today's sessions is already recovering.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from kapstone.accounts.models import Clinic, User
from kapstone.care.demo import PASSING, local_midnight, today_times
from kapstone.care.models import CareSession
from kapstone.care.services import day_of_checks_record, session_transition
from kapstone.domain.errors import DomainError
from kapstone.domain.sessions import RECOVERING, SCHEDULED
from kapstone.dosing.liver_demo import liver_tests_if_needed
from kapstone.dosing.services import (
    administration_complete,
    administration_start,
    dose_order_create,
    dose_order_verify,
)
from kapstone.inventory.models import Lot
from kapstone.monitoring.services import scale_record, vitals_record
from kapstone.patients.services import measurement_record

SOURCE = "demo-monitor-02"

#: Minutes before the seeding moment: check-in, day-of checks, order, verification, baseline,
#: start of dosing (the dose then ends by its route; recovery sets follow every 15 min).
STEPS_BEFORE_NOW = (215, 210, 205, 200, 195, 190)
#: CADSS totals after the dose (0–92): marked at the end of dosing, lower but not resolved now.
CADSS_AFTER_DOSE = (38, 11)


def _vitals(at: datetime, *, moaas: int | None = None, aldrete: int | None = None) -> list[dict]:
    values: dict[str, object] = {
        "systolic_bp": 124,
        "diastolic_bp": 76,
        "heart_rate": 72,
        "spo2": 98,
        "respiratory_rate": 14,
        "temperature": Decimal("36.7"),
    }
    if moaas is not None:
        values["moaas"] = moaas
    if aldrete is not None:
        values["aldrete_total"] = aldrete
    return [{"code": code, "value": value, "observed_at": at} for code, value in values.items()]


def _answers(total: int) -> list[int]:
    """23 CADSS item answers (0–4) summing to ``total``."""
    return [min(4, max(0, total - 4 * i)) for i in range(23)]


def seed_discharge_waiting_on_dissociation(
    *, clinic: Clinic, nurse: User, prescriber: User, today: date
) -> CareSession | None:
    """Leave one of today's scheduled dosing sessions recovering with an unresolved CADSS (see the
    module docstring); returns it, or None when there is none to use or one already recovers."""
    today_dosing = CareSession.objects.filter(clinic=clinic, kind="dosing", scheduled_date=today)
    if today_dosing.filter(status=RECOVERING).exists():
        return None
    session = today_dosing.filter(status=SCHEDULED).order_by("-start_time", "-id").first()
    if session is None or not session.dose_rule:
        return None
    now = timezone.now()
    checked_in, checked, ordered, verified, baseline, started = today_times(
        now=now, earliest=local_midnight(clinic, now), minutes_before=STEPS_BEFORE_NOW
    )
    try:
        with transaction.atomic():
            return _walk(
                session,
                nurse,
                prescriber,
                today,
                (checked_in, checked, ordered, verified, baseline, started),
                now,
            )
    except DomainError:
        return None  # e.g. no lot could supply the dose: the rest of the demo stands


def _walk(session, nurse, prescriber, today, steps, now) -> CareSession:
    checked_in, checked, ordered, verified, baseline, started = steps
    session.start_time = (
        checked_in.astimezone(ZoneInfo(session.clinic.timezone)).time().replace(second=0, microsecond=0)
    )
    session.save(update_fields=["start_time"])
    session = session_transition(actor=nurse, session=session, to="checked_in", at=checked_in)
    day_of_checks_record(actor=nurse, session=session, inputs=PASSING, at=checked)
    session.refresh_from_db()
    measurement_record(
        actor=prescriber, patient=session.patient, weight_kg="74", height_cm=None, measured_at=checked
    )
    liver_tests_if_needed(session, nurse)  # the liver gate asks for a recent panel before dosing
    route = session.dose_rule["route"]
    order = dose_order_create(
        actor=prescriber,
        session=session,
        mg_per_kg=session.dose_rule["mg_per_kg"],
        concentration_mg_per_ml="50",
        bag_ml="100" if route == "iv" else None,
        at=ordered,
    )
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
        raise DomainError("no_lot", "No lot can supply the demo dose.")
    vitals_record(
        actor=nurse, session=session, source=SOURCE, observations=_vitals(baseline, moaas=5), now=baseline
    )
    administration = administration_start(
        actor=nurse, order=order, lot=lot, started_at=started, bolus_given=order.bolus_mg is not None
    )
    ended = started + timedelta(minutes=int(order.over_min or 1))
    at = started
    while at + timedelta(minutes=10) < ended:
        at += timedelta(minutes=10)
        vitals_record(actor=nurse, session=session, source=SOURCE, observations=_vitals(at, moaas=4), now=at)
    administration_complete(actor=nurse, administration=administration, ended_at=ended, witness=prescriber)
    session.refresh_from_db()
    at = ended
    last = now - timedelta(minutes=5)
    while at + timedelta(minutes=15) <= last:
        at += timedelta(minutes=15)
        moaas = 5 if at > ended + timedelta(minutes=30) else 4
        vitals_record(
            actor=nurse, session=session, source=SOURCE, observations=_vitals(at, moaas=moaas), now=at
        )
    scale_record(actor=nurse, session=session, scale="aldrete", answers=[2, 2, 2, 2, 2], observed_at=last)
    for when, total in zip(
        (ended + timedelta(minutes=5), now - timedelta(minutes=8)), CADSS_AFTER_DOSE, strict=True
    ):
        scale_record(actor=nurse, session=session, scale="cadss", answers=_answers(total), observed_at=when)
    session.refresh_from_db()
    return session
