"""Scoped, audited reads of dose orders and administrations."""

from __future__ import annotations

from collections.abc import Iterable

from kapstone.accounts.access import PATIENT_READ, scoped_get
from kapstone.accounts.models import User
from kapstone.care.models import CareSession
from kapstone.dosing.models import Administration, DoseOrder, OrderStatus


def order_get_for_user(*, user: User, order_id: int, roles: Iterable[str] = PATIENT_READ) -> DoseOrder:
    """One dose order of the user's clinics (404 alike for missing and not-yours), audited."""
    return scoped_get(
        DoseOrder.objects.select_related(
            "session", "session__course", "patient", "ordered_by", "verified_by"
        ),
        order_id,
        user=user,
        roles=roles,
        object_type="dose_order",
    )


def orders_for_session(*, session: CareSession) -> list[DoseOrder]:
    """Every order of a session already read through a scoped selector, newest first."""
    return list(
        DoseOrder.objects.filter(session=session).select_related("ordered_by", "verified_by", "voided_by")
    )


def live_order(session: CareSession) -> DoseOrder | None:
    return DoseOrder.objects.filter(session=session).exclude(status="voided").first()


def order_is_blind_for(*, user: User, order: DoseOrder) -> bool:
    """Whether ``user`` must not see the numbers of ``order`` (the blind double check).

    While an order awaits its independent check, only the clinician who wrote it sees its
    weight, dose, concentration, volume and rate (or anything they follow from: mg/kg, the PK
    curve, an adjustment's wording). The same holds for a voided order of that session: a voided
    order written on the same weight would give it away. Once the check is accepted, everyone
    with access sees the full order."""
    if order.status == OrderStatus.ORDERED:
        return order.ordered_by_id != user.pk
    if order.status == OrderStatus.VOIDED:
        awaiting = live_order(order.session)
        return (
            awaiting is not None
            and awaiting.status == OrderStatus.ORDERED
            and awaiting.ordered_by_id != user.pk
        )
    return False


def _administrations():
    return Administration.objects.select_related(
        "order", "started_by", "ended_by", "waste_witness"
    ).prefetch_related(
        "rate_events",
        "rate_events__recorded_by",
        "lots",
        "lots__lot",
        "lots__lot__product",
        "amendments",
        "amendments__amended_by",
        "amendments__witness",
        "amendments__lot_line__lot",
    )


def administration_of(order: DoseOrder) -> Administration | None:
    return _administrations().filter(order=order).first()


def administration_get_for_user(
    *, user: User, administration_id: int, roles: Iterable[str] = PATIENT_READ
) -> Administration:
    """An administration of one of the user's clinics (others are a 404), with an audited read."""
    return scoped_get(
        _administrations(),
        administration_id,
        user=user,
        roles=roles,
        object_type="administration",
        clinic="order__clinic_id",
        patient="order__patient_id",
    )
