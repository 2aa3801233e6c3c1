"""The database-aggregated cohort assembly equals the domain derivation, course by course.

``cohort_assemble`` asks the database for one small aggregate per course; the reference here
loads every calendar day and test into the domain's ``TlfbDay``/``ToxicologyResult`` and runs
``derive_abstinence``/``derive_relapse`` (kapstone.domain.outcomes). The generated cohort covers
what the rules turn on: alcohol heavy days at and just under the threshold for women (4) and men
(5) and intersex patients (the lower threshold), days re-entered later (the latest row wins, also
on a tie of ``entered_at``), confirmed positive tests overriding reported abstinence or adding an
unreported day, unconfirmed and negative tests (ignored), other substances' days of the same
patient, gaps in the window (unknown), anchors moved by a given dosing session, windows still
open, patients with two courses, courses with no calendar at all, relapse windows with an end
(Dakwar 2019/2020: from the infusion to the end of the trial) and withdrawn courses, whose
withdrawal is a relapse where the protocol counts dropout as relapse.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from kapstone.care.models import CareSession, CourseEvent, TreatmentCourse
from kapstone.care.services import course_change_status, course_enrol, course_protocol
from kapstone.domain import tlfb
from kapstone.domain.errors import WorkflowConflict
from kapstone.domain.outcomes import derive_abstinence, derive_relapse
from kapstone.outcomes.models import ToxicologyTest, UseDay
from kapstone.patients.services import clinic_today, consent_record
from kapstone.research.cohorts import (
    OPEN,
    CohortFilter,
    anchor_date_for,
    cohort_assemble,
    follow_up_windows,
    outcome_definition_for,
)
from tests.care.conftest import screen
from tests.conftest import new_patient
from tests.outcomes.conftest import set_last_dosing

pytestmark = pytest.mark.django_db

PROTOCOLS = (
    "ketamine-met-alcohol-dakwar-2020",  # alcohol, heavy-day relapse, short window
    "ketamine-mbrp-cocaine-dakwar-2019",  # cocaine, any-use relapse
    "kpt-heroin-krupitsky-2007",  # opioids, a year's window
)
SEXES = ("female", "male", "intersex")


def _reference(course, today):
    """The outcome as the domain derives it from the full calendar."""
    protocol = course_protocol(course)
    definition = outcome_definition_for(protocol)
    given = [
        s.scheduled_date
        for s in CareSession.objects.filter(course=course, kind="dosing", status="discharged")
    ]
    anchor, _ = anchor_date_for(course.start_date, protocol, max(given) if given else None)
    current = {}
    for row in UseDay.objects.filter(patient=course.patient, substance=definition.substance).order_by(
        "day", "entered_at", "id"
    ):
        current[row.day] = tlfb.TlfbDay(
            day=row.day,
            substance=row.substance,
            used=row.used,
            standard_drinks=row.standard_drinks,
            amount=row.amount,
        )
    tests = [
        tlfb.ToxicologyResult(
            day=row.collected_on,
            substance=row.substance,
            method=row.method,
            result=row.result,
            confirmed=row.confirmed,
        )
        for row in ToxicologyTest.objects.filter(patient=course.patient, substance=definition.substance)
    ]
    days = list(current.values())
    try:
        abstinence = derive_abstinence(
            days, tests, definition=definition, anchor_date=anchor, as_of=today
        ).status
    except WorkflowConflict:
        abstinence = OPEN
    sex = course.patient.sex_at_birth if course.patient.sex_at_birth in tlfb.SEXES else "female"
    withdrawn = CourseEvent.objects.filter(course=course, kind="withdrawn").first()
    zone = ZoneInfo(course.clinic.timezone)
    dropout = timezone.localtime(withdrawn.at, zone).date() if withdrawn is not None else None
    relapse = derive_relapse(
        days, tests, definition=definition, anchor_date=anchor, sex=sex, dropout_date=dropout
    )
    follow_up = []
    for months, first, last in follow_up_windows(protocol, anchor):
        window = replace(
            definition, window_start_day=(first - anchor).days, window_end_day=(last - anchor).days
        )
        try:
            status = derive_abstinence(days, tests, definition=window, anchor_date=anchor, as_of=today).status
        except WorkflowConflict:
            status = OPEN
        follow_up.append((months, status))
    return abstinence, relapse.time_days, relapse.event, relapse.has_follow_up, tuple(follow_up)


def derived(outcome) -> tuple:
    """The derived part of a ``CourseOutcome``, in the order ``_reference`` returns it."""
    return (
        outcome.abstinence,
        outcome.relapse_time_days,
        outcome.relapse_event,
        outcome.relapse_has_follow_up,
        outcome.follow_up,
    )


def consented_patient(alice, clinic, *, mrn, family_name, sex_at_birth, since):
    """A new patient with treatment consent from ``since`` and an eligible screening."""
    person = new_patient(alice, clinic, mrn=mrn, family_name=family_name, sex_at_birth=sex_at_birth)
    consent_record(
        actor=alice,
        patient=person,
        kind="treatment",
        status="granted",
        effective_on=since,
        document_version="2024-01",
    )
    screen(alice, person)
    return person


def _enrol(actor, person, slug, start, arm):
    """Enrol (services allow a start within a year), then move the start to ``start``: test
    set-up, so that year-long outcome windows can have closed."""
    course = course_enrol(
        actor=actor, patient=person, protocol_slug=slug, start_date=clinic_today(person.clinic), arm=arm
    )
    TreatmentCourse.objects.filter(pk=course.pk).update(start_date=start)
    course.refresh_from_db()
    return course


def _generate(alice, clinic, rng: random.Random, count: int):
    today = clinic_today(clinic)
    now = timezone.now()
    courses = []
    use_rows, test_rows = [], []
    for index in range(count):
        slug = PROTOCOLS[index % len(PROTOCOLS)]
        person = consented_patient(
            alice,
            clinic,
            mrn=f"A-EQ{index:03d}",
            family_name=f"Quillborne{index:03d}",
            sex_at_birth=SEXES[index % len(SEXES)],
            since=today - timedelta(days=900),
        )
        # Most windows closed (up to ~600 days ago); every seventh course started recently (open).
        days_ago = rng.randint(20, 60) if index % 7 == 6 else rng.randint(400, 600)
        start = today - timedelta(days=days_ago)
        course = _enrol(alice, person, slug, start, "ketamine")
        courses.append(course)
        if index % 5 == 4:
            # The dosing slipped: given a few days late, so the anchor moves.
            set_last_dosing(course, start + timedelta(days=rng.randint(3, 12)))
        if index % 11 == 10:
            # A second, later course for the same patient on the same calendar.
            TreatmentCourse.objects.filter(pk=course.pk).update(status="completed")
            courses.append(_enrol(alice, person, slug, start + timedelta(days=90), "control"))
        if index % 6 == 3 and index % 11 != 10:
            # Withdrawn (a dropout) some days into the course.
            course_change_status(actor=alice, course=course, action="withdraw", reason="Stopped attending.")
            at = timezone.now() - timedelta(days=days_ago - rng.randint(0, 45))
            CourseEvent.objects.filter(course=course, kind="withdrawn").update(at=at)
        protocol = course_protocol(course)
        substance = protocol.outcome.substance
        if index % 13 == 12:
            continue  # no calendar at all
        horizon = min(days_ago, protocol.outcome.window_ends_day + 60)
        gap_rate, use_rate = rng.choice((0.0, 0.0, 0.2)), rng.choice((0.0, 0.01, 0.08))
        for n in range(0, horizon):
            roll = rng.random()
            if roll < gap_rate:
                continue  # a gap
            day = start + timedelta(days=n)

            def entry(used, drinks=None, *, at=now, person=person, substance=substance, day=day):
                return UseDay(
                    patient=person,
                    substance=substance,
                    day=day,
                    used=used,
                    standard_drinks=drinks,
                    entered_by=alice,
                    entered_at=at,
                )

            if substance == "alcohol":
                drinks = (
                    rng.choice((Decimal("3.5"), Decimal(4), Decimal("4.5"), Decimal(5), Decimal(6)))
                    if rng.random() < use_rate * 3
                    else Decimal(0)
                )
                use_rows.append(entry(drinks > 0, drinks))
            else:
                use_rows.append(entry(rng.random() < use_rate))
            if rng.random() < 0.04:
                # Re-entered later (or at the same instant: then the higher id wins).
                later = now if rng.random() < 0.3 else now + timedelta(hours=1)
                if substance == "alcohol":
                    drinks = rng.choice((Decimal(0), Decimal(0), Decimal(5)))
                    use_rows.append(entry(drinks > 0, drinks, at=later))
                else:
                    use_rows.append(entry(rng.random() < 0.5, at=later))
            if rng.random() < 0.03:
                # Another substance the same day: never counted for this outcome.
                use_rows.append(entry(True, substance="cannabis"))
        for _ in range(rng.choice((0, 0, 1, 3))):
            day = start + timedelta(days=rng.randint(0, horizon))
            test_rows.append(
                ToxicologyTest(
                    patient=person,
                    collected_on=day,
                    substance=substance if rng.random() < 0.85 else "cannabis",
                    method="etg" if substance == "alcohol" else "urine_drug_screen",
                    result=rng.choice(("positive", "positive", "negative", "inconclusive")),
                    confirmed=rng.random() < 0.7,
                    entered_by=alice,
                    entered_at=now,
                )
            )
    # bulk_create keeps the list order, so a same-instant re-entry gets the higher id.
    UseDay.objects.bulk_create(use_rows, batch_size=500)
    ToxicologyTest.objects.bulk_create(test_rows)
    return courses


def test_database_aggregates_equal_the_domain_derivation(alice, clinic_a):
    courses = _generate(alice, clinic_a, random.Random(20261128), 40)
    today = clinic_today(clinic_a)
    cohort = cohort_assemble(user=alice, filters=CohortFilter(), today=today)
    by_course = {o.course_id: o for o in cohort.outcomes}
    assert set(by_course) == {c.pk for c in courses}
    seen = defaultdict(set)
    for course in courses:
        outcome = by_course[course.pk]
        assert derived(outcome) == _reference(course, today), course.protocol_slug
        seen["abstinence"].add(outcome.abstinence)
        seen["event"].add(outcome.relapse_event)
        seen["follow_up"].add(outcome.relapse_has_follow_up)
        seen["anchored_on_dosing"].add(outcome.anchored_on_dosing)
        seen["follow_up_status"] |= {status for _, status in outcome.follow_up}
        seen["dropout"].add(outcome.relapse_dropout)
    # The generated cohort did reach every branch of the rules.
    assert seen["abstinence"] == {"abstinent", "not_abstinent", "unknown", OPEN}
    assert seen["event"] == {True, False}
    assert seen["follow_up"] == {True, False}
    assert seen["follow_up_status"] == {"abstinent", "not_abstinent", "unknown", OPEN}
    assert seen["anchored_on_dosing"] == {True, False}
    assert seen["dropout"] == {True, False}


def test_heavy_day_thresholds_and_overrides_in_the_database_path(alice, clinic_a):
    """Hand-built edge cases: a woman's 4 drinks relapse, 3.5 do not; a man's 4 do not; a
    confirmed EtG on a day reported dry is use but not a heavy day; the latest entry of a day wins."""
    today = clinic_today(clinic_a)
    now = timezone.now()
    start = today - timedelta(days=200)
    built = {}
    for sex in ("female", "male"):
        person = consented_patient(
            alice,
            clinic_a,
            mrn=f"A-HD-{sex}",
            family_name=f"Thresholdine{sex}",
            sex_at_birth=sex,
            since=start - timedelta(days=30),
        )
        course = course_enrol(
            actor=alice, patient=person, protocol_slug="ketamine-met-alcohol-dakwar-2020", start_date=start
        )
        built[sex] = course

        def day(n, drinks, *, at=now, person=person):
            return UseDay(
                patient=person,
                substance="alcohol",
                day=start + timedelta(days=n),
                used=Decimal(drinks) > 0,
                standard_drinks=Decimal(drinks),
                entered_by=alice,
                entered_at=at,
            )

        # Relapse counted from the infusion (day 8) to day 29; window days 9–29 all reported.
        special = {12: "3.5", 15: 0, 17: 4}
        rows = [day(n, special.get(n, 0)) for n in range(9, 30)]
        rows += [day(15, 6, at=now - timedelta(hours=1))]  # superseded by the later dry entry
        rows += [day(33, 6)]  # after the relapse window: never a relapse
        UseDay.objects.bulk_create(rows)
        ToxicologyTest.objects.create(
            patient=person,
            collected_on=start + timedelta(days=20),
            substance="alcohol",
            method="etg",
            result="positive",
            confirmed=True,
            entered_by=alice,
            entered_at=now,
        )
    cohort = cohort_assemble(user=alice, filters=CohortFilter(), today=today)
    by_course = {o.course_id: o for o in cohort.outcomes}
    woman, man = by_course[built["female"].pk], by_course[built["male"].pk]
    # The confirmed EtG on day 20 overrides the reported dry day: not abstinent.
    assert woman.abstinence == man.abstinence == "not_abstinent"
    assert (woman.relapse_time_days, woman.relapse_event) == (9, True)  # day 17, 4 drinks
    assert (man.relapse_time_days, man.relapse_event) == (21, False)  # censored on day 29
    for course in built.values():
        assert derived(by_course[course.pk]) == _reference(course, today)
