"""Writes of the dosing workflow: order → independent verification → administration.

Every step is one transaction with its audit row. Administration writes the controlled-substance
register (dispense at the start; administer and witnessed waste at the end) in the same
transaction as the clinical record, so the register and the chart can never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from kapstone.accounts.access import DOSING_CLINICIANS, PRESCRIBERS, has_role
from kapstone.accounts.models import User
from kapstone.accounts.selectors import witness_is_eligible
from kapstone.audit.services import audit_record
from kapstone.care.models import CareSession, DayOfCheck, SessionEvent
from kapstone.care.services import course_protocol, session_move_record, session_step_check
from kapstone.domain.dosing import (
    AMEND_ENDED_AT,
    AMEND_GIVEN_MG,
    AMEND_STOP_REASON,
    QUANTITY_FIELDS,
    RateSegment,
    administered_amount_mg,
    amend_lot_quantity,
    calculate_dose,
    check_amendment_reason,
    check_lot_split,
    check_session_limits,
    compare_verification,
    select_weight,
    split_given_by_lot,
    to_decimal,
)
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.protocols import DOSING, DoseRule
from kapstone.domain.sessions import (
    CLEARED,
    DISCHARGED,
    IN_PROGRESS,
    RECOVERING,
    check_step_time,
    describe_time,
)
from kapstone.domain.text import REASON_MAX_CHARS, clean_text
from kapstone.dosing.gates import StartObjection, check_order_gates, start_objections
from kapstone.dosing.models import (
    Administration,
    AdministrationAmendment,
    AdministrationLot,
    AmendmentField,
    DoseOrder,
    OrderStatus,
    RateEvent,
    StartOverride,
)
from kapstone.inventory.models import Lot
from kapstone.inventory.services import (
    register_administer,
    register_dispense,
    register_session_correction,
    register_waste,
)
from kapstone.patients.selectors import body_size, weight_in_force


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


def weight_moment(session: CareSession, *, now: datetime | None = None) -> datetime:
    """The moment at which a session's dose reads the weight in force: now, or the end of the
    session's day in the clinic's time zone if that is earlier (a late entry of a later day's
    weight does not reach back). The order, its preview and its verification all use it."""
    zone = ZoneInfo(session.clinic.timezone)
    next_midnight = datetime.combine(session.scheduled_date + timedelta(days=1), time(0), tzinfo=zone)
    end_of_day = next_midnight - timedelta(microseconds=1)
    current = timezone.now() if now is None else now
    return min(current, end_of_day)


def dose_plan(
    *, session: CareSession, mg_per_kg: Any = None, concentration_mg_per_ml: Any = None, bag_ml: Any = None
) -> dict[str, Any]:
    """Everything an order would hold, computed without writing: the form's preview.

    The weight is the patient's weight in force at :func:`weight_moment`
    (:func:`kapstone.patients.selectors.weight_in_force`: the latest non-voided weight taken at
    or before it, the one entered last among same-time entries). Refuses with the domain's
    codes: ``weight_missing`` / ``weight_too_old`` (re-weigh first), ``weight_out_of_range``
    (the patient record's plausibility rule), ``dose_above_max``, ``concentration_out_of_range``,
    the session limits … The plan also carries the non-blocking BMI warning
    (``bmi_warning``; :func:`kapstone.domain.patients.check_bmi`).
    """
    if session.kind != DOSING or not session.dose_rule:
        raise WorkflowConflict("not_a_dosing_session", "Only a dosing session takes a dose order.")
    rule = _dose_rule(session)
    protocol = course_protocol(session.course)
    at = weight_moment(session)
    size = body_size(patient=session.patient_id, at=at)
    in_force = size.weight
    selected = select_weight(
        [(in_force.measured_at, in_force.pk, in_force.weight_kg)] if in_force is not None else [],
        at=at,
        session_date=session.scheduled_date,
        tz=ZoneInfo(session.clinic.timezone),
        max_age_days=protocol.weight_max_age_days,
    )
    chosen = rule.mg_per_kg if mg_per_kg in (None, "") else to_decimal(mg_per_kg, field="mg_per_kg")
    bolus = None
    if rule.bolus_mg_per_kg:
        # An adjusted dose keeps the protocol's split between bolus and infusion.
        bolus = (rule.bolus_mg_per_kg * chosen / rule.mg_per_kg).quantize(Decimal("0.001"))
    over_min = rule.maintenance_min if rule.route == "iv" else None
    try:
        calc = calculate_dose(
            weight_kg=selected.weight_kg,
            mg_per_kg=chosen,
            route=rule.route,
            over_min=over_min,
            bolus_mg_per_kg=bolus,
            concentration_mg_per_ml=concentration_mg_per_ml,
            bag_ml=bag_ml if rule.route == "iv" else None,
            max_mg_per_kg=rule.max_mg_per_kg,
        )
    except DomainError as error:
        if error.code != "weight_out_of_range":
            raise
        # A weight recorded before the plausibility rule narrowed: say how to get past it.
        raise DomainError(
            error.code,
            f"{error.message} If it was a mistake, void it on the chart and record the patient's weight.",
            field=error.field,
        ) from None
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
    return {
        "rule": rule,
        "calc": calc,
        "weight_measured_on": selected.measured_on,
        "weight_measured_at": selected.measured_at,
        "bolus_mg_per_kg": bolus,
        "bmi": size.bmi,
        "bmi_warning": size.bmi_warning,
    }


def dose_order_create(
    *,
    actor: User,
    session: CareSession,
    mg_per_kg: Any,
    concentration_mg_per_ml: Any,
    bag_ml: Any = None,
    adjustment_reason: str = "",
    at: datetime | None = None,
) -> DoseOrder:
    """A prescriber orders the dose of a cleared dosing session from the protocol's dose rule.

    A mg/kg other than the protocol's needs a written reason (``adjustment_reason_required``);
    it can never exceed the rule's maximum (``dose_above_max``). The gates registered by apps
    above dosing are consulted before anything is written (:mod:`kapstone.dosing.gates`; e.g.
    ``prescriber_decision_required``, the ASRA 2018 rule on active substance misuse).
    ``at``: when the order was written, for a record entered afterwards (None: now); never in
    the future nor before the day-of checks cleared the session (``time_out_of_order``).
    """
    if not has_role(actor, PRESCRIBERS, session.clinic_id):
        raise WorkflowConflict("prescriber_required", "Only a prescriber may order a dose.")
    # Required only when the dose differs from the protocol's (adjustment_reason_required, below).
    reason = clean_text(
        adjustment_reason,
        field="adjustment_reason",
        max_chars=REASON_MAX_CHARS,
        label="The reason for the adjusted dose",
    )
    with transaction.atomic():
        current = (
            CareSession.objects.select_for_update().select_related("course", "clinic").get(pk=session.pk)
        )
        if current.status != CLEARED:
            raise WorkflowConflict(
                "session_not_cleared",
                f"A dose is ordered for a cleared session; this one is {current.status}.",
            )
        if DoseOrder.objects.filter(session=current).exclude(status=OrderStatus.VOIDED).exists():
            raise WorkflowConflict(
                "order_exists", "This session already has a dose order; void it to write a new one."
            )
        if at is not None:
            session_step_check(current, at, what="The order", field="at")
        # Rules owned by apps above dosing (the ASRA rule of the dependence watch): gates.py.
        check_order_gates(current)
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
            adjustment_reason=reason,
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
            ordered_at=at or timezone.now(),
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


WEIGHT_CHANGED_MESSAGE = (
    "The patient's weight on the chart changed after this order was written, so the order was "
    "calculated on an earlier weight. It cannot be verified: the prescriber must void it and write "
    "a new order."
)


WEIGHT_CHANGED_START_MESSAGE = (
    "The patient's weight on the chart changed after this order was written, so the order was "
    "calculated on an earlier weight. Do not give it: the prescriber must void it and write a new order."
)


def order_weight_is_current(order: DoseOrder) -> bool:
    """Whether the order's weight is still the patient's weight in force for its session.

    A re-weigh after the order (or a void of the weight it used) makes the order stale: its dose
    was calculated on a weight the chart no longer shows. Compared by value, since the dose
    depends only on the value.
    """
    in_force = weight_in_force(patient=order.patient_id, at=weight_moment(order.session))
    return in_force is not None and in_force.weight_kg == order.weight_kg


def dose_order_verify(
    *, actor: User, order: DoseOrder, weight_kg: Any, concentration_mg_per_ml: Any, at: datetime | None = None
) -> DoseOrder:
    """The independent double check: a second clinician re-enters weight and concentration.

    Refused when the verifier ordered it (``verifier_must_differ``); when the weight in force
    changed after the order was written (``weight_changed_since_order``, 409, whatever was
    entered: a stale order must not pass even if someone re-enters its old weight; the message
    reveals neither weight nor dose); or when the values differ (``verification_mismatch``,
    naming the field but not the ordered value). A refused check is audited as ``denied`` and
    changes nothing. ``at``: when the check was done, for a record entered afterwards (None:
    now); never in the future nor before the order (``time_out_of_order``).
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
        if at is not None:
            session_step_check(
                CareSession.objects.select_related("clinic").get(pk=current.session_id),
                at,
                what="The verification",
                field="at",
                recorded=[("the dose was ordered", current.ordered_at)],
            )
    try:
        if not order_weight_is_current(current):
            raise WorkflowConflict("weight_changed_since_order", WEIGHT_CHANGED_MESSAGE, field="weight_kg")
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
        if not order_weight_is_current(current):  # a re-weigh entered while the check ran
            raise WorkflowConflict("weight_changed_since_order", WEIGHT_CHANGED_MESSAGE, field="weight_kg")
        current.status = OrderStatus.VERIFIED
        current.verified_by = actor
        current.verified_at = at or timezone.now()
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
    reason = clean_text(
        reason,
        field="reason",
        max_chars=REASON_MAX_CHARS,
        required=True,
        label="The reason",
        missing_message="Say why the order is voided.",
    )
    if not has_role(actor, PRESCRIBERS, order.clinic_id):
        raise WorkflowConflict("prescriber_required", "Only a prescriber may void a dose order.")
    with transaction.atomic():
        current = DoseOrder.objects.select_for_update().get(pk=order.pk)
        if current.status not in (OrderStatus.ORDERED, OrderStatus.VERIFIED):
            raise WorkflowConflict(
                "order_not_voidable", "An order that is being given or was given cannot be voided."
            )
        current.status, current.voided_by, current.voided_at = OrderStatus.VOIDED, actor, timezone.now()
        current.void_reason = reason
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


def _check_time(
    at: datetime,
    *,
    what: str,
    field: str,
    clinic_timezone: str,
    recorded: Sequence = (),
    after: Sequence = (),
) -> datetime:
    """A time of the administration record: not in the future, not before the steps in
    ``recorded`` and ``after`` (``(words, time)``), in the clinic's words (:func:`check_step_time`)."""
    return check_step_time(
        at,
        now=timezone.now(),
        what=what,
        recorded=recorded,
        after=after,
        tz=ZoneInfo(clinic_timezone),
        field=field,
    )


_RATE_EVENT_NAMES = {
    "change": "The rate change",
    "pause": "The pause",
    "resume": "The resumption",
}


def _last_rate_step(administration: Administration, *, include_stop: bool = True) -> tuple[str, datetime]:
    """The step a later time of the record must follow: the last rate event, or the start."""
    events = administration.rate_events.all()
    if not include_stop:
        events = events.exclude(kind="stop")
    last = events.order_by("-at", "-id").first()
    if last is None or last.kind == "start":
        return ("the administration started", administration.started_at)
    words = {
        "change": "the rate was changed",
        "pause": "the infusion was paused",
        "resume": "the infusion was resumed",
    }
    return (words.get(last.kind, "the infusion was stopped"), last.at)


def administration_start(
    *,
    actor: User,
    order: DoseOrder,
    started_at: datetime,
    lot: Lot | None = None,
    lots: Sequence[tuple[Lot, Any]] | None = None,
    bolus_given: bool = False,
    override_reason: str = "",
) -> Administration:
    """Start giving a verified order: dispense from the lot(s), start the pump, session in progress.

    The start follows the day-of checks, the order and its verification (``time_out_of_order``
    naming the step; a start typed in the minute of the verification is in order) and is not in
    the future (``time_in_future``). Then the start gates of the apps above dosing are consulted
    (:mod:`kapstone.dosing.gates`; the monitoring app's ``baseline_vitals_required``: a complete
    baseline set of vital signs within the protocol's window before the start). An overridable
    objection may be overridden by a prescriber with a written ``override_reason``
    (``override_requires_prescriber`` for anyone else); the override is stored
    (:class:`~kapstone.dosing.models.StartOverride`: gate, what was missing, reason, who, when)
    and audited in this transaction. A reason given where no gate objects is not stored.

    ``lots`` is the list of ``(lot, mg)`` the dose is drawn from, in the order drawn; ``lot``
    alone means the whole dose from that one lot. Each lot must be of the order's clinic
    (``lot_not_in_clinic``) and concentration (``lot_concentration_mismatch``); the amounts must
    add up to the dose (``lots_total_mismatch``, :func:`kapstone.domain.dosing.check_lot_split`).
    Every lot is dispensed in the register in this transaction, so an expired lot
    (``lot_expired``) or one without the stock (``insufficient_stock``) refuses the whole start
    and nothing is written.
    """
    if not has_role(actor, DOSING_CLINICIANS, order.clinic_id):
        raise WorkflowConflict("clinician_required", "Only a nurse or prescriber may give a dose.")
    if (lot is None) == (lots is None):
        raise DomainError("lots_required", "Name the vial lot(s) the dose is drawn from.", field="lots")
    reason = clean_text(
        override_reason, field="override_reason", max_chars=REASON_MAX_CHARS, label="The reason"
    )
    with transaction.atomic():
        current = DoseOrder.objects.select_for_update().get(pk=order.pk)
        if current.status != OrderStatus.VERIFIED:
            raise WorkflowConflict(
                "order_not_verified", "Only a verified order can be given: the double check comes first."
            )
        # A hard stop, never overridden: the dose was calculated on a weight the chart no longer
        # shows (a re-weigh after the order, or the weight it used was voided).
        if not order_weight_is_current(current):
            raise WorkflowConflict(
                "weight_changed_since_order", WEIGHT_CHANGED_START_MESSAGE, field="weight_kg"
            )
        # The session is locked before the gates read it (its vital signs are written under this lock).
        session = (
            CareSession.objects.select_for_update()
            .select_related("clinic", "course")
            .get(pk=current.session_id)
        )
        checks = (
            DayOfCheck.objects.filter(session=session, cleared=True).order_by("-recorded_at", "-id").first()
        )
        session_step_check(
            session,
            started_at,
            what="The start of the administration",
            field="started_at",
            recorded=[
                ("the day-of checks were completed", checks.recorded_at if checks else None),
                ("the dose was ordered", current.ordered_at),
                ("the order was verified", current.verified_at),
            ],
        )
        objections = _start_objections(actor=actor, session=session, started_at=started_at, reason=reason)
        pairs = [(lot, current.dose_mg)] if lot is not None else list(lots or [])
        split = check_lot_split([(item.pk, mg) for item, mg in pairs], dose_mg=current.dose_mg)
        chosen = [(item, mg) for (item, _), (_, mg) in zip(pairs, split, strict=True)]
        for item, _ in chosen:
            if item.clinic_id != current.clinic_id:
                raise WorkflowConflict(
                    "lot_not_in_clinic", "That lot belongs to another clinic.", field="lots"
                )
            if Decimal(item.product.strength_mg_per_ml) != Decimal(current.concentration_mg_per_ml):
                raise DomainError(
                    "lot_concentration_mismatch",
                    f"The order was calculated for {current.concentration_mg_per_ml} mg/mL; lot "
                    f"{item.lot_number} is {item.product.strength_mg_per_ml} mg/mL.",
                    field="lots" if lots is not None else "lot",
                )
        # The register locks lots in id order (its deadlock rule); the lines keep the order drawn.
        for item, mg in sorted(chosen, key=lambda pair: pair[0].pk):
            register_dispense(actor=actor, lot=item, session=session, amount_mg=mg, at=started_at)
        administration = Administration.objects.create(
            order=current,
            dispensed_mg=current.dose_mg,
            started_at=started_at,
            started_by=actor,
            bolus_given=bolus_given,
        )
        AdministrationLot.objects.bulk_create(
            AdministrationLot(administration=administration, lot=item, position=index, dispensed_mg=mg)
            for index, (item, mg) in enumerate(chosen, start=1)
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
        session_move_record(
            actor=actor, session=session, to=IN_PROGRESS, reason="dose administration started", at=started_at
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="administration",
            object_id=administration.pk,
            patient_id=current.patient_id,
            clinic_id=current.clinic_id,
            detail={"lots": len(chosen), "overrides": [o.code for o in objections]},
        )
        for objection in objections:
            override = StartOverride.objects.create(
                administration=administration,
                gate=objection.gate,
                code=objection.code,
                message=objection.message[:500],
                detail=objection.detail,
                reason=reason,
                overridden_by=actor,
                overridden_at=timezone.now(),
            )
            audit_record(
                actor=actor,
                action="create",
                object_type="start_override",
                object_id=override.pk,
                patient_id=current.patient_id,
                clinic_id=current.clinic_id,
                detail={"gate": objection.gate, "code": objection.code, **objection.detail},
            )
    return administration


def _start_objections(
    *, actor: User, session: CareSession, started_at: datetime, reason: str
) -> list[StartObjection]:
    """The start gates' objections, all overridden by ``reason``; refuses the start otherwise.

    A hard objection refuses whatever the reason; an overridable one needs a reason, and the
    reason needs a prescriber (the day-of checks' and the discharge's override rule)."""
    objections = start_objections(session, started_at)
    for objection in objections:
        if not objection.overridable or not reason:
            raise objection.as_error()
    if objections and not has_role(actor, PRESCRIBERS, session.clinic_id):
        raise WorkflowConflict(
            "override_requires_prescriber",
            f"Only a prescriber may start the administration anyway. {objections[0].message}",
            field="override_reason",
        )
    return objections


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
    reason = clean_text(
        reason,
        field="reason",
        max_chars=REASON_MAX_CHARS,
        required=kind in ("change", "pause"),
        label="The reason",
        missing_message=f"Give a reason to {kind} the infusion.",
    )
    with transaction.atomic():
        current = (
            Administration.objects.select_for_update()
            .select_related("order", "order__session__clinic")
            .get(pk=administration.pk)
        )
        if not current.is_running:
            raise WorkflowConflict("administration_ended", "This administration has ended.")
        if current.order.route != "iv":
            raise WorkflowConflict("not_an_infusion", "Only an infusion has a rate.")
        last = current.rate_events.order_by("-at", "-id").first()
        _check_time(
            at,
            what=_RATE_EVENT_NAMES[kind],
            field="at",
            clinic_timezone=current.order.session.clinic.timezone,
            after=[_last_rate_step(current)],
        )
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
            reason=reason,
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
    stop_reason = clean_text(
        stop_reason,
        field="stop_reason",
        max_chars=REASON_MAX_CHARS,
        required=stopped_early,
        label="The reason for stopping",
        missing_message="Say why the dose was stopped early.",
    )
    with transaction.atomic():
        current = (
            Administration.objects.select_for_update()
            .select_related("order", "order__session__clinic")
            .get(pk=administration.pk)
        )
        if not current.is_running:
            raise WorkflowConflict("administration_ended", "This administration has already ended.")
        order = current.order
        last = current.rate_events.order_by("-at", "-id").first()
        _check_time(
            ended_at,
            what="The end of the administration",
            field="ended_at",
            clinic_timezone=order.session.clinic.timezone,
            after=[_last_rate_step(current)],
        )
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
        lines = list(current.lots.select_related("lot").order_by("position", "id"))
        shares = split_given_by_lot([line.dispensed_mg for line in lines], given)
        if wasted > 0 and witness is None:
            raise DomainError(
                "witness_required",
                f"{wasted} mg is left over and must be wasted in front of a witness.",
                field="witness",
            )
        # Per lot, so every lot's register balances: waste what is left of it, then what was given.
        for line, (line_given, line_wasted) in sorted(
            zip(lines, shares, strict=True), key=lambda p: p[0].lot_id
        ):
            if line_wasted > 0:
                register_waste(
                    actor=actor,
                    witness=witness,
                    lot=line.lot,
                    session=session,
                    amount_mg=line_wasted,
                    reason=stop_reason or "remainder after administration",
                    at=ended_at,
                )
            if line_given > 0:
                register_administer(
                    actor=actor, lot=line.lot, session=session, amount_mg=line_given, at=ended_at
                )
            line.given_mg, line.wasted_mg = line_given, line_wasted
        AdministrationLot.objects.bulk_update(lines, ["given_mg", "wasted_mg"])
        if order.route == "iv":
            RateEvent.objects.create(
                administration=current,
                kind="stop",
                at=ended_at,
                rate=0,
                unit=(last.unit if last else "mg_per_min"),
                reason=stop_reason,
                recorded_by=actor,
                recorded_at=timezone.now(),
            )
        current.ended_at, current.ended_by, current.given_mg = ended_at, actor, given
        current.wasted_mg = max(wasted, Decimal(0))
        current.waste_witness = witness if wasted > 0 else None
        current.stopped_early, current.stop_reason = stopped_early, stop_reason
        current.save()
        order.status = OrderStatus.STOPPED if stopped_early else OrderStatus.COMPLETED
        order.save(update_fields=["status"])
        locked = CareSession.objects.select_for_update().get(pk=session.pk)
        if locked.status == IN_PROGRESS:
            session_move_record(
                actor=actor,
                session=locked,
                to=RECOVERING,
                reason=stop_reason or "dose administration completed",
                at=ended_at,
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


def _amendment_time(value: Any, *, tz) -> datetime:
    if isinstance(value, datetime):
        at = value
    else:
        try:
            at = datetime.fromisoformat(str(value or "").strip())
        except ValueError:
            raise DomainError(
                "invalid_datetime", "Give the time as YYYY-MM-DDTHH:MM.", field="new_value"
            ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=tz)
    return at


def _shown_time(at: datetime, tz) -> str:
    return at.astimezone(tz).isoformat(timespec="seconds")


def administration_amend(
    *,
    actor: User,
    administration: Administration,
    field: str,
    new_value: Any,
    reason: str,
    witness: User | None = None,
    lot_line: AdministrationLot | None = None,
) -> AdministrationAmendment:
    """Correct an ended administration by an amendment: nothing is edited without a trace.

    A nurse or prescriber of the clinic (``clinician_required``) corrects one field —
    ``ended_at``, ``stop_reason`` (only of a dose stopped early: ``not_stopped_early``), or the
    ``given_mg`` / ``wasted_mg`` of one vial lot (``lot_line``; it may be left out when there is
    one lot, else ``lot_required``) — with a reason (``reason_required``) to a different value
    (``amendment_unchanged``), once the administration has ended (``administration_running``).
    An amount needs a witness who is another active nurse or prescriber of the clinic
    (``witness_required``, ``witness_same_as_actor``, ``witness_not_in_clinic``), and writes the
    register correction of that lot in the same transaction
    (:func:`kapstone.inventory.services.register_session_correction`): more drug taken from a lot
    than it holds is refused with ``insufficient_stock``, so no balance goes negative. The
    administration's columns take the corrected value; the amendment keeps the old one.
    A refusal writes nothing.
    """
    order = administration.order
    if not has_role(actor, DOSING_CLINICIANS, order.clinic_id):
        raise WorkflowConflict("clinician_required", "Only a nurse or prescriber may amend the record.")
    if field not in AmendmentField.values:
        choices = ", ".join(AmendmentField.values)
        raise DomainError("invalid_field", f"Amend one of {choices}.", field="field")
    text = check_amendment_reason(reason)
    # What was typed, before the record's state: the same refusal however the record stands.
    stop_reason_text = (
        clean_text(
            new_value,
            field="new_value",
            name="stop_reason",
            max_chars=REASON_MAX_CHARS,
            required=True,
            label="The reason for stopping",
            missing_message="Give the reason for stopping.",
        )
        if field == AMEND_STOP_REASON
        else ""
    )
    with transaction.atomic():
        current = (
            Administration.objects.select_for_update()
            .select_related("order", "order__session", "order__session__clinic")
            .get(pk=administration.pk)
        )
        if current.is_running:
            raise WorkflowConflict(
                "administration_running",
                "The administration is still running: record it as it happens and amend it once ended.",
            )
        order = current.order
        tz = ZoneInfo(order.session.clinic.timezone)
        line = None
        if field == AMEND_ENDED_AT:
            at = _amendment_time(new_value, tz=tz)
            discharged = (
                SessionEvent.objects.filter(
                    session_id=order.session_id, kind="transition", to_state=DISCHARGED
                )
                .values_list("at", flat=True)
                .first()
            )
            _check_time(
                at,
                what="The corrected end",
                field="new_value",
                clinic_timezone=order.session.clinic.timezone,
                after=[_last_rate_step(current, include_stop=False)],
            )
            if discharged is not None and at > discharged:
                raise DomainError(
                    "time_out_of_order",
                    f"The corrected end ({describe_time(at, now=timezone.now(), tz=tz)}) is after the "
                    f"patient was discharged ({describe_time(discharged, now=timezone.now(), tz=tz)}).",
                    field="new_value",
                )
            if at == current.ended_at:
                raise DomainError(
                    "amendment_unchanged", "The record already has that end time.", field="new_value"
                )
            old, new = _shown_time(current.ended_at, tz), _shown_time(at, tz)
            current.ended_at = at
        elif field == AMEND_STOP_REASON:
            if not current.stopped_early:
                raise WorkflowConflict(
                    "not_stopped_early", "This dose was given in full; it has no reason for stopping."
                )
            value = stop_reason_text
            if value == current.stop_reason:
                raise DomainError("amendment_unchanged", "The record already says that.", field="new_value")
            old, new = current.stop_reason, value
            current.stop_reason = value
        else:
            lines = list(current.lots.select_related("lot", "lot__product").order_by("position", "id"))
            if lot_line is None:
                if len(lines) != 1:
                    raise DomainError(
                        "lot_required", "This dose was drawn from several lots: say which one.", field="lot"
                    )
                line = lines[0]
            else:
                line = next((item for item in lines if item.pk == lot_line.pk), None)
                if line is None:
                    raise DomainError("lot_line_invalid", "That lot was not used for this dose.", field="lot")
            others = sum((item.given_mg or Decimal(0) for item in lines if item.pk != line.pk), Decimal(0))
            correction = amend_lot_quantity(
                field=field,
                new_value=new_value,
                given_mg=line.given_mg or Decimal(0),
                wasted_mg=line.wasted_mg or Decimal(0),
                other_lots_given_mg=others,
                ordered_dose_mg=order.dose_mg,
            )
            _check_amendment_witness(actor=actor, witness=witness, clinic_id=order.clinic_id)
            old = str(line.given_mg if field == AMEND_GIVEN_MG else line.wasted_mg)
            new = str(correction.given_mg if field == AMEND_GIVEN_MG else correction.wasted_mg)
            register_session_correction(
                actor=actor,
                witness=witness,
                lot=line.lot,
                session=order.session,
                kind="administer" if field == AMEND_GIVEN_MG else "waste",
                delta_mg=correction.delta_mg,
                reason=f"amendment of administration {current.pk}, {field} {old} → {new} mg: {text}",
            )
            line.given_mg, line.wasted_mg = correction.given_mg, correction.wasted_mg
            line.dispensed_mg = correction.dispensed_mg
            line.save(update_fields=["given_mg", "wasted_mg", "dispensed_mg"])
            current.given_mg = sum((item.given_mg or Decimal(0) for item in lines), Decimal(0))
            current.wasted_mg = sum((item.wasted_mg or Decimal(0) for item in lines), Decimal(0))
            current.dispensed_mg = sum((item.dispensed_mg for item in lines), Decimal(0))
            if current.wasted_mg > 0 and current.waste_witness_id is None:
                current.waste_witness = witness
        current.save()
        amendment = AdministrationAmendment.objects.create(
            administration=current,
            lot_line=line,
            field=field,
            old_value=old,
            new_value=new,
            reason=text,
            amended_by=actor,
            amended_at=timezone.now(),
            witness=witness if field in QUANTITY_FIELDS else None,
        )
        audit_record(
            actor=actor,
            action="amend",
            object_type="administration",
            object_id=current.pk,
            patient_id=order.patient_id,
            clinic_id=order.clinic_id,
            detail={"field": field, "amendment_id": amendment.pk, "lot_line_id": line.pk if line else None},
        )
    return amendment


def _check_amendment_witness(*, actor: User, witness: User | None, clinic_id: int) -> None:
    if witness is None:
        raise DomainError(
            "witness_required",
            "A correction of an amount needs a second clinician as witness.",
            field="witness",
        )
    if witness.pk == actor.pk:
        raise DomainError("witness_same_as_actor", "The witness must be someone else.", field="witness")
    if not witness_is_eligible(witness, clinic_id):
        raise DomainError(
            "witness_not_in_clinic",
            "The witness must be an active nurse or prescriber of this clinic.",
            field="witness",
        )
