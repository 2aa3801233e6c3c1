"""The outcomes section of the patient chart."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from kapstone.outcomes import services
from kapstone.patients.services import clinic_today
from tests.outcomes.conftest import PHQ9_CALM, PHQ9_ITEM9, set_last_dosing

pytestmark = pytest.mark.django_db


def chart(client, patient) -> str:
    response = client.get(reverse("patients:chart", args=[patient.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_empty_section(as_user, nina, patient_a):
    body = chart(as_user(nina), patient_a)
    assert 'id="outcomes-h"' in body and "No questionnaire entered yet." in body
    assert "outcomes-figure" not in body and "plotly.min.js" not in body


def test_latest_scores_flags_trajectory_summary_and_follow_ups(as_user, terry, patient_a, course_a):
    today = clinic_today(patient_a.clinic)
    services.questionnaire_record(
        actor=terry,
        patient=patient_a,
        instrument="phq-9",
        answers=PHQ9_ITEM9,
        administered_on=today - timedelta(days=30),
    )
    services.questionnaire_record(actor=terry, patient=patient_a, instrument="phq-9", answers=PHQ9_CALM)
    services.use_days_record(
        actor=terry,
        patient=patient_a,
        substance="alcohol",
        days=[{"day": today - timedelta(days=n), "standard_drinks": 0} for n in range(10)],
    )
    set_last_dosing(course_a, today - timedelta(days=41))
    body = chart(as_user(terry), patient_a)
    assert "PHQ-9" in body and "minimal" in body  # the latest score
    assert "Self-harm risk" in body and 'role="alert"' in body  # still open
    assert 'data-figure="outcomes-figure"' in body and "plotly/plotly.min.js" in body
    assert "kapstone/plotly.css" in body
    assert "Alcohol, last 30 days" in body and "100.00%" in body
    assert "Overdue" in body and "1-month follow-up" in body


def test_researcher_cannot_open_the_chart(as_user, bob, patient_a):
    assert as_user(bob).get(reverse("patients:chart", args=[patient_a.pk])).status_code == 403
