"""Journey (issue 11): a prescriber signs in to the screenings awaiting their sign-off, opens one
and approves it, and the worklist empties; the clinic admin then finds that patient in the audit
trail by part of the name, with times on the clinic's clock, and a huge number typed into the
address is a page, not a server error."""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import expect

from kapstone.accounts.models import Role
from kapstone.screening.services import screening_record
from tests.browser.conftest import screenshot
from tests.browser.test_care_pathway import sign_in
from tests.conftest import make_user, new_patient
from tests.screening.conftest import clean_answers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_prescriber_signs_off_from_the_worklist_and_the_admin_finds_it_in_the_audit_trail(
    live_server, browser, clinic_a
):
    make_user("priya", clinic_a, Role.PRESCRIBER)
    nurse = make_user("noor", clinic_a, Role.NURSE)
    make_user("alex", clinic_a, Role.ADMIN)
    patient = new_patient(
        nurse,
        clinic_a,
        mrn="A-7101",
        given_name="Wren",
        family_name="Thistledown",
        birth_date=date(1978, 3, 2),
    )
    screening_record(actor=nurse, patient=patient, answers=clean_answers(systolic_bp=152, diastolic_bp=92))

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, live_server.url, "priya")
        assert page.url == live_server.url + "/"
        worklist = page.get_by_role("region", name=re.compile("Screenings awaiting your sign-off"))
        expect(worklist).to_contain_text("Thistledown, Wren")
        expect(worklist).to_contain_text("A-7101")
        expect(worklist).to_contain_text("needs prescriber review")
        expect(worklist).to_contain_text("Blood pressure 152/92 mmHg")
        expect(worklist).to_contain_text(re.compile(r"\d{2}:\d{2} E[SD]T"))
        screenshot(page, "worklist-01-home")

        worklist.get_by_role("link", name="Review and sign off").click()
        page.wait_for_url(f"**/patients/{patient.pk}/screenings/#sign-off-h")
        page.check("input[name=outcome][value=approve]")
        page.fill("textarea[name=reason], input[name=reason]", "Treated hypertension, repeat reading 136/84.")
        page.get_by_role("button", name="Sign off").click()
        page.get_by_text("Approved").first.wait_for()
        page.goto(live_server.url + "/")
        expect(page.get_by_text("No screening is waiting for your sign-off.")).to_be_visible()
        screenshot(page, "worklist-02-empty")
    finally:
        context.close()

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, live_server.url, "alex")
        page.goto(live_server.url + "/audit/")
        page.fill("#id_patient", "thistle")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url("**/audit/?*patient=thistle*")
        table = page.locator("table.list")
        expect(table).to_contain_text("Thistledown, Wren (A-7101)")
        expect(table).not_to_contain_text("UTC")
        when = table.locator("tbody tr td").nth(1).inner_text()
        assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2}( \d{4})? \d{2}:\d{2} E[SD]T", when), when
        expect(page.get_by_role("status").first).to_contain_text("Events of 1 patient matching")
        screenshot(page, "audit-01-by-name")

        response = page.goto(live_server.url + "/audit/?patient_id=99999999999999999999&date_to=9999-12-31")
        assert response.status == 200
        expect(page.get_by_text("Enter a date between 1 Jan 1900 and 31 Dec 2999.")).to_be_visible()
        screenshot(page, "audit-02-junk-in-a-filter")
    finally:
        context.close()
