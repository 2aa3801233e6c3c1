"""Journey (issue 11, defects 5 and 3): the nurse's independent check is blind, and the dose is
not started without a complete baseline set of vital signs.

The prescriber signs the order. The nurse sees on the session page that an order awaits her
check, and neither there nor on the verification page any number of the order; her check is
accepted and the full order is shown. She presses start: refused, naming the missing vital
signs. She records the baseline set on the session page; the start then succeeds."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import timezone

from kapstone.care.models import CareSession
from kapstone.dosing.models import Administration, DoseOrder
from kapstone.inventory.services import lot_receive
from tests.browser.conftest import screenshot
from tests.browser.test_care_pathway import sign_in
from tests.browser.test_dosing import cleared_dosing_today
from tests.dosing.test_blind_verification import numbers_shown

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

#: 0.8 mg/kg × 80 kg = 64 mg over 40 min at 50 mg/mL in a 100 mL bag: weight, dose, volume,
#: rates, concentrations, mg/kg and the infusion time, as a page could show them.
ORDER_NUMBERS = (
    "80",
    "80.0",
    "64",
    "64.0",
    "1.28",
    "1.60",
    "1.6",
    "150",
    "150.00",
    "0.64",
    "0.640",
    "50",
    "50.00",
)
ORDER_RULE_NUMBERS = ("0.8", "0.800", "40")
MISSING = (
    "Baseline vital signs missing: Blood pressure, heart rate, SpO2, respiratory rate, MOAA/S sedation score."
)


def new_page(browser, height: int = 1000):
    context = browser.new_context(viewport={"width": 1280, "height": height})
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page


def test_blind_check_then_no_start_without_the_baseline_set(live_server, browser, clinic_a):
    setup = cleared_dosing_today(
        clinic_a,
        mrn="A-8101",
        given_name="Wren",
        family_name="Larkspur",
        birth_date=date(1983, 2, 14),
        sex="female",
    )
    session, today = setup.session, setup.today
    from datetime import timedelta
    from decimal import Decimal

    lot = lot_receive(
        actor=setup.admin,
        clinic=clinic_a,
        location=setup.location,
        product=setup.product,
        lot_number="K50-GATE",
        expiry=today + timedelta(days=300),
        amount_mg=Decimal("1500"),
        # Delivered before the session: a start typed at this minute (the form shows minutes) must
        # find the lot in stock.
        received_at=timezone.now() - timedelta(hours=2),
    )

    # The prescriber signs the order (0.8 mg/kg × 80 kg = 64 mg over 40 min).
    context, page = new_page(browser, 900)
    sign_in(page, live_server.url, "priya")
    page.goto(f"{live_server.url}/sessions/{session.pk}/dose-order/new/")
    page.fill("#id_bag_ml", "100")
    page.get_by_role("button", name="Recalculate").click()
    page.get_by_text("64.0 mg").first.wait_for()
    page.get_by_role("button", name="Sign order").click()
    page.get_by_text("A second clinician must now verify it").wait_for()
    order = DoseOrder.objects.get(session=session)
    context.close()

    # The nurse: the session page says an order awaits her check, and shows none of its numbers.
    context, page = new_page(browser)
    sign_in(page, live_server.url, "noor")
    page.goto(f"{live_server.url}/sessions/{session.pk}/")
    page.get_by_text("Order awaiting your independent check").wait_for()
    assert numbers_shown(page.content(), ORDER_NUMBERS) == []
    assert page.locator("#pk-figure").count() == 0
    screenshot(page, "30-session-order-awaiting-check")

    # The verification page: patient, session, protocol and route, and nothing to copy from.
    page.get_by_role("link", name="Order awaiting your independent check").click()
    page.get_by_role("heading", name="Ketamine IV: awaiting your independent check").wait_for()
    html = page.content()
    assert numbers_shown(html, ORDER_NUMBERS + ORDER_RULE_NUMBERS) == []
    assert "Larkspur, Wren (A-8101)" in html and session.course.protocol_title in html
    screenshot(page, "31-blind-verification")
    page.fill("#id_weight_kg", "80")
    page.fill("#id_concentration_mg_per_ml", "50")
    page.get_by_role("button", name="Verify").click()
    page.get_by_text("Verified: the values match").wait_for()
    page.get_by_role("heading", name="64.0 mg ketamine IV").wait_for()  # the full order, now

    # Before she presses start, the page names what is missing; pressing start is refused.
    banner = page.locator(".start-gate")
    assert MISSING in banner.inner_text()
    page.select_option("#id_lot_1", str(lot.pk))
    page.get_by_role("button", name="Start administration").click()
    page.locator(".start-gate", has_text="Start refused.").wait_for()
    assert MISSING in page.locator(".start-gate").inner_text()
    screenshot(page, "32-start-refused-no-baseline")
    assert Administration.objects.count() == 0
    assert CareSession.objects.get(pk=session.pk).status == "cleared"

    # She records the baseline set on the session page (the time defaults to now).
    page.get_by_role("link", name="session page").first.click()
    page.wait_for_url(f"**/sessions/{session.pk}/")
    for field, value in (
        ("systolic_bp", "128"),
        ("diastolic_bp", "82"),
        ("heart_rate", "76"),
        ("spo2", "98"),
        ("respiratory_rate", "14"),
        ("temperature", "36.7"),
    ):
        page.fill(f"#id_{field}", value)
    page.select_option("#id_moaas", "5")
    page.locator("#id_temperature").press("Enter")
    page.wait_for_load_state()
    page.wait_for_function(
        "() => !document.body.innerText.includes('Baseline vital signs missing')", timeout=10_000
    )

    # The start now succeeds at the default time.
    page.goto(f"{live_server.url}/dose-orders/{order.pk}/")
    assert page.locator(".start-gate").count() == 0
    page.select_option("#id_lot_1", str(lot.pk))
    page.get_by_role("button", name="Start administration").click()
    page.get_by_text("Administration started").wait_for()
    screenshot(page, "33-started-after-baseline")
    assert CareSession.objects.get(pk=session.pk).status == "in_progress"
    administration = Administration.objects.get(order=order)
    assert administration.overrides.count() == 0
    context.close()
