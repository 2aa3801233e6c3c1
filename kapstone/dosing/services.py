"""Writes of the dosing workflow: order → independent verification → administration.

Every step is one transaction with its audit row. Administration writes the controlled-substance
register (dispense at the start; administer and witnessed waste at the end) in the same
transaction as the clinical record, so the register and the chart can never disagree.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from kapstone.accounts.access import has_role
from kapstone.accounts.models import Role, User
from kapstone.audit.services import audit_record
from kapstone.care.models import CareSession
from kapstone.care.services import _apply_transition, course_protocol
from kapstone.domain.dosing import (
    RateSegment,
    administered_amount_mg,
    calculate_dose,
    check_session_limits,
    compare_verification,
    select_weight,
    to_decimal,
)
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.protocols import DOSING, DoseRule
from kapstone.domain.sessions import CLEARED, IN_PROGRESS, RECOVERING
from kapstone.dosing.models import Administration, DoseOrder, OrderStatus, RateEvent
from kapstone.inventory.models import Lot
from kapstone.inventory.services import register_administer, register_dispense, register_waste
from kapstone.patients.models import BodyMeasurement

DOSING_CLINICIANS = frozenset({Role.NURSE, Role.PRESCRIBER})


def _dose_rule(session: CareSession) -> DoseRule:
    rule = session.dose_rule or {}
    return DoseRule(
        mg_per_kg=Decimal(rule["mg_per_kg"]),
        route=rule["route"],
        max_mg_per_kg=Decimal(rule["max_mg_per_kg"]),
        infusion_min=rule.get("infusion_min"),
        bolus_mg_per_kg=Decimal(rule["bolus_mg_per_kg"]) if rule.get("bolus_mg_per_kg") else None,
        bolus_min=rule.get("bolus_min"),
    )


def _given_dosing_dates(session: CareSession, *, same_course: bool) -> list:
    """Dates of the patient's other dosing sessions at which a dose was actually given."""
    qs = DoseOrder.objects.filter(
        patient_id=session.patient_id,
        status__in=[OrderStatus.COMPLETED, OrderStatus.STOPPED, OrderStatus.ADMINISTERING],
    ).exclude(session=session)
    if same_course:
        qs = qs.filter(session__course_id=session.course_id)
    return sorted(set(qs.values_list("session__scheduled_date", flat=True)))


def dose_plan(
    *, session: CareSession, mg_per_kg: Any = None, concentration_mg_per_ml: Any = None, bag_ml: Any = None
) -> dict[str, Any]:
    """Everything an order would hold, computed without writing: the form's preview.

    Refuses with the domain's codes: ``weight_missing`` / ``weight_too_old`` (re-weigh first),
    ``dose_above_max``, ``concentration_out_of_range``, the session limits …
    """
    if session.kind != DOSING or not session.dose_rule:
        raise WorkflowConflict("not_a_dosing_session", "Only a dosing session takes a dose order.")
    rule = _dose_rule(session)
    protocol = course_protocol(session.course)
    weights = list(
        BodyMeasurement.objects.filter(patient_id=session.patient_id, weight_kg__isnull=False).values_list(
            "measured_on", "weight_kg"
        )
    )
    weight = select_weight(
        weights, session_date=session.scheduled_date, max_age_days=protocol.weight_max_age_days
    )
    measured_on = max(d for d, w in weights if d <= session.scheduled_date and w == weight)
    chosen = rule.mg_per_kg if mg_per_kg in (None, "") else to_decimal(mg_per_kg, field="mg_per_kg")
    bolus = None
    if rule.bolus_mg_per_kg:
        # An adjusted dose keeps the protocol's split between bolus and infusion.
        bolus = (rule.bolus_mg_per_kg * chosen / rule.mg_per_kg).quantize(Decimal("0.001"))
    over_min = rule.maintenance_min if rule.route == "iv" else None
    calc = calculate_dose(
        weight_kg=weight,
        mg_per_kg=chosen,
        route=rule.route,
        over_min=over_min,
        bolus_mg_per_kg=bolus,
        concentration_mg_per_ml=concentration_mg_per_ml,
        bag_ml=bag_ml if rule.route == "iv" else None,
        max_mg_per_kg=rule.max_mg_per_kg,
    )
    check_session_limits(
        previous_dosing_dates=_given_dosing_dates(session, same_course=True),
        session_date=session.scheduled_date,
        min_days_between=protocol.limits.min_days_between_dosing,
        max_sessions=protocol.limits.max_dosing_sessions,
    )
    check_session_limits(
        previous_dosing_dates=_given_dosing_dates(session, same_course=False),
        session_date=session.scheduled_date,
        min_days_between=protocol.limits.min_days_between_dosing,
        max_sessions=10**6,
    )
    return {"rule": rule, "calc": calc, "weight_measured_on": measured_on, "bolus_mg_per_kg": bolus}


def dose_order_create(
    *,
    actor: User,
    session: CareSession,
    mg_per_kg: Any,
    concentration_mg_per_ml: Any,
    bag_ml: Any = None,
    adjustment_reason: str = "",
) -> DoseOrder:
    """A prescriber orders the dose of a cleared dosing session from the protocol's dose rule.

    A mg/kg other than the protocol's needs a written reason (``adjustment_reason_required``);
    it can never exceed the rule's maximum (``dose_above_max``).
    """
    if not has_role(actor, {Role.PRESCRIBER}, session.clinic_id):
        raise WorkflowConflict("prescriber_required", "Only a prescriber may order a dose.")
    reason = (adjustment_reason or "").strip()
    with transaction.atomic():
        current = CareSession.objects.select_for_update().select_related("course").get(pk=session.pk)
        if current.status != CLEARED:
            raise WorkflowConflict(
                "session_not_cleared",
                f"A dose is ordered for a cleared session; this one is {current.status}.",
            )
        if DoseOrder.objects.filter(session=current).exclude(status=OrderStatus.VOIDED).exists():
            raise WorkflowConflict(
                "order_exists", "This session already has a dose order; void it to write a new one."
            )
        plan = dose_plan(
            session=current,
            mg_per_kg=mg_per_kg,
            concentration_mg_per_ml=concentration_mg_per_ml,
            bag_ml=bag_ml,
        )
        calc, rule = plan["calc"], plan["rule"]
        if calc.mg_per_kg != rule.mg_per_kg and not reason:
            raise DomainError(
                "adjustment_reason_required",
                f"The protocol's dose is {rule.mg_per_kg} mg/kg; give a reason for ordering {calc.mg_per_kg} mg/kg.",
                field="adjustment_reason",
            )
        if calc.volume_ml is None:
            raise DomainError(
                "concentration_required", "Give the vial concentration.", field="concentration_mg_per_ml"
            )
        order = DoseOrder.objects.create(
            session=current,
            patient_id=current.patient_id,
            clinic_id=current.clinic_id,
            weight_kg=calc.weight_kg,
            weight_measured_on=plan["weight_measured_on"],
            protocol_mg_per_kg=rule.mg_per_kg,
            mg_per_kg=calc.mg_per_kg,
            max_mg_per_kg=calc.max_mg_per_kg,
            adjustment_reason=reason[:500],
            route=calc.route,
            over_min=calc.over_min,
            bolus_mg_per_kg=plan["bolus_mg_per_kg"],
            concentration_mg_per_ml=calc.concentration_mg_per_ml,
            bag_ml=calc.bag_ml,
            bag_concentration_mg_per_ml=calc.bag_concentration_mg_per_ml,
            dose_mg=calc.dose_mg,
            bolus_mg=calc.bolus_mg,
            infusion_mg=calc.infusion_mg,
            volume_ml=calc.volume_ml,
            rate_mg_per_min=calc.rate_mg_per_min,
            rate_ml_per_h=calc.rate_ml_per_h,
            warnings=list(calc.warnings),
            ordered_by=actor,
            ordered_at=timezone.now(),
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="dose_order",
            object_id=order.pk,
            patient_id=order.patient_id,
            clinic_id=order.clinic_id,
            detail={
                "dose_mg": str(order.dose_mg),
                "mg_per_kg": str(order.mg_per_kg),
                "adjusted": bool(reason),
            },
        )
    return order


def dose_order_verify(
    *, actor: User, order: DoseOrder, weight_kg: Any, concentration_mg_per_ml: Any
) -> DoseOrder:
    """The independent double check: a second clinician re-enters weight and concentration.

    Refused when the verifier ordered it (``verifier_must_differ``) or the values differ
    (``verification_mismatch``, naming the field but not the ordered value). A refused check is
    audited as ``denied`` and changes nothing.
    """
    if not has_role(actor, DOSING_CLINICIANS, order.clinic_id):
        raise WorkflowConflict("clinician_required", "Only a nurse or prescriber may verify a dose.")
    with transaction.atomic():
        current = DoseOrder.objects.select_for_update().get(pk=order.pk)
        if current.status != OrderStatus.ORDERED:
            raise WorkflowConflict(
                "order_not_awaiting_verification",
                f"This order is {current.get_status_display().lower()}, not awaiting verification.",
            )
        if current.ordered_by_id == actor.pk:
            raise WorkflowConflict(
                "verifier_must_differ", "The check must be done by a second clinician, not the orderer."
            )
    try:
        compare_verification(
            current.weight_kg, current.concentration_mg_per_ml, weight_kg, concentration_mg_per_ml
        )
    except DomainError as error:
        audit_record(
            actor=actor,
            action="denied",
            object_type="dose_order",
            object_id=current.pk,
            patient_id=current.patient_id,
            clinic_id=current.clinic_id,
            outcome="denied",
            detail={"check": error.code, "field": error.field},
        )
        raise
    with transaction.atomic():
        current = DoseOrder.objects.select_for_update().get(pk=order.pk)
        if current.status != OrderStatus.ORDERED:
            raise WorkflowConflict("order_not_awaiting_verification", "This order was changed meanwhile.")
        current.status = OrderStatus.VERIFIED
        current.verified_by = actor
        current.verified_at = timezone.now()
        current.save(update_fields=["status", "verified_by", "verified_at"])
        audit_record(
            actor=actor,
            action="update",
            object_type="dose_order",
            object_id=current.pk,
            patient_id=current.patient_id,
            clinic_id=current.clinic_id,
            detail={"verified": True},
        )
    return current


def dose_order_void(*, actor: User, order: DoseOrder, reason: str) -> DoseOrder:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("reason_required", "Say why the order is voided.", field="reason")
    if not has_role(actor, {Role.PRESCRIBER}, order.clinic_id):
        raise WorkflowConflict("prescriber_required", "Only a prescriber may void a dose order.")
    with transaction.atomic():
        current = DoseOrder.objects.select_for_update().get(pk=order.pk)
        if current.status not in (OrderStatus.ORDERED, OrderStatus.VERIFIED):
            raise WorkflowConflict(
                "order_not_voidable", "An order that is being given or was given cannot be voided."
            )
        current.status, current.voided_by, current.voided_at = OrderStatus.VOIDED, actor, timezone.now()
        current.void_reason = reason[:500]
        current.save(update_fields=["status", "voided_by", "voided_at", "void_reason"])
        audit_record(
            actor=actor,
            action="void",
            object_type="dose_order",
            object_id=current.pk,
            patient_id=current.patient_id,
            clinic_id=current.clinic_id,
        )
    return current


def _check_time(at: datetime, *, field: str, not_before: datetime | None = None) -> datetime:
    if at.tzinfo is None:
        raise DomainError("naive_datetime", f"{field} must carry a time zone.", field=field)
    if at > timezone.now() + timedelta(minutes=1):
        raise DomainError("time_in_future", f"{field} is in the future.", field=field)
    if not_before is not None and at < not_before:
        raise DomainError("time_out_of_order", f"{field} is before the previous step.", field=field)
    return at


def administration_start(
    *, actor: User, order: DoseOrder, lot: Lot, started_at: datetime, bolus_given: bool = False
) -> Administration:
    """Start giving a verified order: dispense from the lot, start the pump, session in progress."""
    if not has_role(actor, DOSING_CLINICIANS, order.clinic_id):
        raise WorkflowConflict("clinician_required", "Only a nurse or prescriber may give a dose.")
    _check_time(started_at, field="started_at")
    with transaction.atomic():
        current = DoseOrder.objects.select_for_update().select_related("session").get(pk=order.pk)
        if current.status != OrderStatus.VERIFIED:
            raise WorkflowConflict(
                "order_not_verified", "Only a verified order can be given: the double check comes first."
            )
        if lot.clinic_id != current.clinic_id:
            raise WorkflowConflict("lot_not_in_clinic", "That lot belongs to another clinic.")
        if Decimal(lot.product.strength_mg_per_ml) != Decimal(current.concentration_mg_per_ml):
            raise DomainError(
                "lot_concentration_mismatch",
                f"The order was calculated for {current.concentration_mg_per_ml} mg/mL; this lot is "
                f"{lot.product.strength_mg_per_ml} mg/mL.",
                field="lot",
            )
        session = current.session
        register_dispense(actor=actor, lot=lot, session=session, amount_mg=current.dose_mg, at=started_at)
        administration = Administration.objects.create(
            order=current,
            lot=lot,
            dispensed_mg=current.dose_mg,
            started_at=started_at,
            started_by=actor,
            bolus_given=bolus_given,
        )
        if current.route == "iv":
            rate, unit = _planned_rate(current)
            RateEvent.objects.create(
                administration=administration,
                kind="start",
                at=started_at,
                rate=rate,
                unit=unit,
                recorded_by=actor,
                recorded_at=timezone.now(),
            )
        current.status = OrderStatus.ADMINISTERING
        current.save(update_fields=["status"])
        _apply_transition(
            actor=actor,
            session=CareSession.objects.select_for_update().get(pk=session.pk),
            to=IN_PROGRESS,
            reason="dose administration started",
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="administration",
            object_id=administration.pk,
            patient_id=current.patient_id,
            clinic_id=current.clinic_id,
        )
    return administration


def _planned_rate(order: DoseOrder) -> tuple[Decimal, str]:
    if order.rate_ml_per_h is not None:
        return Decimal(order.rate_ml_per_h), "ml_per_h"
    return Decimal(order.rate_mg_per_min), "mg_per_min"


def administration_rate_event(
    *,
    actor: User,
    administration: Administration,
    kind: str,
    at: datetime,
    rate: Any = None,
    reason: str = "",
) -> RateEvent:
    """Change the rate, pause or resume a running infusion (a reason for change and pause)."""
    if kind not in ("change", "pause", "resume"):
        raise DomainError("invalid_rate_event", "The event must be change, pause or resume.", field="kind")
    reason = (reason or "").strip()
    if kind in ("change", "pause") and not reason:
        raise DomainError("reason_required", f"Give a reason to {kind} the infusion.", field="reason")
    with transaction.atomic():
        current = Administration.objects.select_for_update().select_related("order").get(pk=administration.pk)
        if not current.is_running:
            raise WorkflowConflict("administration_ended", "This administration has ended.")
        if current.order.route != "iv":
            raise WorkflowConflict("not_an_infusion", "Only an infusion has a rate.")
        last = current.rate_events.order_by("-at", "-id").first()
        _check_time(at, field="at", not_before=last.at if last else current.started_at)
        paused = last is not None and last.kind == "pause"
        if kind == "resume" and not paused:
            raise WorkflowConflict("not_paused", "The infusion is not paused.")
        if kind in ("change", "pause") and paused:
            raise WorkflowConflict("infusion_paused", "The infusion is paused; resume it first.")
        unit = last.unit if last else _planned_rate(current.order)[1]
        if kind == "pause":
            new_rate = Decimal(0)
        else:
            new_rate = (
                to_decimal(rate, field="rate") if rate not in (None, "") else _planned_rate(current.order)[0]
            )
            if new_rate <= 0:
                raise DomainError(
                    "rate_out_of_range",
                    "The rate must be above zero (use pause to stop the pump).",
                    field="rate",
                )
            planned = _planned_rate(current.order)[0]
            if new_rate > planned * Decimal("1.5"):
                raise DomainError(
                    "rate_above_order",
                    f"{new_rate} is more than 1.5 × the ordered rate {planned}; write a new order instead.",
                    field="rate",
                )
        event = RateEvent.objects.create(
            administration=current,
            kind=kind,
            at=at,
            rate=new_rate,
            unit=unit,
            reason=reason[:500],
            recorded_by=actor,
            recorded_at=timezone.now(),
        )
        audit_record(
            actor=actor,
            action="update",
            object_type="administration",
            object_id=current.pk,
            patient_id=current.order.patient_id,
            clinic_id=current.order.clinic_id,
            detail={"rate_event": kind},
        )
    return event


def _segments(administration: Administration, ended_at: datetime) -> list[RateSegment]:
    events = list(administration.rate_events.order_by("at", "id"))
    segments = []
    for index, event in enumerate(events):
        end = events[index + 1].at if index + 1 < len(events) else ended_at
        if event.rate > 0 and end > event.at:
            segments.append(RateSegment(start=event.at, end=end, rate=Decimal(event.rate), unit=event.unit))
    return segments


def administration_complete(
    *,
    actor: User,
    administration: Administration,
    ended_at: datetime,
    witness: User | None = None,
    stopped_early: bool = False,
    stop_reason: str = "",
) -> Administration:
    """End the administration: compute what was given, write administer and (witnessed) waste to
    the register, and move the session to recovering — all in one transaction."""
    stop_reason = (stop_reason or "").strip()
    if stopped_early and not stop_reason:
        raise DomainError("reason_required", "Say why the dose was stopped early.", field="stop_reason")
    with transaction.atomic():
        current = (
            Administration.objects.select_for_update()
            .select_related("order", "lot")
            .get(pk=administration.pk)
        )
        if not current.is_running:
            raise WorkflowConflict("administration_ended", "This administration has already ended.")
        order = current.order
        last = current.rate_events.order_by("-at", "-id").first()
        _check_time(ended_at, field="ended_at", not_before=last.at if last else current.started_at)
        if order.route == "iv":
            given = administered_amount_mg(
                ordered_dose_mg=order.dose_mg,
                segments=_segments(current, ended_at),
                bolus_given=current.bolus_given,
                bolus_mg=order.bolus_mg,
                # The bag holds exactly the infusion amount in its final volume; the stored
                # concentration is rounded for display and would misstate the amount given.
                bag_concentration_mg_per_ml=(order.infusion_mg / order.bag_ml) if order.bag_ml else None,
            )
        else:
            given = Decimal(0) if stopped_early else Decimal(order.dose_mg)
        wasted = Decimal(current.dispensed_mg) - given
        session = order.session
        if wasted > 0:
            if witness is None:
                raise DomainError(
                    "witness_required",
                    f"{wasted} mg is left over and must be wasted in front of a witness.",
                    field="witness",
                )
            register_waste(
                actor=actor,
                witness=witness,
                lot=current.lot,
                session=session,
                amount_mg=wasted,
                reason=stop_reason or "remainder after administration",
                at=ended_at,
            )
        if given > 0:
            register_administer(actor=actor, lot=current.lot, session=session, amount_mg=given, at=ended_at)
        if order.route == "iv":
            RateEvent.objects.create(
                administration=current,
                kind="stop",
                at=ended_at,
                rate=0,
                unit=(last.unit if last else "mg_per_min"),
                reason=stop_reason[:500],
                recorded_by=actor,
                recorded_at=timezone.now(),
            )
        current.ended_at, current.ended_by, current.given_mg = ended_at, actor, given
        current.wasted_mg = max(wasted, Decimal(0))
        current.waste_witness = witness if wasted > 0 else None
        current.stopped_early, current.stop_reason = stopped_early, stop_reason[:500]
        current.save()
        order.status = OrderStatus.STOPPED if stopped_early else OrderStatus.COMPLETED
        order.save(update_fields=["status"])
        locked = CareSession.objects.select_for_update().get(pk=session.pk)
        if locked.status == IN_PROGRESS:
            _apply_transition(
                actor=actor,
                session=locked,
                to=RECOVERING,
                reason=stop_reason or "dose administration completed",
            )
        audit_record(
            actor=actor,
            action="update",
            object_type="administration",
            object_id=current.pk,
            patient_id=order.patient_id,
            clinic_id=order.clinic_id,
            detail={
                "given_mg": str(given),
                "wasted_mg": str(max(wasted, Decimal(0))),
                "stopped_early": stopped_early,
            },
        )
    return current
