"""Journey (issue 13): admin.north invites a patient from the chart; the patient accepts from the
e-mail's link on a phone, sees the next session and how to prepare, signs a consent, fills in a
PHQ-9 and a week of the drinking calendar and sees the progress chart; therapist.north sees on the
chart the entries marked as the patient's, and how the consent was given. axe-core finds no serious or critical violation on the portal's pages,
in English and in Spanish; nothing scrolls sideways on a phone or a desktop."""

from __future__ import annotations

import re
from datetime import time, timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core import mail
from playwright.sync_api import expect

from kapstone.accounts.models import Clinic, Role
from kapstone.care.models import CareSession
from kapstone.care.services import course_enrol, session_reschedule
from kapstone.outcomes.models import QuestionnaireResponse, UseDay
from kapstone.patients.models import Consent
from kapstone.patients.services import clinic_today, consent_record
from kapstone.portal.demo import seed_portal
from kapstone.screening.services import screening_record
from tests.browser.conftest import screenshot
from tests.browser.test_care_pathway import sign_in
from tests.care.conftest import ELIGIBLE
from tests.conftest import make_user, new_patient

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
PASSWORD = "a long enough passphrase 7"


def serious_violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def small_targets(page) -> list[str]:
    """Links and buttons of the page's own content smaller than 44 px in height (a link inside a
    sentence is exempt, as WCAG 2.5.8 allows for inline targets)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('header a, header button, nav a, main button, main a, main summary, main input[type=checkbox], main input[type=radio]')]
            .filter(e => !e.closest('p') && !e.closest('dd') && !e.closest('.crumbs'))
            .map(e => [e, e.closest('label') || e])
            .filter(([e, box]) => box.getBoundingClientRect().height < 44)
            .map(([e]) => (e.innerText || e.name || e.tagName).trim().slice(0, 40))"""
    )


@pytest.fixture
def north(db):
    clinic = Clinic.objects.create(name="Northside Clinic", slug="north", timezone="America/New_York")
    admin = make_user("admin.north", clinic, Role.ADMIN)
    nurse = make_user("nurse.north", clinic, Role.NURSE)
    seed_portal(clinic=clinic, admin=admin, staff=nurse)  # the public profile and consent documents
    prescriber = make_user("prescriber.north", clinic, Role.PRESCRIBER)
    make_user("therapist.north", clinic, Role.THERAPIST)
    patient = new_patient(prescriber, clinic, mrn="N-8001", given_name="Sage", family_name="Larkspur")
    consent_record(actor=prescriber, patient=patient, kind="treatment", status="granted",
                   effective_on=clinic_today(clinic), document_version="paper 2026-01")  # fmt: skip
    screening_record(actor=prescriber, patient=patient, answers=ELIGIBLE)
    course = course_enrol(actor=prescriber, patient=patient, protocol_slug="kare-alcohol-grabski-2022",
                          start_date=clinic_today(clinic) - timedelta(days=10))  # fmt: skip
    dosing = CareSession.objects.filter(course=course, kind="dosing").order_by("order").first()
    # The first ketamine session three days ahead: the baseline questionnaires are still due, and
    # the course began more than a week ago, so a whole week of the calendar can be filled in.
    session_reschedule(actor=prescriber, session=dosing, scheduled_date=clinic_today(clinic) + timedelta(days=3),
                       start_time=time(9, 30), room="Room 2", reason="Booked")  # fmt: skip
    dosing.refresh_from_db()
    # KARE's weekly schedule puts a therapy session on day 11 (tomorrow): moved after the dose,
    # so the ketamine session is the next one the patient sees.
    therapy = CareSession.objects.get(course=course, scheduled_date=clinic_today(clinic) + timedelta(days=1))
    session_reschedule(actor=prescriber, session=therapy, scheduled_date=clinic_today(clinic) + timedelta(days=5),
                       start_time=None, room="", reason="Moved after the first dose")  # fmt: skip
    return clinic, patient, dosing


def test_invited_patient_accepts_on_a_phone_prepares_and_signs(live_server, browser, north):
    _clinic, patient, dosing = north

    # Staff: admin.north invites the patient from the chart.
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, live_server.url, "admin.north")
        page.goto(f"{live_server.url}/patients/{patient.pk}/")
        page.get_by_label("E-mail").fill("sage@example.org")
        page.get_by_role("button", name="Invite to the portal").click()
        expect(page.locator(".messages")).to_contain_text("Invitation e-mailed to sage@example.org")
    finally:
        context.close()
    (message,) = [m for m in mail.outbox if m.to == ["sage@example.org"]]
    link = re.search(r"https?://\S+/portal/invitation/\S+/", message.body).group(0)
    assert "Larkspur" not in message.body

    # The patient, on a phone: accepts, lands at home, sees the next session and its preparation.
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto(link)
        page.get_by_label("Choose a password").fill(PASSWORD)
        page.get_by_label("The same password again").fill(PASSWORD)
        page.get_by_role("button", name="Set my password").click()
        page.wait_for_url("**/portal/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Sage")
        card = page.get_by_test_id("next-session")
        expect(card).to_contain_text("Ketamine session")
        expect(card).to_contain_text("09:30")
        expect(card).to_contain_text(dosing.scheduled_date.strftime("%A"))
        expect(card).to_contain_text("Northside Clinic, Room 2")
        instructions = page.get_by_test_id("instructions")
        expect(instructions).to_contain_text("no food after 03:30")
        expect(instructions).to_contain_text("until 07:30")
        expect(instructions).to_contain_text("adult to take you home")
        expect(instructions).to_contain_text("until the next day")
        expect(instructions).to_contain_text("(212) 555-0148")
        expect(page.get_by_test_id("to-do")).to_contain_text("Read and sign")
        assert serious_violations(page) == []
        assert no_sideways_scroll(page) and small_targets(page) == []
        screenshot(page, "portal-01-home-phone")

        page.get_by_role("link", name="Sessions", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Your sessions")
        expect(page.get_by_test_id("upcoming-session").first).to_contain_text("Booked")
        assert serious_violations(page) == []
        assert no_sideways_scroll(page) and small_targets(page) == []
        screenshot(page, "portal-02-sessions-phone")

        # Sign the research consent: a wrong name first (refused, kept), then the right one.
        page.get_by_role("link", name="Consents", exact=True).click()
        assert serious_violations(page) == []
        assert no_sideways_scroll(page) and small_targets(page) == []
        screenshot(page, "portal-03-consents-phone")
        page.get_by_role("link", name="Use of your data for research").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Use of your data for research")
        expect(page.locator(".document-text")).to_contain_text("DEMO TEXT")
        page.get_by_label("Your full name").fill("Sage Larkspurr")
        page.get_by_label("I have read this document and I agree to it.").check()
        page.get_by_role("button", name="Sign this document").click()
        expect(page.locator("[data-code=signature_mismatch]")).to_be_visible()
        expect(page.get_by_label("Your full name")).to_have_value("Sage Larkspurr")
        expect(page.get_by_label("Your full name")).to_be_focused()
        assert Consent.objects.filter(source="patient").count() == 0
        assert serious_violations(page) == []
        screenshot(page, "portal-04-sign-refused-phone")
        page.get_by_label("Your full name").fill("sage  larkspur")
        page.get_by_role("button", name="Sign this document").click()
        page.wait_for_url("**/portal/consents/")
        expect(page.get_by_test_id("consent-research")).to_contain_text("Signed")
        signed = Consent.objects.get(source="patient")
        assert (signed.kind, signed.typed_name, signed.text_sha256) == (
            "research", "sage larkspur", signed.document.text_sha256,
        )  # fmt: skip
        screenshot(page, "portal-05-signed-phone")

        # A PHQ-9, one screen, answered with the keyboard.
        page.get_by_role("link", name="Questionnaires", exact=True).click()
        page.get_by_role("link", name="Mood (PHQ-9)").click()
        for number in range(1, 10):
            page.locator(f"#q-{number}").get_by_label(
                "Not at all" if number > 4 else "Several days", exact=True
            ).focus()
            page.keyboard.press("Space")
        page.get_by_role("button", name="Send my answers").focus()
        page.keyboard.press("Enter")
        page.wait_for_url("**/done/")
        expect(page.get_by_text("Your answers are saved")).to_be_visible()
        expect(page.locator("main .crisis")).to_have_count(0)  # item 9 was 0
        assert serious_violations(page) == []
        screenshot(page, "portal-05a-phq9-done-phone")
        answered = QuestionnaireResponse.objects.get(patient=patient)
        assert (answered.instrument, answered.total, answered.source) == ("phq-9", 4, "patient")

        # A week of the calendar: drinks typed, one day not remembered.
        page.get_by_role("link", name="Calendar", exact=True).click()
        days = page.locator("fieldset.day")
        assert days.count() == 7
        for index in range(7):
            if index == 3:
                days.nth(index).get_by_label("I don't remember").check()
            else:
                days.nth(index).get_by_label("Standard drinks").fill("3" if index == 0 else "0")
        page.get_by_role("button", name="Save these days").click()
        expect(page.locator(".messages")).to_contain_text("Saved. Thank you.")
        assert UseDay.objects.filter(patient=patient, source="patient").count() == 6
        assert serious_violations(page) == []
        assert no_sideways_scroll(page)
        screenshot(page, "portal-05b-calendar-phone")

        page.get_by_role("link", name="Progress", exact=True).click()
        expect(page.locator("#chart-phq-9 .main-svg").first).to_be_attached()
        expect(page.locator("main table.data").first).to_contain_text("4 out of 27")
        assert serious_violations(page) == []
        assert no_sideways_scroll(page)
        screenshot(page, "portal-05c-progress-phone")

        page.get_by_role("link", name="Settings", exact=True).click()
        assert serious_violations(page) == []
        assert no_sideways_scroll(page) and small_targets(page) == []
        screenshot(page, "portal-06-settings-phone")

        # Spanish: chosen in the settings; every page again.
        page.get_by_label("Español").check()
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".messages")).to_contain_text("Se guardó su configuración.")
        assert page.locator("html").get_attribute("lang") == "es"
        assert serious_violations(page) == []
        for name, heading, shot in (
            ("Inicio", "Hola, Sage", "portal-07-home-es-phone"),
            ("Sesiones", "Sus sesiones", "portal-08-sessions-es-phone"),
            ("Consentimientos", "Sus consentimientos", "portal-09-consents-es-phone"),
        ):
            page.get_by_role("link", name=name, exact=True).click()
            expect(page.get_by_role("heading", level=1)).to_have_text(heading)
            assert serious_violations(page) == [], name
            assert no_sideways_scroll(page) and small_targets(page) == [], name
            screenshot(page, shot)
        page.get_by_role("link", name="Uso de sus datos para investigación").click()
        expect(page.get_by_test_id("consent-state")).to_contain_text("Firmado")
        assert serious_violations(page) == []
        screenshot(page, "portal-10-consent-es-phone")
    finally:
        context.close()

    # The same home on a desktop screen.
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto(live_server.url + "/accounts/login/")
        page.fill("#id_username", "sage@example.org")
        page.fill("#id_password", PASSWORD)
        page.press("#id_password", "Enter")
        page.wait_for_url("**/portal/")
        expect(page.get_by_test_id("next-session")).to_contain_text("Sesión de ketamina")
        assert serious_violations(page) == [] and no_sideways_scroll(page)
        screenshot(page, "portal-11-home-es-desktop")
    finally:
        context.close()

    # The therapist sees the patient's entries marked on the chart, and how the consent was given.
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, live_server.url, "therapist.north")
        page.goto(f"{live_server.url}/patients/{patient.pk}/")
        expect(page.locator("main")).to_contain_text("6 of these days, in the portal")
        assert page.get_by_text("entered by the patient").count() >= 2  # the PHQ-9 and the calendar
        row = page.get_by_test_id("consent-row").filter(has_text="Signed in the portal by the patient")
        expect(row).to_contain_text(signed.text_sha256[:8])
        expect(row).to_contain_text("sage larkspur")
        screenshot(page, "portal-12-chart-consent")
    finally:
        context.close()
