"""Writes of outcomes: questionnaire responses (and the flags they raise), flag
acknowledgements, use-calendar days, toxicology results and follow-up records.

Each runs in one transaction with its audit event. Scores, bands and flags always come from
``kapstone.domain.instruments.score_instrument`` and calendar days are checked by
``kapstone.domain.tlfb``: the web forms, the API and the demo share these functions, and nothing
here scores or judges on its own. A refused request writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.mail import send_mass_mail
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from kapstone.accounts.access import ADMINS, clinic_ids_for, staff_emails
from kapstone.accounts.models import Clinic, User
from kapstone.audit.services import audit_record
from kapstone.care.models import TreatmentCourse
from kapstone.care.services import course_protocol
from kapstone.domain import instruments, tlfb
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.numbers import to_decimal
from kapstone.domain.text import clean_text
from kapstone.outcomes.access import FLAG_ACKNOWLEDGE, OUTCOMES_RECORD, REMINDER_ROLES
from kapstone.outcomes.models import (
    CSSRS_DUE_HOURS_BOUNDS,
    CSSRS_DUE_HOURS_DEFAULT,
    ClinicalFlag,
    CssrsTask,
    CssrsTaskSetting,
    EntrySource,
    FlagAcknowledgement,
    FollowUp,
    QuestionnaireResponse,
    ToxicologyMethod,
    ToxicologyTest,
    UseDay,
)
from kapstone.outcomes.selectors import (
    current_use_days,
    follow_up_counts_for_clinic,
    self_entry_window_of,
)
from kapstone.patients.access import is_own_record
from kapstone.patients.models import Patient
from kapstone.patients.services import clinic_today

NOTE_MAX_CHARS = 2000
#: The longest calendar one request may enter (a TLFB recall is usually 30–90 days).
MAX_CALENDAR_DAYS = 366
MARKER_MAX_CHARS = 100
UNIT_MAX_CHARS = 20
#: The most a calendar day may hold (the web form's bound; the column holds 9999.9), and amounts
#: up to what their column holds (8 digits, 2 decimal places).
MAX_DRINKS_PER_DAY = 99
MAX_AMOUNT = Decimal("999999.99")
BASELINE = 0


def _require_recorder(actor: User, patient: Patient, roles: Iterable[str] = OUTCOMES_RECORD) -> None:
    # "Not yours" is "not found", as for every scoped read.
    if patient.clinic_id not in clinic_ids_for(actor, roles):
        raise Http404("patient")


def _require_writer(actor: User, patient: Patient, source: str) -> None:
    """Staff entry needs a clinician of the patient's clinic; entry as the patient needs the
    patient's own active portal account. Anything else is "not found" (nothing to learn)."""
    if source == EntrySource.STAFF:
        _require_recorder(actor, patient)
    elif source == EntrySource.PATIENT:
        if not is_own_record(actor, patient):
            raise Http404("patient")
    else:
        raise DomainError(
            "invalid_source", f"source must be staff or patient, got {source!r}.", field="source"
        )


def _check_not_future(day: date, patient: Patient, field: str) -> None:
    if day > clinic_today(patient.clinic):
        raise DomainError("date_in_future", f"{day} is in the future.", field=field)


def sex_for_scoring(patient: Patient, given: str | None) -> str | None:
    """The sex AUDIT-C bands are chosen by: the patient's sex at birth when it is male or female,
    otherwise the one the clinician gave on the form (``None`` if none: the domain refuses).
    A given sex other than male or female is refused (``invalid_sex``) whichever applies."""
    if given is not None and given not in instruments.SEXES:
        raise DomainError("invalid_sex", f"sex must be 'male' or 'female', got {given!r}.", field="sex")
    if patient.sex_at_birth in instruments.SEXES:
        return patient.sex_at_birth
    return given or None


def _check_time_point(patient: Patient, course: TreatmentCourse | None, months: int | None) -> None:
    if months is None:
        return
    if course is None:
        raise DomainError(
            "course_required", "A time point belongs to a treatment course.", field="time_point"
        )
    if course.patient_id != patient.pk:
        raise Http404("course")
    allowed = (BASELINE, *course_protocol(course).follow_up_months)
    if isinstance(months, bool) or not isinstance(months, int) or months not in allowed:
        raise DomainError(
            "invalid_time_point",
            f"The course's time points are baseline (0) and {', '.join(map(str, allowed[1:]))} months; "
            f"got {months!r}.",
            field="time_point",
        )


def questionnaire_record(
    *,
    actor: User,
    patient: Patient,
    instrument: str,
    answers: Sequence[int],
    sex: str | None = None,
    course: TreatmentCourse | None = None,
    time_point_months: int | None = None,
    administered_on: date | None = None,
    source: str = EntrySource.STAFF,
    alerts_link: str = "/flags/",
) -> QuestionnaireResponse:
    """Score and keep a completed questionnaire; raise its clinician alerts (flags) with it.

    Refusals are the domain's (``unknown_instrument``, ``wrong_answer_count``,
    ``answer_out_of_range``, ``invalid_answer``, ``sex_required``, ``invalid_sex``) and
    ``invalid_time_point``, ``course_required``, ``date_in_future``, raised before anything is
    written. A flag whose rule alerts clinicians (PHQ-9 item 9 > 0 → ``self-harm-risk``) becomes
    an open :class:`ClinicalFlag` in the same transaction, so it shows as soon as this returns.

    ``source="patient"``: the patient answers from home, ``actor`` being their own portal account
    (else Http404). Scored, flagged and alerted exactly as staff entry. Only the instruments a
    patient may fill in (``instruments.SELF_REPORT_INSTRUMENTS``; else ``not_a_patient_instrument``),
    completed today; the sex for AUDIT-C is the record's (a patient does not choose it: with none
    on record, ``sex_required``).

    A flag raised by the patient's own answers is also e-mailed to the clinic's clinicians when
    the transaction commits (:func:`_tell_clinicians`; ``alerts_link`` is the alert list's
    address): no one from the clinic was there when they answered.
    """
    _require_writer(actor, patient, source)
    if source == EntrySource.PATIENT:
        instruments.get_instrument(instrument)
        if instrument not in instruments.SELF_REPORT_INSTRUMENTS:
            raise DomainError(
                "not_a_patient_instrument",
                f"{instrument} is entered by the clinic, not in the portal.",
                field="instrument",
            )
        if sex is not None or administered_on is not None:
            raise DomainError(
                "not_allowed_for_patient",
                "A patient's own answers are dated today and scored by the sex on record.",
            )
    used_sex = sex_for_scoring(patient, sex)
    score = instruments.score_instrument(instrument, answers, sex=used_sex)
    definition = instruments.get_instrument(instrument)
    _check_time_point(patient, course, time_point_months)
    if administered_on is None:
        administered_on = clinic_today(patient.clinic)
    _check_not_future(administered_on, patient, "administered_on")
    now = timezone.now()
    with transaction.atomic():
        response = QuestionnaireResponse.objects.create(
            patient=patient,
            instrument=definition.code,
            answers=list(answers),
            item_scores=list(score.item_scores),
            total=score.total,
            band=score.band or "",
            flags=list(score.flags),
            scoring_version=score.scoring_version,
            form_version=definition.form_version,
            sex_for_scoring=used_sex if definition.requires_sex else "",
            course=course,
            time_point_months=time_point_months,
            administered_on=administered_on,
            entered_by=actor,
            entered_at=now,
            source=source,
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="questionnaire_response",
            object_id=response.pk,
            patient_id=patient.pk,
            clinic_id=patient.clinic_id,
            detail={
                "instrument": definition.code,
                "total": score.total,
                "band": score.band,
                "flags": list(score.flags),
                "scoring_version": score.scoring_version,
                "source": source,
            },
        )
        for rule in definition.flag_rules:
            if rule.code in score.flags and rule.alerts_clinicians:
                flag = ClinicalFlag.objects.create(
                    patient=patient,
                    clinic_id=patient.clinic_id,
                    code=rule.code,
                    description=rule.description[:300],
                    response=response,
                    raised_at=now,
                )
                audit_record(
                    actor=actor,
                    action="create",
                    object_type="clinical_flag",
                    object_id=flag.pk,
                    patient_id=patient.pk,
                    clinic_id=patient.clinic_id,
                    detail={"code": rule.code, "response_id": response.pk, "source": source},
                )
                if source == EntrySource.PATIENT:
                    _tell_clinicians(flag, alerts_link)
        _cssrs_task_follow(actor=actor, response=response, now=now)
    return response


#: PHQ-9 item 9 (thoughts of death or self-harm), by its index in the answers.
PHQ9_ITEM9_INDEX = 8


def cssrs_due_hours(clinic_id: int) -> int:
    """The clinic's time to complete the C-SSRS after a positive PHQ-9 item 9 (hours)."""
    setting = CssrsTaskSetting.objects.filter(clinic_id=clinic_id).first()
    return setting.due_hours if setting is not None else CSSRS_DUE_HOURS_DEFAULT


def _cssrs_task_follow(*, actor: User, response: QuestionnaireResponse, now: datetime) -> None:
    """Inside the response's transaction: a PHQ-9 with item 9 above 0 opens a C-SSRS task (unless
    one is open), a C-SSRS closes the open one. Sources: PHQ-9 item 9 needs a safety check
    whatever the total (Kroenke 2001; clinical.md §4.4); the C-SSRS screener is that check
    (Columbia Lighthouse Project triage, clinical.md §8); the time is the clinic's
    (:func:`cssrs_due_hours`, default 24 h, local policy)."""
    patient_id, clinic_id = response.patient_id, response.patient.clinic_id
    if response.instrument == "c-ssrs":
        task = (
            CssrsTask.objects.select_for_update()
            .filter(patient_id=patient_id, closed_at__isnull=True)
            .first()
        )
        if task is None:
            return
        task.closed_by, task.closed_at = response, now
        task.save(update_fields=["closed_by", "closed_at"])
        audit_record(
            actor=actor,
            action="update",
            object_type="cssrs_task",
            object_id=task.pk,
            patient_id=patient_id,
            clinic_id=clinic_id,
            detail={"closed_by_response": response.pk},
        )
        return
    if response.instrument != "phq-9" or response.item_scores[PHQ9_ITEM9_INDEX] <= 0:
        return
    # Serialise on the patient: two positive PHQ-9s at once leave one open task.
    Patient.objects.select_for_update().filter(pk=patient_id).first()
    if CssrsTask.objects.filter(patient_id=patient_id, closed_at__isnull=True).exists():
        return
    task = CssrsTask.objects.create(
        patient_id=patient_id,
        clinic_id=clinic_id,
        opened_by=response,
        opened_at=now,
        due_at=now + timedelta(hours=cssrs_due_hours(clinic_id)),
    )
    audit_record(
        actor=actor,
        action="create",
        object_type="cssrs_task",
        object_id=task.pk,
        patient_id=patient_id,
        clinic_id=clinic_id,
        detail={"opened_by_response": response.pk, "source": response.source},
    )


def cssrs_due_hours_set(*, actor: User, clinic: Clinic, due_hours: Any) -> CssrsTaskSetting:
    """A clinic admin sets the time to complete the C-SSRS after a positive PHQ-9 item 9
    (whole hours, 1–168). A clinic not the admin's is 'not found'. Refusals:
    ``invalid_due_hours``. Tasks already open keep their due time."""
    if clinic.pk not in clinic_ids_for(actor, ADMINS):
        raise Http404("clinic")
    low, high = CSSRS_DUE_HOURS_BOUNDS
    if isinstance(due_hours, bool) or not isinstance(due_hours, int) or not low <= due_hours <= high:
        raise DomainError(
            "invalid_due_hours",
            f"The time to complete the C-SSRS must be {low}–{high} whole hours.",
            field="due_hours",
        )
    with transaction.atomic():
        setting, _ = CssrsTaskSetting.objects.update_or_create(
            clinic=clinic, defaults={"due_hours": due_hours, "set_by": actor, "set_at": timezone.now()}
        )
        audit_record(
            actor=actor,
            action="update",
            object_type="cssrs_task_setting",
            object_id=setting.pk,
            clinic_id=clinic.pk,
            detail={"due_hours": due_hours},
        )
    return setting


def _tell_clinicians(flag: ClinicalFlag, link: str) -> None:
    """E-mail the clinic's clinicians (those who acknowledge alerts) that an alert was raised from
    home, once the alert is committed. No PHI: the clinic's name and a link behind sign-in.

    Staff entry needs no message (the person entering the answers is with the patient); a
    patient's answers from home would otherwise wait until someone opened the alert list.
    """
    clinic = Clinic.objects.get(pk=flag.clinic_id)
    emails = staff_emails(clinic_id=clinic.pk, roles=FLAG_ACKNOWLEDGE)
    subject = f"Kapstone: an alert needs a clinician at {clinic.name}"
    body = (
        f"A patient's answers in the {clinic.name} portal raised an alert that needs a clinician's "
        "attention today (a safety assessment). The patient was shown how to get help now "
        "(988, or 911 in an emergency).\n\n"
        f"Open the alerts (sign-in required): {link}\n\n"
        "This message deliberately contains no patient details.\n"
    )
    audit_record(
        actor=None,
        actor_label="alert_notification",
        action="create",
        object_type="clinical_flag_notification",
        object_id=flag.pk,
        patient_id=flag.patient_id,
        clinic_id=clinic.pk,
        detail={"code": flag.code, "recipients": len(emails)},
    )
    if emails:
        messages = [(subject, body, None, [email]) for email in emails]
        transaction.on_commit(lambda: send_mass_mail(messages, fail_silently=False))


def flag_acknowledge(*, actor: User, flag: ClinicalFlag, note: str) -> FlagAcknowledgement:
    """A clinician acknowledges an open flag, saying what was done (``note`` required).

    Refusals: ``note_required``, ``text_too_long``, ``invalid_text``; ``already_acknowledged``
    (WorkflowConflict) when someone acknowledged it first.
    """
    if flag.clinic_id not in clinic_ids_for(actor, FLAG_ACKNOWLEDGE):
        raise Http404("flag")
    note = clean_text(
        note,
        field="note",
        max_chars=NOTE_MAX_CHARS,
        required=True,
        label="The note",
        missing_message="Say what was done about the alert (e.g. safety assessment, plan).",
    )
    with transaction.atomic():
        # Lock the flag: two clinicians acknowledging at once get one winner and one conflict.
        current = ClinicalFlag.objects.select_for_update().get(pk=flag.pk)
        if FlagAcknowledgement.objects.filter(flag=current).exists():
            raise WorkflowConflict("already_acknowledged", "This alert has already been acknowledged.")
        acknowledgement = FlagAcknowledgement.objects.create(
            flag=current, note=note, acknowledged_by=actor, acknowledged_at=timezone.now()
        )
        audit_record(
            actor=actor,
            action="update",
            object_type="clinical_flag",
            object_id=current.pk,
            patient_id=current.patient_id,
            clinic_id=current.clinic_id,
            # The note is free text and may hold PHI: only that one was written.
            detail={"acknowledged": True, "code": current.code},
        )
    return acknowledgement


# --- Use calendar ------------------------------------------------------------------------------


def _decimal_or_none(value: Any, field: str) -> Decimal | int | None:
    # The domain takes Decimal or int; a float or a string from a client is turned into a
    # Decimal here only when it is exact text, never through binary floating point.
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise DomainError("invalid_amount", f"{field} must be a number, got {value!r}.", field=field)
    if isinstance(value, int | Decimal):
        return value
    if isinstance(value, float | str):
        return to_decimal(value, field=field, code="invalid_amount")
    raise DomainError("invalid_amount", f"{field} must be a number, got {value!r}.", field=field)


def _check_storable(value: Decimal | None, field: str, maximum: Decimal | int, *, places: int) -> None:
    """Refuse what the calendar's columns cannot hold exactly: above ``maximum`` (PostgreSQL
    would fail the insert: a 500) or with more decimal places (it would round silently)."""
    if value is None:
        return
    if value > maximum:
        raise DomainError(
            f"{'drinks' if field == 'standard_drinks' else 'amount'}_out_of_range",
            f"{field} must be at most {maximum}, got {value}.",
            field=field,
        )
    if value.normalize().as_tuple().exponent < -places:
        raise DomainError(
            "invalid_amount", f"{field} takes at most {places} decimal place(s), got {value}.", field=field
        )


def _calendar_day(substance: str, entry: Mapping[str, Any], index: int) -> tlfb.TlfbDay:
    prefix = f"days[{index}]"
    if not isinstance(entry, Mapping):
        raise DomainError("invalid_calendar", f"{prefix} must be an object.", field=prefix)
    day = entry.get("day")
    marker = clean_text(entry.get("marker"), field=f"{prefix}.marker", max_chars=MARKER_MAX_CHARS) or None
    try:
        if substance == tlfb.ALCOHOL:
            drinks = _decimal_or_none(entry.get("standard_drinks"), "standard_drinks")
            if drinks is None:
                raise DomainError(
                    "drinks_required",
                    f"{day}: give the number of standard drinks (0 for none).",
                    field="standard_drinks",
                )
            checked = tlfb.TlfbDay.alcohol(day, drinks, marker=marker)
            _check_storable(checked.standard_drinks, "standard_drinks", MAX_DRINKS_PER_DAY, places=1)
            return checked
        used = entry.get("used")
        unit = clean_text(entry.get("amount_unit"), field="amount_unit", max_chars=UNIT_MAX_CHARS) or None
        checked = tlfb.TlfbDay.drug(
            day,
            substance,
            used,
            amount=_decimal_or_none(entry.get("amount"), "amount"),
            amount_unit=unit,
            marker=marker,
        )
        _check_storable(checked.amount, "amount", MAX_AMOUNT, places=2)
        return checked
    except DomainError as error:
        # Name the day, so a refusal in a 31-day grid points at its row.
        field = f"{prefix}.{error.field}" if error.field else prefix
        raise DomainError(error.code, error.message, field=field) from None


def _same(row: UseDay, day: tlfb.TlfbDay) -> bool:
    return (
        row.used == day.used
        and row.standard_drinks == day.standard_drinks
        and row.amount == day.amount
        and (row.amount_unit or None) == day.amount_unit
        and (row.marker or None) == day.marker
    )


def use_days_record(
    *,
    actor: User,
    patient: Patient,
    substance: str,
    days: Sequence[Mapping[str, Any]],
    source: str = EntrySource.STAFF,
) -> list[UseDay]:
    """Enter a window of the use calendar for one substance in one go.

    ``days`` are ``{"day", "standard_drinks"}`` for alcohol and ``{"day", "used", "amount",
    "amount_unit"}`` for other substances, each with an optional ``"marker"``. A day entered
    again supersedes its earlier value (a new row; the old one stays as history); a day whose
    value is unchanged writes nothing. Returns the rows written.

    Refusals (nothing written): the domain's day checks (``drinks_required``,
    ``inconsistent_day``, ``invalid_amount``, ``invalid_date``, ``invalid_substance``…) with
    ``field="days[i]…"``, ``duplicate_day``, ``date_in_future``, ``calendar_too_long``,
    ``no_days``.

    ``source="patient"``: the patient fills in their own calendar, ``actor`` being their own portal
    account (else Http404); the same rows, marked as the patient's. Only the days of
    ``tlfb.self_entry_window`` (the last 30 days, not before the first course started, not in the
    future; else ``day_out_of_range``), and not a day the clinic has recorded
    (``day_recorded_by_clinic``: a patient adds to the clinic's interview, never overwrites it).
    """
    _require_writer(actor, patient, source)
    if not isinstance(substance, str) or not substance.strip() or len(substance.strip()) > 40:
        raise DomainError(
            "invalid_substance", "Name the substance (at most 40 characters).", field="substance"
        )
    substance = substance.strip().lower()
    if isinstance(days, str | bytes | Mapping) or not isinstance(days, Sequence) or not days:
        raise DomainError("no_days", "Give at least one calendar day.", field="days")
    if len(days) > MAX_CALENDAR_DAYS:
        raise DomainError(
            "calendar_too_long", f"At most {MAX_CALENDAR_DAYS} days in one entry.", field="days"
        )
    calendar = [_calendar_day(substance, entry, index) for index, entry in enumerate(days)]
    seen: set[date] = set()
    today = clinic_today(patient.clinic)
    window = self_entry_window_of(patient) if source == EntrySource.PATIENT else None
    for index, entry in enumerate(calendar):
        if entry.day in seen:
            raise DomainError("duplicate_day", f"{entry.day} appears twice.", field=f"days[{index}].day")
        if source == EntrySource.PATIENT:
            tlfb.check_self_entry_day(entry.day, window, field=f"days[{index}].day")
        elif entry.day > today:
            raise DomainError("date_in_future", f"{entry.day} is in the future.", field=f"days[{index}].day")
        seen.add(entry.day)
    now = timezone.now()
    with transaction.atomic():
        current = current_use_days(patient, substance, min(seen), max(seen))
        if source == EntrySource.PATIENT:
            for index, entry in enumerate(calendar):
                row = current.get(entry.day)
                if row is not None and row.source != EntrySource.PATIENT:
                    raise DomainError(
                        "day_recorded_by_clinic",
                        f"{entry.day} is already recorded by your clinic; ask them to change it.",
                        field=f"days[{index}].day",
                    )
        rows = [
            UseDay(
                patient=patient,
                substance=substance,
                day=entry.day,
                used=entry.used,
                standard_drinks=entry.standard_drinks,
                amount=entry.amount,
                amount_unit=entry.amount_unit or "",
                marker=entry.marker or "",
                entered_by=actor,
                entered_at=now,
                source=source,
            )
            for entry in calendar
            if entry.day not in current or not _same(current[entry.day], entry)
        ]
        UseDay.objects.bulk_create(rows)
        audit_record(
            actor=actor,
            action="create",
            object_type="use_calendar",
            object_id=patient.pk,
            patient_id=patient.pk,
            clinic_id=patient.clinic_id,
            detail={
                "substance": substance,
                "days_given": len(calendar),
                "days_written": len(rows),
                "superseded": sum(1 for row in rows if row.day in current),
                "source": source,
            },
        )
    return rows


# --- Toxicology --------------------------------------------------------------------------------


def toxicology_record(
    *,
    actor: User,
    patient: Patient,
    collected_on: date,
    method: str,
    results: Sequence[Mapping[str, Any]],
) -> list[ToxicologyTest]:
    """Record one sample's results, one row per substance (``{"substance", "result",
    "confirmed"}``). A confirmed positive counts as use on ``collected_on`` when the calendar
    is summarised (``tlfb.merge_tests_into_calendar``).

    Refusals: ``invalid_method``, ``no_results``, ``duplicate_substance``, ``date_in_future``
    and the domain's ``invalid_value`` / ``invalid_date`` / ``invalid_substance`` with
    ``field="results[i]…"``.
    """
    _require_recorder(actor, patient)
    if method not in ToxicologyMethod.values:
        raise DomainError(
            "invalid_method",
            f"method must be one of {', '.join(ToxicologyMethod.values)}, got {method!r}.",
            field="method",
        )
    if isinstance(results, str | bytes | Mapping) or not isinstance(results, Sequence) or not results:
        raise DomainError("no_results", "Give at least one substance result.", field="results")
    checked: list[tlfb.ToxicologyResult] = []
    for index, entry in enumerate(results):
        if not isinstance(entry, Mapping):
            raise DomainError(
                "invalid_value", f"results[{index}] must be an object.", field=f"results[{index}]"
            )
        try:
            result = tlfb.ToxicologyResult(
                day=collected_on,
                substance=entry.get("substance"),
                method=method,
                result=entry.get("result"),
                confirmed=entry.get("confirmed"),
            )
        except DomainError as error:
            if error.field == "day":
                raise DomainError(error.code, error.message, field="collected_on") from None
            raise DomainError(error.code, error.message, field=f"results[{index}].{error.field}") from None
        if len(result.substance) > 40:
            raise DomainError(
                "invalid_substance",
                "A substance name has at most 40 characters.",
                field=f"results[{index}].substance",
            )
        if any(other.substance == result.substance for other in checked):
            raise DomainError(
                "duplicate_substance",
                f"{result.substance} appears twice.",
                field=f"results[{index}].substance",
            )
        checked.append(result)
    _check_not_future(collected_on, patient, "collected_on")
    now = timezone.now()
    with transaction.atomic():
        rows = ToxicologyTest.objects.bulk_create(
            ToxicologyTest(
                patient=patient,
                collected_on=collected_on,
                substance=r.substance,
                method=method,
                result=r.result,
                confirmed=r.confirmed,
                entered_by=actor,
                entered_at=now,
            )
            for r in checked
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="toxicology_test",
            object_id=patient.pk,
            patient_id=patient.pk,
            clinic_id=patient.clinic_id,
            detail={
                "method": method,
                "results": len(rows),
                "positive": sum(1 for r in checked if r.result == "positive"),
            },
        )
    return rows


# --- Follow-ups --------------------------------------------------------------------------------


def follow_up_record(*, actor: User, course: TreatmentCourse, months: int, done_on: date) -> FollowUp:
    """Record that the ``months``-month follow-up of ``course`` was done on ``done_on``.

    Refusals: ``invalid_time_point`` (not one of the protocol snapshot's follow-up months),
    ``date_in_future``, ``follow_up_already_recorded`` (WorkflowConflict).
    """
    patient = course.patient
    _require_recorder(actor, patient)
    allowed = course_protocol(course).follow_up_months
    if isinstance(months, bool) or not isinstance(months, int) or months not in allowed:
        raise DomainError(
            "invalid_time_point",
            f"The course's follow-ups are at {', '.join(map(str, allowed))} months; got {months!r}.",
            field="months",
        )
    if isinstance(done_on, datetime) or not isinstance(done_on, date):
        raise DomainError("invalid_date", "done_on must be a date.", field="done_on")
    _check_not_future(done_on, patient, "done_on")
    with transaction.atomic():
        TreatmentCourse.objects.select_for_update().get(pk=course.pk)
        if FollowUp.objects.filter(course=course, months=months).exists():
            raise WorkflowConflict(
                "follow_up_already_recorded",
                f"The {months}-month follow-up is already recorded.",
                field="months",
            )
        follow_up = FollowUp.objects.create(
            patient=patient,
            course=course,
            months=months,
            done_on=done_on,
            recorded_by=actor,
            recorded_at=timezone.now(),
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="follow_up",
            object_id=follow_up.pk,
            patient_id=patient.pk,
            clinic_id=patient.clinic_id,
            detail={"course_id": course.pk, "months": months},
        )
    return follow_up


# --- Reminders ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReminderResult:
    clinic_slug: str
    due: int
    overdue: int
    recipients: int
    sent: bool


def follow_up_reminders_send(
    *, within_days: int, base_url: str, dry_run: bool = False, today: date | None = None
) -> list[ReminderResult]:
    """Email each clinic's nurses and therapists how many follow-ups are due within
    ``within_days`` and how many are overdue, with a link to the worklist.

    The email holds no PHI (no names, MRNs or dates of any patient): counts, the clinic's name and
    the link, behind sign-in. A clinic with nothing due or overdue, or no one to tell, gets no
    email. With ``dry_run`` nothing is sent or audited.
    """
    if isinstance(within_days, bool) or not isinstance(within_days, int) or not 0 <= within_days <= 365:
        raise DomainError("invalid_days", "days must be a whole number from 0 to 365.", field="days")
    link = f"{base_url.rstrip('/')}/follow-ups/?days={within_days}"
    results = []
    for clinic in Clinic.objects.order_by("slug"):
        due, overdue = follow_up_counts_for_clinic(clinic=clinic, within_days=within_days, today=today)
        emails = staff_emails(clinic_id=clinic.pk, roles=REMINDER_ROLES)
        send = bool((due or overdue) and emails)
        if send and not dry_run:
            subject = (
                f"Kapstone: {due} follow-up{'s' if due != 1 else ''} due, {overdue} overdue at {clinic.name}"
            )
            body = (
                f"Follow-up reminder for {clinic.name}.\n\n"
                f"Due in the next {within_days} days: {due}\n"
                f"Overdue: {overdue}\n\n"
                f"Open the follow-up worklist (sign-in required):\n{link}\n\n"
                "This message deliberately contains no patient details.\n"
            )
            with transaction.atomic():
                audit_record(
                    actor=None,
                    actor_label="send_reminders",
                    action="create",
                    object_type="follow_up_reminder",
                    clinic_id=clinic.pk,
                    detail={"due": due, "overdue": overdue, "recipients": len(emails)},
                )
                # One message per recipient: colleagues' addresses are not shared round.
                messages = [(subject, body, None, [email]) for email in emails]
                transaction.on_commit(lambda messages=messages: send_mass_mail(messages, fail_silently=False))
        results.append(
            ReminderResult(
                clinic_slug=clinic.slug,
                due=due,
                overdue=overdue,
                recipients=len(emails),
                sent=send and not dry_run,
            )
        )
    return results
