"""Journey (issue 6, clinician part): a therapist records a PHQ-9 with item 9 above 0 and the
self-harm alert appears on the chart; fills in a month of the drinking calendar; records the
6-month follow-up, which then shows as done on the worklist."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from kapstone.accounts.models import Role
from kapstone.care.services import course_enrol, day_of_checks_record, session_transition
from kapstone.outcomes.models import FollowUp, QuestionnaireResponse
from kapstone.patients.services import clinic_today, consent_record
from kapstone.screening.services import screening_record
from tests.browser.conftest import screenshot
from tests.browser.test_care_pathway import sign_in
from tests.care.conftest import ELIGIBLE, move_dosing_session
from tests.care.test_sessions import SERVICE_INPUTS
from tests.conftest import make_user, new_patient

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_therapist_records_phq9_calendar_and_follow_up(live_server, browser, clinic_a):
    prescriber = make_user("priya", clinic_a, Role.PRESCRIBER)
    nurse = make_user("noor", clinic_a, Role.NURSE)
    make_user("theo", clinic_a, Role.THERAPIST)
    patient = new_patient(
        prescriber,
        clinic_a,
        mrn="A-9001",
        given_name="Indigo",
        family_name="Larkspur",
        birth_date=date(1983, 4, 4),
        sex_at_birth="female",
    )
    consent_record(
        actor=prescriber,
        patient=patient,
        kind="treatment",
        status="granted",
        effective_on=date(2025, 1, 5),
        document_version="2025-01",
    )
    screening_record(actor=prescriber, patient=patient, answers=ELIGIBLE)
    today = clinic_today(clinic_a)
    # One ketamine session about six months ago (Krupitsky 1997: a single dosing session on day 7).
    course = course_enrol(
        actor=prescriber,
        patient=patient,
        protocol_slug="kpt-alcohol-krupitsky-1997",
        start_date=today - timedelta(days=190),
    )
    dosing = course.sessions.get(kind="dosing")
    session = session_transition(actor=nurse, session=dosing, to="checked_in")
    day_of_checks_record(actor=nurse, session=session, inputs=SERVICE_INPUTS)
    session = move_dosing_session(nurse, session, "in_progress")
    session = move_dosing_session(nurse, session, "recovering")
    session_transition(actor=nurse, session=session, to="discharged", discharge_evaluated=True)

    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_server.url, "theo")

    # PHQ-9 with item 9 ("thoughts that you would be better off dead…") answered "several days".
    page.goto(f"{live_server.url}/patients/{patient.pk}/questionnaires/new/phq-9/")
    for item, value in zip(range(1, 10), (2, 1, 2, 1, 1, 2, 1, 0, 1), strict=True):
        page.check(f"input[name=item_{item}][value='{value}']")
    screenshot(page, "30-phq9-form")
    page.get_by_role("button", name="Save PHQ-9").click()
    page.wait_for_load_state()
    response = QuestionnaireResponse.objects.get(patient=patient)
    assert response.total == 11 and "self-harm-risk" in response.flags
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    alert = page.locator("text=self-harm").first
    alert.wait_for()
    screenshot(page, "31-chart-with-self-harm-alert")

    # A month of the drinking calendar: mostly none, two days of 2 drinks, one day of 4 (heavy for her).
    month_start = today.replace(day=1) - timedelta(days=1)
    month_start = month_start.replace(day=1)
    page.goto(
        f"{live_server.url}/patients/{patient.pk}/use-calendar/?substance=alcohol&month={month_start:%Y-%m}"
    )
    inputs = page.locator("input[name^=drinks_]")
    count = inputs.count()
    assert count >= 28
    for index in range(count):
        inputs.nth(index).fill("0")
    inputs.nth(4).fill("2")
    inputs.nth(11).fill("2")
    inputs.nth(20).fill("4")
    page.get_by_role("button", name="Save calendar").click()
    page.wait_for_load_state()
    body = page.locator("main").inner_text()
    assert "heavy" in body.lower()
    screenshot(page, "32-drinking-calendar")

    # The 6-month follow-up is on the worklist; record it as done today.
    page.goto(f"{live_server.url}/courses/{course.pk}/follow-ups/6/")
    page.fill("#id_done_on", today.isoformat())
    page.get_by_role("button", name="Record follow-up done").click()
    page.wait_for_load_state()
    assert FollowUp.objects.filter(course=course, months=6).exists()
    page.goto(f"{live_server.url}/follow-ups/")
    screenshot(page, "33-follow-up-worklist")
    context.close()
