"""Journey: admin.north invites a patient from the chart; the patient accepts from the e-mail's
link on a phone, sees the next session and how to prepare, and signs a consent; the nurse sees on
the chart how it was given. axe-core finds no serious or critical violation on the portal's pages,
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
    patient = new_patient(prescriber, clinic, mrn="N-8001", given_name="Sage", family_name="Larkspur")
    consent_record(actor=prescriber, patient=patient, kind="treatment", status="granted",
                   effective_on=clinic_today(clinic), document_version="paper 2026-01")  # fmt: skip
    screening_record(actor=prescriber, patient=patient, answers=ELIGIBLE)
    course = course_enrol(actor=prescriber, patient=patient, protocol_slug="kare-alcohol-grabski-2022",
                          start_date=clinic_today(clinic) - timedelta(days=2))  # fmt: skip
    dosing = CareSession.objects.filter(course=course, kind="dosing").order_by("order").first()
    session_reschedule(actor=prescriber, session=dosing, scheduled_date=dosing.scheduled_date,
                       start_time=time(9, 30), room="Room 2", reason="Booked")  # fmt: skip
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

    # The nurse sees how the consent was given.
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, live_server.url, "nurse.north")
        page.goto(f"{live_server.url}/patients/{patient.pk}/")
        row = page.get_by_test_id("consent-row").filter(has_text="Signed in the portal by the patient")
        expect(row).to_contain_text(signed.text_sha256[:8])
        expect(row).to_contain_text("sage larkspur")
        screenshot(page, "portal-12-chart-consent")
    finally:
        context.close()
