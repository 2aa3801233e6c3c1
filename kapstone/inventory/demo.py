"""Demo register: a safe, two ketamine products, a few lots and a month of history.

Called by ``kapstone seed_demo`` after the care demo (it looks for the clinic's past dosing
sessions). Every row is written by the register's own posting code, so balances, in-hand
amounts, constraints and the audit trail are real; but the history is dated in the past, so
entries are posted through the services' internal functions with a past time, in
chronological order, and dispenses to sessions that are long discharged skip the
"session is being dosed now" gate, which can only be checked on the day. Idempotent: a clinic
that already has lots is left alone.

The NDCs are made-up examples (labeler 99999), not real product codes.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import ROUND_CEILING, Decimal
from zoneinfo import ZoneInfo

from kapstone.accounts.models import Clinic, User
from kapstone.care.demo import step_at
from kapstone.care.models import CareSession
from kapstone.domain import register as rules
from kapstone.domain.errors import DomainError
from kapstone.inventory import services
from kapstone.inventory.models import CountLine, CountSession, Lot, Product, StorageLocation
from kapstone.patients.selectors import weight_in_force

# (name, example NDC, strength mg/mL, vial mL): two common ketamine HCl presentations.
PRODUCTS = (
    ("Ketamine HCl injection (demo product)", "99999-0501-10", Decimal("50"), Decimal("10")),
    ("Ketamine HCl injection (demo product)", "99999-1005-05", Decimal("100"), Decimal("5")),
)
DEFAULT_WEIGHT_KG = Decimal("70")


def _product(admin: User, name: str, ndc: str, strength: Decimal, volume: Decimal) -> Product:
    existing = Product.objects.filter(ndc=ndc).first()
    if existing is not None:
        return existing
    return services.product_create(
        actor=admin, name=name, ndc=ndc, strength_mg_per_ml=strength, vial_volume_ml=volume
    )


def _at(clinic: Clinic, day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(clinic.timezone))


def _dose_mg(session: CareSession) -> Decimal:
    """The session's dose from its protocol rule and the patient's weight in force (demo only)."""
    in_force = weight_in_force(patient=session.patient_id)
    weight = in_force.weight_kg if in_force is not None else DEFAULT_WEIGHT_KG
    mg_per_kg = Decimal(str((session.dose_rule or {}).get("mg_per_kg", "0.5")))
    return (weight * mg_per_kg).quantize(Decimal("0.1"))


def seed_inventory(
    *, clinic: Clinic, admin: User, nurse: User, prescriber: User, today: date, rng: random.Random
) -> list[tuple[datetime, Callable[[], object]]]:
    """A location, two products, four lots (one expiring soon, one expired and emptied), a
    month of receipts, dispenses, administrations and witnessed wastes for the clinic's past
    dosing sessions. The shift counts come at the end of the seed (:func:`seed_inventory_counts`).

    The opening receipts are written at once; what happened later in the month (a second
    delivery, the expired lot taken out of stock) is returned as ``(when, action)`` for the caller
    to run in time order with the rest of the demo's history (``care.demo.walk_past_sessions``),
    so that the register receives every entry in the order it happened."""
    if Lot.objects.filter(clinic=clinic).exists():
        return []
    safe = StorageLocation.objects.filter(
        clinic=clinic, name="Main safe"
    ).first() or services.location_create(actor=admin, clinic=clinic, name="Main safe")
    p50, p100 = (_product(admin, *spec) for spec in PRODUCTS)
    start = today - timedelta(days=30)
    prefix = clinic.slug[:2].upper()
    events: list[tuple[datetime, int, Callable[[], object]]] = []

    def add(at: datetime, action: Callable[[], object]) -> None:
        events.append((at, len(events), action))

    lots: dict[str, Lot] = {}

    def receive(key: str, product: Product, number: str, expiry: date, vials: int, day: date) -> None:
        def run() -> None:
            lots[key] = services.lot_receive(
                actor=admin,
                clinic=clinic,
                location=safe,
                product=product,
                lot_number=number,
                expiry=expiry,
                amount_mg=product.mg_per_vial * vials,
                received_at=_at(clinic, day, 9),
            )

        add(_at(clinic, day, 9), run)

    receive("main", p50, f"{prefix}5A{rng.randint(1000, 9999)}", today + timedelta(days=300), 10, start)
    receive("soon", p100, f"{prefix}1B{rng.randint(1000, 9999)}", today + timedelta(days=20), 6, start)
    receive("old", p50, f"{prefix}5C{rng.randint(1000, 9999)}", today - timedelta(days=5), 1, start)
    add(
        _at(clinic, start + timedelta(days=15), 9, 30),
        lambda: services.register_receive(
            actor=admin,
            lot=lots["main"],
            amount_mg=p50.mg_per_vial * 5,
            reason="Monthly order",
            at=_at(clinic, start + timedelta(days=15), 9, 30),
        ),
    )
    # The expired lot is emptied out of stock (adjust with a reason) after it expired: what is
    # left of it then (doses may have been drawn from it while it was in date).
    expired_out = today - timedelta(days=4)

    def take_out_expired() -> None:
        left = services.lot_available_mg(lot=lots["old"], at=_at(clinic, expired_out, 17))
        if left > 0:
            services.register_adjust(
                actor=admin,
                lot=lots["old"],
                amount_mg_signed=-left,
                reason="Expired stock quarantined for the reverse distributor",
                at=_at(clinic, expired_out, 17),
            )

    add(_at(clinic, expired_out, 17), take_out_expired)

    sessions = list(
        CareSession.objects.filter(
            clinic=clinic,
            kind="dosing",
            status="discharged",
            scheduled_date__gte=start,
            scheduled_date__lt=today,
        ).order_by("scheduled_date", "start_time", "id")
    )
    for index, session in enumerate(sessions):
        _add_session(add, lots, session, index, nurse=nurse, prescriber=prescriber, clinic=clinic)

    opening = _at(clinic, start, 9)
    later = []
    for at, _, action in sorted(events, key=lambda e: (e[0], e[1])):
        if at <= opening:
            action()
        else:
            later.append((at, action))
    return later


def _add_session(
    add, lots, session: CareSession, index: int, *, nurse: User, prescriber: User, clinic: Clinic
) -> None:
    """Dispense a little more than the dose, give the dose, and waste the rest under witness
    (the first session instead returns an unopened extra vial's worth)."""
    key = "main" if index % 3 else "soon"
    dose = _dose_mg(session)
    drawn = (dose / 10).to_integral_value(rounding=ROUND_CEILING) * 10 + 10
    # Drawn up when the dose is started, after its order and independent check (never before).
    at = step_at(session, "started")

    def step(minutes: int, actor: User = nurse, **kwargs) -> None:
        when = at + timedelta(minutes=minutes)

        def run() -> None:
            # Not enough stock left in this lot for the demo (or nothing in hand): skip the step.
            with contextlib.suppress(DomainError):
                services.register_history(actor=actor, lot=lots[key], session=session, at=when, **kwargs)

        add(when, run)

    extra = Decimal("100") if index == 0 else Decimal("0")
    step(0, kind=rules.DISPENSE, amount_mg=drawn + extra)
    step(20, kind=rules.ADMINISTER, amount_mg=dose, actor=prescriber if index % 2 else nurse)
    step(
        75,
        kind=rules.WASTE,
        amount_mg=drawn - dose,
        witness=prescriber,
        reason="Residual in syringe and line",
    )
    if extra:
        step(80, kind=rules.RETURN, amount_mg=extra)


def seed_inventory_counts(*, clinic: Clinic, admin: User, nurse: User, prescriber: User, today: date) -> None:
    """Two witnessed shift counts of the main safe, eight days ago and yesterday at 18:00: the
    first short by 5 mg on the lot expiring soon, resolved the next morning with an adjustment;
    the second short by 2.5 mg on the main lot, left open.

    Called once the whole demo's register is written (the dose histories of the care and
    follow-up demos are posted after this module's month), so that each count finds every lot
    that held stock at its time, with the register's balance at that time. Idempotent: a clinic
    with a count is left alone."""
    safe = StorageLocation.objects.filter(clinic=clinic, name="Main safe").first()
    if safe is None or CountSession.objects.filter(clinic=clinic).exists():
        return
    prefix = clinic.slug[:2].upper()
    targets = {
        key: Lot.objects.filter(location=safe, lot_number__startswith=f"{prefix}{code}").first()
        for key, code in (("soon", "1B"), ("main", "5A"))
    }
    for day, short_mg, key, resolve in (
        (today - timedelta(days=8), Decimal("5"), "soon", True),
        (today - timedelta(days=1), Decimal("2.5"), "main", False),
    ):
        target = targets[key]
        moment = _at(clinic, day, 18)
        held = services.lot_balances_at(lots=Lot.objects.filter(location=safe), moment=moment)
        if target is None or held[target.pk] < short_mg:
            continue
        counted = {
            pk: (balance - short_mg if pk == target.pk else balance)
            for pk, balance in held.items()
            if balance > 0
        }
        done = services.count_record(
            actor=nurse,
            location=safe,
            counted_mg_by_lot=counted,
            witness=prescriber,
            started_at=_at(clinic, day, 17, 40),
            at=moment,
        )
        if resolve:
            services.count_line_resolve(
                actor=admin,
                line=CountLine.objects.get(count=done, lot=target),
                explanation="Overfill drawn and not recorded on a busy day; "
                "reviewed with the nurse, register corrected.",
                adjust_mg_signed=-short_mg,
                at=_at(clinic, day + timedelta(days=1), 10),
            )
