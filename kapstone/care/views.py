"""Care pathway pages: protocols, enrolment, course timeline, sessions, day-of checks, day board."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kapstone.accounts.access import (
    ADMINS,
    ALL_STAFF,
    CARE_TEAM,
    CLINICAL,
    DOSING_CLINICIANS,
    PATIENT_READ,
    PRESCRIBERS,
    clinic_ids_for,
    forbidden,
    has_role,
    require_roles,
)
from kapstone.accounts.models import Role
from kapstone.accounts.selectors import clinics_of
from kapstone.care import selectors, services
from kapstone.care.forms import (
    CloneForm,
    CourseStatusForm,
    DayOfChecksForm,
    EnrolForm,
    RescheduleForm,
    TransitionForm,
)
from kapstone.care.notes import notes_context
from kapstone.care.panels import session_panels_for
from kapstone.care.protocols import protocols_for_clinics
from kapstone.domain.errors import DomainError
from kapstone.domain.protocols import DOSING, SETTING_LABELS, eligibility_in_words
from kapstone.domain.sessions import allowed_transitions, describe_day_of_rules
from kapstone.domain.sessions import state_label as state_word
from kapstone.forms import FilterDateField, FreeTextField, add_domain_error, message_refusal
from kapstone.patients.selectors import patient_get_for_user
from kapstone.patients.services import clinic_today

ACTION_LABELS = {
    "checked_in": "Check in",
    "cleared": "Clear",
    "in_progress": "Start",
    "recovering": "End dosing",
    "discharged": "Discharge",
    "stopped": "Stop",
    "no_show": "No-show",
    "cancelled": "Cancel",
}


def state_label(session) -> str:
    if session.status == "discharged" and session.kind != DOSING:
        return "Completed"
    return state_word(session.status)


# --- Protocols --------------------------------------------------------------------------------


@require_roles(*ALL_STAFF)
@require_GET
def protocol_list(request: HttpRequest) -> HttpResponse:
    clinic_ids = clinic_ids_for(request.user, ALL_STAFF)
    clinics = {c.pk: c for c in clinics_of(request.user, ALL_STAFF)}
    rows = [(p, clinics.get(owner)) for p, owner in protocols_for_clinics(clinic_ids)]
    return render(
        request,
        "care/protocol_list.html",
        {"rows": rows, "can_clone": bool(clinic_ids_for(request.user, ADMINS))},
    )


def _protocol_for_request(request: HttpRequest, slug: str, version: int):
    for protocol, owner in protocols_for_clinics(clinic_ids_for(request.user, ALL_STAFF)):
        if protocol.slug == slug and protocol.version == version:
            return protocol, owner
    raise Http404("protocol")


@require_roles(*ALL_STAFF)
@require_GET
def protocol_detail(request: HttpRequest, slug: str, version: int) -> HttpResponse:
    protocol, owner = _protocol_for_request(request, slug, version)
    return render(
        request,
        "care/protocol_detail.html",
        {
            "protocol": protocol,
            "owner": owner,
            "can_clone": bool(clinic_ids_for(request.user, ADMINS)),
            "day_of_rows": describe_day_of_rules(protocol.day_of),
            "setting_label": SETTING_LABELS[protocol.setting],
            "eligibility": eligibility_in_words(protocol.eligibility),
        },
    )


def _clone_fields(protocol) -> list[tuple[str, str, forms.Field]]:
    """The adjustable parameters offered on the clone form: (form name, protocol path, field)."""
    fields = [
        ("title", "title", FreeTextField(max_length=200, initial=protocol.title)),
        (
            "setting",
            "setting",
            forms.TypedChoiceField(
                label="Setting",
                choices=list(SETTING_LABELS.items()),
                initial=protocol.setting,
                required=False,  # left empty: unchanged
                empty_value=None,
                help_text="Where the course runs. The trial's setting is preselected.",
            ),
        ),
        (
            "setting_adaptation",
            "setting_adaptation",
            FreeTextField(
                label="How this clinic adapts the trial's setting",
                max_length=1000,
                required=False,
                initial=protocol.setting_adaptation,
                widget=forms.Textarea(attrs={"rows": 2}),
                help_text="Required when the setting differs from the trial's (e.g. an inpatient infusion given to outpatients).",
            ),
        ),
        (
            "min_observation_min",
            "monitoring.min_observation_min",
            forms.IntegerField(
                label="Minimum observation after dosing (min)",
                initial=protocol.monitoring.min_observation_min,
            ),
        ),
        (
            "vitals_interval_min",
            "monitoring.vitals_interval_min",
            forms.IntegerField(
                label="Vitals interval during dosing (min)", initial=protocol.monitoring.vitals_interval_min
            ),
        ),
        (
            "min_days_between_dosing",
            "limits.min_days_between_dosing",
            forms.IntegerField(
                label="Minimum days between dosing sessions", initial=protocol.limits.min_days_between_dosing
            ),
        ),
        (
            "fasting_min_hours",
            "day_of.fasting_min_hours",
            forms.DecimalField(
                label="Fasting before dosing (hours)", initial=protocol.day_of.fasting_min_hours
            ),
        ),
        (
            "clear_fluids_min_hours",
            "day_of.clear_fluids_min_hours",
            forms.DecimalField(
                label="Clear fluids allowed until this many hours before dosing",
                initial=protocol.day_of.clear_fluids_min_hours,
                required=False,  # left empty: unchanged
            ),
        ),
    ]
    listed = {rule.check for rule in protocol.day_of.checks}
    for check, path, label, initial in (
        ("alcohol_withdrawal", "day_of.ciwa_ar_stop_at", "Alcohol withdrawal: CIWA-Ar total that stops the day's dose",
         protocol.day_of.ciwa_ar_stop_at),
        ("opioid_withdrawal", "day_of.cows_stop_at", "Opioid withdrawal: COWS total that stops the day's dose",
         protocol.day_of.cows_stop_at),
    ):  # fmt: skip
        if check in listed:
            name = path.removeprefix("day_of.")
            fields.append((name, path, forms.IntegerField(label=label, initial=initial, required=False)))
    for index, template in enumerate(protocol.sessions):
        if template.dose is not None:
            fields.append(
                (
                    f"dose_{index}",
                    f"sessions.{index}.dose.mg_per_kg",
                    forms.DecimalField(
                        label=f"{template.title}: dose (mg/kg, max {template.dose.max_mg_per_kg})",
                        initial=template.dose.mg_per_kg,
                        max_digits=5,
                        decimal_places=3,
                    ),
                )
            )
    return fields


@require_roles(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def protocol_clone(request: HttpRequest, slug: str, version: int) -> HttpResponse:
    protocol, _ = _protocol_for_request(request, slug, version)
    admin_clinics = clinics_of(request.user, ADMINS)
    form = CloneForm(request.POST or None)
    adjustable = _clone_fields(protocol)
    for name, _, field in adjustable:
        form.fields[name] = field
    if len(admin_clinics) > 1:
        form.fields["clinic_id"] = forms.TypedChoiceField(
            coerce=int, choices=[(c.pk, c.name) for c in admin_clinics]
        )
    if request.method == "POST" and form.is_valid():
        changes = {}
        for name, path, field in adjustable:
            value = form.cleaned_data[name]
            if value is not None and value != field.initial:
                changes[path] = str(value) if isinstance(value, Decimal) else value
        clinic_id = form.cleaned_data.get("clinic_id") or admin_clinics[0].pk
        try:
            clone = services.protocol_clone_create(
                actor=request.user,
                clinic_id=clinic_id,
                slug=slug,
                version=version,
                changes=changes,
                note=form.cleaned_data["note"],
            )
        except DomainError as error:
            add_domain_error(form, _field_for_path(error, adjustable))
        else:
            messages.success(request, f"Saved {clone.slug} version {clone.version} for {clone.clinic.name}.")
            return redirect("care:protocol_detail", slug=clone.slug, version=clone.version)
    return render(
        request,
        "care/protocol_clone.html",
        {"form": form, "protocol": protocol},
        status=400 if request.method == "POST" else 200,
    )


def _field_for_path(error: DomainError, adjustable) -> DomainError:
    """Point a domain error about a protocol path at the form field that edits it."""
    for name, path, _ in adjustable:
        if error.field and (error.field == path or error.field.startswith(path.rsplit(".", 1)[0] + ".")):
            return DomainError(error.code, error.message, field=name)
    return error


# --- Courses ----------------------------------------------------------------------------------


@require_roles(Role.PRESCRIBER)
@require_http_methods(["GET", "POST"])
def course_enrol(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id, roles=PRESCRIBERS)
    protocols = [p for p, _ in protocols_for_clinics([patient.clinic_id])]
    form = EnrolForm(
        request.POST or None, protocols=protocols, initial={"start_date": clinic_today(patient.clinic)}
    )
    if request.method == "POST" and form.is_valid():
        slug, _, version = form.cleaned_data["protocol"].partition("@")
        try:
            course = services.course_enrol(
                actor=request.user,
                patient=patient,
                protocol_slug=slug,
                protocol_version=int(version),
                start_date=form.cleaned_data["start_date"],
                arm=form.cleaned_data["arm"],
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(
                request, f"Enrolled in {course.protocol_title}: {course.sessions.count()} sessions scheduled."
            )
            return redirect("care:course", course_id=course.pk)
    return render(
        request,
        "care/enrol.html",
        {"form": form, "patient": patient, "protocols": protocols},
        status=400 if request.method == "POST" else 200,
    )


@require_roles(*PATIENT_READ)
@require_GET
def course_detail(request: HttpRequest, course_id: int) -> HttpResponse:
    course = selectors.course_get_for_user(user=request.user, course_id=course_id)
    sessions = list(course.sessions.order_by("scheduled_date", "order"))
    for session in sessions:
        session.label = state_label(session)
    protocol = services.course_protocol(course)
    last_dosing = max((s.scheduled_date for s in sessions if s.kind == DOSING), default=None)
    from kapstone.domain.protocols import follow_up_dates

    follow_ups = follow_up_dates(protocol, last_dosing) if last_dosing else []
    return render(
        request,
        "care/course.html",
        {
            "course": course,
            "patient": course.patient,
            "sessions": sessions,
            "protocol": protocol,
            "follow_ups": follow_ups,
            "events": course.events.select_related("actor").all(),
            "can_change": has_role(request.user, PRESCRIBERS, course.clinic_id),
            "status_form": CourseStatusForm(),
        },
    )


@require_roles(Role.PRESCRIBER)
@require_POST
def course_status(request: HttpRequest, course_id: int) -> HttpResponse:
    course = selectors.course_get_for_user(user=request.user, course_id=course_id, roles=PRESCRIBERS)
    form = CourseStatusForm(request.POST)
    if form.is_valid():
        try:
            services.course_change_status(
                actor=request.user,
                course=course,
                action=form.cleaned_data["action"],
                reason=form.cleaned_data["reason"],
            )
        except DomainError as error:
            message_refusal(request, error)
        else:
            messages.success(request, "Course updated.")
    else:
        messages.error(request, "Choose an action.")
    return redirect("care:course", course_id=course.pk)


# --- Sessions ---------------------------------------------------------------------------------


def _session_roles_ok(request: HttpRequest, session) -> bool:
    """Dosing sessions are moved by nurses and prescribers; therapy sessions by any clinician."""
    roles = DOSING_CLINICIANS if session.kind == DOSING else CLINICAL
    return has_role(request.user, roles, session.clinic_id)


@require_roles(*PATIENT_READ)
@require_GET
def session_detail(request: HttpRequest, session_id: int) -> HttpResponse:
    session = selectors.session_get_for_user(user=request.user, session_id=session_id)
    return session_page(request, session)


def session_page(
    request: HttpRequest,
    session,
    *,
    status: int = 200,
    panel_overrides: dict[str, dict[str, Any]] | None = None,
) -> HttpResponse:
    """The session page of a session already read through the scoped selector. An app above care
    re-renders it with a refused form of its panel (``panel_overrides``, panel key → context) and
    ``status`` 400, so the errors show beside the fields on this page rather than on a bare form."""
    events, checks = selectors.session_history(session=session)
    moves = (
        sorted(allowed_transitions(session.status, dosing=session.is_dosing))
        if _session_roles_ok(request, session)
        else []
    )
    if session.is_dosing:
        # Clearing happens through the day-of checks, starting and ending through the dose
        # administration (which writes the register): not by a bare state change.
        moves = [m for m in moves if m not in ("cleared", "in_progress", "recovering", "discharged")]
    return render(
        request,
        "care/session.html",
        {
            "session": session,
            "patient": session.patient,
            "label": state_label(session),
            "events": events,
            "checks": checks,
            "latest_check": checks[0] if checks else None,
            "moves": [(m, ACTION_LABELS.get(m, m), m in ("stopped", "cancelled")) for m in moves],
            "can_check": session.is_dosing
            and session.status == "checked_in"
            and has_role(request.user, DOSING_CLINICIANS, session.clinic_id),
            "can_reschedule": session.status == "scheduled"
            and has_role(request.user, CARE_TEAM, session.clinic_id),
            **notes_context(request.user, session),
            "panels": session_panels_for(user=request.user, session=session, overrides=panel_overrides),
        },
        status=status,
    )


@require_roles(*CLINICAL)
@require_POST
def session_transition(request: HttpRequest, session_id: int) -> HttpResponse:
    session = selectors.session_get_for_user(user=request.user, session_id=session_id, roles=CLINICAL)
    if not _session_roles_ok(request, session):
        return forbidden(request, reason="role")
    form = TransitionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose the next state.")
    else:
        try:
            services.session_transition(
                actor=request.user,
                session=session,
                to=form.cleaned_data["to"],
                reason=form.cleaned_data["reason"],
            )
        except DomainError as error:
            message_refusal(request, error)
        else:
            session.refresh_from_db()
            messages.success(request, f"Session is now {state_label(session).lower()}.")
    target = request.POST.get("next", "")
    if target == "board":
        return redirect("care:board")
    return redirect("care:session", session_id=session.pk)


@require_roles(*DOSING_CLINICIANS)
@require_http_methods(["GET", "POST"])
def day_of_checks(request: HttpRequest, session_id: int) -> HttpResponse:
    session = selectors.session_get_for_user(
        user=request.user, session_id=session_id, roles=DOSING_CLINICIANS
    )
    protocol = services.course_protocol(session.course)
    is_prescriber = has_role(request.user, PRESCRIBERS, session.clinic_id)
    form = DayOfChecksForm(
        request.POST or None,
        rules=protocol.day_of,
        can_override=is_prescriber,
        # Ticked unless the recorded sex at birth is male: for a woman, an intersex patient or a
        # sex at birth not known (e.g. imported without it), the pregnancy test is asked unless
        # the nurse deliberately says otherwise.
        initial={"childbearing_potential": session.patient.sex_at_birth != "male"},
    )
    result = None
    if request.method == "POST" and form.is_valid():
        try:
            row = services.day_of_checks_record(
                actor=request.user,
                session=session,
                inputs=form.inputs(),
                overrides=form.overrides(),
                actor_is_prescriber=is_prescriber,
            )
        except DomainError as error:
            if error.field and error.field.startswith("overrides."):
                # Beside the reason's own field on the form: override_<check>.
                field = "override_" + error.field.removeprefix("overrides.")
                error = DomainError(error.code, error.message, field=field)
            add_domain_error(form, error)
        else:
            if row.cleared:
                messages.success(request, "All day-of checks passed: the session is cleared for dosing.")
                return redirect("care:session", session_id=session.pk)
            result = row.result
    consent_ok = services.treatment_consent_current(session.patient)
    status = 200 if request.method == "GET" else 400
    return render(
        request,
        "care/day_of_checks.html",
        {
            "form": form,
            "session": session,
            "patient": session.patient,
            "result": result,
            "consent_ok": consent_ok,
            "fasting_hours": protocol.day_of.fasting_min_hours,
        },
        status=status,
    )


@require_roles(*CARE_TEAM)
@require_http_methods(["GET", "POST"])
def session_reschedule(request: HttpRequest, session_id: int) -> HttpResponse:
    session = selectors.session_get_for_user(user=request.user, session_id=session_id, roles=CARE_TEAM)
    form = RescheduleForm(
        request.POST or None,
        initial={
            "scheduled_date": session.scheduled_date,
            "start_time": session.start_time,
            "room": session.room,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.session_reschedule(actor=request.user, session=session, **form.cleaned_data)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "Session rescheduled.")
            return redirect("care:session", session_id=session.pk)
    return render(
        request,
        "care/reschedule.html",
        {"form": form, "session": session, "patient": session.patient},
        status=400 if request.method == "POST" else 200,
    )


class BoardForm(forms.Form):
    date = FilterDateField()


@require_roles(*CARE_TEAM)
@require_GET
def day_board(request: HttpRequest) -> HttpResponse:
    form = BoardForm(request.GET or None)
    clinics = clinics_of(request.user, CARE_TEAM)
    today = clinic_today(clinics[0]) if clinics else date.today()  # noqa: DTZ011 - no clinic: server day
    day = (
        form.cleaned_data["date"]
        if form.is_bound and form.is_valid() and form.cleaned_data["date"]
        else today
    )
    sessions = selectors.sessions_for_user(user=request.user, day=day)
    for session in sessions:
        session.label = state_label(session)
        session.next_moves = [
            (m, ACTION_LABELS.get(m, m))
            for m in sorted(allowed_transitions(session.status, dosing=session.is_dosing))
            if m in ("checked_in", "in_progress", "no_show", "discharged")
            and not (session.is_dosing and m in ("in_progress", "discharged"))
        ]
        session.needs_checks = session.is_dosing and session.status == "checked_in"
    rooms: dict[str, list] = {}
    for session in sessions:
        rooms.setdefault(session.room or "Unassigned room", []).append(session)
    context = {
        "form": form,
        "day": day,
        "today": today,
        "rooms": sorted(rooms.items()),
        "count": len(sessions),
        "by_status": _count_by(sessions),
    }
    if request.htmx:
        return render(request, "care/_board_rooms.html", context)
    return render(request, "care/board.html", context)


def _count_by(sessions) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for session in sessions:
        counts[session.label] = counts.get(session.label, 0) + 1
    return sorted(counts.items())


# --- Chart section ----------------------------------------------------------------------------


def chart_section(user, patient, can_write: bool) -> dict:
    courses = selectors.course_list_for_patient(patient=patient)
    for course in courses:
        course.timeline = sorted(course.sessions.all(), key=lambda s: (s.scheduled_date, s.order))
        for session in course.timeline:
            session.label = state_label(session)
    return {"courses": courses, "can_enrol": has_role(user, PRESCRIBERS, patient.clinic_id)}
