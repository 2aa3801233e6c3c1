"""Dose order, independent verification and administration pages."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kapstone.accounts.access import DOSING_CLINICIANS, PATIENT_READ, PRESCRIBERS, has_role, require_roles
from kapstone.accounts.models import Role
from kapstone.accounts.selectors import witness_chosen, witnesses_for
from kapstone.care.selectors import session_get_for_user
from kapstone.domain.errors import DomainError
from kapstone.dosing import selectors, services
from kapstone.dosing.charts import COLOURS, pk_figure, pk_figure_for_order
from kapstone.dosing.forms import (
    AmendForm,
    CompleteForm,
    DoseOrderForm,
    RateEventForm,
    StartForm,
    VerifyForm,
    VoidForm,
)
from kapstone.dosing.gates import order_refusals, start_objections
from kapstone.dosing.models import AdministrationLot, OrderStatus
from kapstone.forms import add_domain_error
from kapstone.inventory.models import Lot


def _local(clinic) -> ZoneInfo:
    return ZoneInfo(clinic.timezone)


@require_roles(Role.PRESCRIBER)
@require_http_methods(["GET", "POST"])
def order_create(request: HttpRequest, session_id: int) -> HttpResponse:
    session = session_get_for_user(user=request.user, session_id=session_id, roles=PRESCRIBERS)
    rule = session.dose_rule or {}
    form = DoseOrderForm(
        request.POST or None, initial={"mg_per_kg": rule.get("mg_per_kg"), "concentration_mg_per_ml": "50"}
    )
    plan, figure, error = None, None, None
    data = form.data if form.is_bound else form.initial
    # Shown up front: a gate from an app above (the ASRA rule) that would refuse the signature.
    gates = order_refusals(session)
    gate = gates[0] if gates else None
    if not form.is_bound or form.is_valid():
        values = (
            form.cleaned_data
            if form.is_bound
            else {"mg_per_kg": rule.get("mg_per_kg"), "concentration_mg_per_ml": "50", "bag_ml": None}
        )
        try:
            plan = services.dose_plan(
                session=session,
                mg_per_kg=values["mg_per_kg"],
                concentration_mg_per_ml=values["concentration_mg_per_ml"],
                bag_ml=values.get("bag_ml"),
            )
            calc = plan["calc"]
            figure = pk_figure(
                weight_kg=calc.weight_kg,
                mg_per_kg=calc.mg_per_kg,
                route=calc.route,
                over_min=calc.over_min,
                bolus_mg_per_kg=plan["bolus_mg_per_kg"],
            )
        except DomainError as refusal:
            error = refusal
            if form.is_bound:
                add_domain_error(form, refusal)
    if request.method == "POST" and "sign" in request.POST and plan is not None and not form.errors:
        try:
            order = services.dose_order_create(actor=request.user, session=session, **form.cleaned_data)
        except DomainError as refusal:
            add_domain_error(form, refusal)
        else:
            messages.success(request, f"Ordered {order.dose_mg} mg. A second clinician must now verify it.")
            return redirect("dosing:order", order_id=order.pk)
    status = (
        400
        if request.method == "POST" and (form.errors or error or (gate and "sign" in request.POST))
        else 200
    )
    return render(
        request,
        "dosing/order_form.html",
        {
            "form": form,
            "session": session,
            "patient": session.patient,
            "rule": rule,
            "plan": plan,
            "figure": figure,
            "error": error,
            "gate": gate,
            "gates": gates,
            "data": data,
            "models": COLOURS,
        },
        status=status,
    )


def _usable_lots(order):
    today = timezone.now().astimezone(_local(order.session.clinic)).date()
    return list(
        Lot.objects.select_related("product", "location")
        .filter(
            clinic_id=order.clinic_id,
            product__strength_mg_per_ml=order.concentration_mg_per_ml,
            expiry__gte=today,
            balance_mg__gt=0,
        )
        .order_by("expiry", "lot_number")
    )


@require_roles(*PATIENT_READ)
@require_GET
def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    order = selectors.order_get_for_user(user=request.user, order_id=order_id)
    return render(request, "dosing/order.html", _order_context(request, order))


def _start_gate(user, order) -> tuple[list, bool]:
    """What the start gates object to now (shown before the nurse presses start), and whether
    this user may override it (a prescriber, and every objection overridable)."""
    if order.status != OrderStatus.VERIFIED or not has_role(user, DOSING_CLINICIANS, order.clinic_id):
        return [], False
    objections = start_objections(order.session, timezone.now())
    can_override = (
        bool(objections)
        and all(o.overridable for o in objections)
        and has_role(user, PRESCRIBERS, order.clinic_id)
    )
    return objections, can_override


def _order_context(request: HttpRequest, order, **forms_override) -> dict:
    user = request.user
    clinician = has_role(user, DOSING_CLINICIANS, order.clinic_id)
    administration = selectors.administration_of(order)
    now_local = timezone.now().astimezone(_local(order.session.clinic)).strftime("%Y-%m-%dT%H:%M")
    # Blind double check: until verified, only the orderer sees the order's numbers.
    blind = selectors.order_is_blind_for(user=user, order=order)
    objections, can_override = _start_gate(user, order)
    context = {
        "order": order,
        "session": order.session,
        "patient": order.patient,
        "administration": administration,
        "blind": blind,
        "figure": None if blind else pk_figure_for_order(order),
        "models": COLOURS,
        # A re-weigh since the order: say so to the verifier (without the weights) and the prescriber.
        "weight_changed": order.status in (OrderStatus.ORDERED, OrderStatus.VERIFIED)
        and not services.order_weight_is_current(order),
        "can_verify": clinician and order.status == OrderStatus.ORDERED and order.ordered_by_id != user.pk,
        "can_start": clinician and order.status == OrderStatus.VERIFIED,
        "can_void": has_role(user, PRESCRIBERS, order.clinic_id)
        and order.status in (OrderStatus.ORDERED, OrderStatus.VERIFIED),
        "can_run": clinician and administration is not None and administration.is_running,
        "verify_form": VerifyForm(),
        "void_form": VoidForm(),
        "start_form": StartForm(
            lots=_usable_lots(order), initial={"started_at": now_local}, override=can_override
        )
        if order.status == OrderStatus.VERIFIED
        else None,
        "start_objections": objections,
        "can_override": can_override,
        "rate_form": RateEventForm(initial={"at": now_local}),
        "complete_form": CompleteForm(
            witnesses=witnesses_for(clinic_id=order.clinic_id, exclude=user), initial={"ended_at": now_local}
        ),
        "can_amend": clinician and administration is not None and not administration.is_running,
        "amend_form": AmendForm(
            administration=administration, witnesses=witnesses_for(clinic_id=order.clinic_id, exclude=user)
        )
        if administration is not None
        else None,
    }
    context.update(forms_override)
    # A start refused by a gate is said once, in the gate's banner ("Start refused"), not twice.
    start_form = context["start_form"]
    gate_codes = {o.code for o in objections}
    errors = list(start_form.non_field_errors().as_data()) if start_form is not None else []
    context["start_errors"] = [e for e in errors if e.code not in gate_codes]
    context["start_refused"] = any(e.code in gate_codes for e in errors)
    return context


def _post_step(request, order_id, form_class, step, *, roles=DOSING_CLINICIANS, form_kwargs=None):
    order = selectors.order_get_for_user(user=request.user, order_id=order_id, roles=roles)
    with timezone.override(_local(order.session.clinic)):
        form = form_class(request.POST, **(form_kwargs(order) if form_kwargs else {}))
        if form.is_valid():
            try:
                message = step(order, form.cleaned_data)
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, message)
                return redirect("dosing:order", order_id=order.pk)
    key = {
        VerifyForm: "verify_form",
        VoidForm: "void_form",
        StartForm: "start_form",
        RateEventForm: "rate_form",
        CompleteForm: "complete_form",
        AmendForm: "amend_form",
    }[form_class]
    return render(request, "dosing/order.html", _order_context(request, order, **{key: form}), status=400)


@require_roles(*DOSING_CLINICIANS)
@require_POST
def order_verify(request: HttpRequest, order_id: int) -> HttpResponse:
    def step(order, data):
        services.dose_order_verify(actor=request.user, order=order, **data)
        return "Verified: the values match. The dose may be given."

    return _post_step(request, order_id, VerifyForm, step)


@require_roles(Role.PRESCRIBER)
@require_POST
def order_void(request: HttpRequest, order_id: int) -> HttpResponse:
    def step(order, data):
        services.dose_order_void(actor=request.user, order=order, reason=data["reason"])
        return "Order voided. Write a new order if the dose is still to be given."

    return _post_step(request, order_id, VoidForm, step, roles=PRESCRIBERS)


@require_roles(*DOSING_CLINICIANS)
@require_POST
def administration_start(request: HttpRequest, order_id: int) -> HttpResponse:
    if "add_lot" in request.POST:
        # No JavaScript needed: the same form again, with the nurse's input and one more lot row.
        order = selectors.order_get_for_user(user=request.user, order_id=order_id, roles=DOSING_CLINICIANS)
        rows = StartForm(request.POST, lots=())._bound_rows() + 1
        with timezone.override(_local(order.session.clinic)):
            form = StartForm(
                request.POST,
                lots=_usable_lots(order),
                rows=rows,
                override=_start_gate(request.user, order)[1],
            )
            return render(request, "dosing/order.html", _order_context(request, order, start_form=form))

    def step(order, data):
        chosen = [
            (Lot.objects.select_related("product").get(pk=pk, clinic_id=order.clinic_id), mg)
            for pk, mg in data["lines"]
        ]
        common = {
            "actor": request.user,
            "order": order,
            "started_at": data["started_at"],
            "bolus_given": data["bolus_given"],
            "override_reason": data["override_reason"],
        }
        if len(chosen) == 1 and chosen[0][1] is None:
            services.administration_start(lot=chosen[0][0], **common)
        else:
            services.administration_start(lots=chosen, **common)
        return "Administration started; the session is in progress."

    return _post_step(
        request,
        order_id,
        StartForm,
        step,
        form_kwargs=lambda order: {
            "lots": _usable_lots(order),
            "override": _start_gate(request.user, order)[1],
        },
    )


@require_roles(*DOSING_CLINICIANS)
@require_POST
def administration_rate(request: HttpRequest, order_id: int) -> HttpResponse:
    def step(order, data):
        administration = selectors.administration_of(order)
        if administration is None:
            raise DomainError("not_started", "The administration has not started.")
        services.administration_rate_event(actor=request.user, administration=administration, **data)
        return {"change": "Rate changed.", "pause": "Infusion paused.", "resume": "Infusion resumed."}[
            data["kind"]
        ]

    return _post_step(request, order_id, RateEventForm, step)


@require_roles(*DOSING_CLINICIANS)
@require_POST
def administration_complete(request: HttpRequest, order_id: int) -> HttpResponse:
    def step(order, data):
        administration = selectors.administration_of(order)
        if administration is None:
            raise DomainError("not_started", "The administration has not started.")
        witness = witness_chosen(clinic_id=order.clinic_id, user_id=data["witness"])
        done = services.administration_complete(
            actor=request.user,
            administration=administration,
            ended_at=data["ended_at"],
            witness=witness,
            stopped_early=data["stopped_early"],
            stop_reason=data["stop_reason"],
        )
        return f"Administration ended: {done.given_mg} mg given. The patient is now recovering."

    return _post_step(
        request,
        order_id,
        CompleteForm,
        step,
        form_kwargs=lambda order: {
            "witnesses": witnesses_for(clinic_id=order.clinic_id, exclude=request.user)
        },
    )


@require_roles(*DOSING_CLINICIANS)
@require_POST
def administration_amend(request: HttpRequest, order_id: int) -> HttpResponse:
    def step(order, data):
        administration = selectors.administration_of(order)
        if administration is None:
            raise DomainError("not_started", "The administration has not started.")
        field, _, line_id = data["target"].partition(":")
        line = (
            AdministrationLot.objects.filter(pk=line_id, administration=administration).first()
            if line_id
            else None
        )
        witness = witness_chosen(clinic_id=order.clinic_id, user_id=data["witness"])
        services.administration_amend(
            actor=request.user,
            administration=administration,
            field=field,
            new_value=data["new_value"],
            reason=data["reason"],
            witness=witness,
            lot_line=line,
        )
        return "Amendment recorded; the record shows the corrected value and its history."

    return _post_step(
        request,
        order_id,
        AmendForm,
        step,
        form_kwargs=lambda order: {
            "administration": selectors.administration_of(order),
            "witnesses": witnesses_for(clinic_id=order.clinic_id, exclude=request.user),
        },
    )


def session_panel(user, session) -> dict | None:
    """The dosing panel of a dosing session page: the live order, or the button to write one.

    Blind double check: while an order awaits its independent check, nobody but the orderer sees
    its numbers here either (dose, mg/kg, infusion time, the PK curve: the weight follows from
    them); the verifier sees "Order awaiting your independent check" and the link to it. Once
    verified, what the start gates still object to (the baseline vital signs) is shown before
    the nurse opens the order to start it."""
    if session.kind != "dosing":
        return None
    order = selectors.live_order(session)
    administration = selectors.administration_of(order) if order else None
    blind = order is not None and selectors.order_is_blind_for(user=user, order=order)
    objections = _start_gate(user, order)[0] if order is not None else []
    return {
        "order": order,
        "administration": administration,
        "blind": blind,
        "can_verify": blind and has_role(user, DOSING_CLINICIANS, session.clinic_id),
        "start_objections": objections,
        "figure": pk_figure_for_order(order) if order is not None and not blind else None,
        "can_order": order is None
        and session.status == "cleared"
        and has_role(user, PRESCRIBERS, session.clinic_id),
        "voided": [
            o for o in selectors.orders_for_session(session=session) if o.status == OrderStatus.VOIDED
        ],
    }
