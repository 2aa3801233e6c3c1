"""Journey of issue 15: a value entered in error at the bedside.

A nurse beside a recovering patient records a set with SpO2 85 typed for 95. The critical alert
shows and the discharge criteria are blocked by it. With the keyboard she marks the SpO2 entered
in error with a reason; the session page shows it struck through with who, when and why, the
alert's history shows its end, and the discharge criteria are no longer blocked by it.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from kapstone.monitoring.models import Alert, Observation
from tests.browser.conftest import ARTIFACTS, screenshot
from tests.browser.test_care_pathway import sign_in
from tests.care.conftest import course_a, eligible_a  # noqa: F401 - shared fixtures
from tests.dosing.conftest import cleared_session, lot_50  # noqa: F401 - shared fixtures
from tests.monitoring.test_services import recovering_session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TYPED_SET = {
    "systolic_bp": "122",
    "diastolic_bp": "76",
    "heart_rate": "70",
    "spo2": "85",  # the nurse meant 95
    "respiratory_rate": "14",
    "temperature": "36.7",
}


def test_a_mistyped_spo2_is_marked_entered_in_error_with_the_keyboard(
    live_server,
    browser,
    alice,
    nina,
    cleared_session,  # noqa: F811 - imported fixture
    lot_50,  # noqa: F811 - imported fixture
):
    session = recovering_session(
        alice=alice, nina=nina, session=cleared_session, lot=lot_50, ended_minutes_ago=125
    )
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_server.url, "nina")
    page.goto(f"{live_server.url}/sessions/{session.pk}/")

    # The set, from the keyboard: Enter in the MOAA/S select records it.
    for field, value in TYPED_SET.items():
        page.fill(f"#id_{field}", value)
    page.select_option("#id_moaas", "5")
    page.press("#id_moaas", "Enter")
    expect(page.get_by_text("Critical alert: Low oxygen saturation").first).to_be_visible()
    expect(page.locator('form[aria-label="Acknowledge: Low oxygen saturation"]')).to_have_count(1)
    screenshot(page, "observation-void-alert")
    assert Alert.objects.get(session=session, code="hypoxemia").severity == "critical"

    # The discharge criteria are blocked by it.
    page.goto(f"{live_server.url}/sessions/{session.pk}/discharge/")
    blocked = page.locator('tr[data-code="no_open_critical_alert"]')
    expect(blocked).to_contain_text("Not met")
    expect(blocked).to_contain_text("open: Low oxygen saturation")

    # Back on the session page, the SpO2 of the set just recorded: its link is reached and
    # followed with the keyboard (focus, Enter), the reason typed where the focus lands, Tab to
    # the button, Enter.
    page.goto(f"{live_server.url}/sessions/{session.pk}/")
    typo = Observation.objects.get(session=session, code="spo2", value=85)
    link = page.get_by_role("link", name=f"Mark SpO2 85 % at {typo_time(typo)} as entered in error")
    expect(link).to_have_count(1)
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/observations/{typo.pk}/void/")
    reason = page.get_by_label("Reason")
    expect(reason).to_be_focused()
    # Nothing typed yet: the refusal says why, and nothing is written.
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Mark entered in error")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator('[data-code="reason_required"]')).to_have_text(
        "Say why the value was entered in error."
    )
    screenshot(page, "observation-void-reason-required")
    typo.refresh_from_db()
    assert typo.voided_at is None
    reason.focus()
    page.keyboard.type("Typed 85 for 95; the probe read 95 %")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/sessions/{session.pk}/#recorded-values")

    expect(page.get_by_text("SpO2 85 % at")).to_be_visible()
    struck = page.locator(f'.recorded-values .voided[data-observation="{typo.pk}"]')
    expect(struck.locator("s")).to_have_text("85")
    expect(struck).to_contain_text("Entered in error — Nina")
    expect(struck).to_contain_text("Typed 85 for 95; the probe read 95 %")
    expect(page.locator(".alert-item", has_text="Low oxygen saturation").first).to_contain_text(
        "value entered in error"
    )
    # Its alert is history, no longer a task to acknowledge.
    expect(page.locator('form[aria-label="Acknowledge: Low oxygen saturation"]')).to_have_count(0)
    screenshot(page, "observation-void-session")
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("table.recorded-values").screenshot(path=str(ARTIFACTS / "observation-void-values.png"))
    history = page.locator("details", has_text="All alerts of this session")
    history.locator("summary").click()
    expect(history.locator(".alert-item", has_text="Low oxygen saturation")).to_contain_text("raised")
    history.screenshot(path=str(ARTIFACTS / "observation-void-alert-history.png"))
    typo.refresh_from_db()
    assert typo.voided_by == nina and typo.void_reason == "Typed 85 for 95; the probe read 95 %"

    # The discharge criteria are no longer blocked by it.
    page.goto(f"{live_server.url}/sessions/{session.pk}/discharge/")
    cleared = page.locator('tr[data-code="no_open_critical_alert"]')
    expect(cleared).to_contain_text("Met")
    expect(cleared).to_contain_text("none open")
    screenshot(page, "observation-void-discharge")
    context.close()


def typo_time(observation) -> str:
    from zoneinfo import ZoneInfo

    return observation.observed_at.astimezone(ZoneInfo(observation.session.clinic.timezone)).strftime("%H:%M")
