"""Reads of screenings.

The ``*_for_user`` reads are scoped to the user's clinics through the patient and audited;
"not yours" and "does not exist" raise the same Http404. ``screening_current`` and
``screening_enrolment_check`` are for other apps' services and the chart section: they run
inside a request whose own write or read event already covers them, so they do not audit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q

from kapstone.accounts.access import clinic_ids_for, scoped_get
from kapstone.accounts.models import User
from kapstone.audit.services import audit_record
from kapstone.domain import screening as rules
from kapstone.domain.errors import WorkflowConflict
from kapstone.domain.protocols import Protocol
from kapstone.patients.models import Patient
from kapstone.patients.selectors import patient_get_for_user
from kapstone.screening import access
from kapstone.screening.access import SCREENING_READ
from kapstone.screening.models import Screening, ScreeningDraft, ScreeningSignOff

#: Newest first: the first row is the current screening.
LATEST_FIRST = ("-entered_at", "-id")


def sign_off_of(screening: Screening) -> ScreeningSignOff | None:
    """The screening's sign-off, or None (no query when it was fetched with select_related)."""
    return getattr(screening, "sign_off", None)


@dataclass(frozen=True)
class ScreeningHistory:
    patient: Patient
    current: Screening | None
    earlier: list[Screening]


def screening_list_for_user(*, user: User, patient_id: int) -> ScreeningHistory:
    """The patient's screenings, newest first, with their sign-offs; Http404 if not the user's."""
    patient = patient_get_for_user(user=user, patient_id=patient_id, roles=SCREENING_READ, audit=False)
    screenings = list(
        Screening.objects.filter(patient=patient)
        .select_related("entered_by", "sign_off", "sign_off__signed_by")
        .order_by(*LATEST_FIRST)
    )
    audit_record(
        actor=user,
        action="read",
        object_type="screening_list",
        object_id=patient.pk,
        patient_id=patient.pk,
        clinic_id=patient.clinic_id,
        detail={"returned": len(screenings)},
    )
    return ScreeningHistory(
        patient=patient, current=screenings[0] if screenings else None, earlier=screenings[1:]
    )


def screening_get_for_user(
    *, user: User, screening_id: int, roles: Iterable[str] = SCREENING_READ
) -> Screening:
    """One screening of a patient in the user's clinics (where they hold one of ``roles``), or
    Http404, identical for missing and not-yours. A not-yours attempt is audited as denied."""
    return scoped_get(
        Screening.objects.select_related("patient", "patient__clinic", "sign_off"),
        screening_id,
        user=user,
        roles=roles,
        object_type="screening",
        clinic="patient__clinic_id",
    )


def screening_current(patient: Patient) -> Screening | None:
    """The patient's current (latest) screening with its sign-off, or None. One query; not audited."""
    return (
        Screening.objects.filter(patient_id=patient.pk)
        .select_related("entered_by", "sign_off", "sign_off__signed_by")
        .order_by(*LATEST_FIRST)
        .first()
    )


#: The most screenings the prescriber's worklist lists (the oldest waiting first).
WORKLIST_LIMIT = 100


@dataclass(frozen=True)
class SignOffWorklist:
    screenings: list[Screening]
    total: int


def _superseded() -> Exists:
    """A newer screening of the same patient exists (the screening is no longer current)."""
    return Exists(
        Screening.objects.filter(patient_id=OuterRef("patient_id")).filter(
            Q(entered_at__gt=OuterRef("entered_at"))
            | Q(entered_at=OuterRef("entered_at"), id__gt=OuterRef("id"))
        )
    )


def screenings_awaiting_sign_off_for_user(*, user: User, limit: int = WORKLIST_LIMIT) -> SignOffWorklist:
    """Current screenings that need a prescriber's review and have none yet, in the clinics where
    ``user`` may sign off (prescribers), the oldest waiting first, with their patients.

    A screening superseded by a newer one, or already approved or declined, is not waiting. The
    list names patients, so the read is audited (with its count, no names)."""
    clinic_ids = clinic_ids_for(user, access.SCREENING_SIGN_OFF)
    qs = (
        Screening.objects.filter(
            patient__clinic_id__in=clinic_ids, decision=rules.NEEDS_REVIEW, sign_off__isnull=True
        )
        .exclude(_superseded())
        .select_related("patient", "patient__clinic", "entered_by")
    )
    total = qs.count()
    screenings = list(qs.order_by("entered_at", "id")[:limit])
    audit_record(
        actor=user,
        action="read",
        object_type="screening_worklist",
        clinic_id=clinic_ids[0] if len(clinic_ids) == 1 else None,
        detail={"returned": len(screenings), "total": total},
    )
    return SignOffWorklist(screenings=screenings, total=total)


def screening_is_approved(screening: Screening | None) -> bool:
    """Whether ``screening`` clears the patient for enrolment: ``eligible`` and not declined, or
    ``needs_review`` with an approving sign-off."""
    if screening is None:
        return False
    sign_off = sign_off_of(screening)
    if screening.decision == rules.ELIGIBLE:
        return sign_off is None or sign_off.approve
    if screening.decision == rules.NEEDS_REVIEW:
        return sign_off is not None and sign_off.approve
    return False


def screening_enrolment_check(patient: Patient) -> None:
    """Raise WorkflowConflict ``screening_not_approved`` unless the current screening clears the
    patient for enrolment (see :func:`screening_is_approved`). Not audited: the caller's write is."""
    current = screening_current(patient)
    if screening_is_approved(current):
        return
    if current is None:
        why = "no eligibility screening is on record; screen the patient first"
    elif current.decision == rules.INELIGIBLE:
        why = "the current screening is ineligible: an absolute contraindication was found"
    elif current.decision == rules.DEFERRED:
        why = "the current screening is deferred; screen again once the reason for deferral has resolved"
    elif current.decision == rules.NEEDS_REVIEW and sign_off_of(current) is None:
        why = "the current screening needs prescriber review and has not been approved yet"
    else:
        why = "a prescriber declined the current screening; record a new screening to reconsider"
    raise WorkflowConflict("screening_not_approved", f"Cannot enrol: {why}.")


def screening_protocol_reasons(screening: Screening, protocol: Protocol) -> tuple[rules.Reason, ...]:
    """The reasons ``protocol``'s own eligibility criteria give for the screening's answers (the
    screening engine's :func:`kapstone.domain.screening.protocol_reasons`); empty for a protocol
    without criteria. Raises WorkflowConflict ``protocol_screening_incomplete`` naming the
    questions the screening did not answer that the protocol needs."""
    criteria = protocol.eligibility
    if criteria.is_empty:
        return ()
    missing = rules.protocol_missing_answers(screening.answers, criteria)
    if missing:
        labels = "; ".join(rules.question_label(name) for name in missing)
        raise WorkflowConflict(
            "protocol_screening_incomplete",
            f"Cannot enrol in {protocol.title}: its own eligibility criteria need answers the current "
            f"screening does not have ({labels}). Record a new screening with them.",
        )
    return rules.protocol_reasons(screening.answers, criteria, protocol_title=protocol.title)


def screening_protocol_check(patient: Patient, protocol: Protocol) -> None:
    """Raise WorkflowConflict unless the current screening meets ``protocol``'s own criteria (on
    top of :func:`screening_enrolment_check`, which the caller runs first): ``protocol_screening_incomplete``
    or ``protocol_criteria_not_met`` (the message gives each reason). Not audited: the caller's write is."""
    current = screening_current(patient)
    if current is None:
        return  # screening_enrolment_check refuses first
    reasons = screening_protocol_reasons(current, protocol)
    if reasons:
        raise WorkflowConflict(
            "protocol_criteria_not_met",
            "Cannot enrol: the patient does not meet this protocol's own criteria. "
            + " ".join(reason.message for reason in reasons),
        )


def screening_draft_open(*, patient: Patient) -> ScreeningDraft | None:
    """The newest draft of the patient not yet used for a screening (for the screening form of a
    patient the caller has already read through a scoped, audited selector)."""
    return (
        ScreeningDraft.objects.filter(patient=patient, used_by__isnull=True)
        .order_by("-created_at", "-id")
        .first()
    )
