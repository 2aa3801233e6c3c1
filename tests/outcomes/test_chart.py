"""The outcomes section of the patient chart."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from kapstone.outcomes import selectors, services
from kapstone.outcomes.chart import trajectory_figure
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
    assert "outcomes-figure" not in body and "plotly" not in body  # no chart, no plotly.js


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
    assert 'data-figure="outcomes-figure"' in body
    assert body.count('<script src="/static/plotly/plotly-basic.min.js" defer></script>') == 1
    assert body.count("kapstone/plotly.css") == 1
    assert "Alcohol, last 30 days" in body and "100.00%" in body
    assert "Overdue" in body and "1-month follow-up" in body


def test_researcher_cannot_open_the_chart(as_user, bob, patient_a):
    assert as_user(bob).get(reverse("patients:chart", args=[patient_a.pk])).status_code == 403


def test_every_questionnaire_with_two_responses_gets_its_own_panel_on_its_own_scale(terry, patient_a):
    today = clinic_today(patient_a.clinic)
    for days_ago, answers in ((60, [2] * 7), (10, [1] * 7)):
        services.questionnaire_record(
            actor=terry,
            patient=patient_a,
            instrument="gad-7",
            answers=answers,
            administered_on=today - timedelta(days=days_ago),
        )
    for days_ago, answers in ((50, PHQ9_ITEM9), (5, PHQ9_CALM)):
        services.questionnaire_record(
            actor=terry,
            patient=patient_a,
            instrument="phq-9",
            answers=answers,
            administered_on=today - timedelta(days=days_ago),
        )
    services.questionnaire_record(actor=terry, patient=patient_a, instrument="pacs", answers=[3] * 5)
    figure = trajectory_figure(selectors.trajectories(patient_a))
    # PHQ-9 before GAD-7 (the chart's order), PACS with one response not drawn.
    assert [t["hovertemplate"].split("<extra>")[1] for t in figure["data"]] == [
        "PHQ-9</extra>",
        "GAD-7</extra>",
    ]
    assert [t["yaxis"] for t in figure["data"]] == ["y", "y2"]
    assert figure["layout"]["yaxis"]["range"] == [0, 27] and figure["layout"]["yaxis2"]["range"] == [0, 21]
    assert figure["data"][1]["y"] == [14, 7]
    assert figure["data"][1]["x"] == [
        (today - timedelta(days=60)).isoformat(),
        (today - timedelta(days=10)).isoformat(),
    ]
    top, bottom = figure["layout"]["yaxis"]["domain"], figure["layout"]["yaxis2"]["domain"]
    assert bottom[1] < top[0]  # stacked, not overlapping
    assert figure["layout"]["xaxis"]["anchor"] == "y2"


def test_no_figure_without_two_responses_of_one_questionnaire(terry, patient_a):
    services.questionnaire_record(actor=terry, patient=patient_a, instrument="pacs", answers=[3] * 5)
    services.questionnaire_record(actor=terry, patient=patient_a, instrument="phq-9", answers=PHQ9_CALM)
    assert trajectory_figure(selectors.trajectories(patient_a)) is None
