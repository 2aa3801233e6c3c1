"""Demo outcomes: questionnaires at baseline and follow-ups, use calendars around each course,
a few urine tests, and follow-up records with some missed.

The pattern follows the trials loosely: heavy use before treatment; after the last dose most
patients stay abstinent and some relapse (more for drugs than for alcohol), PHQ-9 and PACS fall
for the abstinent and rise again for those who relapse. One patient's latest PHQ-9 has item 9
above 0 (an open self-harm alert); one patient's confirmed EtG overrides a day they reported
as abstinent. Every write goes through the services, with the therapist or nurse as actor.

``seed_follow_up_cohort`` adds earlier patients of every shipped protocol whose outcome windows
have closed, with outcomes like their trial's, so that the cohort report of each protocol shows a
Kaplan–Meier curve and the clinic's abstinence beside the trial's.

Deterministic from ``rng``; idempotent: a course that already has a baseline questionnaire is
left alone.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Max

from kapstone.accounts.models import Clinic, User
from kapstone.care.demo import walk_past_sessions
from kapstone.care.enrolment_demo import enrolment_place_before_first_session
from kapstone.care.models import CareSession, CourseEvent, TreatmentCourse
from kapstone.care.services import (
    course_change_status,
    course_enrol,
    course_protocol,
)
from kapstone.domain.patients import age_in_years
from kapstone.domain.protocols import Protocol, follow_up_dates, protocol_library
from kapstone.domain.screening import BOOLEAN_ANSWERS
from kapstone.monitoring.demo import monitored_dose_giver
from kapstone.outcomes import services
from kapstone.outcomes.models import ClinicalFlag, QuestionnaireResponse, ToxicologyTest, UseDay
from kapstone.outcomes.selectors import last_dosing_dates
from kapstone.patients.models import Patient
from kapstone.patients.services import consent_record, patient_create
from kapstone.screening.demo import demo_protocol_inputs
from kapstone.screening.services import screening_record

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
    # One entry holds at most a year (``MAX_CALENDAR_DAYS``): a long follow-up goes in pieces.
    for first in range(0, len(days), services.MAX_CALENDAR_DAYS):
        chunk = days[first : first + services.MAX_CALENDAR_DAYS]
        services.use_days_record(actor=actor, patient=course.patient, substance=substance, days=chunk)


def _relapse_day(protocol: Protocol, last_dose: date, rng: random.Random) -> date:
    """The demo's relapse day: within the protocol's relapse window when it has an end (Dakwar
    2019/2020: from the infusion to the end of the trial), so that the cohort report's curve,
    measured over that window, shows relapses; else 20–150 days after the last dose."""
    outcome = protocol.outcome
    if outcome.relapse_until_day is None:
        return last_dose + timedelta(days=rng.randint(20, 150))
    planned_last = max(s.day_offset for s in protocol.dosing_sessions)
    first = max(1, outcome.relapse_start_day + 1 - planned_last)
    return last_dose + timedelta(
        days=rng.randint(first, max(first, outcome.relapse_until_day - planned_last))
    )


def _seed_course(
    course,
    *,
    therapist: User,
    nurse: User,
    rng: random.Random,
    today: date,
    last: date | None,
    state: dict[str, bool],
    relapse_share: float | None = None,
    slip_share: float = 0.02,
    drops_out: bool = False,
    during_treatment: bool = False,
) -> None:
    """One course's outcomes: baseline calendar and questionnaires; after the last dose a daily
    calendar (lapses at ``slip_share`` a day, daily use from the relapse on; a patient who
    ``drops_out`` stops reporting after a few weeks; with ``during_treatment`` the calendar also
    covers the course from its start, as a protocol whose outcome window opens during treatment
    needs), the follow-ups that are due (some missed)
    with questionnaires and a confirmed urine test each. ``state`` carries whether the self-harm
    alert and the overriding EtG have been seeded yet."""
    protocol = course_protocol(course)
    substance = SUBSTANCE_OF_INDICATION.get(protocol.indication, "alcohol")
    if relapse_share is None:
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
    if last is None:
        return
    last_dose = last
    points = [
        (m, d)
        for m, d in zip(protocol.follow_up_months, follow_up_dates(protocol, last_dose), strict=True)
        if d <= today
    ]
    relapse_on = _relapse_day(protocol, last_dose, rng) if relapses else None
    # The calendar from the last dose to the last follow-up done, or to today.
    calendar_end = min(today, points[-1][1]) if points else today
    if drops_out:
        calendar_end = min(calendar_end, last_dose + timedelta(days=rng.randint(10, 60)))
    first_day = course.start_date if during_treatment else last_dose + timedelta(days=1)
    if first_day <= calendar_end:
        _calendar(
            course,
            actor=therapist,
            rng=rng,
            start=first_day,
            end=calendar_end,
            substance=substance,
            use_share=slip_share,
            relapse_on=relapse_on,
            markers={},
        )
    for months, due in points:
        if rng.random() < MISSED_SHARE or (drops_out and due > calendar_end):
            continue  # missed: stays on the worklist as overdue
        done_on = min(today, due + timedelta(days=rng.randint(0, 6)))
        services.follow_up_record(actor=nurse, course=course, months=months, done_on=done_on)
        using = relapse_on is not None and relapse_on <= done_on
        item9 = 1 if not state["flagged"] and months == points[-1][0] else 0
        state["flagged"] = state["flagged"] or bool(item9)
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
    if substance == "alcohol" and not state["etg_done"] and not relapses:
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
            state["etg_done"] = True


def seed_outcomes(*, clinic: Clinic, therapist: User, nurse: User, rng: random.Random, today: date) -> int:
    """Seed outcomes for the clinic's courses; returns how many courses were seeded."""
    courses = list(
        TreatmentCourse.objects.filter(clinic=clinic).select_related("patient").order_by("start_date", "id")
    )
    last = last_dosing_dates(courses)
    seeded = 0
    flagged = ClinicalFlag.objects.filter(clinic=clinic).exists()
    etg_done = ToxicologyTest.objects.filter(patient__clinic=clinic, method="etg", result="positive").exists()
    state = {"flagged": flagged, "etg_done": etg_done}
    for course in courses:
        if QuestionnaireResponse.objects.filter(course=course, time_point_months=0).exists():
            continue
        _seed_course(
            course,
            therapist=therapist,
            nurse=nurse,
            rng=rng,
            today=today,
            last=last.get(course.pk),
            state=state,
        )
        seeded += 1
    return seeded


#: Earlier patients per shipped protocol and clinic, treated long enough ago that each
#: protocol's outcome window has closed: the cohort report then shows every protocol's curve and
#: its own abstinence beside the trial's.
FOLLOW_UP_COHORT = 12
#: A share of them stop reporting a few weeks after treatment (missing: not abstinent in ITT).
DROPOUT_SHARE = 0.1
_GIVEN = ("Ada", "Bram", "Cleo", "Dario", "Elin", "Faye", "Gus", "Hale", "Ines", "Jory", "Kit", "Lior")
_FAMILY = ("Amberleigh", "Brackley", "Corvane", "Dunmere", "Eskridge", "Fernsby", "Glenholt", "Harrowgate")


def _trial_relapse_share(protocol) -> float | None:
    """1 − the trial's abstinence in the ketamine arm, so the demo clinic looks like the trial;
    None (the demo default) when the trial reports no abstinence proportion."""
    percent = protocol.published_result.ketamine.percent
    return None if percent is None else 1 - float(percent) / 100


def _early_lot(*, clinic: Clinic, admin: User, received_on: date) -> None:
    """A 50 mg/mL lot in the safe before the earliest follow-up-cohort dose (as the dosing demo's
    archive lot does for the later courses), so every dose is dispensed from stock on hand."""
    from kapstone.inventory import services as inventory
    from kapstone.inventory.models import Lot, Product, StorageLocation

    number = f"{clinic.slug[:2].upper()}5Y0001"
    if Lot.objects.filter(clinic=clinic, lot_number=number).exists():
        return
    product = Product.objects.filter(strength_mg_per_ml=Decimal("50")).order_by("id").first()
    # The register's internal entry point takes a past date (as ``dosing.demo.archive_lot``).
    inventory.lot_receive(
        actor=admin,
        clinic=clinic,
        location=StorageLocation.objects.filter(clinic=clinic).order_by("id").first(),
        product=product,
        lot_number=number,
        expiry=received_on + timedelta(days=730),
        amount_mg=product.mg_per_vial * 200,
        received_at=datetime.combine(received_on, time(9, 0), tzinfo=ZoneInfo(clinic.timezone)),
    )


def seed_follow_up_cohort(
    *,
    clinic: Clinic,
    admin: User,
    prescriber: User,
    nurse: User,
    therapist: User,
    rng: random.Random,
    today: date,
    per_protocol: int = FOLLOW_UP_COHORT,
) -> int:
    """Earlier patients of every shipped protocol with their whole follow-up; returns how many
    were added (0 on a second run: a patient whose record number exists is left alone).

    Each goes through the services: record, treatment and research consents, an eligible
    screening, enrolment with the "open-label" arm, every session walked to discharge (doses
    ordered, checked and given through the dosing workflow, from a lot received before them) and
    the course completed. The services enrol within a year of today, so right after enrolment,
    before anything is recorded on it, the course is moved back in time (start and session dates)
    far enough for the outcome window and the 12-month follow-up to have passed; each session is
    then walked on its own day (``care.demo.walk_past_session``), its dose with its baseline and
    monitoring record (``monitoring.demo.monitored_dose_giver``).
    Outcomes follow the trial: relapse at 1 − the trial's abstinence rate where it reports one,
    no lapses otherwise, and some drop out of follow-up.
    """
    longest = max(
        max(p.outcome.window_ends_day, max(s.day_offset for s in p.dosing_sessions) + 366)
        for p in protocol_library()
    )
    _early_lot(clinic=clinic, admin=admin, received_on=today - timedelta(days=longest + 160))
    give_dose = monitored_dose_giver(
        prescriber=prescriber,
        nurse=nurse,
        rng=rng,
        vitals_rng=random.Random(f"follow-up-vitals-{clinic.slug}"),
    )
    # Courses first, then every session of every course walked in calendar order across patients
    # (care.demo.walk_past_sessions): the register receives each dose when it was given.
    enrolled: list[tuple[TreatmentCourse, Protocol]] = []
    for p_index, protocol in enumerate(protocol_library()):
        last_dosing_day = max(s.day_offset for s in protocol.dosing_sessions)
        # Old enough that the window closed and the 12-month follow-up (≤ 366 days) has passed.
        age = max(protocol.outcome.window_ends_day, last_dosing_day + 366)
        for index in range(per_protocol):
            mrn = f"{clinic.slug[:1].upper()}-H{p_index}{index:02d}"
            if Patient.objects.filter(clinic=clinic, mrn=mrn).exists():
                continue
            course = _enrol_earlier_patient(
                clinic=clinic, prescriber=prescriber, rng=rng, today=today, protocol=protocol,
                p_index=p_index, index=index, mrn=mrn, age=age,
            )  # fmt: skip
            enrolled.append((course, protocol))
    walk_past_sessions(
        [session for course, _ in enrolled for session in course.sessions.all()],
        nurse=nurse,
        therapist=therapist,
        give_dose=give_dose,
    )
    for course, protocol in enrolled:
        drops_out = rng.random() < DROPOUT_SHARE
        # A patient who stops coming on a protocol that counts dropout as relapse (Dakwar 2019):
        # the course is withdrawn, dated the day after the last day they reported.
        withdrawn = drops_out and protocol.outcome.dropout_counts_as_relapse
        course = course_change_status(
            actor=prescriber,
            course=course,
            action="withdraw" if withdrawn else "complete",
            reason="Stopped attending." if withdrawn else "",
        )
        last = last_dosing_dates([course]).get(course.pk)
        _seed_course(
            course,
            therapist=therapist,
            nurse=nurse,
            rng=rng,
            today=today,
            last=last,
            state={"flagged": True, "etg_done": True},  # the demo's one alert and EtG are elsewhere
            relapse_share=_trial_relapse_share(protocol),
            slip_share=0.0,
            drops_out=drops_out,
            during_treatment=True,
        )
        if withdrawn:
            _date_withdrawal(course)
    return len(enrolled)


def _date_withdrawal(course: TreatmentCourse) -> None:
    """Demo set-up: the withdrawal of a course that ran earlier is dated the day after the last
    day its patient reported (as the course's sessions were moved back in time)."""
    last = UseDay.objects.filter(patient=course.patient).aggregate(last=Max("day"))["last"]
    if last is None:
        return
    zone = ZoneInfo(course.clinic.timezone)
    at = datetime.combine(last + timedelta(days=1), time(17, 0), tzinfo=zone)
    CourseEvent.objects.filter(course=course, kind="withdrawn").update(at=at)


def _enrol_earlier_patient(
    *,
    clinic: Clinic,
    prescriber: User,
    rng: random.Random,
    today: date,
    protocol: Protocol,
    p_index: int,
    index: int,
    mrn: str,
    age: int,
) -> TreatmentCourse:
    """One earlier patient of the follow-up cohort: record, consents, an eligible screening and an
    enrolment moved back in time (its sessions not yet walked)."""
    patient = patient_create(
        actor=prescriber,
        clinic_id=clinic.pk,
        mrn=mrn,
        given_name=_GIVEN[(p_index + index) % len(_GIVEN)],
        family_name=_FAMILY[(3 * p_index + index) % len(_FAMILY)],
        # Within the protocol's own age range (KARE: 18-60), when it has one.
        birth_date=date(
            max(1958 + rng.randint(0, 40), today.year - (protocol.eligibility.max_age_years or 200) + 1),
            rng.randint(1, 12),
            rng.randint(1, 28),
        ),
        sex_at_birth="male" if index % 2 else "female",
        weight_kg=Decimal(rng.randint(55, 105)),
        height_cm=Decimal(rng.randint(155, 192)),
    )
    long_ago = today - timedelta(days=age + 200)
    for kind in ("treatment", "research"):
        consent_record(
            actor=prescriber,
            patient=patient,
            kind=kind,
            status="granted",
            effective_on=long_ago,
            document_version="2024-01",
        )
    answers = dict.fromkeys(BOOLEAN_ANSWERS, False) | {
        "systolic_bp": rng.randint(110, 134),
        "diastolic_bp": rng.randint(68, 84),
        "age_years": age_in_years(patient.birth_date, on=today),
    }
    # Not more than KARE's ten detoxifications: every earlier patient meets their protocol's criteria.
    answers |= demo_protocol_inputs(mrn) | {"detoxifications_count": 1}
    screening_record(actor=prescriber, patient=patient, answers=answers)
    enrolled_on = today - timedelta(days=200)
    course = course_enrol(
        actor=prescriber,
        patient=patient,
        protocol_slug=protocol.slug,
        start_date=enrolled_on,
        arm="open-label",
    )
    # Moved back before anything is recorded on it: the course ran earlier.
    shift = timedelta(days=age + rng.randint(10, 120) - 200)
    for session in CareSession.objects.filter(course=course):
        session.scheduled_date -= shift
        session.save(update_fields=["scheduled_date"])
    TreatmentCourse.objects.filter(pk=course.pk).update(start_date=enrolled_on - shift)
    enrolment_place_before_first_session(course)  # and the screening before it
    course.refresh_from_db()
    return course
