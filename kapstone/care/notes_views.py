"""Pages of therapy notes and group sessions.

Reads go through the selectors in ``kapstone.care.notes`` (scoped, audited, 404 for missing and
not-yours); writes through its services. Someone else's draft answers 403 rather than 404: the
note is in the user's clinic and they may read it, so hiding it would be a pretence; they may
not change it.
"""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kapstone.accounts.access import clinic_ids_for, forbidden, has_role, require_roles
from kapstone.accounts.selectors import clinics_of
from kapstone.care import notes, selectors
from kapstone.care.models import TherapyNote
from kapstone.care.notes_forms import AddendumForm, AddPatientForm, AttendanceForm, GroupForm, NoteForm
from kapstone.domain.errors import DomainError
from kapstone.domain.protocols import DOSING
from kapstone.forms import add_domain_error, message_refusal
from kapstone.patients.services import clinic_today_for_user

NOTE_READ = notes.NOTE_READ
NOTE_WRITE = notes.NOTE_WRITE


def _note_text(form: NoteForm) -> dict[str, str]:
    return {name: form.cleaned_data[name] for name in notes.NOTE_FIELDS}


def _wants_sign(request: HttpRequest) -> bool:
    return request.POST.get("action") == "sign"


# --- Notes ------------------------------------------------------------------------------------


@require_roles(*NOTE_WRITE)
@require_http_methods(["GET", "POST"])
def session_note_create(request: HttpRequest, session_id: int) -> HttpResponse:
    session = selectors.session_get_for_user(user=request.user, session_id=session_id, roles=NOTE_WRITE)
    own = notes.note_by_author(author=request.user, session=session)
    if request.method == "GET":
        if session.kind == DOSING:
            messages.error(request, "Therapy notes are for preparation, integration and follow-up sessions.")
            return redirect("care:session", session_id=session.pk)
        if own is not None:
            return redirect("care:note", note_id=own.pk)
    form = NoteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            note = notes.note_create(
                actor=request.user, session=session, sign=_wants_sign(request), **_note_text(form)
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "Note signed and locked." if note.is_signed else "Draft saved.")
            return redirect("care:note", note_id=note.pk)
    return render(
        request,
        "care/notes/note_form.html",
        {
            "form": form,
            "patient": session.patient,
            "session": session,
            "group": session.group_session,
            "cancel_url": reverse("care:session", args=[session.pk]),
            "creating": True,
        },
        status=400 if request.method == "POST" else 200,
    )


def _group_note_page(request: HttpRequest, group_id: int, patient_id: int | None) -> HttpResponse:
    group = notes.group_get_for_user(user=request.user, group_id=group_id, roles=NOTE_WRITE)
    patient = (
        notes.group_member_get(user=request.user, group=group, patient_id=patient_id)
        if patient_id is not None
        else None
    )
    own = notes.note_by_author(author=request.user, group=group, patient_id=patient_id)
    if request.method == "GET" and own is not None:
        return redirect("care:note", note_id=own.pk)
    form = NoteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            note = notes.group_note_create(
                actor=request.user,
                group_session=group,
                patient_id=patient_id,
                sign=_wants_sign(request),
                **_note_text(form),
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "Note signed and locked." if note.is_signed else "Draft saved.")
            return redirect("care:note", note_id=note.pk)
    return render(
        request,
        "care/notes/note_form.html",
        {
            "form": form,
            "patient": patient,
            "session": None,
            "group": group,
            "cancel_url": reverse("care:group", args=[group.pk]),
            "creating": True,
        },
        status=400 if request.method == "POST" else 200,
    )


@require_roles(*NOTE_WRITE)
@require_http_methods(["GET", "POST"])
def group_note_create(request: HttpRequest, group_id: int) -> HttpResponse:
    return _group_note_page(request, group_id, None)


@require_roles(*NOTE_WRITE)
@require_http_methods(["GET", "POST"])
def group_patient_note_create(request: HttpRequest, group_id: int, patient_id: int) -> HttpResponse:
    return _group_note_page(request, group_id, patient_id)


def _render_note(
    request: HttpRequest, note: TherapyNote, *, addendum_form=None, status: int = 200
) -> HttpResponse:
    writer = has_role(request.user, NOTE_WRITE, note.clinic_id)
    is_author = note.author_id == request.user.pk
    return render(
        request,
        "care/notes/note_detail.html",
        {
            "note": note,
            "patient": note.patient,
            "session": note.session,
            "group": note.group_session,
            "sections": [(notes.NOTE_LABELS[name], getattr(note, name)) for name in notes.NOTE_FIELDS],
            "addenda": notes.note_addenda(note=note),
            "can_edit": writer and is_author and not note.is_signed,
            "can_add_addendum": writer and note.is_signed,
            "addendum_form": addendum_form or AddendumForm(),
        },
        status=status,
    )


@require_roles(*NOTE_READ)
@require_GET
def note_detail(request: HttpRequest, note_id: int) -> HttpResponse:
    note = notes.note_get_for_user(user=request.user, note_id=note_id)
    return _render_note(request, note)


@require_roles(*NOTE_WRITE)
@require_http_methods(["GET", "POST"])
def note_edit(request: HttpRequest, note_id: int) -> HttpResponse:
    note = notes.note_get_for_user(
        user=request.user, note_id=note_id, roles=NOTE_WRITE, audit=request.method == "GET"
    )
    if note.author_id != request.user.pk:
        return forbidden(request, reason="not_note_author")
    if request.method == "GET" and note.is_signed:
        messages.error(request, "This note is signed and locked: add an addendum instead.")
        return redirect("care:note", note_id=note.pk)
    form = NoteForm(request.POST or None, initial={name: getattr(note, name) for name in notes.NOTE_FIELDS})
    if request.method == "POST" and form.is_valid():
        try:
            note = notes.note_update(
                actor=request.user, note=note, sign=_wants_sign(request), **_note_text(form)
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "Note signed and locked." if note.is_signed else "Draft saved.")
            return redirect("care:note", note_id=note.pk)
    return render(
        request,
        "care/notes/note_form.html",
        {
            "form": form,
            "note": note,
            "patient": note.patient,
            "session": note.session,
            "group": note.group_session,
            "cancel_url": reverse("care:note", args=[note.pk]),
            "creating": False,
        },
        status=400 if request.method == "POST" else 200,
    )


@require_roles(*NOTE_WRITE)
@require_POST
def note_sign(request: HttpRequest, note_id: int) -> HttpResponse:
    note = notes.note_get_for_user(user=request.user, note_id=note_id, roles=NOTE_WRITE, audit=False)
    if not note.is_signed and note.author_id != request.user.pk:
        return forbidden(request, reason="not_note_author")
    try:
        notes.note_sign(actor=request.user, note=note)
    except DomainError as error:
        message_refusal(request, error)
    else:
        messages.success(request, "Note signed and locked. Later changes are added as addenda.")
    return redirect("care:note", note_id=note.pk)


@require_roles(*NOTE_WRITE)
@require_POST
def note_addendum(request: HttpRequest, note_id: int) -> HttpResponse:
    note = notes.note_get_for_user(user=request.user, note_id=note_id, roles=NOTE_WRITE, audit=False)
    form = AddendumForm(request.POST)
    if form.is_valid():
        try:
            notes.note_addendum_add(actor=request.user, note=note, text=form.cleaned_data["text"])
        except DomainError as error:
            add_domain_error(form, error)
            if not note.is_signed:  # a draft's page has no addendum form to show the error beside
                message_refusal(request, error)
        else:
            messages.success(request, "Addendum added.")
            return redirect(reverse("care:note", args=[note.pk]) + "#addenda")
    # The page shows the note again: that is a read.
    note = notes.note_get_for_user(user=request.user, note_id=note_id, roles=NOTE_WRITE)
    return _render_note(request, note, addendum_form=form, status=400)


# --- Groups -----------------------------------------------------------------------------------


def _user_today(request: HttpRequest) -> date:
    return clinic_today_for_user(request.user, roles=NOTE_READ)


@require_roles(*NOTE_READ)
@require_GET
def group_list(request: HttpRequest) -> HttpResponse:
    today = _user_today(request)
    upcoming, recent = notes.group_list_for_user(user=request.user, today=today)
    return render(
        request,
        "care/notes/group_list.html",
        {
            "upcoming": upcoming,
            "recent": recent,
            "today": today,
            "can_create": bool(clinic_ids_for(request.user, NOTE_WRITE)),
            "many_clinics": len(clinic_ids_for(request.user, NOTE_READ)) > 1,
        },
    )


@require_roles(*NOTE_WRITE)
@require_http_methods(["GET", "POST"])
def group_create(request: HttpRequest) -> HttpResponse:
    clinics = clinics_of(request.user, NOTE_WRITE)
    form = GroupForm(request.POST or None, clinics=clinics, initial={"scheduled_date": _user_today(request)})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            group = notes.group_session_create(
                actor=request.user, clinic_id=data.pop("clinic_id", None), **data
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "Group session created: add its patients.")
            return redirect("care:group", group_id=group.pk)
    return render(
        request, "care/notes/group_form.html", {"form": form}, status=400 if request.method == "POST" else 200
    )


def _render_group(
    request: HttpRequest, group, *, add_form=None, attendance_form=None, status: int = 200
) -> HttpResponse:
    detail = notes.group_detail(group=group)
    can_write = has_role(request.user, NOTE_WRITE, group.clinic_id)
    candidates = notes.group_candidates(group=group) if can_write else []
    for row in detail.attendance:
        row.notes = detail.patient_notes.get(row.patient_id, [])
        row.own_note = next((n for n in row.notes if n.author_id == request.user.pk), None)
        row.linked_session = detail.linked_sessions.get(row.patient_id)
    own_group_note = next((n for n in detail.group_notes if n.author_id == request.user.pk), None)
    return render(
        request,
        "care/notes/group_detail.html",
        {
            "group": group,
            "detail": detail,
            "can_write": can_write,
            "own_group_note": own_group_note,
            "add_form": add_form or AddPatientForm(candidates=candidates),
            "attendance_form": attendance_form or AttendanceForm(attendance=detail.attendance),
            "has_candidates": bool(candidates),
        },
        status=status,
    )


@require_roles(*NOTE_READ)
@require_GET
def group_detail(request: HttpRequest, group_id: int) -> HttpResponse:
    group = notes.group_get_for_user(user=request.user, group_id=group_id)
    return _render_group(request, group)


@require_roles(*NOTE_WRITE)
@require_POST
def group_add_patient(request: HttpRequest, group_id: int) -> HttpResponse:
    group = notes.group_get_for_user(user=request.user, group_id=group_id, roles=NOTE_WRITE, audit=False)
    form = AddPatientForm(request.POST, candidates=notes.group_candidates(group=group))
    if form.is_valid():
        try:
            row = notes.group_patient_add(
                actor=request.user, group_session=group, patient_id=form.cleaned_data["patient_id"]
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            linked = " and their course session linked to it" if row.linked_session else ""
            messages.success(request, f"Patient added to the group{linked}.")
            return redirect("care:group", group_id=group.pk)
    group = notes.group_get_for_user(user=request.user, group_id=group_id, roles=NOTE_WRITE)
    return _render_group(request, group, add_form=form, status=400)


@require_roles(*NOTE_WRITE)
@require_POST
def group_attendance(request: HttpRequest, group_id: int) -> HttpResponse:
    group = notes.group_get_for_user(user=request.user, group_id=group_id, roles=NOTE_WRITE, audit=False)
    form = AttendanceForm(request.POST, attendance=notes.group_detail(group=group).attendance)
    if form.is_valid():
        try:
            changed = notes.group_attendance_record(
                actor=request.user, group_session=group, statuses=form.statuses()
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"Attendance saved ({len(changed)} changed).")
            return redirect("care:group", group_id=group.pk)
    group = notes.group_get_for_user(user=request.user, group_id=group_id, roles=NOTE_WRITE)
    return _render_group(request, group, attendance_form=form, status=400)
