"""Staff see what the patient entered in the portal marked "entered by the patient": the
questionnaires page, the chart, the use calendar, the alerts; and ``source`` in the API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kapstone.outcomes.services import questionnaire_record, use_days_record
from kapstone.patients.services import clinic_today
from tests.api.test_patients_api import Api
from tests.portal.outcome_fixtures import PHQ9_CALM, PHQ9_ITEM9

pytestmark = pytest.mark.django_db

MARK = "entered by the patient"


@pytest.fixture
def entries(pat, pat_course, patient_a, nina):
    today = clinic_today(patient_a.clinic)
    mine = questionnaire_record(
        actor=pat, patient=patient_a, instrument="phq-9", answers=PHQ9_ITEM9, source="patient"
    )
    theirs = questionnaire_record(actor=nina, patient=patient_a, instrument="gad-7", answers=[0] * 7)
    use_days_record(
        actor=pat,
        patient=patient_a,
        substance="alcohol",
        days=[{"day": today, "standard_drinks": 1}],
        source="patient",
    )
    use_days_record(
        actor=nina,
        patient=patient_a,
        substance="alcohol",
        days=[{"day": today - timedelta(days=1), "standard_drinks": 0}],
    )
    return mine, theirs


def test_the_questionnaires_page_marks_the_patients_answers(entries, as_user, terry, patient_a):
    page = as_user(terry).get(f"/patients/{patient_a.pk}/questionnaires/").content.decode()
    rows = [row for row in page.split("<tr>") if "</td>" in row]
    phq9 = next(row for row in rows if "PHQ-9" in row)
    gad7 = next(row for row in rows if "GAD-7" in row)
    assert MARK in phq9 and MARK not in gad7


def test_the_chart_marks_the_patients_answers_and_days(entries, as_user, terry, patient_a):
    page = as_user(terry).get(f"/patients/{patient_a.pk}/").content.decode()
    assert page.count(MARK) >= 3  # the PHQ-9's alert, its latest score, the calendar's days
    assert "1 of these days, in the portal" in page


def test_the_use_calendar_marks_the_patients_days(entries, as_user, terry, patient_a):
    today = clinic_today(patient_a.clinic)
    page = as_user(terry).get(f"/patients/{patient_a.pk}/use-calendar/?month={today:%Y-%m}").content.decode()
    rows = [row for row in page.split("<tr") if 'scope="row"' in row]
    marked = [row for row in rows if MARK in row]
    assert len(marked) == 1 and f"{today.day}</th>" in marked[0]


def test_the_api_gives_the_source_of_each_response(entries, terry, patient_a):
    body = Api(terry).get(f"/patients/{patient_a.pk}/questionnaires").json()["items"]
    assert sorted((row["instrument"], row["source"]) for row in body) == [
        ("gad-7", "staff"),
        ("phq-9", "patient"),
    ]


def test_a_patients_calm_answers_raise_no_alert(pat, pat_course, patient_a, as_user, nina):
    questionnaire_record(
        actor=pat, patient=patient_a, instrument="phq-9", answers=PHQ9_CALM, source="patient"
    )
    assert "No open alert." in as_user(nina).get("/flags/").content.decode()
