"""Therapy notes and group sessions: the writes (services) and the scoped reads (selectors).

These are substance-use-disorder counselling records (42 CFR Part 2). Three rules follow:

- they are read only inside the patient's clinic, by clinicians and clinic admins (never by
  researchers), through a selector that answers 404 alike for missing and not-yours;
- their text never goes into an audit row, a log line or an error message: audit ``detail``
  holds field names, counts, flags and ids only;
- a signed note is locked. It changes only by addendum (a new ``NoteAddendum`` row).

A draft is edited and signed by its author only; any therapist or prescriber of the clinic may
add an addendum to a signed note. Each author writes at most one note per target (a session, a
group, or one patient within a group): a second "write" opens the first, which also makes a
double-submitted form harmless.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404
from django.utils import timezone

from kapstone.accounts.access import PATIENT_READ, THERAPY_CLINICIANS, clinic_ids_for, has_role, scoped_get
from kapstone.accounts.models import Clinic, User
from kapstone.audit.services import audit_record
from kapstone.care.models import (
    AttendanceStatus,
    CareSession,
    CourseStatus,
    GroupAttendance,
    GroupSession,
    NoteAddendum,
    SessionEvent,
    TherapyNote,
    TreatmentCourse,
)
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.protocols import DOSING, INTEGRATION, PREPARATION
from kapstone.domain.sessions import SCHEDULED
from kapstone.domain.text import clean_text
from kapstone.patients.models import Patient
from kapstone.patients.services import clinic_today

#: Who writes, signs and adds addenda to notes, and runs groups.
NOTE_WRITE = THERAPY_CLINICIANS
#: Who reads notes and group pages: clinicians and clinic admins. Researchers never.
NOTE_READ = PATIENT_READ

NOTE_FIELDS = ("intentions", "themes", "insights", "plan")
NOTE_LABELS = {
    "intentions": "Intentions",
    "themes": "Themes for guided visualisation",
    "insights": "Insights",
    "plan": "Plan",
}
NOTE_MAX_CHARS = 10_000
GROUP_KINDS = (INTEGRATION, PREPARATION)
GROUP_DURATION_MIN = (15, 480)
GROUP_DATE_WINDOW = timedelta(days=366)


# --- Validation ---------------------------------------------------------------------------------


def _clean_note(fields: dict[str, Any]) -> dict[str, str]:
    cleaned = {
        name: clean_text(fields.get(name), field=name, label=NOTE_LABELS[name], max_chars=NOTE_MAX_CHARS)
        for name in NOTE_FIELDS
    }
    if not any(cleaned.values()):
        raise DomainError(
            "note_empty", "Write at least one of intentions, themes, insights or plan.", field=None
        )
    return cleaned


def _require_writer(actor: User, clinic_id: int, what: str) -> None:
    """A clinic where the actor may not write notes is 'not found', as for reads."""
    if clinic_id not in clinic_ids_for(actor, NOTE_WRITE):
        raise Http404(what)


def _audit_note(actor: User, action: str, note: TherapyNote, detail: dict[str, Any]) -> None:
    audit_record(
        actor=actor,
        action=action,
        object_type="therapy_note",
        object_id=note.pk,
        patient_id=note.patient_id,
        clinic_id=note.clinic_id,
        detail=detail,
    )


def _sign(actor: User, note: TherapyNote, now) -> None:
    note.signed_at, note.signed_by = now, actor
    note.save(update_fields=["signed_at", "signed_by"])
    _audit_note(actor, "update", note, {"signed": True})


# --- Note services ------------------------------------------------------------------------------


def note_create(
    *,
    actor: User,
    session: CareSession,
    intentions: str = "",
    themes: str = "",
    insights: str = "",
    plan: str = "",
    sign: bool = False,
) -> TherapyNote:
    """A therapist's note for one preparation, integration or follow-up session of their clinic.

    Refused: a dosing session (WorkflowConflict ``notes_not_for_dosing``; dosing gets its own
    record), nothing written (``note_empty``), a field over 10,000 characters
    (``text_too_long``) or holding NUL (``invalid_text``), a second note by the same author for
    the session (WorkflowConflict ``note_exists``). A session outside the actor's writing
    clinics is Http404. ``sign=True`` signs it in the same transaction.
    """
    _require_writer(actor, session.clinic_id, "session")
    if session.kind == DOSING:
        raise WorkflowConflict(
            "notes_not_for_dosing",
            "Therapy notes are for preparation, integration and follow-up sessions; "
            "a dosing session is documented in its own record.",
        )
    cleaned = _clean_note({"intentions": intentions, "themes": themes, "insights": insights, "plan": plan})
    with transaction.atomic():
        current = CareSession.objects.select_for_update().get(pk=session.pk)  # one note per author at a time
        if TherapyNote.objects.filter(session=current, author=actor).exists():
            raise WorkflowConflict(
                "note_exists", "You already have a note for this session: open it to edit or add an addendum."
            )
        now = timezone.now()
        note = TherapyNote.objects.create(
            clinic_id=current.clinic_id,
            patient_id=current.patient_id,
            session=current,
            author=actor,
            created_at=now,
            updated_at=now,
            **cleaned,
        )
        _audit_note(
            actor,
            "create",
            note,
            {"target": "session", "session": current.pk, "fields": [n for n in NOTE_FIELDS if cleaned[n]]},
        )
        if sign:
            _sign(actor, note, now)
    return note


def group_note_create(
    *,
    actor: User,
    group_session: GroupSession,
    patient_id: int | None = None,
    intentions: str = "",
    themes: str = "",
    insights: str = "",
    plan: str = "",
    sign: bool = False,
) -> TherapyNote:
    """The note of a group (``patient_id`` None) or of one patient within it.

    The patient must be in the group (DomainError ``not_in_group``, field ``patient``). A
    per-patient note is tied to that patient's course session when one is linked to the group,
    so it also shows on the session page. Same text rules and ``note_exists`` as
    :func:`note_create`.
    """
    _require_writer(actor, group_session.clinic_id, "group")
    cleaned = _clean_note({"intentions": intentions, "themes": themes, "insights": insights, "plan": plan})
    with transaction.atomic():
        group = GroupSession.objects.select_for_update().get(pk=group_session.pk)
        linked_session = None
        if patient_id is not None:
            if not GroupAttendance.objects.filter(group_session=group, patient_id=patient_id).exists():
                raise DomainError(
                    "not_in_group", "This patient is not in the group; add them first.", field="patient"
                )
            linked_session = CareSession.objects.filter(group_session=group, patient_id=patient_id).first()
        existing = TherapyNote.objects.filter(group_session=group, author=actor)
        existing = (
            existing.filter(patient_id=patient_id)
            if patient_id is not None
            else existing.filter(patient__isnull=True)
        )
        if existing.exists():
            raise WorkflowConflict(
                "note_exists",
                "You already have this note for the group: open it to edit or add an addendum.",
            )
        now = timezone.now()
        note = TherapyNote.objects.create(
            clinic_id=group.clinic_id,
            patient_id=patient_id,
            group_session=group,
            session=linked_session,
            author=actor,
            created_at=now,
            updated_at=now,
            **cleaned,
        )
        _audit_note(
            actor,
            "create",
            note,
            {
                "target": "group_patient" if patient_id is not None else "group",
                "group_session": group.pk,
                "fields": [n for n in NOTE_FIELDS if cleaned[n]],
            },
        )
        if sign:
            _sign(actor, note, now)
    return note


def note_update(
    *,
    actor: User,
    note: TherapyNote,
    intentions: str = "",
    themes: str = "",
    insights: str = "",
    plan: str = "",
    sign: bool = False,
) -> TherapyNote:
    """Replace the text of a draft note (its author only); ``sign=True`` then signs it.

    Refused: a signed note (WorkflowConflict ``note_locked``: add an addendum instead), someone
    else's draft (WorkflowConflict ``not_note_author``), and the text rules of
    :func:`note_create`. Audited as ``update`` with the names of the changed fields.
    """
    _require_writer(actor, note.clinic_id, "note")
    cleaned = _clean_note({"intentions": intentions, "themes": themes, "insights": insights, "plan": plan})
    with transaction.atomic():
        current = TherapyNote.objects.select_for_update().get(pk=note.pk)
        if current.is_signed:
            raise WorkflowConflict("note_locked", "This note is signed and locked: add an addendum instead.")
        if current.author_id != actor.pk:
            raise WorkflowConflict("not_note_author", "Only the author may edit or sign a draft note.")
        changed = [name for name in NOTE_FIELDS if getattr(current, name) != cleaned[name]]
        now = timezone.now()
        for name in NOTE_FIELDS:
            setattr(current, name, cleaned[name])
        current.updated_at = now
        current.save(update_fields=[*NOTE_FIELDS, "updated_at"])
        _audit_note(actor, "update", current, {"fields": changed})
        if sign:
            _sign(actor, current, now)
    return current


def note_sign(*, actor: User, note: TherapyNote) -> TherapyNote:
    """Sign a draft (its author only), which locks it.

    Refused: WorkflowConflict ``already_signed``, ``not_note_author``.
    """
    _require_writer(actor, note.clinic_id, "note")
    with transaction.atomic():
        current = TherapyNote.objects.select_for_update().get(pk=note.pk)
        if current.is_signed:
            raise WorkflowConflict("already_signed", "This note is already signed.")
        if current.author_id != actor.pk:
            raise WorkflowConflict("not_note_author", "Only the author may edit or sign a draft note.")
        _sign(actor, current, timezone.now())
    return current


def note_addendum_add(*, actor: User, note: TherapyNote, text: str) -> NoteAddendum:
    """Add an addendum to a signed note (any therapist or prescriber of its clinic).

    Refused: a draft (WorkflowConflict ``note_not_signed``: edit the draft instead), blank text
    (DomainError ``addendum_required``), over 10,000 characters (``text_too_long``), a NUL or
    control character (``invalid_text``).
    """
    _require_writer(actor, note.clinic_id, "note")
    text = clean_text(
        text,
        field="text",
        name="addendum",
        label="The addendum",
        max_chars=NOTE_MAX_CHARS,
        required=True,
        missing_message="Write the addendum's text.",
    )
    with transaction.atomic():
        current = TherapyNote.objects.select_for_update().get(pk=note.pk)
        if not current.is_signed:
            raise WorkflowConflict(
                "note_not_signed", "This note is still a draft: edit it instead of adding an addendum."
            )
        addendum = NoteAddendum.objects.create(
            note=current, text=text, author=actor, created_at=timezone.now()
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="note_addendum",
            object_id=addendum.pk,
            patient_id=current.patient_id,
            clinic_id=current.clinic_id,
            detail={"note": current.pk},
        )
    return addendum


# --- Group services -----------------------------------------------------------------------------


def _group_clinic(actor: User, clinic_id: int | None) -> Clinic:
    allowed = clinic_ids_for(actor, NOTE_WRITE)
    if clinic_id is None:
        if len(allowed) != 1:
            raise DomainError(
                "clinic_required",
                "You work in several clinics: choose the clinic for this group.",
                field="clinic_id",
            )
        clinic_id = allowed[0]
    if clinic_id not in allowed:
        raise Http404("clinic")
    return Clinic.objects.get(pk=clinic_id)


def group_session_create(
    *,
    actor: User,
    clinic_id: int | None = None,
    kind: str = INTEGRATION,
    title: str,
    scheduled_date: date,
    start_time: time | None = None,
    duration_min: int = 90,
    room: str = "",
) -> GroupSession:
    """A group session of one of the actor's clinics, facilitated by the actor.

    Refused: a kind other than integration or preparation (``invalid_group_kind``), a blank
    title (``title_required``), text over its limit (``text_too_long``), a duration outside
    15–480 min (``duration_out_of_range``), a date more than a year from the clinic's today
    (``date_out_of_range``), several clinics and none chosen (``clinic_required``).
    """
    clinic = _group_clinic(actor, clinic_id)
    if kind not in GROUP_KINDS:
        raise DomainError(
            "invalid_group_kind", "A group session is an integration or a preparation session.", field="kind"
        )
    title = clean_text(
        title,
        field="title",
        label="The title",
        max_chars=200,
        required=True,
        missing_message="Give the group a title.",
    )
    room = clean_text(room, field="room", label="The room name", max_chars=60)
    low, high = GROUP_DURATION_MIN
    if not isinstance(duration_min, int) or not low <= duration_min <= high:
        raise DomainError(
            "duration_out_of_range", f"A group lasts {low} to {high} minutes.", field="duration_min"
        )
    today = clinic_today(clinic)
    if not today - GROUP_DATE_WINDOW <= scheduled_date <= today + GROUP_DATE_WINDOW:
        raise DomainError(
            "date_out_of_range",
            "A group is dated within a year before or after today.",
            field="scheduled_date",
        )
    with transaction.atomic():
        group = GroupSession.objects.create(
            clinic=clinic,
            kind=kind,
            title=title,
            scheduled_date=scheduled_date,
            start_time=start_time,
            duration_min=duration_min,
            room=room,
            facilitator=actor,
            created_by=actor,
            created_at=timezone.now(),
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="group_session",
            object_id=group.pk,
            clinic_id=clinic.pk,
            detail={"kind": kind, "date": scheduled_date.isoformat()},
        )
    return group


def group_patient_add(*, actor: User, group_session: GroupSession, patient_id: int) -> GroupAttendance:
    """Add a patient of the group's clinic, as ``expected``.

    A patient of another clinic (or none) is Http404 and nothing is written; a patient already
    in the group is DomainError ``already_in_group``. When the patient has a course session of
    the group's kind on the group's date that is still scheduled and not yet in a group, it is
    linked to this group (``CareSession.group_session``), takes the group's time and room where
    it has none, and gets a ``group_linked`` event in its history. The returned row carries
    that session (or None) as ``linked_session``.
    """
    _require_writer(actor, group_session.clinic_id, "group")
    patient = scoped_get(
        Patient.objects.filter(clinic_id=group_session.clinic_id),
        patient_id,
        user=actor,
        roles=NOTE_WRITE,
        object_type="patient",
        patient="id",
        audit=False,
    )
    with transaction.atomic():
        group = GroupSession.objects.select_for_update().get(pk=group_session.pk)
        if GroupAttendance.objects.filter(group_session=group, patient=patient).exists():
            raise DomainError("already_in_group", "This patient is already in the group.", field="patient_id")
        now = timezone.now()
        row = GroupAttendance.objects.create(
            group_session=group, patient=patient, recorded_by=actor, recorded_at=now
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="group_attendance",
            object_id=row.pk,
            patient_id=patient.pk,
            clinic_id=group.clinic_id,
            detail={"group_session": group.pk},
        )
        session = (
            CareSession.objects.select_for_update()
            .filter(
                patient=patient,
                kind=group.kind,
                scheduled_date=group.scheduled_date,
                status=SCHEDULED,
                group_session__isnull=True,
            )
            .order_by("order")
            .first()
        )
        if session is not None:
            _link_session(actor=actor, session=session, group=group, now=now)
    row.linked_session = session  # for the caller's message; not a field
    return row


def _link_session(*, actor: User, session: CareSession, group: GroupSession, now) -> None:
    session.group_session = group
    filled = []
    if session.start_time is None and group.start_time is not None:
        session.start_time = group.start_time
        filled.append("start_time")
    if not session.room and group.room:
        session.room = group.room
        filled.append("room")
    session.save(update_fields=["group_session", *filled])
    SessionEvent.objects.create(
        session=session,
        kind="group_linked",
        detail={"group_session": group.pk, "filled": filled},
        actor=actor,
        at=now,
    )
    audit_record(
        actor=actor,
        action="update",
        object_type="session",
        object_id=session.pk,
        patient_id=session.patient_id,
        clinic_id=session.clinic_id,
        detail={"group_session": group.pk, "filled": filled},
    )


def group_attendance_record(
    *, actor: User, group_session: GroupSession, statuses: dict[int, str]
) -> list[GroupAttendance]:
    """Record attendance for the group's patients (patient id → expected/attended/absent/excused).

    All or nothing. Refused: a patient not in the group (DomainError ``not_in_group``), an
    unknown status (``invalid_attendance_status``), attended or absent for a group after the
    clinic's today (``group_not_yet_held``). Each changed row is audited with its old and new
    status; unchanged rows are left alone. Returns the changed rows.
    """
    _require_writer(actor, group_session.clinic_id, "group")
    for status in statuses.values():
        if status not in AttendanceStatus.values:
            raise DomainError(
                "invalid_attendance_status",
                f"Attendance is one of {', '.join(AttendanceStatus.values)}.",
                field="status",
            )
    with transaction.atomic():
        group = GroupSession.objects.select_for_update().select_related("clinic").get(pk=group_session.pk)
        rows = {
            row.patient_id: row
            for row in GroupAttendance.objects.select_for_update().filter(group_session=group)
        }
        if any(patient_id not in rows for patient_id in statuses):
            raise DomainError(
                "not_in_group", "Attendance names a patient who is not in the group.", field="patient"
            )
        held = {AttendanceStatus.ATTENDED, AttendanceStatus.ABSENT}
        if group.scheduled_date > clinic_today(group.clinic) and held & set(statuses.values()):
            raise DomainError(
                "group_not_yet_held",
                "The group has not met yet: only expected or excused can be recorded.",
                field="status",
            )
        now = timezone.now()
        changed = []
        for patient_id, status in statuses.items():
            row = rows[patient_id]
            if row.status == status:
                continue
            previous = row.status
            row.status, row.recorded_by, row.recorded_at = status, actor, now
            row.save(update_fields=["status", "recorded_by", "recorded_at"])
            audit_record(
                actor=actor,
                action="update",
                object_type="group_attendance",
                object_id=row.pk,
                patient_id=patient_id,
                clinic_id=group.clinic_id,
                detail={"group_session": group.pk, "from": previous, "to": status},
            )
            changed.append(row)
    return changed


# --- Selectors ----------------------------------------------------------------------------------


def note_get_for_user(
    *, user: User, note_id: int, roles: Iterable[str] = NOTE_READ, audit: bool = True
) -> TherapyNote:
    """One note of the user's clinics, or Http404 (identical for missing and not-yours).

    A request for a note of another clinic is recorded as ``denied`` for the privacy officer.
    """
    return scoped_get(
        TherapyNote.objects.select_related(
            "patient", "session", "group_session", "author", "signed_by", "clinic"
        ),
        note_id,
        user=user,
        roles=roles,
        object_type="therapy_note",
        audit=audit,
    )


def note_by_author(
    *,
    author: User,
    session: CareSession | None = None,
    group: GroupSession | None = None,
    patient_id: int | None = None,
) -> TherapyNote | None:
    """The author's own note for a session, or for a group (``patient_id`` None) or one patient
    in it, when there is one: the "write a note" pages open it instead of starting another."""
    if session is not None:
        return TherapyNote.objects.filter(session=session, author=author).first()
    qs = TherapyNote.objects.filter(group_session=group, author=author)
    return (
        qs.filter(patient_id=patient_id) if patient_id is not None else qs.filter(patient__isnull=True)
    ).first()


def group_member_get(
    *, user: User, group: GroupSession, patient_id: int, roles: Iterable[str] = NOTE_WRITE
) -> Patient:
    """A patient in a group already fetched through :func:`group_get_for_user`, or Http404 (a
    patient of another clinic is recorded as denied). Not audited as a read: the group's is."""
    return scoped_get(
        Patient.objects.filter(group_attendance__group_session=group),
        patient_id,
        user=user,
        roles=roles,
        object_type="patient",
        patient="id",
        audit=False,
    )


def note_addenda(*, note: TherapyNote) -> list[NoteAddendum]:
    """The addenda of a note already fetched through :func:`note_get_for_user`, oldest first."""
    return list(NoteAddendum.objects.filter(note=note).select_related("author").order_by("created_at", "id"))


def notes_for_session(*, session: CareSession) -> list[TherapyNote]:
    """Notes of a session already fetched through a scoped selector: who and state, for a list."""
    return list(
        TherapyNote.objects.filter(session=session)
        .select_related("author", "signed_by")
        .annotate(addendum_count=Count("addenda"))
        .order_by("created_at", "id")
    )


def notes_context(user: User, session: CareSession) -> dict[str, Any]:
    """Context for ``care/notes/_session_notes.html`` on the session page (no note text)."""
    enabled = session.kind != DOSING
    notes = notes_for_session(session=session) if enabled else []
    own = next((n for n in notes if n.author_id == user.pk), None)
    return {
        "notes_enabled": enabled,
        "session_notes": notes,
        "own_note": own,
        "can_write_note": enabled and own is None and has_role(user, NOTE_WRITE, session.clinic_id),
    }


def group_get_for_user(
    *, user: User, group_id: int, roles: Iterable[str] = NOTE_READ, audit: bool = True
) -> GroupSession:
    """One group session of the user's clinics, or Http404 (missing and not-yours alike)."""
    return scoped_get(
        GroupSession.objects.select_related("clinic", "facilitator"),
        group_id,
        user=user,
        roles=roles,
        object_type="group_session",
        patient=None,
        audit=audit,
    )


@dataclass(frozen=True)
class GroupDetail:
    group: GroupSession
    attendance: list[GroupAttendance]
    group_notes: list[TherapyNote]
    patient_notes: dict[int, list[TherapyNote]]
    linked_sessions: dict[int, CareSession]


def group_detail(*, group: GroupSession) -> GroupDetail:
    """Attendance, notes and linked course sessions of a group already fetched through
    :func:`group_get_for_user` (whose read event covers what this shows)."""
    attendance = list(
        GroupAttendance.objects.filter(group_session=group)
        .select_related("patient", "recorded_by")
        .order_by("patient__family_name", "patient__given_name", "id")
    )
    notes = list(
        TherapyNote.objects.filter(group_session=group)
        .select_related("author", "signed_by")
        .annotate(addendum_count=Count("addenda"))
        .order_by("created_at", "id")
    )
    per_patient: dict[int, list[TherapyNote]] = {}
    for note in notes:
        if note.patient_id is not None:
            per_patient.setdefault(note.patient_id, []).append(note)
    linked = {s.patient_id: s for s in CareSession.objects.filter(group_session=group)}
    return GroupDetail(
        group=group,
        attendance=attendance,
        group_notes=[n for n in notes if n.patient_id is None],
        patient_notes=per_patient,
        linked_sessions=linked,
    )


def group_candidates(*, group: GroupSession) -> list[Patient]:
    """Patients who may be added: those of the group's clinic with an open course, not yet in it.

    Patients with a course session of the group's kind on its date come first.
    """
    in_group = GroupAttendance.objects.filter(group_session=group).values("patient_id")
    open_courses = TreatmentCourse.objects.filter(
        clinic_id=group.clinic_id, status__in=[CourseStatus.ACTIVE, CourseStatus.PAUSED]
    ).values("patient_id")
    due = set(
        CareSession.objects.filter(
            clinic_id=group.clinic_id,
            kind=group.kind,
            scheduled_date=group.scheduled_date,
            status=SCHEDULED,
            group_session__isnull=True,
        ).values_list("patient_id", flat=True)
    )
    patients = list(
        Patient.objects.filter(clinic_id=group.clinic_id, pk__in=open_courses)
        .exclude(pk__in=in_group)
        .order_by("family_name", "given_name", "id")[:500]
    )
    for patient in patients:
        patient.due_today = patient.pk in due
    return sorted(patients, key=lambda p: not p.due_today)


@dataclass(frozen=True)
class GroupRow:
    group: GroupSession
    patients: int
    attended: int


def group_list_for_user(
    *, user: User, today: date, recent_days: int = 60
) -> tuple[list[GroupRow], list[GroupRow]]:
    """(upcoming from ``today``, soonest first; recent within ``recent_days``, latest first) of the
    user's clinics. Shows titles and counts, no names; the read is audited with the counts."""
    qs = (
        GroupSession.objects.filter(
            clinic_id__in=clinic_ids_for(user, NOTE_READ),
            scheduled_date__gte=today - timedelta(days=recent_days),
        )
        .select_related("clinic", "facilitator")
        .annotate(
            patient_count=Count("attendance"),
            attended_count=Count("attendance", filter=Q(attendance__status=AttendanceStatus.ATTENDED)),
        )
    )
    rows = [GroupRow(g, g.patient_count, g.attended_count) for g in qs]
    upcoming = sorted(
        (r for r in rows if r.group.scheduled_date >= today),
        key=lambda r: (r.group.scheduled_date, r.group.start_time or time.min, r.group.pk),
    )
    recent = sorted(
        (r for r in rows if r.group.scheduled_date < today),
        key=lambda r: (r.group.scheduled_date, r.group.start_time or time.min, r.group.pk),
        reverse=True,
    )
    audit_record(
        actor=user,
        action="read",
        object_type="group_list",
        detail={"upcoming": len(upcoming), "recent": len(recent)},
    )
    return upcoming, recent
