"""Writes of screenings and sign-offs. Each runs in one transaction with its audit event.

The decision always comes from ``kapstone.domain.screening.check_eligibility``: the web form,
the API and ``kapstone screen`` share it, and nothing here decides eligibility on its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from kapstone.accounts.access import PATIENT_WRITE, clinic_ids_for
from kapstone.accounts.models import User
from kapstone.audit.services import audit_record
from kapstone.domain import screening as rules
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.text import clean_text
from kapstone.patients.models import Patient
from kapstone.screening.access import SCREENING_RECORD, SCREENING_SIGN_OFF
from kapstone.screening.models import Screening, ScreeningDraft, ScreeningSignOff

#: A sign-off's reason (a prescriber's note on the decision) and a draft's note.
REASON_MAX_CHARS = 2000
DRAFT_NOTE_MAX_CHARS = 500


def _rules_version() -> str:
    # A fingerprint of the rule engine's code: any change to a rule, threshold, message or source
    # gives a new value, so each stored decision names the rules that made it.
    digest = hashlib.sha256(Path(rules.__file__).read_bytes()).hexdigest()
    return f"sha256:{digest[:16]}"


#: The rules fingerprint stored on every screening recorded by this build.
RULES_VERSION = _rules_version()


def screening_draft_create(
    *,
    actor: User,
    patient: Patient,
    answers: Mapping[str, Any],
    source: str,
    source_reference: str = "",
    note: str = "",
) -> ScreeningDraft:
    """Keep answers known before the full screening (checked like a screening's, but partial).

    Written by the service that creates the patient (a referral's conversion), in its transaction;
    whoever may register the patient may keep the answers known so far (nothing is decided).
    """
    if patient.clinic_id not in clinic_ids_for(actor, PATIENT_WRITE):
        raise Http404("patient")
    checked = rules.validate_answers(answers, partial=True)
    draft = ScreeningDraft.objects.create(
        patient=patient,
        answers=checked,
        source=clean_text(source, field="source", max_chars=20, required=True),
        source_reference=clean_text(source_reference, field="source_reference", max_chars=20),
        note=clean_text(note, field="note", max_chars=DRAFT_NOTE_MAX_CHARS, label="The note"),
        created_by=actor,
        created_at=timezone.now(),
    )
    audit_record(
        actor=actor,
        action="create",
        object_type="screening_draft",
        object_id=draft.pk,
        patient_id=patient.pk,
        clinic_id=patient.clinic_id,
        detail={"source": draft.source, "answers": sorted(checked)},
    )
    return draft


def screening_record(
    *, actor: User, patient: Patient, answers: Mapping[str, Any], draft: ScreeningDraft | None = None
) -> Screening:
    """Decide eligibility from ``answers`` and keep the screening; it supersedes any earlier one.

    ``draft``: the draft the form started from (of this patient, not used before), linked to the
    screening. Refusals of the answers are the domain's DomainErrors (``missing_answer``,
    ``invalid_answer``, ``implausible_value``…), raised before anything is written.
    """
    if patient.clinic_id not in clinic_ids_for(actor, SCREENING_RECORD):
        raise Http404("patient")
    result = rules.check_eligibility(answers)
    # The checked answers: the general ones and any protocol inputs given, JSON-able (a decimal as text).
    stored = rules.validate_answers(answers)
    with transaction.atomic():
        # Serialise with sign-offs of this patient: a sign-off must see whether it is still current.
        Patient.objects.select_for_update().get(pk=patient.pk)
        screening = Screening.objects.create(
            patient=patient,
            answers=stored,
            decision=result.decision,
            reasons=result.as_dict()["reasons"],
            rules_version=RULES_VERSION,
            entered_by=actor,
            entered_at=timezone.now(),
        )
        if draft is not None:
            used = ScreeningDraft.objects.filter(pk=draft.pk, patient=patient, used_by__isnull=True).update(
                used_by=screening
            )
            if not used:
                raise WorkflowConflict("draft_already_used", "That draft was already used for a screening.")
        audit_record(
            actor=actor,
            action="create",
            object_type="screening",
            object_id=screening.pk,
            patient_id=patient.pk,
            clinic_id=patient.clinic_id,
            detail={"decision": result.decision, "codes": list(result.codes), "rules_version": RULES_VERSION},
        )
    return screening


def screening_sign_off(*, actor: User, screening: Screening, approve: bool, reason: str) -> ScreeningSignOff:
    """A prescriber approves or declines the patient's current screening, once.

    Refusals: ``screening_superseded`` (a newer screening exists), ``already_signed_off``,
    ``cannot_approve_ineligible``, ``cannot_approve_deferred`` (WorkflowConflict);
    ``reason_required`` when approving a ``needs_review`` or declining without a written reason.
    """
    if not isinstance(approve, bool):
        raise DomainError("invalid_value", "approve must be true or false.", field="approve")
    reason = clean_text(reason, field="reason", max_chars=REASON_MAX_CHARS, label="The reason")
    patient = screening.patient
    if patient.clinic_id not in clinic_ids_for(actor, SCREENING_SIGN_OFF):
        raise Http404("screening")
    with transaction.atomic():
        # The patient row lock orders this against new screenings and other sign-offs of the
        # same patient, so "current" and "not yet signed" hold until commit.
        Patient.objects.select_for_update().get(pk=patient.pk)
        current = Screening.objects.filter(patient_id=patient.pk).order_by("-entered_at", "-id").first()
        if current is None or current.pk != screening.pk:
            raise WorkflowConflict(
                "screening_superseded",
                "A newer screening of this patient has been recorded since this one; "
                "review and sign off the current screening instead.",
            )
        previous = ScreeningSignOff.objects.filter(screening_id=screening.pk).first()
        if previous is not None:
            raise WorkflowConflict(
                "already_signed_off",
                f"This screening was already {'approved' if previous.approve else 'declined'} by a "
                "prescriber; record a new screening to decide again.",
            )
        decision = current.decision
        if approve and decision == rules.INELIGIBLE:
            raise WorkflowConflict(
                "cannot_approve_ineligible",
                "An ineligible screening cannot be approved: it found an absolute contraindication.",
            )
        if approve and decision == rules.DEFERRED:
            raise WorkflowConflict(
                "cannot_approve_deferred",
                "A deferred screening cannot be approved: record a new screening once the reason "
                "for deferral has resolved.",
            )
        if approve and decision == rules.NEEDS_REVIEW and not reason:
            raise DomainError(
                "reason_required",
                "Approving a screening that needs review requires a written reason.",
                field="reason",
            )
        if not approve and not reason:
            raise DomainError("reason_required", "Say why the screening is declined.", field="reason")
        sign_off = ScreeningSignOff.objects.create(
            screening=current, approve=approve, reason=reason, signed_by=actor, signed_at=timezone.now()
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="screening_sign_off",
            object_id=sign_off.pk,
            patient_id=patient.pk,
            clinic_id=patient.clinic_id,
            # The reason is free text and may hold PHI: only whether one was given.
            detail={
                "screening_id": current.pk,
                "decision": decision,
                "approve": approve,
                "with_reason": bool(reason),
            },
        )
    return sign_off
