"""The accounting of disclosures (42 CFR §2.25; security.md §0, §5B-13): writing a disclosure
with the patients it included, and reading a patient's disclosures for the clinic admin.

Every export path records its disclosure here, in the same transaction as its ``export`` audit
event, so that a disclosure never exists without its audit row and vice versa. Rows are
append-only (``AppendOnlyModel`` in the ORM, triggers in the database). Patients and clinics
are referenced by id: audit is the lowest layer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from kapstone.audit.models import AuditAction, AuditEvent, Disclosure, DisclosurePatient

#: Why records left, with the words shown to the clinic admin: "research" (the cohort exports),
#: "treatment" (a clinician's FHIR $everything of one patient, kapstone/interop/fhir/api.py),
#: "operations" (a clinic admin's FHIR bulk export of whole clinics, kapstone/interop/fhir/bulk.py:
#: the clinic's own copy, whatever it is then sent on to, e.g. an EHR or a registry).
PURPOSE_LABELS = {
    "research": "Research (de-identified)",
    "treatment": "Treatment",
    "operations": "Clinic operations",
}
PURPOSES = tuple(PURPOSE_LABELS)
#: What left, in words, by the kind each export path records (unknown kinds are shown as stored).
KIND_LABELS = {
    "research_export_long": "Research export, one row per measurement (CSV)",
    "research_export_wide": "Research export, one row per course (CSV)",
    "fhir_everything": "One patient's whole record (FHIR)",
    "fhir_bulk_export": "Bulk export of the clinic (FHIR)",
}


def disclosure_record(
    *,
    actor: Any,
    audit_event: AuditEvent,
    recipient_role: str,
    purpose: str,
    kind: str,
    row_count: int,
    patients: Iterable[tuple[int, int]],
    filter_summary: dict[str, Any] | None = None,
) -> Disclosure:
    """Record one disclosure to ``actor`` (the recipient of a download) of the records of
    ``patients`` ((patient id, clinic id) pairs), tied to its ``export`` audit event.

    Must run inside the transaction that wrote ``audit_event`` (refused otherwise), so both are
    committed or neither. ``filter_summary`` must hold no PHI.
    """
    if actor is None or actor.pk is None:
        raise ValueError("a disclosure needs the user who received it")
    if audit_event.action != AuditAction.EXPORT or audit_event.actor_id != actor.pk:
        raise ValueError("a disclosure is recorded with the export audit event of the same user")
    if purpose not in PURPOSES:
        raise ValueError(f"unknown disclosure purpose {purpose!r}")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record a disclosure in the transaction of its export audit event")
    included = dict(patients)  # one row per patient, whatever the caller passed
    username = actor.get_username()
    disclosure = Disclosure.objects.create(
        at=audit_event.at,
        actor=actor,
        actor_label=username[:150],
        recipient_role=recipient_role,
        recipient=f"{username} ({recipient_role})"[:200],
        purpose=purpose,
        kind=kind,
        row_count=row_count,
        patient_count=len(included),
        filter_summary=dict(filter_summary or {}),
        audit_event=audit_event,
    )
    DisclosurePatient.objects.bulk_create(
        [
            DisclosurePatient(disclosure=disclosure, patient_id=patient_id, clinic_id=clinic_id)
            for patient_id, clinic_id in sorted(included.items())
        ],
        batch_size=1000,
    )
    return disclosure


@dataclass(frozen=True)
class PatientDisclosure:
    at: Any
    recipient: str
    recipient_role: str
    purpose: str
    kind: str
    row_count: int
    patient_count: int
    audit_event_id: int

    @property
    def purpose_label(self) -> str:
        return PURPOSE_LABELS.get(self.purpose, self.purpose)

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)


def disclosures_of_patient(*, patient_id: int, clinic_id: int) -> list[PatientDisclosure]:
    """The disclosures that included the patient's records, newest first (the accounting a
    patient may ask for, §2.25). The caller checks the reader's rights and audits the read
    (the patient chart's read event covers its sections)."""
    rows = (
        Disclosure.objects.filter(patients__patient_id=patient_id, patients__clinic_id=clinic_id)
        .order_by("-at", "-id")
        .distinct()
    )
    return [
        PatientDisclosure(
            at=row.at,
            recipient=row.recipient,
            recipient_role=row.recipient_role,
            purpose=row.purpose,
            kind=row.kind,
            row_count=row.row_count,
            patient_count=row.patient_count,
            audit_event_id=row.audit_event_id,
        )
        for row in rows
    ]
