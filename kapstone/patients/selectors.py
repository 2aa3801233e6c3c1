"""Reads of patient records. Every one is scoped to the user's clinics and audited.

"Not yours" and "does not exist" raise the same Http404, so ids cannot be probed. A request for a
patient that exists in a clinic the user does not belong to is still recorded, as ``denied``,
for the privacy officer; the response does not differ.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Q, QuerySet
from django.utils import timezone

from kapstone.accounts.access import PATIENT_READ, clinic_ids_for, scoped_get
from kapstone.accounts.models import User
from kapstone.audit.services import audit_record
from kapstone.domain.patients import BmiWarning, body_mass_index, check_bmi, measurement_in_force
from kapstone.patients.models import (
    BodyMeasurement,
    Consent,
    ConsentDocument,
    ConsentKind,
    Diagnosis,
    LiverTest,
    Patient,
    PatientVersion,
)

SEARCH_LIMIT = 200


def _scoped(user: User, roles: Iterable[str]) -> QuerySet[Patient]:
    return Patient.objects.filter(clinic_id__in=clinic_ids_for(user, roles)).select_related("clinic")


def patient_search_for_user(
    *, user: User, search: str = "", limit: int = SEARCH_LIMIT, offset: int = 0
) -> tuple[list[Patient], int]:
    """Patients of the user's clinics matching ``search`` (name words or MRN prefix), in name
    order, ``limit`` of them from ``offset``; (rows, total)."""
    qs = _scoped(user, PATIENT_READ)
    terms = [t for t in (search or "").split() if t][:4]
    for term in terms:
        qs = qs.filter(
            Q(given_name__icontains=term) | Q(family_name__icontains=term) | Q(mrn__istartswith=term)
        )
    total = qs.count()
    rows = list(qs.order_by("family_name", "given_name", "id")[offset : offset + limit])
    # The search text itself may be a name: log that a search ran and how much it returned, not what.
    audit_record(
        actor=user,
        action="read",
        object_type="patient_list",
        detail={"searched": bool(terms), "returned": len(rows), "total": total},
    )
    return rows, total


def patient_get_for_user(
    *, user: User, patient_id: int, roles: Iterable[str] = PATIENT_READ, audit: bool = True
) -> Patient:
    """One patient of the user's clinics, or Http404 (identical for missing and not-yours)."""
    return scoped_get(
        Patient.objects.select_related("clinic"),
        patient_id,
        user=user,
        roles=roles,
        object_type="patient",
        patient="id",
        audit=audit,
    )


# --- The measurement in force -------------------------------------------------------------------
#
# The one home of "the weight in force" (and the height in force): every reader — the chart
# header, the dose order and its verification, the API, the demo — asks here. The rule itself is
# the domain's (kapstone.domain.patients.measurement_in_force); these functions feed it the
# patient's non-voided rows. They take patients the caller has already read through a scoped,
# audited selector, so they write no audit event of their own.


def _in_force_by_patient(
    *, patient_ids: Iterable[int], value: str, at: datetime | None
) -> dict[int, BodyMeasurement]:
    moment = timezone.now() if at is None else at
    ids = list(patient_ids)
    if not ids:
        return {}
    rows = BodyMeasurement.objects.filter(
        patient_id__in=ids,
        voided_at__isnull=True,
        **{f"{value}__isnull": False},
        # Only narrows the read; the domain rule below decides.
        measured_at__lte=moment,
    )
    by_patient: dict[int, list[tuple[datetime, int, BodyMeasurement]]] = defaultdict(list)
    for row in rows:
        by_patient[row.patient_id].append((row.measured_at, row.pk, row))
    chosen = {}
    for patient_id, entries in by_patient.items():
        in_force = measurement_in_force(entries, at=moment)
        if in_force is not None:
            chosen[patient_id] = in_force[2]
    return chosen


def weights_in_force(*, patient_ids: Iterable[int], at: datetime | None = None) -> dict[int, BodyMeasurement]:
    """The weight in force of each patient at ``at`` (default now): the latest non-voided weight
    taken at or before it, ties broken by order of entry. Patients without one are left out."""
    return _in_force_by_patient(patient_ids=patient_ids, value="weight_kg", at=at)


def weight_in_force(*, patient: Patient | int, at: datetime | None = None) -> BodyMeasurement | None:
    """The patient's weight in force at ``at`` (default now), or None (see :func:`weights_in_force`)."""
    patient_id = patient if isinstance(patient, int) else patient.pk
    return weights_in_force(patient_ids=[patient_id], at=at).get(patient_id)


def height_in_force(*, patient: Patient | int, at: datetime | None = None) -> BodyMeasurement | None:
    """The patient's height in force at ``at`` (default now): the same rule as the weight."""
    patient_id = patient if isinstance(patient, int) else patient.pk
    return _in_force_by_patient(patient_ids=[patient_id], value="height_cm", at=at).get(patient_id)


@dataclass(frozen=True)
class BodySize:
    """Weight and height in force, the BMI from them and its non-blocking warning."""

    weight: BodyMeasurement | None
    height: BodyMeasurement | None
    bmi: Decimal | None
    bmi_warning: BmiWarning | None


def body_size(*, patient: Patient | int, at: datetime | None = None) -> BodySize:
    """The weight and height in force at ``at`` with the BMI and its warning (for the chart
    header and the dose order form). Not audited: the caller has read the patient."""
    weight = weight_in_force(patient=patient, at=at)
    height = height_in_force(patient=patient, at=at)
    bmi = warning = None
    if weight is not None and height is not None:
        bmi = body_mass_index(weight.weight_kg, height.height_cm)
        warning = check_bmi(weight.weight_kg, height.height_cm)
    return BodySize(weight=weight, height=height, bmi=bmi, bmi_warning=warning)


@dataclass(frozen=True)
class PatientChart:
    patient: Patient
    size: BodySize
    measurements: list[BodyMeasurement]
    measurement_count: int
    diagnoses: list[Diagnosis]
    voided_diagnoses: list[Diagnosis]
    consents_current: dict[str, Consent | None]
    consent_history: list[Consent]
    version_count: int

    @property
    def weight_in_force(self) -> BodyMeasurement | None:
        return self.size.weight

    @property
    def height_in_force(self) -> BodyMeasurement | None:
        return self.size.height


CHART_MEASUREMENTS = 20


def consents_in_force(consents: Iterable[Consent]) -> dict[str, Consent | None]:
    """The consent in force of each kind (every kind a key; None when none is recorded): the
    latest row of the kind, by ``recorded_at`` then id. ``consents`` are one patient's rows."""
    current: dict[str, Consent | None] = {kind: None for kind in ConsentKind.values}
    for consent in sorted(consents, key=lambda c: (c.recorded_at, c.pk), reverse=True):
        if current[consent.kind] is None:
            current[consent.kind] = consent
    return current


def consent_document_versions(*, clinic_id: int) -> list[ConsentDocument]:
    """Every published version of the clinic's consent documents, by kind, newest first."""
    return list(
        ConsentDocument.objects.filter(clinic_id=clinic_id)
        .select_related("published_by")
        .order_by("kind", "-version")
    )


def consent_document_get_for_user(*, user: User, document_id: int) -> tuple[ConsentDocument, int]:
    """One version of a consent document of the user's clinics (404 alike for missing and not
    yours) and how many patients signed it; the read is audited."""
    document = scoped_get(
        ConsentDocument.objects.select_related("clinic", "published_by"),
        document_id,
        user=user,
        roles=PATIENT_READ,
        object_type="consent_document",
        patient=None,
    )
    return document, document.consents.filter(status="granted").count()


def consent_documents_current(*, clinic_id: int) -> dict[str, ConsentDocument | None]:
    """The clinic's consent document in force of each kind (its latest version), or None.
    Not PHI: not audited."""
    current: dict[str, ConsentDocument | None] = {kind: None for kind in ConsentKind.values}
    for document in ConsentDocument.objects.filter(clinic_id=clinic_id).order_by("kind", "-version"):
        if current[document.kind] is None:
            current[document.kind] = document
    return current


def patient_chart_for_user(*, user: User, patient_id: int) -> PatientChart:
    """Everything the chart header and its first sections show, in a fixed number of queries."""
    patient = patient_get_for_user(user=user, patient_id=patient_id)
    measurements_qs = BodyMeasurement.objects.filter(patient=patient)
    measurements = list(
        measurements_qs.select_related("voided_by").order_by("-measured_at", "-id")[:CHART_MEASUREMENTS]
    )
    diagnoses = list(Diagnosis.objects.filter(patient=patient).order_by("-is_primary", "code"))
    consents = list(
        Consent.objects.filter(patient=patient)
        .select_related("recorded_by", "document")
        .order_by("-recorded_at", "-id")
    )
    current = consents_in_force(consents)
    return PatientChart(
        patient=patient,
        size=body_size(patient=patient),
        measurements=measurements,
        measurement_count=measurements_qs.count()
        if len(measurements) == CHART_MEASUREMENTS
        else len(measurements),
        diagnoses=[d for d in diagnoses if d.voided_at is None],
        voided_diagnoses=[d for d in diagnoses if d.voided_at is not None],
        consents_current=current,
        consent_history=consents,
        version_count=patient.version,
    )


def measurement_list_for_user(*, user: User, patient_id: int) -> tuple[Patient, list[BodyMeasurement]]:
    """All of a patient's measurements, voided ones included, newest taken first (then newest
    entered); Http404 if the patient is not the user's. The read is audited."""
    patient = patient_get_for_user(user=user, patient_id=patient_id, audit=False)
    rows = list(
        BodyMeasurement.objects.filter(patient=patient)
        .select_related("voided_by")
        .order_by("-measured_at", "-id")
    )
    audit_record(
        actor=user,
        action="read",
        object_type="body_measurement_list",
        object_id=patient.pk,
        patient_id=patient.pk,
        clinic_id=patient.clinic_id,
        detail={"returned": len(rows)},
    )
    return patient, rows


def measurement_get_for_user(*, user: User, patient_id: int, measurement_id: int) -> BodyMeasurement:
    """A measurement under the right patient of the user's clinics (nested ids checked), or 404.
    Not audited as a read: the page's read of the patient covers it."""
    return scoped_get(
        BodyMeasurement.objects.select_related("patient", "patient__clinic").filter(patient_id=patient_id),
        measurement_id,
        user=user,
        roles=PATIENT_READ,
        object_type="body_measurement",
        clinic="patient__clinic_id",
        audit=False,
    )


def patient_versions_for_user(*, user: User, patient_id: int) -> tuple[Patient, list[PatientVersion]]:
    patient = patient_get_for_user(user=user, patient_id=patient_id)
    versions = list(
        PatientVersion.objects.filter(patient=patient).select_related("recorded_by").order_by("-version")
    )
    return patient, versions


def diagnosis_get_for_user(*, user: User, patient_id: int, diagnosis_id: int) -> Diagnosis:
    """A diagnosis under the right patient of the user's clinics (nested ids checked, OpenEMR #11853).
    Not audited as a read: the page's read of the patient covers it."""
    return scoped_get(
        Diagnosis.objects.select_related("patient").filter(patient_id=patient_id),
        diagnosis_id,
        user=user,
        roles=PATIENT_READ,
        object_type="diagnosis",
        clinic="patient__clinic_id",
        audit=False,
    )


# --- Liver tests --------------------------------------------------------------------------------


def liver_tests_of(patient: Patient | int, *, include_voided: bool = True) -> list[LiverTest]:
    """A patient's liver test results, newest taken first (then newest entered). Not audited:
    the caller has read the patient (the chart, the dosing rule)."""
    patient_id = patient if isinstance(patient, int) else patient.pk
    qs = LiverTest.objects.filter(patient_id=patient_id)
    if not include_voided:
        qs = qs.filter(voided_at__isnull=True)
    return list(qs.select_related("recorded_by", "voided_by").order_by("-taken_on", "-id"))


def liver_test_page_for_user(
    *, user: User, patient_id: int, limit: int, offset: int
) -> tuple[list[LiverTest], int]:
    """One page of a patient's liver test results (voided ones with their void), newest taken
    first, and how many there are; Http404 if the patient is not the user's. Audited."""
    patient = patient_get_for_user(user=user, patient_id=patient_id, audit=False)
    qs = LiverTest.objects.filter(patient=patient).select_related("voided_by").order_by("-taken_on", "-id")
    total = qs.count()
    rows = list(qs[offset : offset + limit])
    audit_record(
        actor=user,
        action="read",
        object_type="liver_test_list",
        object_id=patient.pk,
        patient_id=patient.pk,
        clinic_id=patient.clinic_id,
        detail={"returned": len(rows), "total": total},
    )
    return rows, total


def liver_test_get_for_user(*, user: User, patient_id: int, liver_test_id: int) -> LiverTest:
    """A result under the right patient of the user's clinics (nested ids checked), or 404.
    Not audited as a read: the page's read of the patient covers it."""
    return scoped_get(
        LiverTest.objects.select_related("patient").filter(patient_id=patient_id),
        liver_test_id,
        user=user,
        roles=PATIENT_READ,
        object_type="liver_test",
        audit=False,
    )
