"""Writes on the patient record. Each runs in one transaction with its audit event."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from kapstone.accounts.access import ADMINS, CLINICAL, PATIENT_READ, PATIENT_WRITE, clinic_ids_for
from kapstone.accounts.models import Clinic, User
from kapstone.accounts.selectors import clinics_of
from kapstone.audit.services import audit_record
from kapstone.domain.consent import consent_text_fingerprint
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.liver import validate_liver_result
from kapstone.domain.patients import (
    check_primary_diagnosis,
    lookup_diagnosis,
    validate_birth_date,
    validate_body_measurement,
    validate_mrn,
    validate_sex_at_birth,
)
from kapstone.domain.text import REASON_MAX_CHARS, clean_text
from kapstone.patients.models import (
    BodyMeasurement,
    Consent,
    ConsentDocument,
    ConsentKind,
    ConsentStatus,
    Diagnosis,
    LiverTest,
    Patient,
    PatientVersion,
)

#: The longest text of each field, as the record's columns hold it: the web form and the API
#: take their limits from the same columns (``Patient.text_limit``).
_TEXT_LIMITS = {
    name: Patient.text_limit(name)
    for name in (
        "given_name",
        "family_name",
        "gender_identity",
        "phone",
        "email",
        "address",
        "emergency_contact_name",
        "emergency_contact_phone",
        "emergency_contact_relationship",
    )
}


def clinic_today(clinic: Clinic) -> date:
    """Today's date where the clinic is: 'in the future' means in the clinic's future."""
    return timezone.now().astimezone(ZoneInfo(clinic.timezone)).date()


def _writable_clinic(actor: User, clinic_id: int | None) -> Clinic:
    """The clinic ``actor`` may register patients in; a clinic that is not theirs is 'not found'."""
    allowed = clinic_ids_for(actor, PATIENT_WRITE)
    if clinic_id is None:
        if len(allowed) != 1:
            raise DomainError(
                "clinic_required",
                "You work in several clinics: choose the clinic for this patient.",
                field="clinic_id",
            )
        clinic_id = allowed[0]
    if clinic_id not in allowed:
        raise Http404("clinic")
    return Clinic.objects.get(pk=clinic_id)


def _clean_identity(values: dict[str, Any], *, today: date) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if name == "mrn":
            cleaned[name] = validate_mrn(value)
        elif name == "birth_date":
            cleaned[name] = validate_birth_date(value, today=today)
        elif name == "sex_at_birth":
            cleaned[name] = validate_sex_at_birth(value)
        elif name == "birth_date_estimated":
            if not isinstance(value, bool):
                raise DomainError(
                    "invalid_value", "Whether the birth date is estimated must be yes or no.", field=name
                )
            cleaned[name] = value
        elif name in _TEXT_LIMITS:
            cleaned[name] = clean_text(
                value,
                field=name,
                max_chars=_TEXT_LIMITS[name],
                required=name in ("given_name", "family_name"),
            )
            if name == "email" and cleaned[name]:
                _check_email(cleaned[name])
        else:
            raise DomainError("unknown_field", f"{name} is not a patient field.", field=name)
    return cleaned


def _check_email(address: str) -> None:
    # Django's validator, the one the web form's e-mail field runs: the API and every other
    # caller of the service refuse what the form refuses (issue 15).
    try:
        validate_email(address)
    except ValidationError:
        raise DomainError(
            "invalid_email", "That e-mail address does not look right.", field="email"
        ) from None


def _snapshot(patient: Patient) -> dict[str, Any]:
    data = {name: getattr(patient, name) for name in Patient.IDENTITY_FIELDS}
    data["birth_date"] = patient.birth_date.isoformat()
    return data


def _mrn_taken(clinic_id: int, mrn: str, *, exclude_id: int | None = None) -> bool:
    qs = Patient.objects.filter(clinic_id=clinic_id, mrn=mrn)
    if exclude_id is not None:
        qs = qs.exclude(pk=exclude_id)
    return qs.exists()


def patient_create(
    *,
    actor: User,
    clinic_id: int | None,
    mrn: str,
    given_name: str,
    family_name: str,
    birth_date: date,
    sex_at_birth: str,
    weight_kg: Any | None = None,
    height_cm: Any | None = None,
    measured_at: datetime | None = None,
    **contact: str,
) -> Patient:
    """Register a patient in one of the actor's clinics, with an optional first measurement
    (taken at ``measured_at``, by default now)."""
    clinic = _writable_clinic(actor, clinic_id)
    today = clinic_today(clinic)
    fields = _clean_identity(
        {
            "mrn": mrn,
            "given_name": given_name,
            "family_name": family_name,
            "birth_date": birth_date,
            "sex_at_birth": sex_at_birth,
            **contact,
        },
        today=today,
    )
    measurement = None
    now = timezone.now()
    if weight_kg is not None or height_cm is not None:
        measurement = validate_body_measurement(
            weight_kg=weight_kg, height_cm=height_cm, measured_at=measured_at or now, now=now
        )
    if _mrn_taken(clinic.pk, fields["mrn"]):
        raise DomainError(
            "mrn_taken", f"MRN {fields['mrn']} is already in use in {clinic.name}.", field="mrn"
        )
    try:
        with transaction.atomic():
            patient = Patient.objects.create(
                clinic=clinic, created_at=now, updated_at=now, created_by=actor, version=1, **fields
            )
            PatientVersion.objects.create(
                patient=patient,
                version=1,
                data=_snapshot(patient),
                reason="registered",
                recorded_at=now,
                recorded_by=actor,
            )
            if measurement is not None:
                BodyMeasurement.objects.create(
                    patient=patient,
                    weight_kg=measurement.weight_kg,
                    height_cm=measurement.height_cm,
                    measured_at=measurement.measured_at,
                    recorded_at=now,
                    recorded_by=actor,
                )
            audit_record(
                actor=actor,
                action="create",
                object_type="patient",
                object_id=patient.pk,
                patient_id=patient.pk,
                clinic_id=clinic.pk,
                detail={"with_measurement": measurement is not None},
            )
    except IntegrityError:
        # Two registrations of the same MRN raced; the unique constraint let one win.
        raise DomainError(
            "mrn_taken", f"MRN {fields['mrn']} is already in use in {clinic.name}.", field="mrn"
        ) from None
    return patient


def patient_amend(
    *, actor: User, patient: Patient, expected_version: int, changes: dict[str, Any], reason: str
) -> Patient:
    """Amend identity or contact fields, keeping the previous version viewable.

    ``expected_version`` is the version the user was looking at: if someone amended the record
    since, the change is refused rather than silently overwriting theirs.
    """
    reason = clean_text(
        reason,
        field="reason",
        max_chars=REASON_MAX_CHARS,
        required=True,
        label="The reason",
        missing_message="Say why the record is being amended.",
    )
    if patient.clinic_id not in clinic_ids_for(actor, PATIENT_WRITE):
        raise Http404("patient")
    cleaned = _clean_identity(changes, today=clinic_today(patient.clinic))
    with transaction.atomic():
        current = Patient.objects.select_for_update().get(pk=patient.pk)
        if current.version != expected_version:
            raise WorkflowConflict(
                "stale_version",
                f"This record was amended by someone else since you opened it (now version {current.version}). "
                "Reload it and make your change again.",
                field="version",
            )
        changed = sorted(name for name, value in cleaned.items() if getattr(current, name) != value)
        if not changed:
            raise DomainError("no_changes", "Nothing was changed.", field=None)
        if "mrn" in changed and _mrn_taken(current.clinic_id, cleaned["mrn"], exclude_id=current.pk):
            raise DomainError("mrn_taken", f"MRN {cleaned['mrn']} is already in use.", field="mrn")
        now = timezone.now()
        for name in changed:
            setattr(current, name, cleaned[name])
        current.version += 1
        current.updated_at = now
        current.save()
        PatientVersion.objects.create(
            patient=current,
            version=current.version,
            data=_snapshot(current),
            reason=reason,
            recorded_at=now,
            recorded_by=actor,
        )
        audit_record(
            actor=actor,
            action="amend",
            object_type="patient",
            object_id=current.pk,
            patient_id=current.pk,
            clinic_id=current.clinic_id,
            detail={"fields": changed, "version": current.version},
        )
    return current


def measurement_record(
    *,
    actor: User,
    patient: Patient,
    weight_kg: Any | None,
    height_cm: Any | None,
    measured_at: datetime | None = None,
) -> BodyMeasurement:
    """Record a weight and/or height taken at ``measured_at`` (by default now; never in the future),
    kept to the minute.

    The entry's id is its order of entry: of two measurements taken in the same minute, the one
    entered later is in force. Refusals: :func:`kapstone.domain.patients.validate_body_measurement`.
    """
    if patient.clinic_id not in clinic_ids_for(actor, PATIENT_WRITE):
        raise Http404("patient")
    now = timezone.now()
    values = validate_body_measurement(
        weight_kg=weight_kg, height_cm=height_cm, measured_at=measured_at or now, now=now
    )
    with transaction.atomic():
        row = BodyMeasurement.objects.create(
            patient=patient,
            weight_kg=values.weight_kg,
            height_cm=values.height_cm,
            measured_at=values.measured_at,
            recorded_at=now,
            recorded_by=actor,
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="body_measurement",
            object_id=row.pk,
            patient_id=patient.pk,
            clinic_id=patient.clinic_id,
        )
    return row


def measurement_void(*, actor: User, measurement: BodyMeasurement, reason: str) -> BodyMeasurement:
    """Void a mistaken measurement with a reason: it stays on the chart, struck through, and is
    never the measurement in force again. Nothing is deleted.

    Only a clinician of the patient's clinic (prescriber, nurse, therapist: ``CLINICAL``) may
    void (``clinician_required``); a patient of another clinic is 'not found'. Refusals:
    ``reason_required``, ``text_too_long``, ``invalid_text``, ``already_voided`` (409).
    """
    # Who may, before what they typed: a stranger learns nothing from a refused reason.
    clinic_id = Patient.objects.filter(pk=measurement.patient_id).values_list("clinic_id", flat=True).get()
    if clinic_id not in clinic_ids_for(actor, PATIENT_READ):
        raise Http404("measurement")
    if clinic_id not in clinic_ids_for(actor, CLINICAL):
        raise WorkflowConflict(
            "clinician_required", "Only a prescriber, nurse or therapist may void a measurement."
        )
    text = clean_text(
        reason,
        field="reason",
        max_chars=REASON_MAX_CHARS,
        required=True,
        label="The reason",
        missing_message="Say why the measurement is being voided.",
    )
    with transaction.atomic():
        row = BodyMeasurement.objects.select_for_update().get(pk=measurement.pk)
        if row.voided_at is not None:
            raise WorkflowConflict("already_voided", "This measurement was already voided.")
        row.voided_at = timezone.now()
        row.voided_by = actor
        row.void_reason = text
        row.save(update_fields=["voided_at", "voided_by", "void_reason"])
        audit_record(
            actor=actor,
            action="void",
            object_type="body_measurement",
            object_id=row.pk,
            patient_id=row.patient_id,
            clinic_id=clinic_id,
        )
    return row


def liver_test_record(
    *,
    actor: User,
    patient: Patient,
    test: str,
    value: Any,
    unit: str,
    upper_limit: Any,
    taken_on: date,
) -> LiverTest:
    """Record one liver test result (ALT, AST or total bilirubin) with the laboratory's upper
    limit of normal and the day the blood was taken (not in the clinic's future).

    Who may: those who write the patient record (``PATIENT_WRITE``); a patient of another clinic
    is 'not found'. Refusals: :func:`kapstone.domain.liver.validate_liver_result`.
    """
    if patient.clinic_id not in clinic_ids_for(actor, PATIENT_WRITE):
        raise Http404("patient")
    values = validate_liver_result(
        test=test,
        value=value,
        unit=unit,
        upper_limit=upper_limit,
        taken_on=taken_on,
        today=clinic_today(patient.clinic),
    )
    with transaction.atomic():
        row = LiverTest.objects.create(
            patient=patient,
            clinic_id=patient.clinic_id,
            test=values.test,
            value=values.value,
            unit=values.unit,
            upper_limit=values.upper_limit,
            taken_on=values.taken_on,
            recorded_at=timezone.now(),
            recorded_by=actor,
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="liver_test",
            object_id=row.pk,
            patient_id=patient.pk,
            clinic_id=patient.clinic_id,
            detail={"test": values.test},
        )
    return row


def liver_test_void(*, actor: User, liver_test: LiverTest, reason: str) -> LiverTest:
    """Mark a liver test result entered in error, with a reason: it stays on the chart, struck
    through, and the dosing rule no longer reads it. The same rule as a measurement's void
    (:func:`measurement_void`): clinicians only (``clinician_required``), ``reason_required``,
    ``already_voided`` (409)."""
    if liver_test.clinic_id not in clinic_ids_for(actor, PATIENT_READ):
        raise Http404("liver_test")
    if liver_test.clinic_id not in clinic_ids_for(actor, CLINICAL):
        raise WorkflowConflict(
            "clinician_required", "Only a prescriber, nurse or therapist may void a liver test result."
        )
    text = clean_text(
        reason,
        field="reason",
        max_chars=REASON_MAX_CHARS,
        required=True,
        label="The reason",
        missing_message="Say why the result is being voided.",
    )
    with transaction.atomic():
        row = LiverTest.objects.select_for_update().get(pk=liver_test.pk)
        if row.voided_at is not None:
            raise WorkflowConflict("already_voided", "This result was already voided.")
        row.voided_at = timezone.now()
        row.voided_by = actor
        row.void_reason = text
        row.save(update_fields=["voided_at", "voided_by", "void_reason"])
        audit_record(
            actor=actor,
            action="void",
            object_type="liver_test",
            object_id=row.pk,
            patient_id=row.patient_id,
            clinic_id=row.clinic_id,
        )
    return row


def diagnosis_add(*, actor: User, patient: Patient, code: str, is_primary: bool) -> Diagnosis:
    """Record a diagnosis: a substance use disorder (F10–F19) or a comorbid condition (F32, F33,
    F41, F43.1; never primary, ``comorbid_not_primary``); making one primary demotes the previous
    primary."""
    if patient.clinic_id not in clinic_ids_for(actor, PATIENT_WRITE):
        raise Http404("patient")
    entry = lookup_diagnosis(code)
    check_primary_diagnosis(entry, is_primary=is_primary)
    with transaction.atomic():
        Patient.objects.select_for_update().get(pk=patient.pk)  # serialise changes to one chart
        active = Diagnosis.objects.filter(patient=patient, voided_at__isnull=True)
        if active.filter(code=entry.code).exists():
            raise DomainError("diagnosis_duplicate", f"{entry.code} is already on this record.", field="code")
        if is_primary:
            for previous in active.filter(is_primary=True):
                previous.is_primary = False
                previous.save(update_fields=["is_primary"])
                audit_record(
                    actor=actor,
                    action="update",
                    object_type="diagnosis",
                    object_id=previous.pk,
                    patient_id=patient.pk,
                    clinic_id=patient.clinic_id,
                    detail={"is_primary": False},
                )
        row = Diagnosis.objects.create(
            patient=patient,
            code=entry.code,
            name=entry.name,
            substance=entry.substance,
            is_primary=is_primary,
            recorded_at=timezone.now(),
            recorded_by=actor,
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="diagnosis",
            object_id=row.pk,
            patient_id=patient.pk,
            clinic_id=patient.clinic_id,
            detail={"code": entry.code},
        )
    return row


def diagnosis_void(*, actor: User, diagnosis: Diagnosis, reason: str) -> Diagnosis:
    if diagnosis.patient.clinic_id not in clinic_ids_for(actor, PATIENT_WRITE):
        raise Http404("diagnosis")
    reason = clean_text(
        reason,
        field="reason",
        max_chars=REASON_MAX_CHARS,
        required=True,
        label="The reason",
        missing_message="Say why the diagnosis is being voided.",
    )
    with transaction.atomic():
        row = Diagnosis.objects.select_for_update().get(pk=diagnosis.pk)
        if row.voided_at is not None:
            raise WorkflowConflict("already_voided", "This diagnosis was already voided.")
        row.voided_at = timezone.now()
        row.voided_by = actor
        row.void_reason = reason
        row.is_primary = False
        row.save(update_fields=["voided_at", "voided_by", "void_reason", "is_primary"])
        audit_record(
            actor=actor,
            action="void",
            object_type="diagnosis",
            object_id=row.pk,
            patient_id=row.patient_id,
            clinic_id=diagnosis.patient.clinic_id,
        )
    return row


def consent_record(
    *,
    actor: User,
    patient: Patient,
    kind: str,
    status: str,
    effective_on: date,
    document_version: str,
    note: str = "",
) -> Consent:
    """Record a consent or its withdrawal as a new row; the latest row of a kind is in force."""
    if patient.clinic_id not in clinic_ids_for(actor, PATIENT_WRITE):
        raise Http404("patient")
    if kind not in ConsentKind.values:
        raise DomainError(
            "consent_kind_invalid",
            f"Consent kind must be one of {', '.join(ConsentKind.values)}.",
            field="kind",
        )
    if status not in ConsentStatus.values:
        raise DomainError("consent_status_invalid", "Status must be granted or withdrawn.", field="status")
    version = clean_text(
        document_version,
        field="document_version",
        max_chars=40,
        required=True,
        label="The version of the consent form",
        missing_message="Give the version of the consent form.",
    )
    note = clean_text(note, field="note", max_chars=REASON_MAX_CHARS, label="The note")
    if effective_on > clinic_today(patient.clinic):
        raise DomainError(
            "effective_in_future", "A consent cannot take effect on a future date.", field="effective_on"
        )
    with transaction.atomic():
        row = Consent.objects.create(
            patient=patient,
            kind=kind,
            status=status,
            effective_on=effective_on,
            document_version=version,
            note=note,
            recorded_at=timezone.now(),
            recorded_by=actor,
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="consent",
            object_id=row.pk,
            patient_id=patient.pk,
            clinic_id=patient.clinic_id,
            detail={"kind": kind, "status": status},
        )
    return row


CONSENT_TITLE_MAX_CHARS = 200
CONSENT_BODY_MAX_CHARS = 50_000


def consent_document_publish(
    *, actor: User, clinic: Clinic, kind: str, title: str, body: str
) -> ConsentDocument:
    """Publish a new version of the clinic's consent document of ``kind`` (a clinic admin only);
    patients read and sign the latest version in the portal. Earlier versions stay as they were.

    Refusals: ``consent_kind_invalid``, ``title_required``, ``body_required``, ``text_too_long``,
    ``invalid_text`` (a control character in the title or the text); a clinic where ``actor`` is not an admin
    is "not found" (Http404).
    """
    if clinic.pk not in clinic_ids_for(actor, ADMINS):
        raise Http404("clinic")
    if kind not in ConsentKind.values:
        raise DomainError(
            "consent_kind_invalid",
            f"Consent kind must be one of {', '.join(ConsentKind.values)}.",
            field="kind",
        )
    title = clean_text(
        title, field="title", max_chars=CONSENT_TITLE_MAX_CHARS, required=True, label="The title"
    )
    body = clean_text(
        body.replace("\r\n", "\n") if isinstance(body, str) else body,
        field="body",
        max_chars=CONSENT_BODY_MAX_CHARS,
        required=True,
        label="The text",
        missing_message="The text of the document is required.",
    )
    with transaction.atomic():
        # One publisher at a time per clinic: the version numbers stay gapless and unique.
        Clinic.objects.select_for_update().get(pk=clinic.pk)
        latest = ConsentDocument.objects.filter(clinic=clinic, kind=kind).order_by("-version").first()
        document = ConsentDocument.objects.create(
            clinic=clinic,
            kind=kind,
            version=(latest.version + 1) if latest else 1,
            title=title,
            body=body,
            text_sha256=consent_text_fingerprint(title, body),
            published_at=timezone.now(),
            published_by=actor,
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="consent_document",
            object_id=document.pk,
            clinic_id=clinic.pk,
            detail={"kind": kind, "version": document.version},
        )
    return document


def clinic_today_for_user(user: User, *, roles: Iterable[str] = PATIENT_WRITE) -> date:
    """Today in the user's first clinic (by name) where they hold one of ``roles``, for
    pre-filling date fields; the server's day when they have none."""
    clinics = clinics_of(user, roles)
    return clinic_today(clinics[0]) if clinics else timezone.now().date()
