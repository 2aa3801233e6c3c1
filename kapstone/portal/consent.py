"""Consent in the portal: the patient reads the clinic's documents and signs or withdraws.

A signature is a ``patients.Consent`` row like the ones staff record, with ``source = patient``,
the document version signed, the name typed and the SHA-256 of the exact text shown
(:func:`kapstone.domain.consent.consent_text_fingerprint`). The form carries the fingerprint of
the text the patient read; when the clinic published a new version in the meantime, the
signature is refused (``consent_document_changed``) rather than pinned to a text never shown.

Withdrawal is a new row (``withdrawn``), as for staff. A patient may withdraw research use and
42 CFR Part 2 data sharing here; consent to treatment is withdrawn by speaking to the clinic
(``treatment_withdrawal_by_clinic``): stopping a treatment under way needs a clinician (a dosing
session already booked, medicines, follow-up), so the portal gives the clinic's number instead.

Everything is scoped to the signed-in patient's own record; a document of another clinic is
"not found". Reads and writes are audited with the patient as actor.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from kapstone.accounts.models import User
from kapstone.audit.services import audit_record
from kapstone.domain.consent import check_typed_signature, consent_text_fingerprint
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.words import gettext_noop
from kapstone.forms import parse_record_id
from kapstone.patients.models import (
    Consent,
    ConsentDocument,
    ConsentKind,
    ConsentSource,
    ConsentStatus,
    Patient,
)
from kapstone.patients.selectors import consent_documents_current, consents_in_force
from kapstone.patients.services import clinic_today
from kapstone.portal.access import patient_account_of
from kapstone.portal.models import PatientAccount

#: The order and the patient's words of each kind of consent.
KIND_WORDS = {
    ConsentKind.TREATMENT: gettext_noop("Consent to treatment"),
    ConsentKind.RESEARCH: gettext_noop("Use of your data for research"),
    ConsentKind.DATA_SHARING: gettext_noop("Sharing your records (42 CFR Part 2)"),
}
#: What a patient may withdraw in the portal (treatment: by speaking to the clinic).
WITHDRAWABLE = frozenset({ConsentKind.RESEARCH, ConsentKind.DATA_SHARING})

NO_DOCUMENT = "no_document"
SIGNED = "signed"
GIVEN_EARLIER = "given_earlier"
WITHDRAWN = "withdrawn"
NOT_GIVEN = "not_given"

STATE_WORDS = {
    NO_DOCUMENT: gettext_noop("Not available in the portal yet: ask the clinic"),
    SIGNED: gettext_noop("Signed"),
    GIVEN_EARLIER: gettext_noop("Given earlier: a newer version is ready to read"),
    WITHDRAWN: gettext_noop("Withdrawn"),
    NOT_GIVEN: gettext_noop("Not signed yet"),
}


@dataclass(frozen=True)
class ConsentState:
    """One kind of consent as the patient sees it: the clinic's current document (if any), the
    patient's consent in force (if any) and the state in one word."""

    kind: str
    document: ConsentDocument | None
    in_force: Consent | None
    state: str

    @property
    def needs_signature(self) -> bool:
        """A document to sign and no signature of it in force (nor a withdrawal: the patient
        chose; the page still lets them sign again)."""
        return self.state in (NOT_GIVEN, GIVEN_EARLIER)

    @property
    def kind_words(self) -> str:
        return KIND_WORDS[self.kind]

    @property
    def state_words(self) -> str:
        return STATE_WORDS[self.state]

    @property
    def may_withdraw(self) -> bool:
        return self.kind in WITHDRAWABLE and self.in_force is not None and self.in_force.status == "granted"


def _state(document: ConsentDocument | None, in_force: Consent | None) -> str:
    if in_force is not None and in_force.status == ConsentStatus.WITHDRAWN:
        return WITHDRAWN
    if in_force is not None and document is not None and in_force.document_id == document.pk:
        return SIGNED
    if document is None:
        return NO_DOCUMENT
    return GIVEN_EARLIER if in_force is not None else NOT_GIVEN


def consent_states(patient: Patient) -> list[ConsentState]:
    """Each kind of consent for ``patient``, in the order of :data:`KIND_WORDS`. Not audited (the
    page that shows them audits its read)."""
    documents = consent_documents_current(clinic_id=patient.clinic_id)
    in_force = consents_in_force(Consent.objects.filter(patient=patient).select_related("document"))
    return [
        ConsentState(
            kind=kind,
            document=documents[kind],
            in_force=in_force[kind],
            state=_state(documents[kind], in_force[kind]),
        )
        for kind in KIND_WORDS
    ]


def _account(actor: User) -> PatientAccount:
    """The actor's active portal account (the one rule of :mod:`kapstone.portal.access`)."""
    account = patient_account_of(actor)
    if account is None:
        raise Http404("account")
    return account


def _kind(kind: object) -> str:
    if kind not in ConsentKind.values:
        raise Http404("kind")
    return str(kind)


def portal_consents_read(*, actor: User) -> list[ConsentState]:
    """The consent page: every kind's state, audited."""
    patient = _account(actor).patient
    states = consent_states(patient)
    audit_record(
        actor=actor,
        action="read",
        object_type="portal_consents",
        object_id=patient.pk,
        patient_id=patient.pk,
        clinic_id=patient.clinic_id,
    )
    return states


def portal_consent_read(*, actor: User, kind: str) -> ConsentState:
    """One kind's document (its full text) and state, audited; an unknown kind is "not found"."""
    kind = _kind(kind)
    patient = _account(actor).patient
    state = next(s for s in consent_states(patient) if s.kind == kind)
    audit_record(
        actor=actor,
        action="read",
        object_type="consent_document",
        object_id=state.document.pk if state.document else "",
        patient_id=patient.pk,
        clinic_id=patient.clinic_id,
        detail={"kind": kind},
    )
    return state


def consent_sign(
    *, actor: User, document_id: object, text_sha256: object, typed_name: object, agreed: object
) -> Consent:
    """The patient signs the document they read: a granted consent row, effective today.

    ``text_sha256`` is the fingerprint of the text the page showed. Refusals (nothing written):
    ``agreement_required`` (the box not ticked), ``signature_required``, ``text_too_long``,
    ``invalid_text``, ``signature_mismatch`` (:func:`check_typed_signature`), ``consent_document_changed`` (409: a
    newer version was published, or the text shown is not this document's) and
    ``consent_already_signed`` (409: this version is already signed and in force). A document
    of another clinic, or none, is "not found" (Http404).
    """
    account = _account(actor)
    patient = account.patient
    pk = parse_record_id(document_id)
    document = ConsentDocument.objects.filter(pk=pk, clinic_id=patient.clinic_id).first() if pk else None
    if document is None:
        raise Http404("document")
    if agreed is not True:
        raise DomainError(
            "agreement_required",
            gettext_noop("Tick the box to say that you have read the document and agree."),
            field="agreed",
        )
    name = check_typed_signature(typed_name, given_name=patient.given_name, family_name=patient.family_name)
    fingerprint = consent_text_fingerprint(document.title, document.body)
    with transaction.atomic():
        # One signature at a time per patient: a double submit finds the first one in force.
        Patient.objects.select_for_update().get(pk=patient.pk)
        current = consent_documents_current(clinic_id=patient.clinic_id)[document.kind]
        if current is None or current.pk != document.pk or text_sha256 != fingerprint:
            raise WorkflowConflict(
                "consent_document_changed",
                gettext_noop(
                    "The clinic has published a new version of this document since you opened it. "
                    "Read the new version, then sign."
                ),
            )
        in_force = consents_in_force(Consent.objects.filter(patient=patient, kind=document.kind))[
            document.kind
        ]
        if (
            in_force is not None
            and in_force.status == ConsentStatus.GRANTED
            and in_force.document_id == document.pk
        ):
            raise WorkflowConflict(
                "consent_already_signed", gettext_noop("You have already signed this version.")
            )
        row = Consent.objects.create(
            patient=patient,
            kind=document.kind,
            status=ConsentStatus.GRANTED,
            effective_on=clinic_today(patient.clinic),
            document_version=str(document.version),
            recorded_at=timezone.now(),
            recorded_by=actor,
            source=ConsentSource.PATIENT,
            document=document,
            typed_name=name,
            text_sha256=fingerprint,
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="consent",
            object_id=row.pk,
            patient_id=patient.pk,
            clinic_id=patient.clinic_id,
            detail={"kind": row.kind, "status": row.status, "source": "patient", "version": document.version},
        )
    return row


def consent_withdraw(*, actor: User, kind: object, confirmed: object) -> Consent:
    """The patient withdraws a consent in force: a new ``withdrawn`` row, effective today.

    Refusals (nothing written): ``treatment_withdrawal_by_clinic`` (consent to treatment is
    withdrawn by speaking to the clinic), ``withdrawal_confirmation_required`` (the box not
    ticked), ``consent_not_in_force`` (409: nothing granted to withdraw). An unknown kind is
    "not found".
    """
    kind = _kind(kind)
    account = _account(actor)
    patient = account.patient
    if kind not in WITHDRAWABLE:
        raise DomainError(
            "treatment_withdrawal_by_clinic",
            gettext_noop(
                "To withdraw your consent to treatment, please speak to the clinic: stopping a "
                "treatment safely needs a clinician."
            ),
            field="confirmed",
        )
    if confirmed is not True:
        raise DomainError(
            "withdrawal_confirmation_required",
            gettext_noop("Tick the box to confirm that you withdraw this consent."),
            field="confirmed",
        )
    with transaction.atomic():
        Patient.objects.select_for_update().get(pk=patient.pk)
        in_force = consents_in_force(Consent.objects.filter(patient=patient, kind=kind))[kind]
        if in_force is None or in_force.status != ConsentStatus.GRANTED:
            raise WorkflowConflict(
                "consent_not_in_force", gettext_noop("There is no consent of this kind to withdraw.")
            )
        row = Consent.objects.create(
            patient=patient,
            kind=kind,
            status=ConsentStatus.WITHDRAWN,
            effective_on=clinic_today(patient.clinic),
            document_version=in_force.document_version,
            note="Withdrawn by the patient in the portal.",
            recorded_at=timezone.now(),
            recorded_by=actor,
            source=ConsentSource.PATIENT,
            document=in_force.document,
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="consent",
            object_id=row.pk,
            patient_id=patient.pk,
            clinic_id=patient.clinic_id,
            detail={"kind": kind, "status": row.status, "source": "patient"},
        )
    return row
