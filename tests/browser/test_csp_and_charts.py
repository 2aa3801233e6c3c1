"""Journey across the whole product (issue 17, first load of a chart page): every page of the main
journeys of each role (staff with and without charts, the patient portal, the public pre-screen)
raises no Content-Security-Policy violation; a page without a chart never fetches plotly.js, a
page with one fetches the vendored basic bundle once and every chart on it is drawn.

Violations are collected two ways, across navigations: a ``securitypolicyviolation`` listener
installed before any script of the page (an init script reporting through an exposed binding),
and the console messages Chromium writes for a refusal ("... violates the following Content
Security Policy directive ...").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from kapstone.accounts.models import User
from kapstone.demo.seed import DEMO_PASSWORD, seed_demo
from kapstone.dosing.models import DoseOrder
from kapstone.monitoring.models import Observation
from kapstone.outcomes.models import QuestionnaireResponse
from kapstone.outcomes.services import questionnaire_record
from kapstone.patients.services import clinic_today
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PLOTLY = "/static/plotly/plotly-basic.min.js"
LISTEN = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.__reportCsp([e.violatedDirective, e.blockedURI || "inline", (e.sourceFile || "") + ":" + e.lineNumber,
                      (e.sample || "").slice(0, 80)].join(" "));
}, true);
"""


@dataclass
class Tracker:
    """What the browser did since the last ``start``: violations and plotly.js fetches."""

    violations: list[str] = field(default_factory=list)
    plotly_fetches: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    visited: list[tuple[str, bool]] = field(default_factory=list)

    def start(self) -> None:
        self.plotly_fetches.clear()


def open_context(browser, tracker: Tracker, **options):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
    context.expose_binding(
        "__reportCsp", lambda source, text: tracker.violations.append(f"{source['frame'].url}: {text}")
    )
    context.add_init_script(LISTEN)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("request", lambda request: PLOTLY in request.url and tracker.plotly_fetches.append(request.url))
    page.on(
        "console",
        lambda message: (
            "Content Security Policy" in message.text
            and tracker.violations.append(f"{page.url}: console: {message.text}")
        ),
    )
    page.on("pageerror", lambda error: tracker.errors.append(str(error)))
    return context, page


def visit(page, tracker: Tracker, url: str, *, chart: bool) -> None:
    """Open ``url`` (a full load) and check plotly.js against whether the page draws a chart."""
    tracker.start()
    response = page.goto(url, wait_until="load")
    assert response is not None and response.status == 200, url
    figures = page.locator("[data-figure]")
    if chart:
        assert figures.count() > 0, f"{url}: a chart was expected"
        for index in range(figures.count()):
            figures.nth(index).locator(".main-svg").first.wait_for()
        assert len(tracker.plotly_fetches) == 1, (url, tracker.plotly_fetches)
        # Every figure only uses what the basic bundle has: a trace type it lacks is an invalid
        # value, an attribute it does not know is outside its schema. ("unused": an attribute of
        # a trace drawn hidden, e.g. the PK models not selected, is not read; that is fine.)
        invalid = page.evaluate(
            """() => Array.from(document.querySelectorAll('[data-figure]')).flatMap(div => {
                 const figure = JSON.parse(document.getElementById(div.dataset.figure).textContent);
                 return (Plotly.validate(figure.data, figure.layout) || [])
                   .filter(e => e.code !== "unused").map(e => e.code + ": " + e.msg);
               })"""
        )
        assert invalid == [], (url, invalid)
    else:
        assert figures.count() == 0, f"{url}: no chart was expected"
        assert tracker.plotly_fetches == [], (url, tracker.plotly_fetches)
        assert page.evaluate("typeof Plotly") == "undefined", url
    tracker.visited.append((url, chart))


def sign_in(page, base: str, username: str) -> None:
    """A demo staff member signs in: password, then a code from their authenticator."""
    device, _ = TOTPDevice.objects.get_or_create(
        user=User.objects.get(username=username), name="phone", defaults={"confirmed": True}
    )
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.press("#id_password", "Enter")
    page.wait_for_url("**/login/verify/**")
    page.fill("#id_token", f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}")
    page.press("#id_token", "Enter")
    page.wait_for_url(lambda url: "/login/" not in url)


def nav_links(page, selector: str) -> list[str]:
    hrefs = page.eval_on_selector_all(selector, "links => links.map(a => a.href)")
    return list(dict.fromkeys(hrefs))


def test_no_csp_violation_anywhere_and_plotly_only_where_a_chart_is(live_server, browser):
    seed_demo(patients_per_clinic=6, follow_up_per_protocol=0)
    base = live_server.url
    monitored = Observation.objects.filter(clinic__slug="north").values_list("session_id", flat=True).first()
    order = DoseOrder.objects.filter(session__course__patient__clinic__slug="north").order_by("pk").first()
    scored = (
        QuestionnaireResponse.objects.filter(patient__clinic__slug="north").order_by("pk").first().patient
    )
    assert monitored and order  # the demo has a monitored session and a dose order in this clinic
    # Two PHQ-9s a fortnight apart: the chart draws a trajectory from two answers of one kind.
    today = clinic_today(scored.clinic)
    for weeks_ago in (4, 2):
        questionnaire_record(
            actor=User.objects.get(username="nurse.north"),
            patient=scored,
            instrument="phq-9",
            answers=[1] * 8 + [0],
            administered_on=today - timedelta(weeks=weeks_ago),
        )
    tracker = Tracker()
    seen: set[str] = set()

    # Staff: every page of the top navigation for each role, then the pages that draw charts.
    chart_pages = {
        "nurse": [f"/patients/{scored.pk}/", f"/sessions/{monitored}/"],
        "prescriber": [f"/dose-orders/{order.pk}/"],
        "therapist": [f"/patients/{scored.pk}/"],
        "admin": [],
        "researcher": [],
    }
    for role, charts in chart_pages.items():
        context, page = open_context(browser, tracker)
        try:
            sign_in(page, base, f"{role}.north")
            visit(page, tracker, base + "/", chart=False)
            for href in nav_links(page, "nav[aria-label=Main] a"):
                if href in seen:  # the same page as another role's: once is enough (time)
                    continue
                seen.add(href)
                # The research report draws its charts only for a cohort with closed outcomes.
                visit(page, tracker, href, chart=href.endswith("/research/") and page_has_figures(page, href))
            for path in charts:
                visit(page, tracker, base + path, chart=True)
            visit(page, tracker, base + "/accounts/password/", chart=False)
            screenshot(page, f"csp-{role}-last-page")
        finally:
            context.close()

    # The patient portal: every page of its navigation, then the progress charts.
    context, page = open_context(browser, tracker, is_mobile=True, has_touch=True)
    try:
        page.goto(base + "/accounts/login/")
        page.fill("#id_username", "patient.north")
        page.fill("#id_password", DEMO_PASSWORD)
        page.press("#id_password", "Enter")
        page.wait_for_url("**/portal/**")
        visit(page, tracker, base + "/portal/", chart=False)
        for href in nav_links(page, "main a[href^='/portal/'], nav a[href^='/portal/']"):
            if href.rstrip("/").endswith("/portal") or "/progress/" in href:
                continue
            visit(page, tracker, href, chart=False)
        visit(page, tracker, base + "/portal/progress/", chart=True)
        screenshot(page, "csp-portal-progress")
    finally:
        context.close()

    # The public pre-screen, in both languages, and the sign-in page.
    context, page = open_context(browser, tracker)
    try:
        for path in (
            "/start/",
            "/start/?lang=es",
            "/start/privacy/",
            "/start/privacy/?lang=es",
            "/accounts/login/",
        ):
            visit(page, tracker, base + path, chart=False)
        # The pre-screen itself: refused when empty, then answered (the result, clinic cards).
        page.goto(base + "/start/")
        tracker.start()
        page.get_by_role("button", name="See my result").click()
        page.locator(".question.has-error").first.wait_for()
        page.fill("#id_age_years", "41")
        page.get_by_label("Alcohol", exact=True).check()
        for radio in page.locator("input[type=radio][value=no]").all():
            radio.check()
        page.select_option("#id_region", "NY")
        page.get_by_role("button", name="See my result").click()
        page.locator(".clinic-card").first.wait_for()
        screenshot(page, "csp-prescreen-result")
        assert tracker.plotly_fetches == []
    finally:
        context.close()

    assert tracker.violations == [], "\n".join(tracker.violations)
    assert tracker.errors == []
    with_chart = [url for url, chart in tracker.visited if chart]
    assert len(with_chart) >= 5 and len(tracker.visited) - len(with_chart) >= 30, tracker.visited


def page_has_figures(page, href: str) -> bool:
    """Whether the server put a chart on ``href`` (asked without the browser, so the visit that
    follows is a first load judged on its own)."""
    response = page.request.get(href)
    return 'data-figure="' in response.text()
