"""Demo doses: every past dosing session of the demo gets an order, an independent check and an
administration record, written through the services (so the register is written too), each at
its time of that day (``care.demo.DOSING_STEPS``): ordered after the day-of checks, verified
after the order, started after the verification and the baseline set of vital signs.

In each clinic, the first dose given while two lots were in the safe is drawn from both (the first
vial finished from a second lot), and its record then gets one amendment with reason (the end
time, corrected). Both are decided by what the database already holds, so
seeding twice adds nothing."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.utils import timezone

from kapstone.accounts.models import User
from kapstone.care.demo import step_at
from kapstone.care.models import CareSession
from kapstone.care.services import course_protocol
from kapstone.domain.dosing import select_weight
from kapstone.domain.errors import WorkflowConflict
from kapstone.dosing.liver_demo import liver_tests_if_needed
from kapstone.dosing.models import AdministrationAmendment, AdministrationLot
from kapstone.dosing.services import (
    administration_amend,
    administration_complete,
    administration_rate_event,
    administration_start,
    dose_order_create,
    dose_order_verify,
    weight_moment,
)
from kapstone.inventory.models import Lot
from kapstone.inventory.services import lot_available_mg
from kapstone.patients.selectors import weight_in_force
from kapstone.patients.services import measurement_record


def archive_lot(*, clinic, admin: User, received_on: date, today: date) -> Lot:
    """The demo clinic's older stock: a 50 mg/mL lot received before the oldest demo course, so
    that every past dose is dispensed from a lot that was in the safe on that day."""
    from kapstone.inventory import services as inventory
    from kapstone.inventory.models import Product, StorageLocation

    number = f"{clinic.slug[:2].upper()}5Z0001"
    existing = Lot.objects.filter(clinic=clinic, lot_number=number).first()
    if existing is not None:
        return existing
    location = StorageLocation.objects.filter(clinic=clinic).order_by("id").first()
    product = Product.objects.filter(strength_mg_per_ml=Decimal("50")).order_by("id").first()
    # The register's internal entry point takes a past date (public callers always post "now").
    return inventory.lot_receive(
        actor=admin,
        clinic=clinic,
        location=location,
        product=product,
        lot_number=number,
        expiry=today + timedelta(days=120),
        amount_mg=product.mg_per_vial * 60,
        received_at=datetime.combine(received_on, time(9, 0), tzinfo=ZoneInfo(clinic.timezone)),
    )


def dose_giver(
    *,
    prescriber: User,
    nurse: User,
    rng: random.Random,
    before_start: Callable[[CareSession, datetime], None] | None = None,
) -> Callable[[CareSession], datetime | None]:
    """A function that gives the dose of a cleared demo dosing session, as the staff would, and
    returns when dosing ended (None when no lot could supply it).

    ``before_start(session, at)``: records the baseline set of vital signs at ``at``, before the
    start (the monitoring app's, which dosing may not import; without a baseline the start is
    refused)."""

    def give(session: CareSession) -> datetime | None:
        started = step_at(session, "started")
        _weigh_if_needed(session, prescriber)
        liver_tests_if_needed(session, nurse)
        # The lots that were in the safe that day: received before the session, not expired, with
        # enough in them then — not now: the dose is dated in the past, and the register places
        # it there (a balance at or after that time may not go below zero).
        candidates = (
            Lot.objects.filter(
                clinic_id=session.clinic_id,
                product__strength_mg_per_ml=Decimal("50"),
                expiry__gt=session.scheduled_date,
                entries__kind="receive",
                entries__occurred_at__lt=started,
            )
            .distinct()
            .order_by("expiry", "id")
        )
        in_safe = [item for item in candidates if lot_available_mg(lot=item, at=started) >= 300][:2]
        if not in_safe:
            return None
        lot = in_safe[0]
        order = dose_order_create(
            actor=prescriber,
            session=session,
            mg_per_kg=(session.dose_rule or {}).get("mg_per_kg"),
            concentration_mg_per_ml="50",
            bag_ml="100" if session.dose_rule["route"] == "iv" else None,
            at=step_at(session, "ordered"),
        )
        dose_order_verify(
            actor=nurse,
            order=order,
            weight_kg=order.weight_kg,
            concentration_mg_per_ml="50",
            at=step_at(session, "verified"),
        )
        if before_start is not None:
            before_start(session, step_at(session, "baseline"))
        two_lots = (
            len(in_safe) == 2
            and order.dose_mg > 30
            and not AdministrationLot.objects.filter(
                administration__order__clinic_id=session.clinic_id, position=2
            ).exists()
        )
        where = {"lots": [(lot, order.dose_mg - 20), (in_safe[1], Decimal(20))]} if two_lots else {"lot": lot}
        administration = administration_start(
            actor=nurse, order=order, started_at=started, bolus_given=order.bolus_mg is not None, **where
        )
        minutes = int(order.over_min or 1)
        stopped = order.route == "iv" and rng.random() < 0.12
        if order.route == "iv" and rng.random() < 0.25:
            pause = started + timedelta(minutes=min(18, minutes - 5))
            administration_rate_event(
                actor=nurse,
                administration=administration,
                kind="pause",
                at=pause,
                reason="Blood pressure above 160 systolic; rechecked after 5 minutes.",
            )
            administration_rate_event(
                actor=nurse, administration=administration, kind="resume", at=pause + timedelta(minutes=5)
            )
            minutes += 5
        ended = started + timedelta(minutes=minutes - (12 if stopped else 0))
        administration_complete(
            actor=nurse,
            administration=administration,
            ended_at=ended,
            witness=prescriber,
            stopped_early=stopped,
            stop_reason="Patient distressed by dissociation; stopped after discussion." if stopped else "",
        )
        if (
            two_lots
            and not AdministrationAmendment.objects.filter(
                administration__order__clinic_id=session.clinic_id
            ).exists()
        ):
            infusion = order.route == "iv"
            administration_amend(
                actor=nurse,
                administration=administration,
                field="ended_at",
                new_value=ended + timedelta(minutes=-2 if infusion else 1),
                reason="The pump log shows the infusion ended two minutes before the time charted."
                if infusion
                else "The injection was finished a minute later than charted (second vial drawn up).",
            )
        administration.refresh_from_db()
        return administration.ended_at

    return give


def _weigh_if_needed(session: CareSession, actor: User) -> None:
    """Demo patients were weighed at registration; re-weigh them on the day when that is too old
    (the weight in force at the session, by the same rule the order uses)."""
    tz = ZoneInfo(session.clinic.timezone)
    at = weight_moment(session)
    in_force = weight_in_force(patient=session.patient_id, at=at)
    try:
        select_weight(
            [(in_force.measured_at, in_force.pk, in_force.weight_kg)] if in_force else [],
            at=at,
            session_date=session.scheduled_date,
            tz=tz,
            max_age_days=course_protocol(session.course).weight_max_age_days,
        )
    except WorkflowConflict:
        pass
    else:
        return
    any_weight = weight_in_force(patient=session.patient_id)
    # Weighed on arrival, half an hour before the session starts (never in the future).
    arrival = datetime.combine(session.scheduled_date, session.start_time or time(9, 0), tzinfo=tz)
    measurement_record(
        actor=actor,
        patient=session.patient,
        weight_kg=any_weight.weight_kg if any_weight else Decimal("75"),
        height_cm=None,
        measured_at=min(arrival - timedelta(minutes=30), timezone.now()),
    )
