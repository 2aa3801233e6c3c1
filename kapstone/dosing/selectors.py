"""Scoped, audited reads of dose orders and administrations."""

from __future__ import annotations

from collections.abc import Iterable

from django.http import Http404

from kapstone.accounts.access import PATIENT_READ, clinic_ids_for
from kapstone.accounts.models import User
from kapstone.audit.services import audit_record
from kapstone.care.models import CareSession
from kapstone.dosing.models import Administration, DoseOrder, OrderStatus


def order_get_for_user(*, user: User, order_id: int, roles: Iterable[str] = PATIENT_READ) -> DoseOrder:
    order = (
        DoseOrder.objects.select_related("session", "session__course", "patient", "ordered_by", "verified_by")
        .filter(pk=order_id, clinic_id__in=clinic_ids_for(user, roles))
        .first()
    )
    if order is None:
        raise Http404("dose order")
    audit_record(
        actor=user,
        action="read",
        object_type="dose_order",
        object_id=order.pk,
        patient_id=order.patient_id,
        clinic_id=order.clinic_id,
    )
    return order


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
    administration = (
        _administrations()
        .filter(pk=administration_id, order__clinic_id__in=clinic_ids_for(user, roles))
        .first()
    )
    if administration is None:
        raise Http404("administration")
    audit_record(
        actor=user,
        action="read",
        object_type="administration",
        object_id=administration.pk,
        patient_id=administration.order.patient_id,
        clinic_id=administration.order.clinic_id,
    )
    return administration
