"""Journey: a patient on a phone (390×844) fills in a PHQ-9 (item 9 above 0: crisis help comes
first and the clinic's alert opens, which the nurse sees), a week of the drinking calendar, and
sees the progress chart. axe-core finds no serious or critical violation on these pages, in
English and in Spanish; no page scrolls sideways, on the phone or at 1366×900."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from kapstone.accounts.models import Clinic, Role
from kapstone.outcomes.models import ClinicalFlag, QuestionnaireResponse, UseDay
from kapstone.outcomes.services import questionnaire_record
from kapstone.patients.services import clinic_today
from kapstone.portal.models import PatientAccount
from tests.browser.conftest import screenshot
from tests.browser.test_care_pathway import sign_in
from tests.browser.test_prescreen import serious_violations
from tests.conftest import make_user, new_patient
from tests.portal.outcome_fixtures import PASSWORD, enrol, move_dosing, open_account

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
# Several days on items 1–8, "Several days" on item 9 (thoughts of self-harm): a total of 9.
PHQ9 = ["Several days"] * 9
# The controls a patient touches; each must be at least 44 px high (inline text links are exempt).
TARGETS = ".choices label, label.unsure, button, input[type=number], a.button, .card-link"


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def small_targets(page) -> list[str]:
    return page.evaluate(
        """(selector) => Array.from(document.querySelectorAll(selector.split(',').map(s => 'main ' + s.trim()).join(',')))
             .filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < 44)
             .map(e => e.outerHTML.slice(0, 80))""",
        TARGETS,
    )


def check(page, name: str) -> None:
    assert serious_violations(page) == [], name
    assert no_sideways_scroll(page), name
    assert small_targets(page) == [], name
    screenshot(page, name)


@pytest.fixture
def north(db):
    clinic = Clinic.objects.create(name="Northside Clinic", slug="north", timezone="America/New_York")
    prescriber = make_user("priya", clinic, Role.PRESCRIBER)
    nurse = make_user("noor", clinic, Role.NURSE)
    patient = new_patient(prescriber, clinic, mrn="N-5001", given_name="Indigo", family_name="Larkspur")
    today = clinic_today(clinic)
    course = enrol(prescriber, patient, start=today - timedelta(days=10))
    move_dosing(course, today + timedelta(days=3))  # the baseline questionnaires are due
    user = open_account(nurse, patient, "indigo@example.org")
    return clinic, patient, user


def patient_page(browser, live_server, viewport):
    context = browser.new_context(viewport=viewport, is_mobile=viewport is PHONE, has_touch=viewport is PHONE)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "indigo@example.org")
    page.fill("#id_password", PASSWORD)
    page.press("#id_password", "Enter")
    page.wait_for_url("**/portal/**")
    return context, page


def test_patient_fills_phq9_and_a_week_and_sees_progress(live_server, browser, north):
    clinic, patient, _user = north
    context, page = patient_page(browser, live_server, PHONE)
    try:
        page.goto(live_server.url + "/portal/questionnaires/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Your questionnaires")
        check(page, "portal-outcomes-01-questionnaires-phone")

        page.get_by_role("link", name="Mood (PHQ-9)").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Mood (PHQ-9)")
        check(page, "portal-outcomes-02-phq9-phone")

        # Sending with two answers missing: both named, the focus on the first, the others kept.
        page.get_by_role("group", name="1. Little interest or pleasure in doing things").get_by_label(
            "Several days"
        ).check()
        page.get_by_role("button", name="Send my answers").click()
        page.wait_for_load_state()
        expect(page.locator(".form-errors")).to_contain_text("Please answer the 8 questions marked below.")
        expect(page.locator("#q-2 input").first).to_be_focused()
        expect(
            page.get_by_role("group", name="1. Little interest").get_by_label("Several days")
        ).to_be_checked()
        assert QuestionnaireResponse.objects.count() == 0
        check(page, "portal-outcomes-03-phq9-errors-phone")

        # The keyboard: Tab into each group, arrows choose within it.
        for number, answer in enumerate(PHQ9, start=1):
            group = page.locator(f"#q-{number}")
            group.get_by_label(answer, exact=True).focus()
            page.keyboard.press("Space")
        page.get_by_role("button", name="Send my answers").focus()
        page.keyboard.press("Enter")
        page.wait_for_url("**/done/")
        # Crisis help first, before anything else.
        first_heading = page.locator("main h1, main h2").first
        expect(first_heading).to_have_text("Please get help now")
        expect(page.locator("main .crisis")).to_contain_text("988")
        expect(page.locator("main .crisis")).to_contain_text("911")
        crisis_top = page.locator("main .crisis").bounding_box()["y"]
        assert crisis_top < page.get_by_text("Your answers are saved").bounding_box()["y"]
        check(page, "portal-outcomes-04-crisis-phone")
        flag = ClinicalFlag.objects.get()
        assert flag.patient_id == patient.pk and flag.clinic_id == clinic.pk
        assert QuestionnaireResponse.objects.get().source == "patient"

        # A week of the calendar: numbers typed, one day not remembered.
        page.goto(live_server.url + "/portal/calendar/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Your calendar: Alcohol")
        expect(page.locator("figure.standard-drink")).to_contain_text("One standard drink is:")
        check(page, "portal-outcomes-05-calendar-phone")
        days = page.locator("fieldset.day")
        assert days.count() == 7
        for index in range(7):
            day = days.nth(index)
            if index == 2:
                day.get_by_label("I don't remember").check()
            else:
                day.get_by_label("Standard drinks").fill("2" if index == 0 else "0")
        page.get_by_role("button", name="Save these days").click()
        page.wait_for_load_state()
        expect(page.locator(".messages")).to_contain_text("Saved. Thank you.")
        assert UseDay.objects.filter(patient=patient, source="patient").count() == 6
        check(page, "portal-outcomes-06-calendar-next-phone")

        page.goto(live_server.url + "/portal/progress/")
        chart = page.locator("#chart-phq-9")
        expect(chart.locator(".main-svg").first).to_be_attached()
        expect(page.locator("#use-0-alcohol .main-svg").first).to_be_attached()
        expect(page.locator("main table.data").first).to_contain_text("9 out of 27")
        expect(page.locator("main table.data").first).to_contain_text("Mild")
        check(page, "portal-outcomes-07-progress-phone")

        # The same pages in Spanish.
        PatientAccount.objects.filter(patient=patient).update(language="es")
        for url, name, heading in (
            ("/portal/questionnaires/", "questionnaires", "Sus cuestionarios"),
            ("/portal/questionnaires/gad-7/", "gad7", "Preocupación y ansiedad (GAD-7)"),
            ("/portal/calendar/", "calendar", "Su calendario: Alcohol"),
            ("/portal/progress/", "progress", "Su progreso"),
        ):
            page.goto(live_server.url + url)
            expect(page.get_by_role("heading", level=1)).to_have_text(heading)
            assert page.locator("html").get_attribute("lang") == "es"
            check(page, f"portal-outcomes-08-{name}-es-phone")
        page.goto(live_server.url + "/portal/questionnaires/phq-9/")
        expect(page.locator("main .note")).to_contain_text("solo está disponible en inglés")
        for number in range(1, 10):
            page.locator(f"#q-{number}").get_by_label("Not at all", exact=True).check()
        page.locator("#q-9").get_by_label("More than half the days", exact=True).check()
        page.get_by_role("button", name="Enviar mis respuestas").click()
        page.wait_for_url("**/done/")
        expect(page.locator("main h1").first).to_have_text("Por favor, pida ayuda ahora")
        check(page, "portal-outcomes-09-crisis-es-phone")
    finally:
        context.close()

    # At 1366×900 the pages do not scroll sideways either.
    PatientAccount.objects.filter(patient=patient).update(language="en")
    context, page = patient_page(browser, live_server, DESKTOP)
    try:
        for url, name in (
            ("/portal/questionnaires/phq-9/", "phq9"),
            ("/portal/calendar/", "calendar"),
            ("/portal/progress/", "progress"),
        ):
            page.goto(live_server.url + url)
            page.wait_for_load_state("networkidle")
            check(page, f"portal-outcomes-10-{name}-desktop")
    finally:
        context.close()


def test_the_nurse_sees_the_patients_alert_marked(live_server, browser, north, page):
    _clinic, patient, user = north

    questionnaire_record(actor=user, patient=patient, instrument="phq-9", answers=[1] * 9, source="patient")
    page.set_viewport_size(DESKTOP)
    sign_in(page, live_server.url, "noor")
    page.goto(live_server.url + "/flags/")
    alert = page.locator(".outcome-flag").first
    expect(alert).to_contain_text("Self-harm risk")
    expect(alert).to_contain_text("Larkspur")
    expect(alert).to_contain_text("entered by the patient")
    screenshot(page, "portal-outcomes-11-nurse-alerts-desktop")
