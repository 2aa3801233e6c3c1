"""Demo outcomes: questionnaires at baseline and follow-ups, use calendars around each course,
a few urine tests, and follow-up records with some missed.

The pattern follows the trials loosely: heavy use before treatment; after the last dose most
patients stay abstinent and some relapse (more for drugs than for alcohol), PHQ-9 and PACS fall
for the abstinent and rise again for those who relapse. One patient's latest PHQ-9 has item 9
above 0 (an open self-harm alert); one patient's confirmed EtG overrides a day they reported
as abstinent. Every write goes through the services, with the therapist or nurse as actor.

Deterministic from ``rng``; idempotent: a course that already has a baseline questionnaire is
left alone.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from kapstone.accounts.models import Clinic, User
from kapstone.care.models import TreatmentCourse
from kapstone.care.services import course_protocol
from kapstone.domain.protocols import follow_up_dates
from kapstone.outcomes import services
from kapstone.outcomes.models import ClinicalFlag, QuestionnaireResponse, ToxicologyTest, UseDay
from kapstone.outcomes.selectors import last_dosing_dates

SUBSTANCE_OF_INDICATION = {"alcohol": "alcohol", "opioids": "opioids", "cocaine": "cocaine"}
#: Share of patients who relapse after treatment (roughly 1 - the trials' abstinence rates).
RELAPSE_SHARE = {"alcohol": 0.35}
DRUG_RELAPSE_SHARE = 0.6
CALENDAR_DAYS = 30
MISSED_SHARE = 0.15


def _answers(rng: random.Random, count: int, top: int, level: float) -> list[int]:
    """``count`` answers from 0..``top`` centred on ``level`` (0 = none, 1 = the most)."""
    return [max(0, min(top, round(rng.gauss(level * top, 0.8)))) for _ in range(count)]


def _phq9(rng: random.Random, level: float, *, item9: int = 0) -> list[int]:
    return [*_answers(rng, 8, 3, level), item9]


def _audit(rng: random.Random, level: float) -> list[int]:
    answers = _answers(rng, 8, 4, level)
    # Items 9 and 10 take only 0, 2 or 4.
    return [*answers, *(rng.choice((0, 2, 4)) if level > 0.4 else 0 for _ in range(2))]


def _questionnaires(
    course, *, actor, rng, day: date, months: int, level: float, substance: str, item9: int = 0
) -> None:
    def record(instrument: str, answers: list[int]) -> None:
        services.questionnaire_record(
            actor=actor,
            patient=course.patient,
            instrument=instrument,
            answers=answers,
            sex="female",
            course=course,
            time_point_months=months,
            administered_on=day,
        )

    if substance == "alcohol":
        if months == 0:
            record("audit", _audit(rng, level))
        record("pacs", _answers(rng, 5, 6, level))
    elif months == 0:
        record("dast-10", [1 if rng.random() < 0.4 + level / 2 else 0 for _ in range(9)] + [1])
    record("phq-9", _phq9(rng, level * 0.8, item9=item9))


def _calendar(
    course,
    *,
    actor,
    rng,
    start: date,
    end: date,
    substance: str,
    use_share: float,
    relapse_on: date | None,
    markers: dict[date, str],
) -> None:
    days = []
    day = start
    while day <= end:
        using = relapse_on is not None and day >= relapse_on
        used = rng.random() < (0.45 if using else use_share)
        entry: dict = {"day": day, "marker": markers.get(day)}
        if substance == "alcohol":
            entry["standard_drinks"] = Decimal(rng.randint(2, 9)) if used else Decimal(0)
        else:
            entry |= {"used": used, "amount": None}
        days.append(entry)
        day += timedelta(days=1)
    if days:
        services.use_days_record(actor=actor, patient=course.patient, substance=substance, days=days)


def seed_outcomes(*, clinic: Clinic, therapist: User, nurse: User, rng: random.Random, today: date) -> int:
    """Seed outcomes for the clinic's courses; returns how many courses were seeded."""
    courses = list(
        TreatmentCourse.objects.filter(clinic=clinic).select_related("patient").order_by("start_date", "id")
    )
    last = last_dosing_dates(courses)
    seeded = 0
    flagged = ClinicalFlag.objects.filter(clinic=clinic).exists()
    etg_done = ToxicologyTest.objects.filter(patient__clinic=clinic, method="etg", result="positive").exists()
    for course in courses:
        if QuestionnaireResponse.objects.filter(course=course, time_point_months=0).exists():
            continue
        protocol = course_protocol(course)
        substance = SUBSTANCE_OF_INDICATION.get(protocol.indication, "alcohol")
        relapse_share = RELAPSE_SHARE.get(substance, DRUG_RELAPSE_SHARE)
        relapses = rng.random() < relapse_share
        baseline_day = min(course.start_date, today)
        # Before treatment: heavy use, a month's calendar and high scores.
        _calendar(
            course,
            actor=therapist,
            rng=rng,
            start=baseline_day - timedelta(days=CALENDAR_DAYS),
            end=baseline_day - timedelta(days=1),
            substance=substance,
            use_share=0.7,
            relapse_on=None,
            markers={baseline_day - timedelta(days=14): "birthday"},
        )
        _questionnaires(
            course, actor=therapist, rng=rng, day=baseline_day, months=0, level=0.7, substance=substance
        )
        seeded += 1
        if course.pk not in last:
            continue
        last_dose = last[course.pk]
        points = [
            (m, d)
            for m, d in zip(protocol.follow_up_months, follow_up_dates(protocol, last_dose), strict=True)
            if d <= today
        ]
        relapse_on = last_dose + timedelta(days=rng.randint(20, 150)) if relapses else None
        # The calendar from the last dose to the last follow-up done, or to today.
        calendar_end = min(today, points[-1][1]) if points else today
        if last_dose < calendar_end:
            _calendar(
                course,
                actor=therapist,
                rng=rng,
                start=last_dose + timedelta(days=1),
                end=calendar_end,
                substance=substance,
                use_share=0.02,
                relapse_on=relapse_on,
                markers={},
            )
        for months, due in points:
            if rng.random() < MISSED_SHARE:
                continue  # missed: stays on the worklist as overdue
            done_on = min(today, due + timedelta(days=rng.randint(0, 6)))
            services.follow_up_record(actor=nurse, course=course, months=months, done_on=done_on)
            using = relapse_on is not None and relapse_on <= done_on
            item9 = 1 if not flagged and months == points[-1][0] else 0
            flagged = flagged or bool(item9)
            _questionnaires(
                course,
                actor=therapist,
                rng=rng,
                day=done_on,
                months=months,
                level=0.55 if using else 0.15,
                substance=substance,
                item9=item9,
            )
            method = "etg" if substance == "alcohol" else "urine_drug_screen"
            result = "positive" if using else "negative"
            services.toxicology_record(
                actor=nurse,
                patient=course.patient,
                collected_on=done_on,
                method=method,
                results=[{"substance": substance, "result": result, "confirmed": True}],
            )
        if substance == "alcohol" and not etg_done and not relapses:
            # A confirmed EtG on a day the patient reported as abstinent: the test wins.
            sober = (
                UseDay.objects.filter(
                    patient=course.patient,
                    substance="alcohol",
                    used=False,
                    day__gt=last_dose + timedelta(days=5),
                )
                .order_by("day")
                .first()
            )
            if (
                sober is not None
                and not ToxicologyTest.objects.filter(patient=course.patient, collected_on=sober.day).exists()
            ):
                services.toxicology_record(
                    actor=nurse,
                    patient=course.patient,
                    collected_on=sober.day,
                    method="etg",
                    results=[{"substance": "alcohol", "result": "positive", "confirmed": True}],
                )
                etg_done = True
    return seeded
