"""Journey (issue 6, research part): a researcher opens the cohort report, sees the
Kaplan–Meier plot drawn with its numbers at risk (coarsened for small counts) and the
questionnaire scores over time, and downloads the de-identified export; the clinic admin then
finds that download in the patient's accounting of disclosures."""

from __future__ import annotations

from pathlib import Path

import pytest

from kapstone.outcomes.services import questionnaire_record
from kapstone.research.services import study_id
from tests.browser.conftest import screenshot
from tests.browser.test_care_pathway import sign_in
from tests.research.conftest import enrol, specs

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def test_researcher_opens_cohort_report_and_downloads_export(
    live_server, browser, alice, bob, adam, clinic_a
):
    enrolled = [enrol(alice, clinic_a, index=i, spec=spec) for i, spec in enumerate(specs())]
    people = [person for person, _ in enrolled]
    for index, (person, course) in enumerate(enrolled):
        questionnaire_record(
            actor=alice,
            patient=person,
            instrument="phq-9",
            answers=[index % 4] * 8 + [0],
            course=course,
            time_point_months=0,
            administered_on=course.start_date,
        )
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, live_server.url, "bob")
        page.goto(live_server.url + "/research/")
        page.get_by_role("heading", name="Cohort report").wait_for()
        # plotly has drawn the Kaplan–Meier curves (an SVG inside the chart container).
        page.locator("#km-chart .main-svg").first.wait_for()
        assert page.get_by_role("table", name="Numbers at risk").is_visible()
        assert page.get_by_test_id("km-coarsened").is_visible()
        page.locator('[data-figure="trajectory-figure-phq-9"] .main-svg').first.wait_for()
        body = page.content()
        for person in people:
            assert person.family_name not in body and person.mrn not in body
        screenshot(page, "research-01-cohort-report")

        with page.expect_download() as info:
            page.get_by_role("link", name="De-identified export: one row per observation (CSV)").click()
        download = info.value
        assert download.suggested_filename == "kapstone-research-long.csv"
        content = Path(download.path()).read_text()
        assert content.startswith("# 42 CFR part 2 prohibits unauthorized disclosure of these records.")
        assert study_id(people[0].pk) in content
        assert all(person.family_name not in content for person in people)
        page.locator("#km-chart").scroll_into_view_if_needed()
        screenshot(page, "research-02-cohort-report-km")
    finally:
        context.close()

    admin = browser.new_context(viewport={"width": 1280, "height": 900})
    page = admin.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, live_server.url, "adam")
        page.goto(f"{live_server.url}/patients/{people[0].pk}/")
        section = page.get_by_test_id("disclosures")
        section.wait_for()
        assert "bob (researcher)" in section.inner_text()
        assert "Research export, one row per measurement (CSV)" in section.inner_text()
        assert "research_export_long" not in section.inner_text()  # words, not codes
        section.scroll_into_view_if_needed()
        screenshot(page, "research-03-disclosures-on-chart")
    finally:
        admin.close()
