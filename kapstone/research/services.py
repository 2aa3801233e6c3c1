"""De-identified research exports (CSV), each one an audited disclosure.

What leaves, and how it is de-identified (issue 6; security.md §0 and §5B-13):
- only patients whose latest research consent row is ``granted`` and in effect (42 CFR §2.52);
- a study id instead of name and MRN: a keyed HMAC-SHA256 of the patient id with SECRET_KEY
  (Django's ``salted_hmac``), stable across exports, not reversible without the key;
- days since enrolment (the course start) instead of any date; ages at enrolment above 89 as
  "90+"; no free text (TLFB markers, notes) at all;
- each file starts with the 42 CFR Part 2 redisclosure notice (§2.32) as ``#`` comment lines;
- text cells that a spreadsheet would run as a formula (= + - @, tab, CR) are prefixed with ';
  numbers are written as numbers (a negative day is data, not a formula);
- one ``export`` audit event per download: format, counts, the cohort filter; no PHI;
- with it, in the same transaction, one disclosure-accounting row listing the patients included
  (42 CFR §2.25; ``kapstone.audit.disclosures``).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils.crypto import salted_hmac

from kapstone.accounts.models import Membership
from kapstone.audit.disclosures import disclosure_record
from kapstone.audit.services import audit_record
from kapstone.care.models import TreatmentCourse
from kapstone.outcomes.models import FollowUp, QuestionnaireResponse, ToxicologyTest, UseDay
from kapstone.outcomes.selectors import follow_up_schedule
from kapstone.patients.models import Consent, ConsentKind, ConsentStatus
from kapstone.research.cohorts import REPORT_ROLES, CohortFilter, CourseOutcome, cohort_assemble

REDISCLOSURE_NOTICE = (
    "42 CFR part 2 prohibits unauthorized disclosure of these records.",
    "De-identified research extract: study ids, days since enrolment, ages above 89 as 90+.",
    "Do not attempt to re-identify any person or link these rows to other data.",
)
FORMATS = ("long", "wide")
LONG_COLUMNS = ("study_id", "course", "days_since_enrolment", "kind", "value")
INSTRUMENTS = ("audit", "audit-c", "pacs", "phq-9", "gad-7", "dast-10")
WIDE_COLUMNS = (
    "study_id",
    "course",
    "protocol",
    "arm",
    "age_at_enrolment",
    "sex_at_birth",
    "follow_up_months",
    "due_days_since_enrolment",
    "done",
    "done_days_since_enrolment",
    *(f"{name}_total" for name in INSTRUMENTS),
    "abstinence",
    "relapse_days",
    "relapse_event",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def study_id(patient_id: int) -> str:
    """A stable pseudonym for a patient: keyed HMAC of the id with SECRET_KEY, 16 hex digits."""
    digest = salted_hmac("kapstone.research.study_id", str(patient_id), algorithm="sha256").hexdigest()
    return f"S-{digest[:16]}"


def age_group(birth_date: date, on: date) -> str:
    """Whole years on ``on``; above 89 as "90+" (HIPAA Safe Harbor, 45 CFR 164.514(b)(2)(i)(C))."""
    years = on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
    return "90+" if years > 89 else str(years)


def safe_cell(value: object) -> str:
    """A CSV cell that no spreadsheet runs as a formula (OWASP CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | Decimal | float):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def consented_patient_ids(patient_ids: list[int], *, today: date) -> set[int]:
    """Patients whose latest research consent row is granted and in effect on ``today``."""
    latest: dict[int, Consent] = {}
    rows = Consent.objects.filter(patient_id__in=patient_ids, kind=ConsentKind.RESEARCH).order_by(
        "patient_id", "-recorded_at", "-id"
    )
    for row in rows:
        latest.setdefault(row.patient_id, row)
    return {
        pid
        for pid, row in latest.items()
        if row.status == ConsentStatus.GRANTED and row.effective_on <= today
    }


@dataclass(frozen=True)
class ExportFile:
    filename: str
    content: str
    rows: int
    patients: int
    courses: int
    excluded_without_consent: int


def _write(columns: tuple[str, ...], rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    for line in REDISCLOSURE_NOTICE:
        buffer.write(f"# {line}\r\n")
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return buffer.getvalue()


def _course_numbers(outcomes: list[CourseOutcome]) -> dict[int, int]:
    """1, 2, … per patient in order of course start, so a patient's courses can be told apart."""
    numbers: dict[int, int] = {}
    seen: dict[int, int] = defaultdict(int)
    for outcome in sorted(outcomes, key=lambda o: (o.start_date, o.course_id)):
        seen[outcome.patient_id] += 1
        numbers[outcome.course_id] = seen[outcome.patient_id]
    return numbers


def _long_rows(outcomes: list[CourseOutcome], courses: dict[int, TreatmentCourse]) -> list[list[object]]:
    patient_ids = sorted({o.patient_id for o in outcomes})
    use = defaultdict(dict)
    for row in UseDay.objects.filter(patient_id__in=patient_ids).order_by("day", "entered_at", "id"):
        use[row.patient_id][(row.substance, row.day)] = row  # the latest entry of a day wins
    tests = defaultdict(list)
    for row in ToxicologyTest.objects.filter(patient_id__in=patient_ids).order_by("collected_on", "id"):
        tests[row.patient_id].append(row)
    answers = defaultdict(list)
    for row in QuestionnaireResponse.objects.filter(patient_id__in=patient_ids).order_by(
        "administered_on", "id"
    ):
        answers[row.patient_id].append(row)
    follow_ups = defaultdict(list)
    for row in FollowUp.objects.filter(course_id__in=list(courses)).order_by("months"):
        follow_ups[row.course_id].append(row)
    numbers = _course_numbers(outcomes)
    rows: list[list[object]] = []
    for outcome in sorted(outcomes, key=lambda o: (study_id(o.patient_id), numbers[o.course_id])):
        course = courses[outcome.course_id]
        sid, number, start = study_id(outcome.patient_id), numbers[outcome.course_id], course.start_date

        def days(day: date, start: date = start) -> int:
            return (day - start).days

        rows.extend(
            [
                [sid, number, "", "protocol", outcome.protocol_slug],
                [sid, number, "", "arm", course.arm],
                [sid, number, "", "age_at_enrolment", age_group(course.patient.birth_date, start)],
                [sid, number, "", "sex_at_birth", course.patient.sex_at_birth],
                [sid, number, "", "outcome_abstinence", outcome.abstinence],
                [sid, number, "", "relapse_days", outcome.relapse_time_days],
                [sid, number, "", "relapse_event", outcome.relapse_event],
            ]
        )
        for (substance, day), entry in sorted(use[outcome.patient_id].items(), key=lambda item: item[0][1]):
            if substance == "alcohol" and entry.standard_drinks is not None:
                rows.append([sid, number, days(day), f"tlfb_{substance}_drinks", entry.standard_drinks])
            else:
                rows.append([sid, number, days(day), f"tlfb_{substance}_used", entry.used])
        for test in tests[outcome.patient_id]:
            suffix = "_confirmed" if test.confirmed else ""
            kind = f"tox_{test.method}_{test.substance}{suffix}"
            rows.append([sid, number, days(test.collected_on), kind, test.result])
        for response in answers[outcome.patient_id]:
            if response.course_id not in (None, outcome.course_id):
                continue
            rows.append(
                [sid, number, days(response.administered_on), f"{response.instrument}_total", response.total]
            )
        for follow_up in follow_ups[outcome.course_id]:
            rows.append([sid, number, days(follow_up.done_on), "follow_up_done_months", follow_up.months])
    return rows


def _wide_rows(
    outcomes: list[CourseOutcome], courses: dict[int, TreatmentCourse], *, today: date
) -> list[list[object]]:
    by_course = {o.course_id: o for o in outcomes}
    totals: dict[tuple[int, int], dict[str, int]] = defaultdict(dict)
    for row in QuestionnaireResponse.objects.filter(
        course_id__in=list(courses), time_point_months__isnull=False
    ).order_by("administered_on", "entered_at", "id"):
        totals[(row.course_id, row.time_point_months)][row.instrument] = row.total  # latest wins
    numbers = _course_numbers(outcomes)
    schedule = follow_up_schedule(courses.values(), today=today, within_days=0)
    rows: list[list[object]] = []
    for due in sorted(
        schedule, key=lambda f: (study_id(f.course.patient_id), numbers[f.course.pk], f.months)
    ):
        course, outcome = due.course, by_course[due.course.pk]
        start = course.start_date
        scores = totals.get((course.pk, due.months), {})
        rows.append(
            [
                study_id(course.patient_id),
                numbers[course.pk],
                course.protocol_slug,
                course.arm,
                age_group(course.patient.birth_date, start),
                course.patient.sex_at_birth,
                due.months,
                (due.due_on - start).days,
                due.record is not None,
                (due.record.done_on - start).days if due.record is not None else None,
                *(scores.get(name) for name in INSTRUMENTS),
                outcome.abstinence,
                outcome.relapse_time_days,
                outcome.relapse_event,
            ]
        )
    return rows


def research_export(*, actor, filters: CohortFilter, export_format: str, today: date) -> ExportFile:
    """Build the de-identified ``long`` or ``wide`` CSV of the cohort and record the disclosure.

    The cohort is the one the report shows (same filter, the actor's report clinics), narrowed
    to patients with a current research consent. One ``export`` audit event, in the same
    transaction as the read, with counts and the filter only.
    """
    if export_format not in FORMATS:
        raise ValueError(f"unknown export format {export_format!r}")
    with transaction.atomic():
        cohort = cohort_assemble(user=actor, filters=filters, today=today)
        consented = consented_patient_ids(sorted({o.patient_id for o in cohort.outcomes}), today=today)
        outcomes = [o for o in cohort.outcomes if o.patient_id in consented]
        excluded = len({o.patient_id for o in cohort.outcomes} - consented)
        courses = {
            c.pk: c
            for c in TreatmentCourse.objects.filter(pk__in=[o.course_id for o in outcomes]).select_related(
                "patient"
            )
        }
        if export_format == "long":
            columns, rows = LONG_COLUMNS, _long_rows(outcomes, courses)
        else:
            columns, rows = WIDE_COLUMNS, _wide_rows(outcomes, courses, today=today)
        export = ExportFile(
            filename=f"kapstone-research-{export_format}.csv",
            content=_write(columns, rows),
            rows=len(rows),
            patients=len({o.patient_id for o in outcomes}),
            courses=len(outcomes),
            excluded_without_consent=excluded,
        )
        event = audit_record(
            actor=actor,
            action="export",
            object_type="research_export",
            object_id=export_format,
            detail={
                "format": export_format,
                "rows": export.rows,
                "patients": export.patients,
                "courses": export.courses,
                "excluded_without_consent": excluded,
                "filter": filters.as_detail(),
            },
        )
        disclosure_record(
            actor=actor,
            audit_event=event,
            recipient_role=_recipient_role(actor, cohort.clinic_ids),
            purpose="research",
            kind=f"research_export_{export_format}",
            row_count=export.rows,
            patients=((o.patient_id, o.clinic_id) for o in outcomes),
            filter_summary=filters.as_detail(),
        )
    return export


def _recipient_role(actor, clinic_ids) -> str:
    """The actor's report role(s) in the cohort's clinics, e.g. "researcher"."""
    roles = Membership.objects.filter(
        user=actor, clinic_id__in=list(clinic_ids), is_active=True, role__in=REPORT_ROLES
    ).values_list("role", flat=True)
    return ", ".join(sorted(set(roles))) or "none"
