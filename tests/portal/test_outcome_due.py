"""What is due for a patient (``portal.outcome_selectors.due_for_patient``): from the follow-up
schedule and the protocol's questionnaires, until answered by anyone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import translation

from kapstone.care.models import TreatmentCourse
from kapstone.domain.protocols import add_months
from kapstone.outcomes.services import follow_up_record, questionnaire_record
from kapstone.patients.services import clinic_today
from kapstone.portal.outcome_selectors import DueQuestionnaire, due_for_patient
from tests.outcomes.conftest import set_last_dosing
from tests.portal.outcome_fixtures import PHQ9_CALM, enrol, move_dosing

pytestmark = pytest.mark.django_db


def codes(patient, today=None):
    return [d.instrument for d in due_for_patient(patient, today or clinic_today(patient.clinic))]


def test_nothing_is_due_without_a_course(patient_a):
    assert due_for_patient(patient_a, clinic_today(patient_a.clinic)) == []


def test_the_baseline_is_due_until_the_first_dose(patient_a, alice, pat_course):
    today = clinic_today(patient_a.clinic)
    due = due_for_patient(patient_a, today)
    assert [d.instrument for d in due] == ["audit", "pacs", "phq-9", "gad-7"]
    assert due[0] == DueQuestionnaire(
        instrument="audit",
        instrument_name="Alcohol use (AUDIT)",
        due_date=pat_course.start_date,
        time_point_months=0,
        course_id=pat_course.pk,
    )
    first_dose = today + timedelta(days=3)
    assert codes(patient_a, first_dose) == ["audit", "pacs", "phq-9", "gad-7"]  # the day itself
    assert codes(patient_a, first_dose + timedelta(days=1)) == []  # baseline closed after the first dose


def test_an_answer_from_anyone_closes_the_instrument(patient_a, nina, pat_course):
    questionnaire_record(
        actor=nina,
        patient=patient_a,
        instrument="phq-9",
        answers=PHQ9_CALM,
        course=pat_course,
        time_point_months=0,
    )
    assert codes(patient_a) == ["audit", "pacs", "gad-7"]
    # An answer not tied to the time point does not.
    questionnaire_record(actor=nina, patient=patient_a, instrument="gad-7", answers=[0] * 7)
    assert "gad-7" in codes(patient_a)


def test_a_follow_up_is_due_from_a_week_before_and_a_later_one_replaces_a_missed_one(patient_a, alice, nina):
    today = clinic_today(patient_a.clinic)
    course = enrol(alice, patient_a, start=today - timedelta(days=200))
    # Last dose so that the 1-month follow-up is 5 days ahead: open (the week before).
    last = add_months(today + timedelta(days=5), -1)
    set_last_dosing(course, last)
    due = due_for_patient(patient_a, today)
    assert [(d.instrument, d.time_point_months) for d in due] == [
        ("audit-c", 1),
        ("pacs", 1),
        ("phq-9", 1),
        ("gad-7", 1),
    ]
    assert due[0].due_date == add_months(last, 1)
    # Ten days ahead: not yet.
    set_last_dosing(course, add_months(today + timedelta(days=10), -1))
    assert codes(patient_a) == []
    # The 1-month one long missed and the 3-month one due: only the 3-month one.
    last = add_months(today, -3)
    set_last_dosing(course, last)
    assert {d.time_point_months for d in due_for_patient(patient_a, today)} == {3}
    # Recorded as done by the clinic: closed.
    follow_up_record(actor=nina, course=course, months=3, done_on=today)
    assert codes(patient_a) == []


def test_audit_c_is_not_offered_without_a_sex_on_record(alice, clinic_a):
    from tests.conftest import new_patient

    patient = new_patient(alice, clinic_a, mrn="A-77", sex_at_birth="unknown")
    today = clinic_today(patient.clinic)
    course = enrol(alice, patient, start=today - timedelta(days=200))
    set_last_dosing(course, add_months(today, -1))
    assert codes(patient) == ["pacs", "phq-9", "gad-7"]  # the clinic enters the AUDIT-C


def test_staff_only_instruments_are_never_offered(patient_a, alice):
    today = clinic_today(patient_a.clinic)
    course = enrol(alice, patient_a, start=today, slug="ketamine-mbrp-cocaine-dakwar-2019")
    move_dosing(course, today + timedelta(days=7))
    assert codes(patient_a) == ["phq-9", "gad-7"]  # the DAST-10 of the baseline is the clinic's


def test_the_courses_own_plan_is_used(patient_a, pat_course):
    data = dict(pat_course.protocol_data)
    data["questionnaires"] = {"baseline": ["gad-7"], "follow_up": ["phq-9"]}
    TreatmentCourse.objects.filter(pk=pat_course.pk).update(protocol_data=data)
    assert codes(patient_a) == ["gad-7"]


def test_names_follow_the_active_language(patient_a, pat_course):
    with translation.override("es"):
        names = [d.instrument_name for d in due_for_patient(patient_a, clinic_today(patient_a.clinic))]
    assert "Estado de ánimo (PHQ-9)" in names
