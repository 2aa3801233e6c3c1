"""Safety screens: a patient's adverse events, the report and update forms, an event with its
history, the prescriber's review and the close, the clinic's serious events awaiting review, the
dependence watch with its records and the prescriber's decision; and the chart section."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kapstone.accounts.access import clinic_ids_for, forbidden, has_role, require_roles
from kapstone.care.models import CareSession
from kapstone.domain.errors import DomainError
from kapstone.forms import add_domain_error, message_refusal
from kapstone.outcomes.selectors import cssrs_tasks_of
from kapstone.patients.selectors import patient_get_for_user
from kapstone.patients.services import clinic_today
from kapstone.safety import selectors, services
from kapstone.safety.access import SAFETY_PRESCRIBE, SAFETY_READ, SAFETY_RECORD
from kapstone.safety.forms import (
    AdverseEventForm,
    AdverseEventUpdateForm,
    CravingForm,
    DecisionForm,
    ExtraSessionRequestForm,
    MisuseForm,
    ReviewForm,
    SafetyPlanForm,
)
from kapstone.safety.suicide_gate import latest_cssrs, suicide_risk_refusal


def _status(request: HttpRequest) -> int:
    return 400 if request.method == "POST" else 200


def _event_fields(data: dict[str, Any]) -> dict[str, Any]:
    fields = {name: data[name] for name in services.UPDATABLE_FIELDS if name in data}
    fields["term_text"] = fields.get("term_text") or None
    fields["seriousness_criteria"] = list(fields.get("seriousness_criteria") or [])
    return fields


def _same(value: Any, current: Any) -> bool:
    """Whether a form value leaves the current one unchanged; the form shows times to the minute,
    so an untouched time is the stored one without its seconds."""
    if isinstance(value, datetime) and isinstance(current, datetime):
        return value == current.replace(second=0, microsecond=0) or value == current
    return value == current


# --- Adverse events ---------------------------------------------------------------------------


@require_roles(*SAFETY_READ)
@require_GET
def patient_events(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient, events = selectors.adverse_event_list_for_user(user=request.user, patient_id=patient_id)
    return render(
        request,
        "safety/event_list.html",
        {
            "patient": patient,
            "events": events,
            "can_report": has_role(request.user, SAFETY_RECORD, patient.clinic_id),
        },
    )


@require_roles(*SAFETY_RECORD)
@require_http_methods(["GET", "POST"])
def event_report(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id, roles=SAFETY_RECORD)
    sessions = list(CareSession.objects.filter(patient=patient).order_by("-scheduled_date", "-order")[:50])
    form = AdverseEventForm(
        request.POST or None, sessions=sessions, initial={"onset_at": timezone.localtime().replace(second=0)}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        session = next((s for s in sessions if s.pk == data.get("session")), None)
        try:
            event = services.adverse_event_report(
                actor=request.user, patient=patient, session=session, **_event_fields(data)
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "Adverse event reported.")
            return redirect("safety:event", event_id=event.pk)
    context = {"form": form, "patient": patient, "title": "Report an adverse event"}
    return render(request, "safety/form.html", context, status=_status(request))


@require_roles(*SAFETY_READ)
@require_GET
def event_detail(request: HttpRequest, event_id: int) -> HttpResponse:
    event = selectors.adverse_event_get_for_user(user=request.user, event_id=event_id)
    updates, reviews = selectors.adverse_event_history(event)
    clinic = event.clinic_id
    return render(
        request,
        "safety/event.html",
        {
            "event": event,
            "patient": event.patient,
            "updates": updates,
            "reviews": reviews,
            "can_update": event.is_open and has_role(request.user, SAFETY_RECORD, clinic),
            "can_review": event.is_open and has_role(request.user, SAFETY_PRESCRIBE, clinic),
            "can_close": event.is_open
            and has_role(request.user, SAFETY_PRESCRIBE if event.serious else SAFETY_RECORD, clinic),
        },
    )


@require_roles(*SAFETY_RECORD)
@require_http_methods(["GET", "POST"])
def event_update(request: HttpRequest, event_id: int) -> HttpResponse:
    event = selectors.adverse_event_get_for_user(user=request.user, event_id=event_id, roles=SAFETY_RECORD)
    initial = {name: getattr(event, name) for name in services.UPDATABLE_FIELDS}
    form = AdverseEventUpdateForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        reason = data.pop("reason")
        fields = _event_fields(data)
        current = _event_fields(initial)
        changes = {name: value for name, value in fields.items() if not _same(value, current.get(name))}
        try:
            services.adverse_event_update(actor=request.user, event=event, changes=changes, reason=reason)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "Adverse event updated; the previous values are kept.")
            return redirect("safety:event", event_id=event.pk)
    context = {"form": form, "patient": event.patient, "event": event, "title": "Update the adverse event"}
    return render(request, "safety/form.html", context, status=_status(request))


@require_roles(*SAFETY_PRESCRIBE)
@require_http_methods(["GET", "POST"])
def event_review(request: HttpRequest, event_id: int) -> HttpResponse:
    event = selectors.adverse_event_get_for_user(user=request.user, event_id=event_id, roles=SAFETY_PRESCRIBE)
    form = ReviewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.adverse_event_review(actor=request.user, event=event, note=form.cleaned_data["note"])
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "Review recorded.")
            return redirect("safety:event", event_id=event.pk)
    context = {"form": form, "patient": event.patient, "event": event, "title": "Review the adverse event"}
    return render(request, "safety/form.html", context, status=_status(request))


@require_roles(*SAFETY_RECORD)
@require_POST
def event_close(request: HttpRequest, event_id: int) -> HttpResponse:
    event = selectors.adverse_event_get_for_user(user=request.user, event_id=event_id, roles=SAFETY_RECORD)
    if event.serious and not has_role(request.user, SAFETY_PRESCRIBE, event.clinic_id):
        return forbidden(request, reason="role")
    try:
        services.adverse_event_close(actor=request.user, event=event)
    except DomainError as error:
        message_refusal(request, error)
    else:
        messages.success(request, "Adverse event closed.")
    return redirect("safety:event", event_id=event.pk)


@require_roles(*SAFETY_PRESCRIBE)
@require_GET
def serious_list(request: HttpRequest) -> HttpResponse:
    events = selectors.serious_awaiting_review_for_user(user=request.user, roles=SAFETY_PRESCRIBE)
    return render(
        request,
        "safety/serious_list.html",
        {"events": events, "many_clinics": len(clinic_ids_for(request.user, SAFETY_PRESCRIBE)) > 1},
    )


# --- Dependence watch ---------------------------------------------------------------------------


@require_roles(*SAFETY_READ)
@require_GET
def dependence(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient, watch = selectors.dependence_watch_for_user(user=request.user, patient_id=patient_id)
    return render(
        request,
        "safety/dependence.html",
        {
            "patient": patient,
            "watch": watch,
            "can_record": has_role(request.user, SAFETY_RECORD, patient.clinic_id),
            "can_decide": has_role(request.user, SAFETY_PRESCRIBE, patient.clinic_id),
        },
    )


def _dependence_form(request, patient_id, roles, form_class, title, save, initial=None) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id, roles=roles)
    form = form_class(request.POST or None, initial=initial or {})
    if request.method == "POST" and form.is_valid():
        try:
            save(patient, form.cleaned_data)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"{title}: saved.")
            return redirect("safety:dependence", patient_id=patient.pk)
    context = {"form": form, "patient": patient, "title": title}
    return render(request, "safety/form.html", context, status=_status(request))


@require_roles(*SAFETY_RECORD)
@require_http_methods(["GET", "POST"])
def extra_session_request(request: HttpRequest, patient_id: int) -> HttpResponse:
    def save(patient, data):
        services.extra_session_request_record(actor=request.user, patient=patient, **data)

    initial = {"requested_at": timezone.localtime().replace(second=0, microsecond=0)}
    return _dependence_form(
        request,
        patient_id,
        SAFETY_RECORD,
        ExtraSessionRequestForm,
        "Request for an extra session",
        save,
        initial,
    )


@require_roles(*SAFETY_RECORD)
@require_http_methods(["GET", "POST"])
def craving(request: HttpRequest, patient_id: int) -> HttpResponse:
    def save(patient, data):
        services.ketamine_craving_record(actor=request.user, patient=patient, **data)

    return _dependence_form(request, patient_id, SAFETY_RECORD, CravingForm, "Ketamine craving", save)


@require_roles(*SAFETY_RECORD)
@require_http_methods(["GET", "POST"])
def misuse(request: HttpRequest, patient_id: int) -> HttpResponse:
    def save(patient, data):
        services.misuse_document(actor=request.user, patient=patient, **data)

    return _dependence_form(request, patient_id, SAFETY_RECORD, MisuseForm, "Active substance misuse", save)


@require_roles(*SAFETY_PRESCRIBE)
@require_http_methods(["GET", "POST"])
def decision(request: HttpRequest, patient_id: int) -> HttpResponse:
    def save(patient, data):
        services.dependence_decision_record(actor=request.user, patient=patient, **data)

    return _dependence_form(request, patient_id, SAFETY_PRESCRIBE, DecisionForm, "Dosing decision", save)


# --- Safety plans (C-SSRS at high risk) ---------------------------------------------------------


@require_roles(*SAFETY_READ)
@require_http_methods(["GET", "POST"])
def safety_plans(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The latest C-SSRS screener, whether it holds dosing, the documented safety plans, and
    for a prescriber the form to document one (Stanley & Brown 2012)."""
    patient = patient_get_for_user(user=request.user, patient_id=patient_id, roles=SAFETY_READ)
    can_write = has_role(request.user, SAFETY_PRESCRIBE, patient.clinic_id)
    if request.method == "POST" and not can_write:
        return forbidden(request)
    form = SafetyPlanForm(request.POST or None) if can_write else None
    if request.method == "POST" and form.is_valid():
        try:
            services.safety_plan_record(actor=request.user, patient=patient, plan=form.cleaned_data["plan"])
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "Safety plan documented.")
            return redirect("safety:safety_plans", patient_id=patient.pk)
    context = {
        "patient": patient,
        "form": form,
        "screener": latest_cssrs(patient.pk),
        "hold": suicide_risk_refusal(patient.pk),
        "plans": selectors.safety_plans_of(patient),
    }
    return render(request, "safety/safety_plans.html", context, status=_status(request))


# --- Chart section ----------------------------------------------------------------------------


def _link(name: str, **kwargs: Any) -> str | None:
    """The URL of a safety page, or None while the safety URLs are not mounted (the chart must
    render either way)."""
    try:
        return reverse(f"safety:{name}", kwargs=kwargs)
    except NoReverseMatch:
        return None


def chart_section(user, patient, can_write: bool) -> dict[str, Any] | None:
    """Open serious events as a notice, recent adverse events and the dependence review flags.
    Covered by the chart's own read event."""
    if patient.clinic_id not in clinic_ids_for(user, SAFETY_READ):
        return None
    events = selectors.adverse_events_of(patient)
    for event in events:
        event.link = _link("event", event_id=event.pk)
    watch = selectors.dependence_watch(patient)
    can_record = patient.clinic_id in clinic_ids_for(user, SAFETY_RECORD)
    can_decide = patient.clinic_id in clinic_ids_for(user, SAFETY_PRESCRIBE)
    return {
        "serious_open": [e for e in events if e.serious and e.is_open],
        "events": events[:10],
        "event_count": len(events),
        "watch": watch,
        "today": clinic_today(patient.clinic),
        "links": {
            "events": _link("patient_events", patient_id=patient.pk),
            "report": _link("report", patient_id=patient.pk) if can_record else None,
            "dependence": _link("dependence", patient_id=patient.pk),
            "decision": _link("decision", patient_id=patient.pk) if can_decide else None,
            "safety_plans": _link("safety_plans", patient_id=patient.pk),
        },
        "suicide_hold": suicide_risk_refusal(patient.pk),
        "cssrs_task": next((t for t in cssrs_tasks_of(patient) if t.is_open), None),
    }
