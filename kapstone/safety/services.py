"""Writes of the safety app: adverse events (report, update, prescriber review, close) and the
dependence watch's records. Each runs in one transaction with its audit row; audit details hold
codes, counts and field names, never the free text."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from kapstone.accounts.access import PATIENT_READ, PRESCRIBERS, clinic_ids_for, has_role
from kapstone.accounts.models import User
from kapstone.audit.services import audit_record
from kapstone.care.models import CareSession
from kapstone.domain.adverse_events import ensure_adverse_event_closable, validate_adverse_event
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.numbers import to_number
from kapstone.domain.text import REASON_MAX_CHARS, clean_text
from kapstone.patients.models import Patient
from kapstone.patients.services import clinic_today
from kapstone.safety.models import (
    AdverseEvent,
    AdverseEventReview,
    AdverseEventUpdate,
    DecisionKind,
    DependenceDecision,
    EventStatus,
    ExtraSessionRequest,
    KetamineCravingScore,
    MisuseDocumentation,
    SafetyPlan,
)

#: The fields of an adverse event a later update may change (not the patient, clinic or session).
UPDATABLE_FIELDS = (
    "term",
    "term_text",
    "onset_at",
    "grade",
    "serious",
    "seriousness_criteria",
    "relatedness",
    "action_taken",
    "outcome",
    "resolved_at",
)

#: A prescriber's review of an adverse event (the form allows as much).
REVIEW_NOTE_MAX_CHARS = 5000


def _text(value: object, *, field: str, required: bool, what: str, max_length: int = REASON_MAX_CHARS) -> str:
    return clean_text(
        value,
        field=field,
        max_chars=max_length,
        required=required,
        label=f"The {field.replace('_', ' ')}",
        missing_message=f"Give {what}.",
    )


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def _validated(fields: dict[str, Any], *, now: datetime):
    return validate_adverse_event(
        term=fields["term"],
        term_text=fields.get("term_text") or None,
        onset_at=fields["onset_at"],
        grade=fields["grade"],
        serious=fields["serious"],
        seriousness_criteria=tuple(fields.get("seriousness_criteria") or ()),
        relatedness=fields["relatedness"],
        action_taken=fields["action_taken"],
        outcome=fields["outcome"],
        resolved_at=fields.get("resolved_at"),
        now=now,
    )


# --- Adverse events ---------------------------------------------------------------------------


def adverse_event_report(
    *,
    actor: User,
    patient: Patient,
    term: str,
    onset_at: datetime,
    grade: int,
    serious: bool,
    relatedness: str,
    action_taken: str,
    outcome: str,
    term_text: str | None = None,
    seriousness_criteria: tuple[str, ...] | list[str] = (),
    resolved_at: datetime | None = None,
    session: CareSession | None = None,
) -> AdverseEvent:
    """Report an adverse event of ``patient`` (optionally during one of their sessions).

    Validated by the domain (``validate_adverse_event``: every refusal names its field);
    refused with ``session_not_of_patient`` for a session of another patient. A serious event
    opens awaiting a prescriber's review.
    """
    now = timezone.now()
    event = _validated(
        {
            "term": term,
            "term_text": term_text,
            "onset_at": onset_at,
            "grade": grade,
            "serious": serious,
            "seriousness_criteria": seriousness_criteria,
            "relatedness": relatedness,
            "action_taken": action_taken,
            "outcome": outcome,
            "resolved_at": resolved_at,
        },
        now=now,
    )
    if session is not None and session.patient_id != patient.pk:
        raise DomainError(
            "session_not_of_patient", "That session is not one of this patient's.", field="session"
        )
    with transaction.atomic():
        row = AdverseEvent.objects.create(
            patient=patient,
            clinic_id=patient.clinic_id,
            session=session,
            term=event.term,
            term_text=event.term_text or "",
            onset_at=event.onset_at,
            grade=event.grade,
            serious=event.serious,
            seriousness_criteria=list(event.seriousness_criteria),
            relatedness=event.relatedness,
            action_taken=event.action_taken,
            outcome=event.outcome,
            resolved_at=event.resolved_at,
            reported_by=actor,
            reported_at=now,
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="adverse_event",
            object_id=row.pk,
            patient_id=patient.pk,
            clinic_id=patient.clinic_id,
            detail={"term": event.term, "grade": event.grade, "serious": event.serious},
        )
    return row


def adverse_event_update(
    *, actor: User, event: AdverseEvent, changes: dict[str, Any], reason: str
) -> AdverseEventUpdate:
    """Change an open adverse event: the merged record is validated again by the domain and the
    change is kept as an ``AdverseEventUpdate`` (new and previous values, reason, who).

    Refused: ``reason_required``; ``unknown_field`` for a field that cannot change;
    ``no_change``; WorkflowConflict ``adverse_event_closed``.
    """
    reason = _text(reason, field="reason", required=True, what="a reason for the change")
    unknown = sorted(set(changes) - set(UPDATABLE_FIELDS))
    if unknown:
        raise DomainError(
            "unknown_field", f"These fields cannot be changed: {', '.join(unknown)}.", field=unknown[0]
        )
    now = timezone.now()
    with transaction.atomic():
        current = AdverseEvent.objects.select_for_update().get(pk=event.pk)
        if current.status != EventStatus.OPEN:
            raise WorkflowConflict("adverse_event_closed", "A closed adverse event cannot be changed.")
        before = {name: getattr(current, name) for name in UPDATABLE_FIELDS}
        before["term_text"] = before["term_text"] or None
        merged = before | changes
        validated = _validated(merged, now=now)
        after = {name: getattr(validated, name) for name in UPDATABLE_FIELDS}
        after["seriousness_criteria"] = list(after["seriousness_criteria"])
        changed = sorted(
            name for name in UPDATABLE_FIELDS if _json_value(after[name]) != _json_value(before[name])
        )
        if not changed:
            raise DomainError("no_change", "Nothing was changed.")
        for name in changed:
            value = after[name]
            setattr(current, name, "" if name == "term_text" and value is None else value)
        current.save(update_fields=changed)
        update = AdverseEventUpdate.objects.create(
            event=current,
            values={name: _json_value(after[name]) for name in changed},
            previous={name: _json_value(before[name]) for name in changed},
            reason=reason,
            updated_by=actor,
            updated_at=now,
        )
        audit_record(
            actor=actor,
            action="update",
            object_type="adverse_event",
            object_id=current.pk,
            patient_id=current.patient_id,
            clinic_id=current.clinic_id,
            detail={"fields": changed},
        )
    event.__dict__.update({name: getattr(current, name) for name in changed})
    return update


def adverse_event_review(*, actor: User, event: AdverseEvent, note: str) -> AdverseEventReview:
    """A prescriber's review of an open adverse event (views and API admit prescribers only).

    Refused: ``note_required``; WorkflowConflict ``adverse_event_closed``.
    """
    note = clean_text(
        note,
        field="note",
        max_chars=REVIEW_NOTE_MAX_CHARS,
        required=True,
        label="The note",
        missing_message="Write what you reviewed and decided.",
    )
    with transaction.atomic():
        current = AdverseEvent.objects.select_for_update().get(pk=event.pk)
        if current.status != EventStatus.OPEN:
            raise WorkflowConflict("adverse_event_closed", "This adverse event is already closed.")
        review = AdverseEventReview.objects.create(
            event=current, reviewer=actor, note=note, reviewed_at=timezone.now()
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="adverse_event_review",
            object_id=review.pk,
            patient_id=current.patient_id,
            clinic_id=current.clinic_id,
            detail={"adverse_event": current.pk, "serious": current.serious},
        )
    return review


def adverse_event_close(*, actor: User, event: AdverseEvent) -> AdverseEvent:
    """Close an adverse event. A serious one needs a prescriber's review first: refused with
    WorkflowConflict ``prescriber_review_required`` (the domain's close rule);
    ``adverse_event_closed`` when already closed."""
    with transaction.atomic():
        current = AdverseEvent.objects.select_for_update().get(pk=event.pk)
        if current.status != EventStatus.OPEN:
            raise WorkflowConflict("adverse_event_closed", "This adverse event is already closed.")
        ensure_adverse_event_closable(
            serious=current.serious,
            prescriber_reviewed=AdverseEventReview.objects.filter(event=current).exists(),
        )
        current.status = EventStatus.CLOSED
        current.closed_by = actor
        current.closed_at = timezone.now()
        current.save(update_fields=["status", "closed_by", "closed_at"])
        audit_record(
            actor=actor,
            action="update",
            object_type="adverse_event",
            object_id=current.pk,
            patient_id=current.patient_id,
            clinic_id=current.clinic_id,
            detail={"status": "closed", "serious": current.serious},
        )
    return current


# --- Dependence watch ---------------------------------------------------------------------------


def _audit_create(
    actor: User, row: Any, object_type: str, patient: Patient, detail: dict | None = None
) -> None:
    audit_record(
        actor=actor,
        action="create",
        object_type=object_type,
        object_id=row.pk,
        patient_id=patient.pk,
        clinic_id=patient.clinic_id,
        detail=detail or {},
    )


def extra_session_request_record(
    *, actor: User, patient: Patient, requested_at: datetime, note: str = ""
) -> ExtraSessionRequest:
    """Record a patient's request for an extra or earlier session. Refused: ``invalid_datetime``,
    ``requested_in_future``, ``text_too_long``."""
    if not isinstance(requested_at, datetime) or requested_at.tzinfo is None:
        raise DomainError("invalid_datetime", "Give the date and time of the request.", field="requested_at")
    now = timezone.now()
    if requested_at > now:
        raise DomainError("requested_in_future", "The request cannot be in the future.", field="requested_at")
    note = _text(note, field="note", required=False, what="a note")
    with transaction.atomic():
        row = ExtraSessionRequest.objects.create(
            patient=patient,
            clinic_id=patient.clinic_id,
            requested_at=requested_at,
            note=note,
            recorded_by=actor,
            recorded_at=now,
        )
        _audit_create(actor, row, "extra_session_request", patient)
    return row


def ketamine_craving_record(
    *, actor: User, patient: Patient, rated_on: date, score: Any
) -> KetamineCravingScore:
    """Record a 0–10 ketamine craving rating. Refused: ``invalid_number``, ``answer_out_of_range``
    (outside 0–10 or more than one decimal), ``date_in_future``."""
    value = to_number(score)
    if value is None:
        raise DomainError("invalid_number", f"The craving rating {score!r} is not a number.", field="score")
    if not Decimal(0) <= value <= Decimal(10) or value != value.quantize(Decimal("0.1")):
        raise DomainError(
            "answer_out_of_range", f"The craving rating must be 0 to 10, got {score}.", field="score"
        )
    if not isinstance(rated_on, date) or isinstance(rated_on, datetime):
        raise DomainError("invalid_date", "Give the date of the rating.", field="rated_on")
    if rated_on > clinic_today(patient.clinic):
        raise DomainError("date_in_future", "The rating cannot be dated in the future.", field="rated_on")
    with transaction.atomic():
        row = KetamineCravingScore.objects.create(
            patient=patient,
            clinic_id=patient.clinic_id,
            rated_on=rated_on,
            score=value,
            recorded_by=actor,
            recorded_at=timezone.now(),
        )
        _audit_create(actor, row, "ketamine_craving", patient, {"score": str(value)})
    return row


def misuse_document(*, actor: User, patient: Patient, active: bool, note: str) -> MisuseDocumentation:
    """Document that active substance misuse is present (``active``) or no longer present.
    Refused: ``note_required`` without a note."""
    if not isinstance(active, bool):
        raise DomainError("invalid_argument", "active must be true or false.", field="active")
    note = _text(note, field="note", required=True, what="a note on what was found")
    with transaction.atomic():
        row = MisuseDocumentation.objects.create(
            patient=patient,
            clinic_id=patient.clinic_id,
            active=active,
            note=note,
            documented_by=actor,
            documented_at=timezone.now(),
        )
        _audit_create(actor, row, "misuse_documentation", patient, {"active": active})
    return row


def dependence_decision_record(
    *, actor: User, patient: Patient, decision: str, reason: str
) -> DependenceDecision:
    """A prescriber's documented decision (continue, pause or stop dosing), with a reason.
    Refused: ``invalid_choice``, ``reason_required``."""
    if decision not in DecisionKind.values:
        raise DomainError(
            "invalid_choice", f"decision must be one of {', '.join(DecisionKind.values)}.", field="decision"
        )
    reason = _text(reason, field="reason", required=True, what="the reason for the decision")
    with transaction.atomic():
        row = DependenceDecision.objects.create(
            patient=patient,
            clinic_id=patient.clinic_id,
            decision=decision,
            reason=reason,
            prescriber=actor,
            decided_at=timezone.now(),
        )
        _audit_create(actor, row, "dependence_decision", patient, {"decision": decision})
    return row


#: The longest safety plan (a page of a Stanley & Brown template's six steps, written out).
SAFETY_PLAN_MAX_CHARS = 5000


def safety_plan_record(*, actor: User, patient: Patient, plan: str) -> SafetyPlan:
    """A prescriber documents the patient's safety plan (Stanley & Brown, Cogn Behav Pract
    2012;19:256–264). One documented at or after the latest C-SSRS at the high level lifts that
    level's hold on dosing (``suicide_risk_high``, :mod:`kapstone.safety.dosing_gate`).

    A patient of another clinic is 'not found'; anyone but a prescriber of the clinic is refused
    (``prescriber_required``) before what they typed is read. Refusals: ``plan_required``,
    ``text_too_long``, ``invalid_text``.
    """
    if patient.clinic_id not in clinic_ids_for(actor, PATIENT_READ):
        raise Http404("patient")
    if not has_role(actor, PRESCRIBERS, patient.clinic_id):
        raise WorkflowConflict("prescriber_required", "Only a prescriber may document a safety plan.")
    text = clean_text(
        plan.replace("\r\n", "\n") if isinstance(plan, str) else plan,
        field="plan",
        max_chars=SAFETY_PLAN_MAX_CHARS,
        required=True,
        label="The safety plan",
        missing_message="Write the safety plan.",
    )
    with transaction.atomic():
        row = SafetyPlan.objects.create(
            patient=patient,
            clinic_id=patient.clinic_id,
            plan=text,
            prescriber=actor,
            documented_at=timezone.now(),
        )
        # The plan is free text and may hold PHI: the audit row says only that one was written.
        _audit_create(actor, row, "safety_plan", patient)
    return row
