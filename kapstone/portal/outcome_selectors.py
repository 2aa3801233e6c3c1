"""What a patient sees of their own outcomes in the portal: the questionnaires due, a
questionnaire's form, their use calendar and their progress.

Every read takes the signed-in patient's account (``request.patient_account``), never a patient
id from the request, and reads that account's patient only. The page and API reads are audited
with the patient's user as actor. ``due_for_patient`` is the plain helper the portal home page
and ``GET /api/v1/portal/me`` call for "what is due" (their own read event covers it).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.utils.translation import gettext

from kapstone.care.models import TreatmentCourse
from kapstone.domain import instruments, tlfb
from kapstone.domain.words import gettext_noop
from kapstone.outcomes.models import EntrySource, QuestionnaireResponse, UseDay
from kapstone.outcomes.selectors import current_use_days, questionnaires_due, self_entry_window_of
from kapstone.patients.models import Patient
from kapstone.patients.services import clinic_today
from kapstone.portal.access import audit_own_read
from kapstone.portal.models import PatientAccount

#: What each questionnaire a patient may fill in is about, in plain words (its name follows).
TOPICS = {
    "phq-9": gettext_noop("Mood"),
    "gad-7": gettext_noop("Worry and anxiety"),
    "audit": gettext_noop("Alcohol use"),
    "audit-c": gettext_noop("Alcohol use, short form"),
    "pacs": gettext_noop("Alcohol craving"),
}
assert set(TOPICS) == set(instruments.SELF_REPORT_INSTRUMENTS)

#: The substance a course's indication asks about on the calendar (the staff forms' names).
INDICATION_SUBSTANCES = {
    "alcohol": "alcohol",
    "opioids": "opioids",
    "cocaine": "cocaine",
    "methamphetamine": "amphetamines",
    "cannabis": "cannabis",
}
SUBSTANCE_WORDS = {
    "alcohol": gettext_noop("Alcohol"),
    "opioids": gettext_noop("Opioids"),
    "cocaine": gettext_noop("Cocaine"),
    "amphetamines": gettext_noop("Amphetamines"),
    "cannabis": gettext_noop("Cannabis"),
    "benzodiazepines": gettext_noop("Benzodiazepines"),
    "ketamine": gettext_noop("Ketamine"),
}
#: Days shown at once in the week grid.
WEEK_DAYS = 7


def instrument_name(code: str) -> str:
    """The questionnaire's name for the patient, in the active language: "Mood (PHQ-9)"."""
    topic = TOPICS.get(code)
    return f"{gettext(topic)} ({code.upper()})" if topic else code.upper()


def substance_name(substance: str) -> str:
    words = SUBSTANCE_WORDS.get(substance)
    return gettext(words) if words else substance.capitalize()


def band_words(instrument: str, band: str | None) -> str | None:
    """The band of a total in words, in the active language ("Mild"); None where there is none."""
    label = instruments.band_label(instrument, band) if band else None
    return gettext(label) if label else None


# --- What is due ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DueQuestionnaire:
    """A questionnaire the patient is asked to fill in now. ``time_point_months`` 0 is the
    baseline, n the n-month follow-up of the course ``course_id``."""

    instrument: str
    instrument_name: str
    due_date: date
    time_point_months: int
    course_id: int | None = None


def due_for_patient(patient: Patient, today: date) -> list[DueQuestionnaire]:
    """The questionnaires ``patient`` may fill in themselves that are due on ``today`` (or
    overdue), earliest first, each instrument once (the earliest time point first; the next one
    shows once that is answered). From the follow-up schedule and the protocol's questionnaires
    (``outcomes.selectors.questionnaires_due``), keeping the instruments a patient fills in
    (``SELF_REPORT_INSTRUMENTS``; AUDIT-C only when the record says male or female, which its
    bands need). Names are in the active language. Not audited: the caller's read covers it."""
    seen: set[str] = set()
    result = []
    for item in questionnaires_due(patient, today=today):
        code = item.instrument
        if code in seen or code not in instruments.SELF_REPORT_INSTRUMENTS:
            continue
        if instruments.get_instrument(code).requires_sex and patient.sex_at_birth not in instruments.SEXES:
            continue
        seen.add(code)
        result.append(
            DueQuestionnaire(
                instrument=code,
                instrument_name=instrument_name(code),
                due_date=item.due_on,
                time_point_months=item.months,
                course_id=item.course.pk,
            )
        )
    return result


def due_item(patient: Patient, instrument: str) -> DueQuestionnaire | None:
    """The time point a patient's answers to ``instrument`` today belong to, if one is due."""
    return next(
        (d for d in due_for_patient(patient, clinic_today(patient.clinic)) if d.instrument == instrument),
        None,
    )


# --- Questionnaires ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnsweredQuestionnaire:
    instrument: str
    name: str
    completed_on: date
    total: int
    total_max: int
    band: str | None
    entered_by_patient: bool


def _answered(response: QuestionnaireResponse) -> AnsweredQuestionnaire:
    definition = instruments.get_instrument(response.instrument)
    return AnsweredQuestionnaire(
        instrument=response.instrument,
        name=instrument_name(response.instrument),
        completed_on=response.administered_on,
        total=response.total,
        total_max=definition.total_max,
        band=band_words(response.instrument, response.band),
        entered_by_patient=response.source == EntrySource.PATIENT,
    )


@dataclass(frozen=True)
class QuestionnaireList:
    due: list[DueQuestionnaire]
    others: list[str]
    recent: list[AnsweredQuestionnaire]


RECENT_SHOWN = 10


def questionnaire_list_for_patient(*, account: PatientAccount) -> QuestionnaireList:
    """What is due, the other questionnaires the patient may fill in, and their latest answers."""
    patient = account.patient
    due = due_for_patient(patient, clinic_today(patient.clinic))
    due_codes = {d.instrument for d in due}
    others = [
        code
        for code in instruments.SELF_REPORT_INSTRUMENTS
        if code not in due_codes
        and not (
            instruments.get_instrument(code).requires_sex and patient.sex_at_birth not in instruments.SEXES
        )
    ]
    recent = [
        _answered(r)
        for r in QuestionnaireResponse.objects.filter(
            patient_id=patient.pk, instrument__in=instruments.SELF_REPORT_INSTRUMENTS
        ).order_by("-administered_on", "-entered_at", "-id")[:RECENT_SHOWN]
    ]
    audit_own_read(account, "portal_questionnaires", due=len(due), returned=len(recent))
    return QuestionnaireList(due=due, others=others, recent=recent)


def questionnaire_for_patient(*, account: PatientAccount, instrument: str):
    """(the instrument's definition, the due time point or None) for the questionnaire page;
    None when the patient does not fill in this instrument (the page is then "not found")."""
    patient = account.patient
    if instrument not in instruments.SELF_REPORT_INSTRUMENTS:
        return None
    definition = instruments.get_instrument(instrument)
    if definition.requires_sex and patient.sex_at_birth not in instruments.SEXES:
        return None
    due = due_item(patient, instrument)
    audit_own_read(account, "portal_questionnaire", instrument=instrument)
    return definition, due


def response_for_patient(*, account: PatientAccount, response_id: int | None) -> QuestionnaireResponse | None:
    """One of the patient's own responses (the one they just submitted), else None."""
    if response_id is None:
        return None
    response = QuestionnaireResponse.objects.filter(pk=response_id, patient_id=account.patient_id).first()
    if response is not None:
        audit_own_read(account, "portal_questionnaire_result", response_id=response.pk)
    return response


# --- Use calendar --------------------------------------------------------------------------------


def substances_for_patient(patient: Patient) -> list[str]:
    """The substances of the patient's calendar: those their courses treat, then any already in
    it, alcohol first. Not audited."""
    names: list[str] = []
    for indication in TreatmentCourse.objects.filter(patient_id=patient.pk).values_list(
        "protocol_data__indication", flat=True
    ):
        substance = INDICATION_SUBSTANCES.get(indication)
        if substance and substance not in names:
            names.append(substance)
    for substance in (
        UseDay.objects.filter(patient_id=patient.pk).values_list("substance", flat=True).distinct()
    ):
        if substance not in names:
            names.append(substance)
    return sorted(names, key=lambda n: (n != tlfb.ALCOHOL, n))


@dataclass(frozen=True)
class CalendarDay:
    day: date
    row: UseDay | None

    @property
    def by_clinic(self) -> bool:
        return self.row is not None and self.row.source != EntrySource.PATIENT


@dataclass(frozen=True)
class PatientCalendar:
    substance: str
    window: tuple[date, date] | None
    start: date | None  # the first day shown
    days: list[CalendarDay]
    pending: int  # days of the window after the last entry, not yet filled in
    up_to_date: bool
    earlier: date | None  # the first day of the block before / after, within the window
    later: date | None


def calendar_for_patient(
    *, account: PatientAccount, substance: str, start: date | None, length: int
) -> PatientCalendar:
    """A block of ``length`` days of the patient's calendar for ``substance``, from ``start``
    (held to the window), by default from the first day after their last entry (any source; up
    to 30 days back, never before the course, never after today)."""
    patient = account.patient
    window = self_entry_window_of(patient)
    if window is None:
        audit_own_read(account, "portal_use_calendar", substance=substance, days=0)
        return PatientCalendar(substance, None, None, [], 0, False, None, None)
    first, last = window
    rows = current_use_days(patient, substance, first, last)
    last_entry = max(rows) if rows else None
    pending_from = first if last_entry is None else max(first, last_entry + timedelta(days=1))
    pending = max(0, (last - pending_from).days + 1)
    if start is None:
        start = pending_from if pending else max(first, last - timedelta(days=length - 1))
    start = min(max(start, first), last)
    end = min(start + timedelta(days=length - 1), last)
    days = [CalendarDay(day, rows.get(day)) for day in _days(start, end)]
    earlier = max(first, start - timedelta(days=length)) if start > first else None
    later = end + timedelta(days=1) if end < last else None
    audit_own_read(
        account, "portal_use_calendar", substance=substance, start=start.isoformat(), end=end.isoformat()
    )
    return PatientCalendar(substance, window, start, days, pending, pending == 0, earlier, later)


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


# --- Progress ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthOfDays:
    substance: str
    month: str  # "2026-05"
    days_reported: int
    days_without_use: int


@dataclass(frozen=True)
class Progress:
    # instrument → [(completed_on, total, band code)], oldest first; self-report instruments only.
    questionnaires: dict[str, list[tuple[date, int, str]]]
    days_without_use: list[MonthOfDays]


def progress_of(patient: Patient) -> Progress:
    """The patient's questionnaire totals over time and, per month and substance, the days they
    have on their calendar and how many of those were without use (the current entry of each day,
    whoever entered it; a day not reported is not counted). Not audited: see progress_for_patient."""
    series: dict[str, list[tuple[date, int, str]]] = defaultdict(list)
    for response in QuestionnaireResponse.objects.filter(
        patient_id=patient.pk, instrument__in=instruments.SELF_REPORT_INSTRUMENTS
    ).order_by("administered_on", "entered_at", "id"):
        series[response.instrument].append((response.administered_on, response.total, response.band))
    current: dict[tuple[str, date], UseDay] = {}
    for row in UseDay.objects.filter(patient_id=patient.pk).order_by("day", "entered_at", "id"):
        current[(row.substance, row.day)] = row
    months: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for (substance, day), row in current.items():
        counts = months[(substance, f"{day:%Y-%m}")]
        counts[0] += 1
        counts[1] += 0 if row.used else 1
    return Progress(
        questionnaires={code: series[code] for code in instruments.SELF_REPORT_INSTRUMENTS if code in series},
        days_without_use=[
            MonthOfDays(substance, month, reported, without)
            for (substance, month), (reported, without) in sorted(
                months.items(), key=lambda item: (item[0][0] != tlfb.ALCOHOL, item[0][0], item[0][1])
            )
        ],
    )


def progress_for_patient(*, account: PatientAccount) -> Progress:
    """The signed-in patient's own progress (see progress_of); audited."""
    progress = progress_of(account.patient)
    audit_own_read(
        account,
        "portal_progress",
        questionnaires=sum(len(points) for points in progress.questionnaires.values()),
        months=len(progress.days_without_use),
    )
    return progress


def drinks_text(value: Decimal | None) -> str:
    """Standard drinks as a person writes them: 2, 1.5."""
    if value is None:
        return ""
    return f"{value.normalize():f}" if value == value.to_integral() else f"{value:f}".rstrip("0")
