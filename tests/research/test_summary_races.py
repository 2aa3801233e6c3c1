"""Outcome summaries on PostgreSQL: a report running while a calendar write is still uncommitted
stores a summary of what it could see, and the next report recomputes it; two cold reports at once
both store their summaries without a deadlock or an error; a TRUNCATE of the calendar (no row
triggers) still makes every summary stale."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction

from kapstone.outcomes.models import UseDay
from kapstone.research.cohorts import CohortFilter, cohort_assemble
from kapstone.research.models import CourseOutcomeSummary
from tests.research.test_outcome_summaries import _outcome, _use_day, two_alcohol_courses

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent transactions: PostgreSQL only"),
    pytest.mark.django_db(transaction=True),
]

__all__ = ["two_alcohol_courses"]  # the fixture, shared with test_outcome_summaries


def test_a_report_during_an_uncommitted_write_is_recomputed_after_it(alice, two_alcohol_courses):
    today, start, (one, _) = two_alcohol_courses
    written, reported = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def writer():
        try:
            with transaction.atomic():
                _use_day(alice, one.patient, start + timedelta(days=20), 6).save()
                written.set()
                assert reported.wait(timeout=30)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    assert written.wait(timeout=30)
    during = cohort_assemble(user=alice, filters=CohortFilter(), today=today)
    reported.set()
    thread.join(timeout=30)
    assert not errors
    assert _outcome(during, one) == ("abstinent", 21, False)  # the write was not committed yet
    assert UseDay.objects.filter(patient=one.patient).count() == 43
    after = cohort_assemble(user=alice, filters=CohortFilter(), today=today)
    assert after.recomputed == 1
    assert _outcome(after, one) == ("not_abstinent", 12, True)  # a heavy day 12 days after the infusion


def test_two_cold_reports_at_once_both_store(alice, two_alcohol_courses):
    today, _, _ = two_alcohol_courses
    barrier = threading.Barrier(2)
    results: list[object] = []

    def report():
        try:
            barrier.wait(timeout=10)
            results.append(cohort_assemble(user=alice, filters=CohortFilter(), today=today).outcomes)
        except BaseException as error:
            results.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=report) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 2 and results[0] == results[1], results
    assert CourseOutcomeSummary.objects.count() == 2
    assert cohort_assemble(user=alice, filters=CohortFilter(), today=today).recomputed == 0


def test_truncating_the_calendar_makes_every_summary_stale(alice, two_alcohol_courses):
    today, _, (one, two) = two_alcohol_courses
    before = cohort_assemble(user=alice, filters=CohortFilter(), today=today)
    assert _outcome(before, one) == ("abstinent", 21, False)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {UseDay._meta.db_table}")
    after = cohort_assemble(user=alice, filters=CohortFilter(), today=today)
    assert after.recomputed == 2
    assert _outcome(after, one) == _outcome(after, two) == ("unknown", 0, False)
