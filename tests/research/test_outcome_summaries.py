"""Stored outcome summaries (research.CourseOutcomeSummary) always give what a fresh derivation
from the calendar gives.

A report reads the summaries and recomputes only the courses whose summary is missing or stale:
the patient's calendar version (raised by database triggers on every calendar or test change) or
the key of the dates and rules it was computed for (a moved dosing date, a corrected sex, another
rule set) no longer matches. Each test compares the report's outcomes with ``use_summaries=False``
(every course from the calendar) and with the domain reference of test_cohort_equivalence.
"""

from __future__ import annotations

import gc
import itertools
import json
import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kapstone.audit.models import AuditEvent
from kapstone.care.services import course_enrol, course_protocol
from kapstone.outcomes.models import CalendarVersion, ToxicologyTest, UseDay
from kapstone.patients.models import Patient
from kapstone.patients.services import clinic_today
from kapstone.research import cohorts, summaries
from kapstone.research.cohorts import CohortFilter, cohort_assemble
from kapstone.research.models import CourseOutcomeSummary
from tests.cli.runner import run_kapstone
from tests.outcomes.conftest import set_last_dosing
from tests.research.test_cohort_equivalence import _generate, _reference, consented_patient, derived

pytestmark = pytest.mark.django_db

# Window course days 9–29; relapse counted from the infusion (day 8) to day 29, the trial's 21 days.
ALCOHOL = "ketamine-met-alcohol-dakwar-2020"


def _version(patient) -> int:
    return CalendarVersion.objects.filter(patient=patient).values_list("version", flat=True).first() or 0


def _use_day(alice, patient, day, drinks, **fields) -> UseDay:
    return UseDay(
        patient=patient,
        substance="alcohol",
        day=day,
        used=Decimal(drinks) > 0,
        standard_drinks=Decimal(drinks),
        entered_by=alice,
        entered_at=fields.pop("entered_at", timezone.now()),
        **fields,
    )


def _etg(alice, patient, day, *, confirmed=True) -> ToxicologyTest:
    return ToxicologyTest(
        patient=patient,
        collected_on=day,
        substance="alcohol",
        method="etg",
        result="positive",
        confirmed=confirmed,
        entered_by=alice,
        entered_at=timezone.now(),
    )


def _report(alice, today):
    """The report's assembly, checked against a fresh derivation of every course."""
    warm = cohort_assemble(user=alice, filters=CohortFilter(), today=today)
    fresh = cohort_assemble(user=alice, filters=CohortFilter(), today=today, use_summaries=False)
    assert warm.outcomes == fresh.outcomes
    return warm


# --- The version triggers ------------------------------------------------------------------------


def test_every_calendar_or_test_change_raises_only_that_patients_version(alice, patient_a, patient_b):
    day = clinic_today(patient_a.clinic) - timedelta(days=3)
    assert _version(patient_a) == _version(patient_b) == 0
    steps = [
        lambda: _use_day(alice, patient_a, day, 0).save(),
        lambda: UseDay.objects.bulk_create(
            [_use_day(alice, patient_a, day - timedelta(days=n), 1) for n in (1, 2, 3)]
        ),
        lambda: UseDay.objects.filter(patient=patient_a, day=day).update(
            standard_drinks=Decimal(2), used=True
        ),
        lambda: UseDay.objects.filter(patient=patient_a, day=day - timedelta(days=1)).delete(),
        lambda: _etg(alice, patient_a, day).save(),
        lambda: ToxicologyTest.objects.filter(patient=patient_a).update(confirmed=False),
        lambda: ToxicologyTest.objects.filter(patient=patient_a).delete(),
    ]
    seen = [_version(patient_a)]
    for step in steps:
        step()
        seen.append(_version(patient_a))
    assert all(after > before for before, after in itertools.pairwise(seen)), seen
    assert _version(patient_b) == 0  # the other patient's summaries stay current


def test_a_write_outside_the_orm_raises_the_version_too(alice, patient_a):
    table = UseDay._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (patient_id, substance, day, used, standard_drinks, amount_unit, "
            "marker, entered_by_id, entered_at) VALUES (%s, 'alcohol', %s, %s, 3, '', '', %s, %s)",
            [patient_a.pk, clinic_today(patient_a.clinic), True, alice.pk, timezone.now()],
        )
    assert _version(patient_a) == 1


def test_moving_a_row_to_another_patient_raises_both_versions(alice, patient_a, patient_b):
    _use_day(alice, patient_a, clinic_today(patient_a.clinic), 0).save()
    before_a, before_b = _version(patient_a), _version(patient_b)
    UseDay.objects.filter(patient=patient_a).update(patient=patient_b)
    assert _version(patient_a) > before_a and _version(patient_b) > before_b


# --- Reuse and invalidation ----------------------------------------------------------------------


def test_a_second_report_reads_the_summaries_not_the_calendar(alice, clinic_a):
    courses = _generate(alice, clinic_a, random.Random(7), 12)
    today = clinic_today(clinic_a)
    first = cohort_assemble(user=alice, filters=CohortFilter(), today=today)
    assert first.recomputed == len(courses)
    assert CourseOutcomeSummary.objects.count() == len(courses)
    stamps = dict(CourseOutcomeSummary.objects.values_list("course_id", "computed_at"))
    with CaptureQueriesContext(connection) as queries:
        second = cohort_assemble(user=alice, filters=CohortFilter(), today=today)
    assert second.recomputed == 0
    assert second.outcomes == first.outcomes
    assert not any("current_days" in q["sql"] for q in queries.captured_queries)
    assert dict(CourseOutcomeSummary.objects.values_list("course_id", "computed_at")) == stamps
    for course in courses:
        outcome = next(o for o in second.outcomes if o.course_id == course.pk)
        assert derived(outcome) == _reference(course, today)


@pytest.fixture
def two_alcohol_courses(alice, clinic_a):
    """Two women on the Dakwar 2020 alcohol protocol, 200 days ago, every day 9–50 reported dry."""
    today = clinic_today(clinic_a)
    start = today - timedelta(days=200)
    courses = []
    for index in range(2):
        person = consented_patient(
            alice,
            clinic_a,
            mrn=f"A-SUM{index}",
            family_name=f"Summarine{index}",
            sex_at_birth="female",
            since=start - timedelta(days=30),
        )
        course = course_enrol(actor=alice, patient=person, protocol_slug=ALCOHOL, start_date=start)
        UseDay.objects.bulk_create(
            [_use_day(alice, person, start + timedelta(days=n), 0) for n in range(9, 51)]
        )
        courses.append(course)
    return today, start, courses


def _outcome(cohort, course):
    o = next(o for o in cohort.outcomes if o.course_id == course.pk)
    return o.abstinence, o.relapse_time_days, o.relapse_event


def test_each_kind_of_change_recomputes_exactly_the_courses_it_touches(
    alice, two_alcohol_courses, monkeypatch
):
    today, start, (one, two) = two_alcohol_courses
    cohort = _report(alice, today)
    assert cohort.recomputed == 2
    # Censored on day 29, the end of the relapse window, 21 days after the infusion.
    assert _outcome(cohort, one) == _outcome(cohort, two) == ("abstinent", 21, False)

    # A heavy day for a woman (4 drinks) on day 20: a relapse 12 days after the infusion.
    _use_day(alice, one.patient, start + timedelta(days=20), 4).save()
    cohort = _report(alice, today)
    assert cohort.recomputed == 1
    assert _outcome(cohort, one) == ("not_abstinent", 12, True)

    # A confirmed positive EtG in the window overrides the dry report.
    test = _etg(alice, two.patient, start + timedelta(days=20))
    test.save()
    cohort = _report(alice, today)
    assert cohort.recomputed == 1
    assert _outcome(cohort, two) == ("not_abstinent", 21, False)  # use, but not a heavy day

    # The result corrected to unconfirmed (outside the services): ignored again.
    ToxicologyTest.objects.filter(pk=test.pk).update(confirmed=False)
    cohort = _report(alice, today)
    assert cohort.recomputed == 1
    assert _outcome(cohort, two) == ("abstinent", 21, False)

    # The sex corrected to male: 4 drinks is no longer a heavy day (still a drink in the window).
    # No calendar row changed; the summary's key (the threshold) did.
    Patient.objects.filter(pk=one.patient_id).update(sex_at_birth="male")
    cohort = _report(alice, today)
    assert cohort.recomputed == 1
    assert _outcome(cohort, one) == ("not_abstinent", 21, False)

    # The dosing session given 5 days late: the anchor, so every window, moves (the outcome
    # window to days 14–34 and the relapse window to days 13–34 of the original numbering).
    planned = max(s.day_offset for s in course_protocol(two).dosing_sessions)
    set_last_dosing(two, start + timedelta(days=planned + 5))
    cohort = _report(alice, today)
    assert cohort.recomputed == 1
    assert _outcome(cohort, two) == ("abstinent", 21, False)

    # A calendar row deleted (outside the services): the moved windows' last day.
    UseDay.objects.filter(patient=two.patient, day=start + timedelta(days=34)).delete()
    cohort = _report(alice, today)
    assert cohort.recomputed == 1
    assert _outcome(cohort, two) == ("unknown", 20, False)

    # New aggregate rules in a release: every stored summary is stale.
    monkeypatch.setattr(summaries, "SUMMARY_RULES", "calendar-aggregate-test")
    assert _report(alice, today).recomputed == 2
    assert _report(alice, today).recomputed == 0


def test_a_summary_computed_before_a_concurrent_write_is_recomputed(alice, two_alcohol_courses, monkeypatch):
    """The interleaving a race would give: the report reads the calendar, another user's write
    commits, then the report stores its summary. The summary carries the version it was read
    with, so the next report sees it is stale."""
    today, start, (one, _) = two_alcohol_courses
    store = cohorts.store_summaries

    def store_after_a_write(computed):
        _use_day(alice, one.patient, start + timedelta(days=20), 6).save()
        store(computed)

    monkeypatch.setattr(cohorts, "store_summaries", store_after_a_write)
    first = cohort_assemble(user=alice, filters=CohortFilter(), today=today)
    assert _outcome(first, one) == ("abstinent", 21, False)  # read before the write
    monkeypatch.setattr(cohorts, "store_summaries", store)
    second = _report(alice, today)
    assert second.recomputed == 1
    assert _outcome(second, one) == ("not_abstinent", 12, True)


def test_random_changes_never_leave_a_summary_out_of_date(alice, clinic_a):
    rng = random.Random(20261128)
    courses = _generate(alice, clinic_a, rng, 24)
    today = clinic_today(clinic_a)
    _report(alice, today)
    patients = sorted({c.patient_id for c in courses})
    now = timezone.now()
    for _ in range(4):
        for patient_id in rng.sample(patients, 6):
            course = next(c for c in courses if c.patient_id == patient_id)
            substance = course_protocol(course).outcome.substance
            day = course.start_date + timedelta(days=rng.randint(0, 80))
            change = rng.choice(("day", "test", "delete", "sex", "dosing"))
            if change == "day":
                drinks = rng.choice((Decimal(0), Decimal(4), Decimal(6)))
                UseDay.objects.create(
                    patient_id=patient_id,
                    substance=substance,
                    day=day,
                    used=drinks > 0 if substance == "alcohol" else rng.random() < 0.5,
                    standard_drinks=drinks if substance == "alcohol" else None,
                    entered_by=alice,
                    entered_at=now + timedelta(minutes=rng.randint(1, 500)),
                )
            elif change == "test":
                ToxicologyTest.objects.create(
                    patient_id=patient_id,
                    collected_on=day,
                    substance=substance,
                    method="etg" if substance == "alcohol" else "urine_drug_screen",
                    result="positive",
                    confirmed=rng.random() < 0.7,
                    entered_by=alice,
                    entered_at=now,
                )
            elif change == "delete":
                UseDay.objects.filter(patient_id=patient_id, day=day).delete()
            elif change == "sex":
                Patient.objects.filter(pk=patient_id).update(
                    sex_at_birth=rng.choice(("female", "male", "intersex"))
                )
            else:
                set_last_dosing(course, course.start_date + timedelta(days=rng.randint(3, 12)))
        cohort = _report(alice, today)
        assert cohort.recomputed <= len(courses)
        for course in courses:
            course.patient.refresh_from_db()
            outcome = next(o for o in cohort.outcomes if o.course_id == course.pk)
            assert derived(outcome) == _reference(course, today)


# --- The maintenance command ---------------------------------------------------------------------


def test_the_command_refreshes_checks_and_rebuilds(alice, two_alcohol_courses, capsys):
    today, _start, (one, _two) = two_alcohol_courses
    call_command("outcome_summaries", "--json")
    assert '"recomputed": 2' in capsys.readouterr().out
    assert CourseOutcomeSummary.objects.count() == 2
    call_command("outcome_summaries", "--check")
    assert "every summary agrees with the calendar" in capsys.readouterr().out

    # A summary altered behind the database's back (its version and key still current).
    CourseOutcomeSummary.objects.filter(course=one).update(window_use=True)
    events = AuditEvent.objects.count()
    with pytest.raises(CommandError) as error:
        call_command("outcome_summaries", "--check")
    assert error.value.returncode == 1
    assert f"1 differ from the calendar (courses {one.pk})" in capsys.readouterr().out
    assert AuditEvent.objects.count() == events + 1
    event = AuditEvent.objects.order_by("-id").first()
    assert (event.object_type, event.action, event.detail["differing"]) == ("outcome_summaries", "read", 1)

    call_command("outcome_summaries", "--rebuild")
    assert "2 summaries recomputed after deleting 2" in capsys.readouterr().out
    call_command("outcome_summaries", "--check")
    assert "every summary agrees with the calendar" in capsys.readouterr().out
    assert _outcome(cohort_assemble(user=alice, filters=CohortFilter(), today=today), one)[0] == "abstinent"


# --- The collector pause --------------------------------------------------------------------------


def test_the_collector_resumes_after_the_last_report_and_only_if_it_was_running():
    assert gc.isenabled()
    with cohorts.gc_paused():
        with cohorts.gc_paused():  # a second report in the same process
            assert not gc.isenabled()
        assert not gc.isenabled()  # the first is still running
    assert gc.isenabled()
    gc.disable()
    try:
        with cohorts.gc_paused():
            pass
        assert not gc.isenabled()  # it was off before: left off
    finally:
        gc.enable()


@pytest.mark.django_db(transaction=True)
def test_a_version_row_may_outlive_its_patient():
    """A database emptied table by table (Django's flush on SQLite deletes in set order) fires the
    calendar triggers after the patients may be gone; the version row they write must not fail
    the commit. No foreign-key constraint in the database, on purpose."""
    with transaction.atomic():
        CalendarVersion.objects.create(patient_id=987654, version=1)
    assert CalendarVersion.objects.filter(patient_id=987654).exists()


def test_a_single_course_without_a_threshold_is_computed_alone(alice, clinic_a):
    """One stale course whose bounds have empty values (no heavy-day threshold, no follow-up
    padding): on PostgreSQL each bounds column is one text split by the server, and a column of
    one empty value must still give that course its row."""
    today = clinic_today(clinic_a)
    start = today - timedelta(days=300)
    person = consented_patient(
        alice,
        clinic_a,
        mrn="A-SOLO",
        family_name="Solitarine",
        sex_at_birth="male",
        since=start - timedelta(days=30),
    )
    course = course_enrol(
        actor=alice, patient=person, protocol_slug="ketamine-mbrp-cocaine-dakwar-2019", start_date=start
    )
    UseDay.objects.bulk_create(
        UseDay(
            patient=person,
            substance="cocaine",
            day=start + timedelta(days=n),
            used=n == 30,  # in the relapse window (days 2–35) and the outcome window (22–35)
            entered_by=alice,
            entered_at=timezone.now(),
        )
        for n in range(0, 90)
    )
    cohort = cohort_assemble(user=alice, filters=CohortFilter(), today=today)
    assert cohort.recomputed == 1
    assert derived(cohort.outcomes[0]) == _reference(course, today)
    assert cohort.outcomes[0].relapse_event is True


def test_the_command_refuses_check_and_rebuild_together_and_writes_nothing(two_alcohol_courses):
    summaries, events = CourseOutcomeSummary.objects.count(), AuditEvent.objects.count()
    result = run_kapstone("outcome_summaries", "--check", "--rebuild", "--json")
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "invalid_arguments"
    assert "not allowed with argument" in error["message"]
    assert (CourseOutcomeSummary.objects.count(), AuditEvent.objects.count()) == (summaries, events)
