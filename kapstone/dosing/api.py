"""Dosing API: order, independent verification, administration record."""
# No "from __future__ import annotations" in API modules: django-ninja resolves the operation
# signatures through the role wrapper, which lives in another module, so annotations must be real.

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.http import Http404, HttpRequest
from ninja import Schema, Status

from kapstone.accounts.access import DOSING_CLINICIANS, PATIENT_READ, PRESCRIBERS
from kapstone.accounts.api_kit import KapstoneRouter, RecordId, StrictSchema, api_roles, text
from kapstone.accounts.models import Role
from kapstone.accounts.selectors import witness_named
from kapstone.care.selectors import session_get_for_user
from kapstone.domain.errors import DomainError
from kapstone.dosing import selectors, services
from kapstone.inventory.models import Lot

router = KapstoneRouter()


class OrderIn(StrictSchema):
    mg_per_kg: Decimal | None = None
    concentration_mg_per_ml: Decimal
    bag_ml: Decimal | None = None
    adjustment_reason: text(500) = ""


class OrderOut(Schema):
    """A dose order. ``blind``: the order awaits an independent check by this user (or is a
    voided order of such a session), so every number is null until the check is accepted."""

    id: int
    session_id: int
    status: str
    blind: bool
    weight_kg: float | None
    mg_per_kg: float | None
    route: str
    dose_mg: float | None
    bolus_mg: float | None
    infusion_mg: float | None
    over_min: float | None
    concentration_mg_per_ml: float | None
    volume_ml: float | None
    rate_mg_per_min: float | None
    rate_ml_per_h: float | None
    warnings: list[str]


def _num(value):
    return None if value is None else float(value)


#: Everything of an order from which its weight, dose, volume, rate or concentration follows.
_BLIND_FIELDS = (
    "weight_kg",
    "mg_per_kg",
    "dose_mg",
    "bolus_mg",
    "infusion_mg",
    "over_min",
    "concentration_mg_per_ml",
    "volume_ml",
    "rate_mg_per_min",
    "rate_ml_per_h",
)


def _order_out(order, user) -> dict:
    if selectors.order_is_blind_for(user=user, order=order):
        return {
            "id": order.pk,
            "session_id": order.session_id,
            "status": order.status,
            "blind": True,
            "route": order.route,
            "warnings": [],
            **dict.fromkeys(_BLIND_FIELDS),
        }
    return {
        "id": order.pk,
        "session_id": order.session_id,
        "status": order.status,
        "blind": False,
        "weight_kg": float(order.weight_kg),
        "mg_per_kg": float(order.mg_per_kg),
        "route": order.route,
        "dose_mg": float(order.dose_mg),
        "bolus_mg": _num(order.bolus_mg),
        "infusion_mg": _num(order.infusion_mg),
        "over_min": _num(order.over_min),
        "concentration_mg_per_ml": float(order.concentration_mg_per_ml),
        "volume_ml": float(order.volume_ml),
        "rate_mg_per_min": _num(order.rate_mg_per_min),
        "rate_ml_per_h": _num(order.rate_ml_per_h),
        "warnings": list(order.warnings),
    }


@router.post("/sessions/{int:session_id}/dose-orders", response={201: OrderOut})
@api_roles(Role.PRESCRIBER)
def create_order(request: HttpRequest, session_id: RecordId, payload: OrderIn):
    session = session_get_for_user(user=request.auth, session_id=session_id, roles=PRESCRIBERS)
    order = services.dose_order_create(actor=request.auth, session=session, **payload.dict())
    return Status(201, _order_out(order, request.auth))


class VerifyIn(StrictSchema):
    weight_kg: Decimal
    concentration_mg_per_ml: Decimal


@router.post("/dose-orders/{int:order_id}/verify", response=OrderOut)
@api_roles(*DOSING_CLINICIANS)
def verify_order(request: HttpRequest, order_id: RecordId, payload: VerifyIn):
    order = selectors.order_get_for_user(user=request.auth, order_id=order_id, roles=DOSING_CLINICIANS)
    return _order_out(
        services.dose_order_verify(actor=request.auth, order=order, **payload.dict()), request.auth
    )


class RateEventIn(StrictSchema):
    kind: text(10, min_length=1)
    at: datetime
    rate: Decimal | None = None
    reason: text(500) = ""


class LotIn(StrictSchema):
    lot_id: RecordId
    mg: Decimal


class AdministrationIn(StrictSchema):
    """``lot_id`` alone: the whole dose from one lot (the original body, still accepted);
    ``lots``: the dose drawn from one or more lots, in the order drawn, with the mg from each."""

    lot_id: RecordId | None = None
    lots: list[LotIn] | None = None
    started_at: datetime
    bolus_given: bool = False
    events: list[RateEventIn] = []
    ended_at: datetime | None = None
    witness: text(150) = ""
    stopped_early: bool = False
    stop_reason: text(500) = ""
    override_reason: text(500) = ""


class AdministrationLotOut(Schema):
    lot_id: int
    lot_number: str
    dispensed_mg: float
    given_mg: float | None
    wasted_mg: float | None


class StartOverrideOut(Schema):
    """A prescriber's decision to start despite a start gate (e.g. ``baseline_vitals_required``)."""

    code: str
    missing: list[str]
    reason: str
    overridden_by: str
    overridden_at: datetime


class AdministrationOut(Schema):
    id: int
    order_id: int
    lot_id: int
    lots: list[AdministrationLotOut]
    started_at: datetime
    ended_at: datetime | None
    dispensed_mg: float
    given_mg: float | None
    wasted_mg: float | None
    stopped_early: bool
    overrides: list[StartOverrideOut]


@router.post("/dose-orders/{int:order_id}/administrations", response={201: AdministrationOut})
@api_roles(*DOSING_CLINICIANS)
def record_administration(request: HttpRequest, order_id: RecordId, payload: AdministrationIn):
    """The whole administration record in one call (a device or an import): start, rate events
    and, with ``ended_at``, the end — all or nothing."""
    order = selectors.order_get_for_user(user=request.auth, order_id=order_id, roles=DOSING_CLINICIANS)
    if (payload.lot_id is None) == (payload.lots is None):
        raise DomainError("lots_required", "Give either lot_id (the whole dose) or lots.", field="lots")
    wanted = [payload.lot_id] if payload.lots is None else [line.lot_id for line in payload.lots]
    found = {
        lot.pk: lot
        for lot in Lot.objects.select_related("product").filter(pk__in=wanted, clinic_id=order.clinic_id)
    }
    if any(pk not in found for pk in wanted):
        raise Http404("lot")
    where = (
        {"lot": found[payload.lot_id]}
        if payload.lots is None
        else {"lots": [(found[line.lot_id], line.mg) for line in payload.lots]}
    )
    with transaction.atomic():
        administration = services.administration_start(
            actor=request.auth,
            order=order,
            started_at=payload.started_at,
            bolus_given=payload.bolus_given,
            override_reason=payload.override_reason,
            **where,
        )
        for event in payload.events:
            services.administration_rate_event(
                actor=request.auth,
                administration=administration,
                kind=event.kind,
                at=event.at,
                rate=event.rate,
                reason=event.reason,
            )
        if payload.ended_at is not None:
            administration = services.administration_complete(
                actor=request.auth,
                administration=administration,
                ended_at=payload.ended_at,
                witness=witness_named(username=payload.witness, clinic_id=order.clinic_id),
                stopped_early=payload.stopped_early,
                stop_reason=payload.stop_reason,
            )
    return Status(201, _administration_out(administration))


def _administration_out(administration) -> dict:
    lines = list(administration.lots.select_related("lot").order_by("position", "id"))
    return {
        "id": administration.pk,
        "order_id": administration.order_id,
        "lot_id": lines[0].lot_id,
        "lots": [
            {
                "lot_id": line.lot_id,
                "lot_number": line.lot.lot_number,
                "dispensed_mg": float(line.dispensed_mg),
                "given_mg": _num(line.given_mg),
                "wasted_mg": _num(line.wasted_mg),
            }
            for line in lines
        ],
        "started_at": administration.started_at,
        "ended_at": administration.ended_at,
        "dispensed_mg": float(administration.dispensed_mg),
        "given_mg": _num(administration.given_mg),
        "wasted_mg": _num(administration.wasted_mg),
        "stopped_early": administration.stopped_early,
        "overrides": [
            {
                "code": o.code,
                "missing": list(o.detail.get("missing", [])),
                "reason": o.reason,
                "overridden_by": o.overridden_by.username,
                "overridden_at": o.overridden_at,
            }
            for o in administration.overrides.select_related("overridden_by").order_by("gate", "id")
        ],
    }


class AmendmentIn(StrictSchema):
    field: text(20, min_length=1)
    value: text(500)
    reason: text(500) = ""
    witness: text(150) = ""
    lot_id: RecordId | None = None


class AmendmentOut(Schema):
    id: int
    administration_id: int
    field: str
    lot_id: int | None
    old_value: str
    new_value: str
    reason: str
    amended_by: str
    witness: str | None
    amended_at: datetime
    administration: AdministrationOut


@router.post("/administrations/{int:administration_id}/amendments", response={201: AmendmentOut})
@api_roles(*DOSING_CLINICIANS)
def amend_administration(request: HttpRequest, administration_id: RecordId, payload: AmendmentIn):
    """Correct an ended administration by an amendment with reason (a witness for amounts); an
    amount also corrects the register of that lot. Another clinic's administration is a 404."""
    administration = selectors.administration_get_for_user(
        user=request.auth, administration_id=administration_id, roles=DOSING_CLINICIANS
    )
    line = None
    if payload.lot_id is not None:
        line = administration.lots.filter(lot_id=payload.lot_id).first()
        if line is None:
            raise DomainError("lot_line_invalid", "That lot was not used for this dose.", field="lot_id")
    amendment = services.administration_amend(
        actor=request.auth,
        administration=administration,
        field=payload.field,
        new_value=payload.value,
        reason=payload.reason,
        witness=witness_named(username=payload.witness, clinic_id=administration.order.clinic_id),
        lot_line=line,
    )
    administration.refresh_from_db()
    return Status(
        201,
        {
            "id": amendment.pk,
            "administration_id": administration.pk,
            "field": amendment.field,
            "lot_id": line.lot_id if line else None,
            "old_value": amendment.old_value,
            "new_value": amendment.new_value,
            "reason": amendment.reason,
            "amended_by": request.auth.username,
            "witness": amendment.witness.username if amendment.witness else None,
            "amended_at": amendment.amended_at,
            "administration": _administration_out(administration),
        },
    )


@router.get("/dose-orders/{int:order_id}", response=OrderOut)
@api_roles(*PATIENT_READ)
def get_order(request: HttpRequest, order_id: RecordId):
    return _order_out(selectors.order_get_for_user(user=request.auth, order_id=order_id), request.auth)
