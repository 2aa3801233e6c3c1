"""Outcome screens: a patient's questionnaires and the questionnaire form, the clinic's
clinical-flag worklist and acknowledgement, the one-screen use calendar, toxicology results,
and the follow-up worklist with its record form."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from kapstone.accounts.access import ADMINS, clinic_ids_for, forbidden, require_roles
from kapstone.accounts.selectors import clinics_of
from kapstone.care.selectors import course_get_for_user
from kapstone.care.services import course_protocol
from kapstone.domain import instruments, tlfb
from kapstone.domain.errors import DomainError
from kapstone.forms import RECORD_ID_MAX, parse_int, parse_month
from kapstone.outcomes import selectors, services
from kapstone.outcomes.access import FLAG_ACKNOWLEDGE, OUTCOMES_READ, OUTCOMES_RECORD
from kapstone.outcomes.forms import (
    SUBSTANCES,
    AcknowledgeForm,
    CssrsDueHoursForm,
    FollowUpForm,
    QuestionnaireForm,
    ToxicologyForm,
    UseCalendarForm,
    add_outcome_error,
)
from kapstone.outcomes.models import EntrySource
from kapstone.patients.models import Patient
from kapstone.patients.selectors import patient_get_for_user
from kapstone.patients.services import clinic_today

#: Instruments staff enter here; the CADSS is recorded during a session by monitoring. CIWA-Ar,
#: COWS and the C-SSRS screener are clinician-administered and entered by staff only (not in the
#: portal: ``instruments.SELF_REPORT_INSTRUMENTS``).
STAFF_INSTRUMENTS = ("audit", "audit-c", "pacs", "phq-9", "gad-7", "dast-10", "ciwa-ar", "cows", "c-ssrs")
DEFAULT_WITHIN_DAYS = 14
MAX_WITHIN_DAYS = 365


def _can_record(user, patient: Patient) -> bool:
    return patient.clinic_id in clinic_ids_for(user, OUTCOMES_RECORD)


def _status(request: HttpRequest) -> int:
    return 400 if request.method == "POST" else 200


# --- Questionnaires ----------------------------------------------------------------------------


@require_roles(*OUTCOMES_READ)
@require_GET
def questionnaire_list(request: HttpRequest, patient_id: int) -> HttpResponse:
    history = selectors.questionnaire_list_for_user(user=request.user, patient_id=patient_id)
    context = {
        "patient": history.patient,
        "responses": history.responses,
        "flags": history.flags,
        "instruments": [instruments.get_instrument(code) for code in STAFF_INSTRUMENTS],
        "can_record": _can_record(request.user, history.patient),
    }
    return render(request, "outcomes/questionnaire_list.html", context)


def _time_points(patient: Patient):
    """(course, choices) for the patient's latest course: baseline and each follow-up month."""
    course = patient.courses.order_by("-start_date", "-id").first()
    if course is None:
        return None, ()
    months = course_protocol(course).follow_up_months
    return course, [(str(services.BASELINE), "Baseline")] + [(str(m), f"{m}-month follow-up") for m in months]


@require_roles(*OUTCOMES_RECORD)
@require_http_methods(["GET", "POST"])
def questionnaire_new(request: HttpRequest, patient_id: int, instrument: str) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id, roles=OUTCOMES_RECORD)
    if instrument not in STAFF_INSTRUMENTS:
        raise Http404("instrument")
    definition = instruments.get_instrument(instrument)
    ask_sex = definition.requires_sex and patient.sex_at_birth not in instruments.SEXES
    course, time_points = _time_points(patient)
    form = QuestionnaireForm(
        request.POST or None,
        definition=definition,
        ask_sex=ask_sex,
        time_points=time_points,
        initial={"administered_on": clinic_today(patient.clinic)},
    )
    if request.method == "POST" and form.is_valid():
        time_point = form.cleaned_data.get("time_point")
        try:
            response = services.questionnaire_record(
                actor=request.user,
                patient=patient,
                instrument=definition.code,
                answers=form.answers(),
                sex=form.cleaned_data.get("sex"),
                course=course if time_point is not None else None,
                time_point_months=time_point,
                administered_on=form.cleaned_data["administered_on"],
            )
        except DomainError as error:
            add_outcome_error(form, error)
        else:
            band = instruments.band_label(definition.code, response.band)
            band_words = f", {band}" if band else ""
            messages.success(request, f"{definition.display_name} saved: total {response.total}{band_words}.")
            if response.flags:
                raised = [rule.description for rule in definition.flag_rules if rule.code in response.flags]
                messages.warning(
                    request,
                    "Alert raised for the patient's clinicians: "
                    + " ".join(raised)
                    + " See the alert on the chart.",
                )
            return redirect("outcomes:questionnaires", patient_id=patient.pk)
    context = {"form": form, "patient": patient, "definition": definition}
    return render(request, "outcomes/questionnaire_form.html", context, status=_status(request))


# --- Clinical flags ----------------------------------------------------------------------------


@require_roles(*OUTCOMES_READ)
@require_GET
def flag_list(request: HttpRequest) -> HttpResponse:
    include_acknowledged = request.GET.get("all") == "1"
    flags = selectors.flag_list_for_user(user=request.user, include_acknowledged=include_acknowledged)
    context = {
        "flags": flags,
        "include_acknowledged": include_acknowledged,
        "cssrs_tasks": selectors.cssrs_tasks_open_for_user(user=request.user),
        "now": timezone.now(),
        "can_set_cssrs_time": bool(clinic_ids_for(request.user, ADMINS)),
    }
    return render(request, "outcomes/flag_list.html", context)


@require_roles(*ADMINS)
@require_http_methods(["GET", "POST"])
def cssrs_due_hours(request: HttpRequest) -> HttpResponse:
    """A clinic admin sets the time to complete the C-SSRS after a PHQ-9 item 9 above 0."""
    clinics = clinics_of(request.user, ADMINS)
    current = [(clinic, services.cssrs_due_hours(clinic.pk)) for clinic in clinics]
    form = CssrsDueHoursForm(
        request.POST or None,
        clinics=clinics,
        initial={
            "clinic": clinics[0].pk if clinics else None,
            "due_hours": current[0][1] if current else None,
        },
    )
    if request.method == "POST" and form.is_valid():
        clinic = next(c for c in clinics if c.pk == form.cleaned_data["clinic"])
        try:
            services.cssrs_due_hours_set(
                actor=request.user, clinic=clinic, due_hours=form.cleaned_data["due_hours"]
            )
        except DomainError as error:
            add_outcome_error(form, error)
        else:
            hours = form.cleaned_data["due_hours"]
            messages.success(request, f"{clinic.name}: the C-SSRS is now due {hours} hours after the PHQ-9.")
            return redirect("outcomes:cssrs_due_hours")
    context = {"form": form, "current": current}
    return render(request, "outcomes/cssrs_due_hours.html", context, status=_status(request))


@require_roles(*FLAG_ACKNOWLEDGE)
@require_http_methods(["GET", "POST"])
def flag_acknowledge(request: HttpRequest, flag_id: int) -> HttpResponse:
    flag = selectors.flag_get_for_user(user=request.user, flag_id=flag_id, roles=FLAG_ACKNOWLEDGE)
    form = AcknowledgeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.flag_acknowledge(actor=request.user, flag=flag, note=form.cleaned_data["note"])
        except DomainError as error:
            add_outcome_error(form, error)
        else:
            messages.success(request, "Alert acknowledged.")
            return redirect("outcomes:flags")
    context = {"flag": flag, "patient": flag.patient, "form": form, "open": selectors.is_open(flag)}
    return render(request, "outcomes/flag_acknowledge.html", context, status=_status(request))


# --- Use calendar ------------------------------------------------------------------------------


def _month(value: str | None, today: date) -> date:
    first = parse_month(value) or today.replace(day=1)
    return min(first, today.replace(day=1))


def _shift_month(first: date, months: int) -> date:
    index = first.month - 1 + months
    return date(first.year + index // 12, index % 12 + 1, 1)


@require_roles(*OUTCOMES_READ)
@require_http_methods(["GET", "POST"])
def use_calendar(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id, roles=OUTCOMES_READ, audit=False)
    if request.method == "POST" and not _can_record(request.user, patient):
        return forbidden(request, reason="role")
    today = clinic_today(patient.clinic)
    params = request.POST if request.method == "POST" else request.GET
    known = list(dict.fromkeys([*SUBSTANCES, *selectors.substances_of(patient)]))
    substance = params.get("substance") if params.get("substance") in known else tlfb.ALCOHOL
    first = _month(params.get("month"), today)
    last = min(first.replace(day=calendar.monthrange(first.year, first.month)[1]), today)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    patient, rows, summary = selectors.use_calendar_for_user(
        user=request.user, patient_id=patient.pk, substance=substance, start=first, end=last
    )
    initial = {"amount_unit": next((r.amount_unit for r in rows.values() if r.amount_unit), "")}
    for day, row in rows.items():
        key = day.isoformat()
        initial[f"marker_{key}"] = row.marker
        if substance == tlfb.ALCOHOL:
            initial[f"drinks_{key}"] = row.standard_drinks
        else:
            initial[f"used_{key}"] = "yes" if row.used else "no"
            initial[f"amount_{key}"] = row.amount
    form = UseCalendarForm(request.POST or None, substance=substance, days=days, initial=initial)
    if request.method == "POST" and form.is_valid():
        entries = form.entries()
        try:
            if not entries:
                raise DomainError("no_days", "Fill in at least one day.")
            written = services.use_days_record(
                actor=request.user, patient=patient, substance=substance, days=entries
            )
        except DomainError as error:
            add_outcome_error(form, error, fields_by_index=form.fields_by_index())
        else:
            messages.success(
                request,
                f"Calendar saved: {len(written)} day{'s' if len(written) != 1 else ''} entered or changed.",
            )
            url = reverse("outcomes:use_calendar", args=[patient.pk])
            return redirect(f"{url}?substance={substance}&month={first:%Y-%m}")
    context = {
        "patient": patient,
        "form": form,
        "grid": form.rows(),
        "substance": substance,
        "substances": known,
        "month": first,
        "summary": summary,
        "can_record": _can_record(request.user, patient),
        "previous_month": _shift_month(first, -1),
        "next_month": _shift_month(first, 1) if _shift_month(first, 1) <= today else None,
        "test_days": {t.collected_on for t in summary.tests if t.result == "positive"},
        # Days whose current entry the patient made in the portal.
        "patient_days": {day for day, row in rows.items() if row.source == EntrySource.PATIENT},
    }
    return render(request, "outcomes/use_calendar.html", context, status=_status(request))


# --- Toxicology --------------------------------------------------------------------------------


@require_roles(*OUTCOMES_READ)
@require_http_methods(["GET", "POST"])
def toxicology(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient, tests = selectors.toxicology_list_for_user(user=request.user, patient_id=patient_id)
    can_record = _can_record(request.user, patient)
    if request.method == "POST" and not can_record:
        return forbidden(request, reason="role")
    form = ToxicologyForm(request.POST or None, initial={"collected_on": clinic_today(patient.clinic)})
    if request.method == "POST" and form.is_valid():
        try:
            rows = services.toxicology_record(
                actor=request.user,
                patient=patient,
                collected_on=form.cleaned_data["collected_on"],
                method=form.cleaned_data["method"],
                results=form.results(),
            )
        except DomainError as error:
            add_outcome_error(form, error, fields_by_index=form.fields_by_index())
        else:
            messages.success(request, f"{len(rows)} result{'s' if len(rows) != 1 else ''} recorded.")
            return redirect("outcomes:tests", patient_id=patient.pk)
    context = {"patient": patient, "tests": tests, "form": form, "can_record": can_record}
    return render(request, "outcomes/tests.html", context, status=_status(request))


# --- Follow-ups --------------------------------------------------------------------------------


def _within_days(value: str | None) -> int:
    # A number is held to the range shown; anything else (or a number no one means) is the default.
    days = parse_int(value, low=-RECORD_ID_MAX, high=RECORD_ID_MAX)
    return DEFAULT_WITHIN_DAYS if days is None else max(0, min(days, MAX_WITHIN_DAYS))


@require_roles(*OUTCOMES_READ)
@require_GET
def follow_up_list(request: HttpRequest) -> HttpResponse:
    worklist = selectors.follow_up_worklist_for_user(
        user=request.user, within_days=_within_days(request.GET.get("days"))
    )
    can_record = bool(clinic_ids_for(request.user, OUTCOMES_RECORD))
    # The clinic's open alerts head its outcomes worklist, so a self-harm flag is not missed.
    flags = selectors.flag_list_for_user(user=request.user)
    context = {
        "worklist": worklist,
        "can_record": can_record,
        "flags": flags,
        "can_acknowledge": bool(clinic_ids_for(request.user, FLAG_ACKNOWLEDGE)),
        "cssrs_tasks": selectors.cssrs_tasks_open_for_user(user=request.user),
        "now": timezone.now(),
    }
    return render(request, "outcomes/follow_up_list.html", context)


@require_roles(*OUTCOMES_RECORD)
@require_http_methods(["GET", "POST"])
def follow_up_record(request: HttpRequest, course_id: int, months: int) -> HttpResponse:
    course = course_get_for_user(user=request.user, course_id=course_id, roles=OUTCOMES_RECORD)
    form = FollowUpForm(request.POST or None, initial={"done_on": clinic_today(course.clinic)})
    if request.method == "POST" and form.is_valid():
        try:
            services.follow_up_record(
                actor=request.user, course=course, months=months, done_on=form.cleaned_data["done_on"]
            )
        except DomainError as error:
            add_outcome_error(form, error)
        else:
            messages.success(request, f"{months}-month follow-up recorded.")
            return redirect("outcomes:follow_ups")
    context = {"course": course, "patient": course.patient, "months": months, "form": form}
    return render(request, "outcomes/follow_up_form.html", context, status=_status(request))
