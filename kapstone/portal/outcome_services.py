"""A patient's own outcome entries from the portal (web and API).

Thin: they decide what only the portal knows (the time point a patient's answers belong to, the
days a patient said they do not remember) and write through the outcomes services with
``source="patient"``, which score, flag, check and audit exactly as for staff entry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from kapstone.audit.services import audit_record
from kapstone.care.models import TreatmentCourse
from kapstone.domain import instruments, tlfb
from kapstone.domain.errors import DomainError
from kapstone.domain.prescreen import crisis_help
from kapstone.outcomes.models import EntrySource, QuestionnaireResponse, UseDay
from kapstone.outcomes.selectors import self_entry_window_of
from kapstone.outcomes.services import MAX_CALENDAR_DAYS, questionnaire_record, use_days_record
from kapstone.portal.models import PatientAccount
from kapstone.portal.outcome_selectors import due_item


def patient_questionnaire_submit(
    *, account: PatientAccount, instrument: Any, answers: Any, alerts_link: str = "/flags/"
) -> QuestionnaireResponse:
    """Score and keep the patient's answers, tied to the course time point that asks for this
    questionnaire now (none when it is not due: the answers are then kept without a time point).
    The same refusals as staff entry (``unknown_instrument``, ``wrong_answer_count``,
    ``answer_out_of_range``, ``invalid_answer``, ``sex_required``) and ``not_a_patient_instrument``."""
    patient = account.patient
    due = due_item(patient, instrument) if isinstance(instrument, str) else None
    course = TreatmentCourse.objects.filter(pk=due.course_id, patient_id=patient.pk).first() if due else None
    return questionnaire_record(
        actor=account.user,
        patient=patient,
        instrument=instrument,
        answers=answers,
        course=course,
        time_point_months=due.time_point_months if course is not None else None,
        source=EntrySource.PATIENT,
        alerts_link=alerts_link,
    )


@dataclass(frozen=True)
class Crisis:
    """How to get help now, for a patient whose answers raised the self-harm flag."""

    message: str
    phone: str
    lines: tuple[str, ...]


#: The 988 Suicide & Crisis Lifeline (call or text); clinical.md §8, "Crisis lines (US)".
CRISIS_PHONE = "988"
CRISIS_MESSAGE = (
    "If you are thinking about ending your life or hurting yourself, call or text 988, the Suicide & "
    "Crisis Lifeline, now. If you are in danger right now, call 911."
)


def crisis_for(response: QuestionnaireResponse) -> Crisis | None:
    """The crisis help to show first when the answers raised the self-harm flag (PHQ-9 item 9
    above 0), else None. The lines are the pre-screen's (``domain/prescreen.crisis_help``, US)."""
    if instruments.SELF_HARM_FLAG not in (response.flags or []):
        return None
    return Crisis(message=CRISIS_MESSAGE, phone=CRISIS_PHONE, lines=crisis_help(None).lines)


@dataclass(frozen=True)
class CalendarEntry:
    stored: int
    not_remembered: int
    rows: list[UseDay]


def patient_use_days_submit(
    *, account: PatientAccount, substance: Any, days: Sequence[Mapping[str, Any]]
) -> CalendarEntry:
    """Keep the days the patient reported for ``substance``. A day given with neither
    ``standard_drinks`` nor ``used`` is one the patient does not remember: it stays missing (no
    row), but must still be a day of their window. Refusals: ``day_out_of_range``,
    ``day_recorded_by_clinic``, ``duplicate_day``, ``no_days``, ``calendar_too_long``, the calendar's
    own (``drinks_required``, ``invalid_amount``, ``drinks_out_of_range``…); nothing is written."""
    patient = account.patient
    if isinstance(days, str | bytes | Mapping) or not isinstance(days, Sequence) or not days:
        raise DomainError("no_days", "Give at least one day.", field="days")
    if len(days) > MAX_CALENDAR_DAYS:
        raise DomainError(
            "calendar_too_long", f"At most {MAX_CALENDAR_DAYS} days in one entry.", field="days"
        )
    window = self_entry_window_of(patient)
    reported: list[Mapping[str, Any]] = []
    positions: list[int] = []  # each reported day's place in the request
    seen = set()
    for index, entry in enumerate(days):
        if not isinstance(entry, Mapping):
            raise DomainError("invalid_calendar", f"days[{index}] must be an object.", field=f"days[{index}]")
        day = entry.get("day")
        tlfb.check_self_entry_day(day, window, field=f"days[{index}].day")
        if day in seen:
            raise DomainError("duplicate_day", f"{day} appears twice.", field=f"days[{index}].day")
        seen.add(day)
        drinks = entry.get("standard_drinks")
        if drinks is None and entry.get("used") is None:
            continue  # "I don't remember": stays missing
        reported.append(entry)
        positions.append(index)
    if not reported:
        # Every day given was "I don't remember": nothing to keep, but the visit is on record.
        with transaction.atomic():
            audit_record(
                actor=account.user,
                action="create",
                object_type="use_calendar",
                object_id=patient.pk,
                patient_id=patient.pk,
                clinic_id=patient.clinic_id,
                detail={
                    "days_given": len(days),
                    "days_written": 0,
                    "not_remembered": len(days),
                    "source": "patient",
                },
            )
        return CalendarEntry(stored=0, not_remembered=len(days), rows=[])
    try:
        rows = use_days_record(
            actor=account.user,
            patient=patient,
            substance=substance,
            days=reported,
            source=EntrySource.PATIENT,
        )
    except DomainError as error:
        # The service numbers the reported days; name the day's place in the request instead.
        raise _renumbered(error, positions) from None
    return CalendarEntry(stored=len(rows), not_remembered=len(days) - len(reported), rows=rows)


def _renumbered(error: DomainError, positions: list[int]) -> DomainError:
    """A refusal about ``days[i]`` of the reported days, renamed to the day's place in the request."""
    match = re.match(r"^days\[(\d+)\](.*)$", error.field or "")
    if not match or int(match.group(1)) >= len(positions):
        return error
    return type(error)(
        error.code, error.message, field=f"days[{positions[int(match.group(1))]}]{match.group(2)}"
    )
