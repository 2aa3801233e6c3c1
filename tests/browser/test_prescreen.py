"""Journey: a visitor on a phone answers the pre-screen with the keyboard only, is matched to
Northside and asks to be contacted; the pages pass axe-core's checks in English and Spanish."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from kapstone.accounts.models import Clinic, Role
from kapstone.portal.demo import seed_portal
from kapstone.portal.models import Referral
from tests.browser.conftest import screenshot
from tests.browser.test_care_pathway import sign_in
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def serious_violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture
def clinics(db):
    north = Clinic.objects.create(name="Northside Clinic", slug="north", timezone="America/New_York")
    river = Clinic.objects.create(name="Riverside Clinic", slug="river", timezone="America/Chicago")
    for clinic in (north, river):
        seed_portal(
            clinic=clinic,
            admin=make_user(f"admin.{clinic.slug}", clinic, Role.ADMIN),
            staff=make_user(f"nurse.{clinic.slug}", clinic, Role.NURSE),
        )
    return north, river


def choose(page, label: str) -> None:
    """Tab to a radio group or checkbox by its text and pick it with the keyboard (Space)."""
    target = page.get_by_label(label, exact=True)
    target.focus()
    page.keyboard.press("Space")


def test_visitor_on_a_phone_is_matched_and_asks_to_be_contacted(live_server, browser, clinics):
    north, _ = clinics
    before = Referral.objects.filter(clinic=north).count()
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto(live_server.url + "/start/")
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Is ketamine-assisted therapy right for me?"
        )
        assert serious_violations(page) == []
        screenshot(page, "prescreen-01-questions-phone")

        # Submitting with nothing answered: every question is named, the focus goes to the first.
        page.get_by_role("button", name="See my result").focus()
        page.keyboard.press("Enter")
        page.wait_for_load_state()
        expect(page.locator("#id_age_years")).to_be_focused()
        assert page.locator(".question.has-error").count() >= 9
        assert serious_violations(page) == []
        screenshot(page, "prescreen-02-errors-phone")

        # Keyboard only from here: type the age, then the choices with Tab and Space.
        page.keyboard.type("41")
        choose(page, "Alcohol")
        for question in (
            "Are you pregnant or breastfeeding?",
            "Have you ever had an allergic or bad reaction to ketamine?",
            "Have you ever used ketamine other than as prescribed?",
        ):
            page.get_by_role("group", name=question).get_by_label("No", exact=True).focus()
            page.keyboard.press("Space")
        for name in ("psychosis_history", "heart_or_bp_problem", "withdrawal_risk"):
            page.locator(f"input[name={name}][value=no]").focus()
            page.keyboard.press("Space")
        page.locator("input[name=self_harm][value=no]").focus()
        page.keyboard.press("Space")
        # A select answers typing: "NY" picks New York, "Es" picks Español.
        page.locator("#id_region").focus()
        page.keyboard.type("NY")
        expect(page.locator("#id_region")).to_have_value("NY")
        page.keyboard.press("Tab")
        expect(page.locator("#id_language")).to_be_focused()
        page.keyboard.type("Es")
        expect(page.locator("#id_language")).to_have_value("es")
        page.get_by_role("button", name="See my result").focus()
        page.keyboard.press("Enter")

        expect(page.get_by_role("heading", level=1)).to_have_text("Ketamine-assisted therapy may suit you")
        card = page.locator(".clinic-card")
        expect(card).to_have_count(1)
        expect(card).to_contain_text("Northside Clinic")
        expect(card).to_contain_text("speaks Spanish")
        assert serious_violations(page) == []
        screenshot(page, "prescreen-03-result-phone")

        page.get_by_label("Your name").focus()
        page.keyboard.type("Casey Testperson")
        page.keyboard.press("Tab")
        page.keyboard.type("casey@example.org")
        page.get_by_label("I agree that this clinic may contact me", exact=False).focus()
        page.keyboard.press("Space")
        page.get_by_role("button", name="Ask this clinic to contact me").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
        reference = page.locator(".reference").inner_text()
        screenshot(page, "prescreen-04-thanks-phone")
        referral = Referral.objects.get(reference=reference)
        assert (referral.clinic_id, referral.contact_name) == (north.pk, "Casey Testperson")
        assert Referral.objects.filter(clinic=north).count() == before + 1
        assert {c["name"] for c in context.cookies()} <= {"csrftoken"}
    finally:
        context.close()

    # The clinic's side: nurse.north finds the referral in the queue and opens the record.
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, live_server.url, "nurse.north")
        page.get_by_role("link", name="Referrals").click()
        row = page.locator("tr", has_text=reference)
        expect(row).to_contain_text("Casey Testperson")
        expect(row).to_contain_text("New")
        screenshot(page, "prescreen-06-queue")
        row.get_by_role("link", name=reference).click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(reference)
        expect(page.get_by_label("Given name")).to_have_value("Casey")
        expect(page.get_by_label("Family name")).to_have_value("Testperson")
        page.get_by_label("MRN").fill("N-6001")
        screenshot(page, "prescreen-07-referral")
        page.get_by_role("button", name="Open the record").click()
        page.wait_for_url("**/screenings/new/")
        expect(page.get_by_role("heading", name="Eligibility screening")).to_be_visible()
        expect(page.locator(".banner.info")).to_contain_text(reference)
        expect(page.locator("input[name=psychotic_disorder][value=no]")).to_be_checked()
        screenshot(page, "prescreen-08-screening-draft")
        referral.refresh_from_db()
        assert referral.status == "converted" and referral.patient.mrn == "N-6001"
    finally:
        context.close()


def test_the_spanish_pages_pass_the_accessibility_checks(live_server, browser, clinics):
    context = browser.new_context(viewport=PHONE, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(live_server.url + "/start/?lang=es")
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "¿Es la terapia asistida con ketamina adecuada para mí?"
        )
        assert serious_violations(page) == []
        page.locator("#id_age_years").fill("35")
        page.get_by_label("Alcohol", exact=True).check()
        for name in (
            "pregnant_or_breastfeeding", "psychosis_history", "ketamine_allergy", "heart_or_bp_problem",
            "ketamine_misuse_history",
        ):  # fmt: skip
            page.locator(f"input[name={name}][value=no]").check()
        page.locator("input[name=withdrawal_risk][value=yes]").check()
        page.locator("input[name=self_harm][value=now]").check()
        page.locator("#id_region").select_option("NY")
        page.get_by_role("button", name="Ver mi resultado").click()
        crisis = page.locator(".crisis")
        expect(crisis).to_contain_text("988")
        # The crisis help comes first on the page, before the result and the clinics.
        assert page.evaluate("document.querySelector('main').firstElementChild.classList.contains('crisis')")
        assert serious_violations(page) == []
        screenshot(page, "prescreen-05-crisis-es-phone")
    finally:
        context.close()
