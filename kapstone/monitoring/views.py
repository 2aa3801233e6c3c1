"""Monitoring pages: the nurse's vitals form, alert acknowledgement, the live board, discharge."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from kapstone.accounts.access import (
    DOSING_CLINICIANS,
    PATIENT_READ,
    PRESCRIBERS,
    clinic_ids_for,
    has_role,
    require_roles,
)
from kapstone.accounts.selectors import witnesses_for
from kapstone.care.selectors import session_get_for_user
from kapstone.care.views import session_page, state_label
from kapstone.domain import monitoring as rules
from kapstone.domain.errors import DomainError, DomainErrors, WorkflowConflict
from kapstone.forms import add_domain_error, parse_record_id
from kapstone.monitoring import selectors, services
from kapstone.monitoring.charts import vitals_figure
from kapstone.monitoring.forms import (
    AcknowledgeForm,
    AldreteForm,
    CadssForm,
    DischargeForm,
    DissociationAttestationForm,
    ObservationVoidForm,
    VitalsForm,
)
from kapstone.monitoring.models import ScaleScore
from kapstone.monitoring.notices import board_notices_for

#: board in under a second).
BOARD_POLL_MS = 500
SEVERITY_WORDS = {"critical": "Critical", "warning": "Warning"}
#: Sets on one page of a session's recorded values (a device feed records one every few seconds).
RECORDED_SETS_PER_PAGE = 60


def _local_now(session) -> str:
    return timezone.now().astimezone(ZoneInfo(session.clinic.timezone)).strftime("%Y-%m-%dT%H:%M")


def _vitals_errors(form: VitalsForm, error: DomainError) -> None:
    """Put every refusal of a batch (fields ``observations[i].value`` / ``.observed_at``) beside the
    form field it came from: the value's own field, or the one Time field (said once)."""
    items = form.observations()
    shown: set[tuple[str | None, str]] = set()
    for one in error.errors if isinstance(error, DomainErrors) else (error,):
        field = one.field
        match = re.fullmatch(r"observations\[(\d+)\]\.(\w+)", one.field or "")
        if match:
            index, key = int(match.group(1)), match.group(2)
            field = (
                "observed_at"
                if key == "observed_at"
                else items[index]["code"]
                if index < len(items)
                else None
            )
        if (field, one.message) not in shown:
            shown.add((field, one.message))
            add_domain_error(form, DomainError(one.code, one.message, field=field))


def monitoring_context(user, session, **overrides) -> dict:
    """Everything the session's monitoring panel shows (latest set, alerts, checks, chart)."""
    now = timezone.now()
    times = selectors.session_times(session)
    # Read in the database, not from the whole record: a monitor-fed session holds thousands of
    # values (bench/bench_chart_page.py), and the page's work must not grow with them.
    by_code = selectors.recent_by_code(session, per_code=1)
    latest = [
        {
            "code": code,
            "label": d.label,
            "value": by_code[code][0].value,
            "unit": d.unit_display,
            "at": by_code[code][0].observed_at,
        }
        for code, d in rules.OBSERVATION_DEFINITIONS.items()
        if code in by_code
    ]
    thresholds = selectors.alert_thresholds(session)
    series = selectors.chart_points(session, thresholds, times)
    alerts = selectors.alerts_of(session)
    for alert in alerts:
        alert.escalate = (
            alert.is_open
            and alert.acknowledged_at is None
            and rules.escalation_due(alert.escalation_from, alert.severity, now, thresholds)
        )
    clinician = has_role(user, DOSING_CLINICIANS, session.clinic_id)
    monitored = session.status in selectors.MONITORED_STATES
    set_times = selectors.set_times(session)
    context = {
        "times": times,
        "latest": latest,
        "alerts": alerts,
        "severity_words": SEVERITY_WORDS,
        # An alert that ended because its value was entered in error is history, not a task.
        "open_alerts": [a for a in alerts if a.acknowledged_at is None and not a.entered_in_error],
        "recorded": recorded_values_context(
            session, selectors.recorded_sets(session, set_times[: selectors.RECENT_SETS])
        ),
        "set_count": set_times.count(),
        "recent_sets": selectors.RECENT_SETS,
        "can_void": clinician and monitored,
        "checks": selectors.checks_in_db(session, times, now) if times.dosing_started_at or monitored else [],
        "chart_thinned": series.thinned,
        "figure": vitals_figure(
            observations=series.points,
            thresholds=thresholds,
            timezone_name=session.clinic.timezone,
            dosing_started_at=times.dosing_started_at,
            dosing_ended_at=times.dosing_ended_at,
            cadss_scores=ScaleScore.objects.filter(session=session, scale="cadss").order_by(
                "observed_at", "id"
            ),
        ),
        "can_record": clinician and monitored,
        "can_acknowledge": clinician,
        "can_discharge": clinician and session.status == "recovering",
        "vitals_form": VitalsForm(initial={"observed_at": _local_now(session)}),
        "ack_form": AcknowledgeForm(witnesses=witnesses_for(clinic_id=session.clinic_id, exclude=user))
        if clinician
        else None,
    }
    context.update(overrides)
    return context


def recorded_values_context(session, sets: list[selectors.RecordedSet]) -> dict:
    """The table of recorded sets: a column for each code recorded in them, in the catalogue's
    order, headed by its short label, its name and its unit."""
    present = {code for one in sets for code in one.values}
    columns = [
        {
            "code": code,
            "short": selectors.SHORT_LABELS.get(code, d.label),
            "label": d.label,
            "unit": d.unit_display,
        }
        for code, d in rules.OBSERVATION_DEFINITIONS.items()
        if code in present
    ]
    rows = [
        {"set": one, "cells": [(column, one.values.get(column["code"], [])) for column in columns]}
        for one in sets
    ]
    return {"columns": columns, "rows": rows, "session": session}


def session_panel(user, session) -> dict | None:
    """The monitoring panel of a dosing session page (registered in ``apps.py``)."""
    if session.kind != "dosing" or session.status in ("scheduled", "no_show", "cancelled"):
        return None
    return monitoring_context(user, session)


@require_roles(*DOSING_CLINICIANS)
@require_http_methods(["GET", "POST"])
def vitals_entry(request: HttpRequest, session_id: int) -> HttpResponse:
    """Record a set from the session page's form.

    A refused set comes back on the session page with every refusal beside its field and every
    value kept: with htmx the form alone is swapped in (status 400), without JavaScript the whole
    session page is rendered again (status 400). The form has no page of its own: a GET goes to
    the session page.
    """
    session = session_get_for_user(user=request.user, session_id=session_id, roles=DOSING_CLINICIANS)
    session_url = reverse("care:session", args=[session.pk])
    if request.method == "GET":
        return redirect(session_url + "#record-vitals")
    with timezone.override(ZoneInfo(session.clinic.timezone)):
        form = VitalsForm(request.POST, initial={"observed_at": _local_now(session)})
        if form.is_valid():
            try:
                alerts = services.vitals_record(
                    actor=request.user, session=session, observations=form.observations()
                )
            except WorkflowConflict as conflict:
                # The session's state refuses any set (e.g. discharged meanwhile): its page says so.
                messages.error(request, conflict.message)
                return HttpResponseClientRedirect(session_url) if request.htmx else redirect(session_url)
            except DomainError as error:
                _vitals_errors(form, error)
            else:
                if alerts:
                    for alert in alerts:
                        messages.warning(
                            request, f"{SEVERITY_WORDS[alert.severity]} alert: {alert.title}. {alert.message}"
                        )
                else:
                    messages.success(request, "Vital signs recorded. No alert.")
                return HttpResponseClientRedirect(session_url) if request.htmx else redirect(session_url)
        if request.htmx:
            return render(
                request, "monitoring/_vitals_form.html", {"form": form, "session": session}, status=400
            )
        return session_page(
            request, session, status=400, panel_overrides={"monitoring": {"vitals_form": form}}
        )


@require_roles(*PATIENT_READ)
@require_GET
def recorded_values(request: HttpRequest, session_id: int) -> HttpResponse:
    """Every set recorded in a session, newest first, a page at a time, with the values marked
    entered in error struck through (the session page shows the newest few)."""
    session = session_get_for_user(user=request.user, session_id=session_id)
    page = Paginator(selectors.set_times(session), RECORDED_SETS_PER_PAGE).get_page(
        parse_record_id(request.GET.get("page")) or 1
    )
    clinician = has_role(request.user, DOSING_CLINICIANS, session.clinic_id)
    return render(
        request,
        "monitoring/recorded_values.html",
        {
            "session": session,
            "patient": session.patient,
            "page": page,
            "recorded": recorded_values_context(session, selectors.recorded_sets(session, page.object_list)),
            "can_void": clinician and session.status in selectors.MONITORED_STATES,
        },
    )


@require_roles(*DOSING_CLINICIANS)
@require_http_methods(["GET", "POST"])
def observation_void(request: HttpRequest, session_id: int, observation_id: int) -> HttpResponse:
    """Mark one value entered in error, with a reason; back to the session page, where it is
    struck through and the alerts and discharge criteria no longer count it."""
    observation = selectors.observation_get_for_user(
        user=request.user, session_id=session_id, observation_id=observation_id, roles=DOSING_CLINICIANS
    )
    session = observation.session
    definition = rules.OBSERVATION_DEFINITIONS.get(observation.code)
    label = definition.label if definition else rules.title_for(observation.code)
    unit = definition.unit_display if definition else observation.unit
    form = ObservationVoidForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.observation_void(
                actor=request.user, observation=observation, reason=form.cleaned_data["reason"]
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            with timezone.override(ZoneInfo(session.clinic.timezone)):
                at = timezone.localtime(observation.observed_at).strftime("%H:%M")
            words = {"label": label, "value": f"{observation.value.normalize():f}", "unit": unit, "at": at}
            messages.success(
                request,
                gettext(
                    "%(label)s %(value)s %(unit)s at %(at)s marked entered in error. "
                    "The alerts and the discharge criteria no longer count it."
                )
                % words,
            )
            return redirect(reverse("care:session", args=[session.pk]) + "#recorded-values")
    return render(
        request,
        "monitoring/observation_void.html",
        {
            "form": form,
            "observation": observation,
            "label": label,
            "unit": unit,
            "session": session,
            "patient": session.patient,
            "closed": session.status not in selectors.MONITORED_STATES,
            "state": state_label(session),
        },
        status=400 if request.method == "POST" else 200,
    )


@require_roles(*DOSING_CLINICIANS)
@require_http_methods(["GET", "POST"])
def alert_acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = selectors.alert_get_for_user(user=request.user, alert_id=alert_id, roles=DOSING_CLINICIANS)
    session = alert.session
    witnesses = witnesses_for(clinic_id=alert.clinic_id, exclude=request.user)
    form = AcknowledgeForm(request.POST if request.method == "POST" else None, witnesses=witnesses)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        witness = next((u for u in witnesses if u.pk == data["witness"]), None)
        try:
            services.alert_acknowledge(
                actor=request.user, alert=alert, action=data["action"], note=data["note"], witness=witness
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            action = dict(AcknowledgeForm.base_fields["action"].choices)[data["action"]]
            messages.success(request, f"{alert.title} acknowledged: {str(action).lower()}.")
            if request.POST.get("next") == "board":
                return redirect("monitoring:board")
            return redirect("care:session", session_id=session.pk)
    return render(
        request,
        "monitoring/acknowledge.html",
        {
            "form": form,
            "alert": alert,
            "session": session,
            "patient": session.patient,
            "severity_words": SEVERITY_WORDS,
        },
        status=400 if request.method == "POST" else 200,
    )


def _board_context(request: HttpRequest, token: str) -> dict:
    now = timezone.now()
    sessions = selectors.board_sessions_for_user(user=request.user, roles=DOSING_CLINICIANS)
    notices = board_notices_for(
        user=request.user,
        clinic_ids=clinic_ids_for(request.user, DOSING_CLINICIANS),
        session_ids=[s.pk for s in sessions],
    )
    rows = selectors.board_rows(sessions, now, notices)
    for row in rows:
        row["state"] = state_label(row["session"])  # the session page's words for its state
    return {
        "rows": rows,
        # The banner: clinic-wide notices; those about a session on the board are also in its row.
        "notices": [n for n in notices if n.session_id is None],
        "severity_words": SEVERITY_WORDS,
        "updated": now,
        "token": token,
        "poll_ms": BOARD_POLL_MS,
        "ack_form": AcknowledgeForm(),
    }


@require_roles(*DOSING_CLINICIANS)
@require_GET
def board(request: HttpRequest) -> HttpResponse:
    # The token is taken before the rows are read: a change in between makes the next poll differ.
    token = selectors.board_token(user=request.user, roles=DOSING_CLINICIANS, now=timezone.now())
    context = _board_context(request, token)
    if request.htmx:
        return render(request, "monitoring/_board_rows.html", context)
    return render(request, "monitoring/board.html", context)


@require_roles(*DOSING_CLINICIANS)
@require_GET
def board_poll(request: HttpRequest) -> HttpResponse:
    """The board's change check: 204 (htmx swaps nothing) while the board's token is still
    ``?since=``; otherwise the re-rendered board, which carries the new token in its poller.

    Polled every ``BOARD_POLL_MS`` by each board screen, so a vitals POST shows within about half
    a second while the full board is rendered only when something on it changed (or the minute
    turned). Polling rather than server-sent events: an SSE stream holds one server thread per
    open screen for as long as it is open, which a WSGI deployment (runserver threads, gunicorn
    sync workers) cannot afford; a poll answered 204 costs a few indexed aggregate queries.
    """
    token = selectors.board_token(user=request.user, roles=DOSING_CLINICIANS, now=timezone.now())
    if request.GET.get("since") == token:
        return HttpResponse(status=204)
    return render(request, "monitoring/_board_rows.html", _board_context(request, token))


def _discharge_context(request, session, form, aldrete_form, attestation_form=None) -> dict:
    discharge = getattr(session, "discharge", None) if session.status == "discharged" else None
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    evaluation = None
    if discharge is None:
        evaluation = selectors.discharge_evaluation(
            session=session,
            now=timezone.now(),
            escort_confirmed=bool(data.get("escort_confirmed")),
            driving_advice_given=bool(data.get("driving_advice_given")),
        )
    dissociation = (
        next((c for c in evaluation.criteria if c.code == "dissociation_resolved"), None)
        if evaluation
        else None
    )
    return {
        "session": session,
        "patient": session.patient,
        "form": form,
        "aldrete_form": aldrete_form,
        "evaluation": evaluation,
        "dissociation": dissociation,
        "dissociation_check": selectors.dissociation_check(session).method,
        "attestation_form": attestation_form or DissociationAttestationForm(),
        "attestations": selectors.dissociation_attestations_of(session),
        "can_override": has_role(request.user, PRESCRIBERS, session.clinic_id),
        "discharge": discharge,
    }


@require_roles(*DOSING_CLINICIANS)
@require_http_methods(["GET", "POST"])
def discharge(request: HttpRequest, session_id: int) -> HttpResponse:
    session = session_get_for_user(user=request.user, session_id=session_id, roles=DOSING_CLINICIANS)
    form = DischargeForm(request.POST if request.method == "POST" else None)
    aldrete_form = AldreteForm(initial={"observed_at": _local_now(session)})
    if request.method == "POST" and form.is_valid():
        try:
            services.session_discharge(actor=request.user, session=session, **form.cleaned_data)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "The patient is discharged.")
            return redirect("care:session", session_id=session.pk)
    return render(
        request,
        "monitoring/discharge.html",
        _discharge_context(request, session, form, aldrete_form),
        status=400 if request.method == "POST" else 200,
    )


@require_roles(*DOSING_CLINICIANS)
@require_POST
def aldrete_record(request: HttpRequest, session_id: int) -> HttpResponse:
    session = session_get_for_user(user=request.user, session_id=session_id, roles=DOSING_CLINICIANS)
    with timezone.override(ZoneInfo(session.clinic.timezone)):
        aldrete_form = AldreteForm(request.POST)
        if aldrete_form.is_valid():
            try:
                score = services.scale_record(
                    actor=request.user,
                    session=session,
                    scale="aldrete",
                    answers=aldrete_form.answers(),
                    observed_at=aldrete_form.cleaned_data["observed_at"],
                )
            except DomainError as error:
                add_domain_error(aldrete_form, error)
            else:
                messages.success(request, f"Modified Aldrete {score.total} recorded.")
                return redirect("monitoring:discharge", session_id=session.pk)
    return render(
        request,
        "monitoring/discharge.html",
        _discharge_context(request, session, DischargeForm(), aldrete_form),
        status=400,
    )


@require_roles(*DOSING_CLINICIANS)
@require_POST
def dissociation_attest(request: HttpRequest, session_id: int) -> HttpResponse:
    """A clinician attests that dissociation has resolved (protocols whose discharge uses it)."""
    session = session_get_for_user(user=request.user, session_id=session_id, roles=DOSING_CLINICIANS)
    form = DissociationAttestationForm(request.POST)
    if form.is_valid():
        try:
            services.dissociation_attest(actor=request.user, session=session, note=form.cleaned_data["note"])
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "Dissociation resolved: attestation recorded.")
            return redirect("monitoring:discharge", session_id=session.pk)
    return render(
        request,
        "monitoring/discharge.html",
        _discharge_context(request, session, DischargeForm(), AldreteForm(), attestation_form=form),
        status=400,
    )


@require_roles(*DOSING_CLINICIANS)
@require_http_methods(["GET", "POST"])
def cadss_record(request: HttpRequest, session_id: int) -> HttpResponse:
    """The dissociation scale during and after dosing, with the session's earlier totals."""
    session = session_get_for_user(user=request.user, session_id=session_id, roles=DOSING_CLINICIANS)
    with timezone.override(ZoneInfo(session.clinic.timezone)):
        form = CadssForm(
            request.POST if request.method == "POST" else None, initial={"observed_at": _local_now(session)}
        )
        if request.method == "POST" and form.is_valid():
            try:
                score = services.scale_record(
                    actor=request.user,
                    session=session,
                    scale="cadss",
                    answers=form.answers(),
                    observed_at=form.cleaned_data["observed_at"],
                )
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, f"CADSS {score.total} of 92 recorded.")
                return redirect("care:session", session_id=session.pk)
        earlier = list(
            ScaleScore.objects.filter(session=session, scale="cadss").order_by("observed_at", "id")
        )
        return render(
            request,
            "monitoring/cadss.html",
            {"form": form, "session": session, "patient": session.patient, "earlier": earlier},
            status=400 if request.method == "POST" else 200,
        )
