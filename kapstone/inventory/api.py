"""Controlled-substance register API: lots with their balances, and register transactions."""
# No "from __future__ import annotations" in API modules: django-ninja resolves the operation
# signatures through the role wrapper, which lives in another module, so annotations must be real.

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from django.http import HttpRequest
from ninja import Schema, Status

from kapstone.accounts.access import ADMINS, DOSING_CLINICIANS, has_role
from kapstone.accounts.api_kit import (
    Forbidden,
    KapstoneRouter,
    RecordId,
    StrictSchema,
    api_roles,
    paginated,
    text,
)
from kapstone.accounts.selectors import witness_named
from kapstone.care.selectors import session_get_for_user
from kapstone.domain import register as rules
from kapstone.domain.errors import DomainError
from kapstone.inventory import selectors, services
from kapstone.inventory.selectors import INVENTORY_READ
from kapstone.inventory.services import roles_for_kind
from kapstone.patients.services import clinic_today

router = KapstoneRouter()


class LotOut(Schema):
    id: int
    product: str
    ndc: str
    lot_number: str
    expiry: date
    location: str
    balance_mg: float
    balance_ml: float
    expired: bool


@router.get("/lots", response=list[LotOut])
@api_roles(*INVENTORY_READ)
@paginated
def list_lots(request: HttpRequest, location_id: RecordId | None = None, in_stock: bool = False):
    lots = selectors.lots_for_user(user=request.auth, location_id=location_id, in_stock_only=in_stock)
    today_by_clinic: dict[int, date] = {}
    rows = []
    for lot in lots:
        today = today_by_clinic.setdefault(lot.clinic_id, clinic_today(lot.clinic))
        product = lot.product
        rows.append(
            {
                "id": lot.pk,
                "product": str(product),
                "ndc": product.ndc,
                "lot_number": lot.lot_number,
                "expiry": lot.expiry,
                "location": lot.location.name,
                "balance_mg": float(lot.balance_mg),
                "balance_ml": float(
                    rules.ml_from_mg(lot.balance_mg, strength_mg_per_ml=product.strength_mg_per_ml)
                ),
                "expired": rules.is_expired(expiry=lot.expiry, today=today),
            }
        )
    return rows


class TransactionIn(StrictSchema):
    kind: Literal["receive", "dispense", "administer", "waste", "return", "transfer", "adjust"]
    lot_id: RecordId
    # Positive; for ``adjust`` the sign says the direction (negative lowers the stock).
    amount_mg: Decimal
    session_id: RecordId | None = None
    witness: text(150) | None = None
    reason: text(500) = ""
    to_location_id: RecordId | None = None


class EntryOut(Schema):
    id: int
    kind: str
    lot_id: int
    amount_mg: float
    # The lot's balance after this entry in the register's order (when it happened, then the
    # order of posting); ``lot_balance_mg`` is the lot's balance now. They differ only for a
    # late entry (dated before an entry already posted).
    balance_mg: float
    lot_balance_mg: float
    occurred_at: datetime
    posted_at: datetime
    sequence: int
    late: bool


def _entry_out(entry, lot) -> dict:
    row = selectors.register_row(entry=entry)
    return {
        "id": entry.pk,
        "kind": entry.kind,
        "lot_id": entry.lot_id,
        "amount_mg": float(entry.amount_mg),
        "balance_mg": float(row.balance_mg),
        "lot_balance_mg": float(lot.balance_mg),
        "occurred_at": entry.occurred_at,
        "posted_at": entry.posted_at,
        "sequence": entry.sequence,
        "late": row.late,
    }


@router.post("/transactions", response={201: EntryOut})
@api_roles(*INVENTORY_READ)
def create_transaction(request: HttpRequest, payload: TransactionIn):
    actor = request.auth
    lot = selectors.lot_get_for_user(user=actor, lot_id=payload.lot_id)
    if not has_role(actor, roles_for_kind(payload.kind), lot.clinic_id):
        raise Forbidden()
    rule = rules.KIND_RULES[payload.kind]
    if not rule.needs_session and payload.session_id is not None:
        raise DomainError(
            "session_not_allowed", f"A {payload.kind} is not linked to a session.", field="session_id"
        )
    if payload.kind != rules.TRANSFER and payload.to_location_id is not None:
        raise DomainError(
            "to_location_not_allowed", "Only a transfer names a target location.", field="to_location_id"
        )
    if not rule.needs_witness and payload.witness:
        raise DomainError("witness_not_allowed", f"A {payload.kind} is not witnessed here.", field="witness")
    if payload.kind == rules.ADJUST:
        entry = services.register_adjust(
            actor=actor, lot=lot, amount_mg_signed=payload.amount_mg, reason=payload.reason
        )
    elif payload.kind == rules.RECEIVE:
        entry = services.register_receive(
            actor=actor, lot=lot, amount_mg=payload.amount_mg, reason=payload.reason
        )
    elif payload.kind == rules.TRANSFER:
        if payload.to_location_id is None:
            raise DomainError(
                "to_location_required", "A transfer names the target location.", field="to_location_id"
            )
        to_location = selectors.location_get_for_user(
            user=actor, location_id=payload.to_location_id, roles=ADMINS
        )
        entry, _ = services.register_transfer(
            actor=actor, lot=lot, to_location=to_location, amount_mg=payload.amount_mg, reason=payload.reason
        )
    else:
        if payload.session_id is None:
            raise DomainError(
                "session_required", f"A {payload.kind} names the dosing session.", field="session_id"
            )
        session = session_get_for_user(user=actor, session_id=payload.session_id, roles=DOSING_CLINICIANS)
        amount = payload.amount_mg
        if payload.kind == rules.DISPENSE:
            entry = services.register_dispense(actor=actor, lot=lot, session=session, amount_mg=amount)
        elif payload.kind == rules.ADMINISTER:
            entry = services.register_administer(actor=actor, lot=lot, session=session, amount_mg=amount)
        elif payload.kind == rules.RETURN:
            entry = services.register_return(actor=actor, lot=lot, session=session, amount_mg=amount)
        else:
            entry = services.register_waste(
                actor=actor,
                witness=witness_named(username=payload.witness, clinic_id=lot.clinic_id),
                lot=lot,
                session=session,
                amount_mg=amount,
                reason=payload.reason,
            )
    return Status(201, _entry_out(entry, lot))
