"""Writes of the care pathway: protocol clones, enrolment, course status, sessions and their
state machine, rescheduling and day-of checks. Each runs in one transaction with its audit row."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.utils import timezone

from kapstone.accounts.models import User
from kapstone.audit.services import audit_record
from kapstone.care.models import (
    CareSession,
    CourseEvent,
    CourseStatus,
    DayOfCheck,
    ProtocolClone,
    SessionEvent,
    TreatmentCourse,
)
from kapstone.care.protocols import next_version, protocol_resolve, with_version
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.protocols import (
    DOSING,
    build_schedule,
    clone_protocol,
    protocol_from_dict,
    protocol_to_dict,
)
from kapstone.domain.sessions import (
    CHECKED_IN,
    CLEARED,
    DISCHARGED,
    IN_PROGRESS,
    MOVE_NAMES,
    MOVES_DONE,
    RECOVERING,
    SCHEDULED,
    UNDER_WAY_STATES,
    check_step_time,
    evaluate_day_of_checks,
    state_label,
    transition_session,
)
from kapstone.domain.text import REASON_MAX_CHARS, clean_text
from kapstone.patients.models import Consent, Patient
from kapstone.patients.services import clinic_today
from kapstone.screening.selectors import (
    screening_current,
    screening_enrolment_check,
    screening_protocol_check,
)


def _reason(reason: object, *, required: bool, what: str, field: str = "reason") -> str:
    return clean_text(
        reason,
        field=field,
        max_chars=REASON_MAX_CHARS,
        required=required,
        label="The reason",
        missing_message=f"Give a reason to {what}.",
    )


# --- Protocols --------------------------------------------------------------------------------


def protocol_clone_create(
    *, actor: User, clinic_id: int, slug: str, version: int, changes: dict[str, Any], note: str
) -> ProtocolClone:
    """A clinic's new protocol version from an existing one, validated within the safe bounds."""
    note = _reason(note, required=True, what="clone a protocol (what changes and why)", field="note")
    base = protocol_resolve(clinic_id=clinic_id, slug=slug, version=version)
    cloned = clone_protocol(base, changes)
    with transaction.atomic():
        cloned = with_version(cloned, next_version(clinic_id=clinic_id, slug=slug))
        row = ProtocolClone.objects.create(
            clinic_id=clinic_id,
            slug=cloned.slug,
            version=cloned.version,
            title=cloned.title,
            data=protocol_to_dict(cloned),
            based_on_version=base.version,
            note=note,
            created_by=actor,
            created_at=timezone.now(),
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="protocol",
            object_id=row.pk,
            clinic_id=clinic_id,
            detail={"slug": cloned.slug, "version": cloned.version, "changes": sorted(changes)},
        )
    return row


# --- Courses ----------------------------------------------------------------------------------


def course_enrol(
    *,
    actor: User,
    patient: Patient,
    protocol_slug: str,
    start_date: date,
    arm: str = "",
    protocol_version: int | None = None,
) -> TreatmentCourse:
    """Enrol a patient whose current screening is approved; lay out the session schedule.

    Refused with WorkflowConflict ``screening_not_approved`` (the message says why),
    ``protocol_screening_incomplete`` or ``protocol_criteria_not_met`` (the protocol's own
    eligibility criteria, evaluated by the screening engine on the current screening's answers), or
    ``course_already_open`` when the patient has an active or paused course.
    """
    arm = clean_text(arm, field="arm", max_chars=40, label="The research arm label")
    today = clinic_today(patient.clinic)
    if not today - timedelta(days=366) <= start_date <= today + timedelta(days=366):
        raise DomainError(
            "start_date_out_of_range",
            "A course starts within a year before or after today.",
            field="start_date",
        )
    protocol = protocol_resolve(clinic_id=patient.clinic_id, slug=protocol_slug, version=protocol_version)
    schedule = build_schedule(protocol, start_date)
    with transaction.atomic():
        Patient.objects.select_for_update().get(pk=patient.pk)  # one enrolment at a time per patient
        screening_enrolment_check(patient)
        screening_protocol_check(patient, protocol)  # the protocol's own criteria (e.g. KARE's)
        if TreatmentCourse.objects.filter(
            patient=patient, status__in=[CourseStatus.ACTIVE, CourseStatus.PAUSED]
        ).exists():
            raise WorkflowConflict(
                "course_already_open",
                "This patient already has an active or paused course; complete or withdraw it first.",
            )
        now = timezone.now()
        try:
            course = TreatmentCourse.objects.create(
                patient=patient,
                clinic_id=patient.clinic_id,
                protocol_slug=protocol.slug,
                protocol_version=protocol.version,
                protocol_title=protocol.title,
                protocol_data=protocol_to_dict(protocol),
                start_date=start_date,
                arm=arm,
                screening=screening_current(patient),
                enrolled_by=actor,
                enrolled_at=now,
            )
        except IntegrityError:
            raise WorkflowConflict(
                "course_already_open", "This patient already has an open course."
            ) from None
        CareSession.objects.bulk_create(
            [
                CareSession(
                    course=course,
                    patient=patient,
                    clinic_id=patient.clinic_id,
                    order=planned.order,
                    kind=planned.kind,
                    title=planned.title,
                    is_group=planned.group,
                    scheduled_date=planned.scheduled_date,
                    duration_min=planned.duration_min,
                    dose_rule=_dose_json(planned.dose) if planned.dose else None,
                )
                for planned in schedule
            ]
        )
        CourseEvent.objects.create(course=course, kind="enrolled", actor=actor, at=now)
        audit_record(
            actor=actor,
            action="create",
            object_type="course",
            object_id=course.pk,
            patient_id=patient.pk,
            clinic_id=patient.clinic_id,
            detail={"protocol": protocol.slug, "version": protocol.version, "sessions": len(schedule)},
        )
    return course


def _dose_json(dose: Any) -> dict[str, Any]:
    """A dose rule as JSON (Decimals as strings, exact)."""
    return {
        key: (str(value) if isinstance(value, Decimal) else value) for key, value in dose.__dict__.items()
    }


def course_protocol(course: TreatmentCourse):
    """The protocol version the course started on (its snapshot, not today's library)."""
    return protocol_from_dict(course.protocol_data)


_COURSE_MOVES = {
    "pause": ({CourseStatus.ACTIVE}, CourseStatus.PAUSED, "paused", True),
    "resume": ({CourseStatus.PAUSED}, CourseStatus.ACTIVE, "resumed", False),
    "complete": ({CourseStatus.ACTIVE, CourseStatus.PAUSED}, CourseStatus.COMPLETED, "completed", False),
    "withdraw": ({CourseStatus.ACTIVE, CourseStatus.PAUSED}, CourseStatus.WITHDRAWN, "withdrawn", True),
}


def course_change_status(
    *, actor: User, course: TreatmentCourse, action: str, reason: str = ""
) -> TreatmentCourse:
    """Pause (reason), resume, complete or withdraw (reason) a course."""
    if action not in _COURSE_MOVES:
        raise DomainError("invalid_course_action", f"Unknown course action {action!r}.", field="action")
    allowed_from, to_status, event_kind, needs_reason = _COURSE_MOVES[action]
    reason = _reason(reason, required=needs_reason, what=f"{action} the course")
    with transaction.atomic():
        current = TreatmentCourse.objects.select_for_update().get(pk=course.pk)
        if current.status not in allowed_from:
            raise WorkflowConflict(
                "invalid_course_transition",
                f"A {current.status} course cannot be {event_kind}.",
                field="action",
            )
        under_way = (
            CareSession.objects.select_for_update()
            .filter(course=current, status__in=UNDER_WAY_STATES)
            .order_by("scheduled_date", "order")
            .first()
        )
        if under_way is not None:
            raise WorkflowConflict(
                "course_session_under_way",
                f"Session {under_way.order} ({under_way.kind_label.lower()}, {under_way.scheduled_date}) is "
                f"{state_label(under_way.status).lower()}: finish it (discharge, or cancel before "
                f"dosing) before the course is {event_kind}.",
                field="action",
            )
        current.status = to_status
        current.save(update_fields=["status"])
        CourseEvent.objects.create(
            course=current, kind=event_kind, reason=reason, actor=actor, at=timezone.now()
        )
        if to_status in (CourseStatus.COMPLETED, CourseStatus.WITHDRAWN):
            # Sessions still booked can no longer happen: cancel them, each with its own event,
            # so that the day's list, the patient's portal and the reminders stop showing them.
            why = f"The course was {event_kind}" + (f": {reason}" if reason else ".")
            for booked in CareSession.objects.select_for_update().filter(course=current, status=SCHEDULED):
                session_move_record(actor=actor, session=booked, to="cancelled", reason=why)
        audit_record(
            actor=actor,
            action="update",
            object_type="course",
            object_id=current.pk,
            patient_id=current.patient_id,
            clinic_id=current.clinic_id,
            detail={"status": to_status},
        )
    return current


# --- Sessions ---------------------------------------------------------------------------------


def session_transition(
    *,
    actor: User,
    session: CareSession,
    to: str,
    reason: str | None = None,
    discharge_evaluated: bool = False,
    at: datetime | None = None,
) -> CareSession:
    """Move a session along its state machine (dosing or therapy table).

    For a dosing session, ``checked_in → cleared`` needs the latest day-of checks to have
    cleared it (WorkflowConflict ``day_of_checks_not_passed``). The move is recorded with actor,
    time and reason.

    ``at``: when the move happened, for a record written afterwards (the demo's history, an
    import); None is now. It is never in the future (``time_in_future``) nor before the
    session's previous move (``time_out_of_order``, :func:`kapstone.domain.sessions.check_step_time`).
    """
    # Required for some moves only: the state machine says which (reason_required).
    reason = _reason(reason, required=False, what="move the session")
    with transaction.atomic():
        current = CareSession.objects.select_for_update().select_related("clinic").get(pk=session.pk)
        if current.course.status != CourseStatus.ACTIVE and to not in ("cancelled", "no_show", "stopped"):
            raise WorkflowConflict(
                "course_not_active", f"The course is {current.course.status}; resume it first."
            )
        new_state = transition_session(current.status, to, reason=reason, dosing=current.is_dosing)
        if current.is_dosing and new_state == DISCHARGED and not discharge_evaluated:
            # Only the monitoring app's discharge (which evaluates the criteria: observation time,
            # MOAA/S, Aldrete, vitals, escort, no-driving advice) may release a dosed patient.
            raise WorkflowConflict(
                "use_discharge_criteria",
                "A patient is discharged after a dosing session through the discharge check, which "
                "shows each criterion met or not; open the session's discharge page.",
                field="to",
            )
        if current.is_dosing and new_state in (IN_PROGRESS, RECOVERING):
            raise WorkflowConflict(
                "use_dose_administration",
                "A dosing session starts and ends with its dose administration, which also writes the "
                "controlled-substance register; record the administration on the dose order.",
                field="to",
            )
        if current.is_dosing and new_state == CLEARED:
            latest = DayOfCheck.objects.filter(session=current).order_by("-recorded_at", "-id").first()
            if latest is None or not latest.cleared:
                raise WorkflowConflict(
                    "day_of_checks_not_passed",
                    "Record the day-of checks first: a dosing session is cleared only when they pass "
                    "(or a prescriber overrides the ones the protocol allows).",
                )
        if at is not None:
            session_step_check(current, at, what=MOVE_NAMES[new_state], field="at")
        session_move_record(actor=actor, session=current, to=new_state, reason=reason or "", at=at)
    return current


def session_last_move(session: CareSession) -> SessionEvent | None:
    """The session's latest state change (the step every later step of the session follows)."""
    return SessionEvent.objects.filter(session=session, kind="transition").order_by("-at", "-id").first()


def session_step_check(
    session: CareSession,
    at: datetime,
    *,
    what: str,
    field: str,
    recorded: Sequence[tuple[str, datetime | None]] = (),
    after: Sequence[tuple[str, datetime | None]] = (),
) -> datetime:
    """Check the time of a step of ``session`` given after the fact: not in the future, not
    before the session's latest move nor any step in ``recorded`` (timed by the system, compared
    to the minute) or ``after`` (typed, compared exactly); messages in the clinic's time zone
    (:func:`kapstone.domain.sessions.check_step_time`)."""
    last = session_last_move(session)
    moves = [(MOVES_DONE[last.to_state], last.at)] if last is not None else []
    return check_step_time(
        at,
        now=timezone.now(),
        what=what,
        recorded=[*moves, *recorded],
        after=after,
        tz=ZoneInfo(session.clinic.timezone),
        field=field,
    )


def session_move_record(
    *,
    actor: User,
    session: CareSession,
    to: str,
    reason: str,
    detail: dict | None = None,
    at: datetime | None = None,
) -> None:
    """Record a move of a session already checked and locked by the caller, in its transaction,
    at ``at`` (when it happened, checked by the caller) or now: the state, a ``SessionEvent`` and
    the audit row. For the care services and for apps whose own workflow moves a session (the
    dosing app starts and ends an administration); everyone else calls :func:`session_transition`."""
    previous = session.status
    session.status = to
    session.save(update_fields=["status"])
    SessionEvent.objects.create(
        session=session,
        kind="transition",
        from_state=previous,
        to_state=to,
        # A typed reason was refused over its limit by the caller (clean_text); only a reason the
        # system composes around one ("The course was withdrawn: …") may need shortening here.
        reason=reason[:REASON_MAX_CHARS],
        detail=detail or {},
        actor=actor,
        at=at or timezone.now(),
    )
    audit_record(
        actor=actor,
        action="update",
        object_type="session",
        object_id=session.pk,
        patient_id=session.patient_id,
        clinic_id=session.clinic_id,
        detail={"from": previous, "to": to},
    )


def session_reschedule(
    *,
    actor: User,
    session: CareSession,
    scheduled_date: date,
    start_time: time | None,
    room: str,
    reason: str,
) -> CareSession:
    """Move a scheduled session to another day, time or room (only while it is scheduled)."""
    reason = _reason(reason, required=True, what="reschedule the session")
    room = clean_text(room, field="room", max_chars=60, label="The room name")
    with transaction.atomic():
        current = CareSession.objects.select_for_update().get(pk=session.pk)
        if current.status != SCHEDULED:
            raise WorkflowConflict(
                "session_not_reschedulable",
                f"Only a scheduled session can be rescheduled; this one is {state_label(current.status).lower()}.",
            )
        if scheduled_date < current.course.start_date:
            raise DomainError(
                "date_before_course_start",
                "A session cannot be before the course starts.",
                field="scheduled_date",
            )
        before = {
            "date": current.scheduled_date.isoformat(),
            "time": current.start_time.isoformat() if current.start_time else None,
            "room": current.room,
        }
        current.scheduled_date, current.start_time, current.room = scheduled_date, start_time, room
        current.save(update_fields=["scheduled_date", "start_time", "room"])
        after = {
            "date": scheduled_date.isoformat(),
            "time": start_time.isoformat() if start_time else None,
            "room": room,
        }
        SessionEvent.objects.create(
            session=current,
            kind="rescheduled",
            reason=reason,
            detail={"before": before, "after": after},
            actor=actor,
            at=timezone.now(),
        )
        audit_record(
            actor=actor,
            action="update",
            object_type="session",
            object_id=current.pk,
            patient_id=current.patient_id,
            clinic_id=current.clinic_id,
            detail={"rescheduled": True},
        )
    return current


def treatment_consent_current(patient: Patient) -> bool:
    """Whether the latest treatment consent on record is a grant (a withdrawal is a later row)."""
    latest = Consent.objects.filter(patient=patient, kind="treatment").order_by("-recorded_at", "-id").first()
    return latest is not None and latest.status == "granted"


def day_of_checks_record(
    *,
    actor: User,
    session: CareSession,
    inputs: dict[str, Any],
    overrides: dict[str, str] | None = None,
    actor_is_prescriber: bool = False,
    at: datetime | None = None,
) -> DayOfCheck:
    """Record the day-of checks of a checked-in dosing session; clear it when they pass.

    ``consent_current`` is read from the record, not typed in. Overrides (check → reason) only
    for checks the protocol marks overridable (the domain refuses the others): a soft stop
    (a concomitant medicine, withdrawal) may be passed with a reason by whoever records the
    checks; a hard stop only by a prescriber (WorkflowConflict ``override_requires_prescriber``,
    nothing written). When the checks clear the session, it moves to ``cleared`` in the
    same transaction. ``at``: when the checks were done, for a record written afterwards (None:
    now); not in the future, not before the check-in (``time_in_future``, ``time_out_of_order``).
    """
    # A blank reason is no override (the form sends one field per check); anything else is
    # checked by the domain (free text, the check overridable, a prescriber for a hard stop).
    if overrides is not None and not isinstance(overrides, dict):
        raise DomainError(
            "invalid_override", "Overrides must be an object of check name to reason.", field="overrides"
        )
    overrides = {
        k: v
        for k, v in (overrides or {}).items()
        if not (v is None or (isinstance(v, str) and not v.strip()))
    }
    with transaction.atomic():
        current = (
            CareSession.objects.select_for_update()
            .select_related("course", "patient", "clinic")
            .get(pk=session.pk)
        )
        if current.kind != DOSING:
            raise WorkflowConflict("not_a_dosing_session", "Day-of checks are for dosing sessions.")
        if current.status != CHECKED_IN:
            raise WorkflowConflict(
                "session_not_checked_in",
                f"Check the patient in first; the session is {state_label(current.status).lower()}.",
            )
        if at is not None:
            session_step_check(current, at, what="The day-of checks", field="at")
        full_inputs = dict(inputs) | {"consent_current": treatment_consent_current(current.patient)}
        protocol = course_protocol(current.course)
        result = evaluate_day_of_checks(
            full_inputs,
            protocol_checks=protocol.day_of,
            sex_at_birth=current.patient.sex_at_birth,
            overrides=overrides,
            prescriber=actor_is_prescriber,
        )
        row = DayOfCheck.objects.create(
            session=current,
            inputs=_jsonable(full_inputs),
            outcomes=result.as_dict(),
            overrides=overrides,
            cleared=result.cleared,
            recorded_by=actor,
            recorded_at=at or timezone.now(),
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="day_of_check",
            object_id=row.pk,
            patient_id=current.patient_id,
            clinic_id=current.clinic_id,
            detail={
                "cleared": result.cleared,
                "failed": list(result.failure_codes),
                "overridden": sorted(overrides),
            },
        )
        if result.cleared:
            session_move_record(
                actor=actor,
                session=current,
                to=CLEARED,
                reason="day-of checks passed",
                detail={"day_of_check": row.pk},
                at=row.recorded_at,
            )
    return row


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in values.items()}
