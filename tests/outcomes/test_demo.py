"""The demo outcomes: baseline and follow-up data through the services, an open self-harm alert,
an EtG overriding reported abstinence, some missed follow-ups; idempotent."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from kapstone.care.services import course_enrol
from kapstone.outcomes import selectors
from kapstone.outcomes.demo import seed_outcomes
from kapstone.outcomes.models import (
    ClinicalFlag,
    CssrsTask,
    FollowUp,
    QuestionnaireResponse,
    ToxicologyTest,
    UseDay,
)
from kapstone.patients.services import clinic_today, consent_record
from tests.care.conftest import screen
from tests.conftest import audit_count, new_patient
from tests.outcomes.conftest import row_counts, set_last_dosing

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished_courses(alice, clinic_a):
    today = clinic_today(clinic_a)
    courses = []
    for i in range(6):
        patient = new_patient(alice, clinic_a, mrn=f"D-{100 + i}", sex_at_birth="male" if i % 2 else "female")
        consent_record(
            actor=alice,
            patient=patient,
            kind="treatment",
            status="granted",
            effective_on=date(2025, 1, 5),
            document_version="2025-01",
        )
        screen(alice, patient)
        course = course_enrol(
            actor=alice,
            patient=patient,
            protocol_slug="kare-alcohol-grabski-2022",
            start_date=today - timedelta(days=300 - 10 * i),
        )
        set_last_dosing(course, today - timedelta(days=260 - 10 * i))
        courses.append(course)
    return courses


def test_seeds_a_plausible_follow_up_picture_and_is_idempotent(clinic_a, terry, nina, finished_courses):
    today = clinic_today(clinic_a)
    seeded = seed_outcomes(clinic=clinic_a, therapist=terry, nurse=nina, rng=random.Random(11), today=today)
    assert seeded == len(finished_courses)
    for course in finished_courses:
        baseline = set(
            QuestionnaireResponse.objects.filter(course=course, time_point_months=0).values_list(
                "instrument", flat=True
            )
        )
        assert baseline == {"audit", "pacs", "phq-9"}
    # 1-, 3- and 6-month follow-ups are past for every course: most done, some missed.
    done = FollowUp.objects.count()
    assert 0.6 * 18 <= done < 18
    assert QuestionnaireResponse.objects.filter(time_point_months__gt=0).count() >= 2 * done
    # One open self-harm alert.
    assert ClinicalFlag.objects.filter(code="self-harm-risk", acknowledgement__isnull=True).count() == 1
    # ... and the C-SSRS task its PHQ-9 item 9 opened, on the care team's lists (issue 14).
    task = CssrsTask.objects.get(closed_at__isnull=True)
    assert task.opened_by.instrument == "phq-9" and task.opened_by.answers[8] > 0
    # A confirmed positive EtG overriding a day reported as abstinent.
    overridden = []
    for test in ToxicologyTest.objects.filter(method="etg", result="positive", confirmed=True):
        summary = selectors.calendar_summary(test.patient, "alcohol", test.collected_on, test.collected_on)
        if summary.days[test.collected_on].self_report_overridden:
            overridden.append(test)
    assert overridden
    # Mostly abstinent after treatment, some relapses.
    rates = []
    for course in finished_courses:
        last = selectors.last_dosing_dates([course])[course.pk]
        s = selectors.calendar_summary(
            course.patient, "alcohol", last + timedelta(days=1), last + timedelta(days=180)
        )
        rates.append(s.summary.percent_days_abstinent)
    assert sum(1 for r in rates if r >= 90) >= 3 and any(r < 90 for r in rates)
    # Through the services: audited.
    assert (
        audit_count(action="create", object_type="questionnaire_response")
        == QuestionnaireResponse.objects.count()
    )
    assert UseDay.objects.exists()

    before = row_counts()
    assert (
        seed_outcomes(clinic=clinic_a, therapist=terry, nurse=nina, rng=random.Random(12), today=today) == 0
    )
    assert row_counts() == before
