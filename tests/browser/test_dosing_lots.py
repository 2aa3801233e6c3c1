"""Journey (issue 4): a nurse draws the dose from two vial lots (a third row added without
JavaScript), stops early with a witnessed waste from each lot, then corrects the record by an
amendment with reason and witness; the page shows the lots, the corrected value and its history."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from kapstone.dosing.models import Administration, AdministrationAmendment
from kapstone.dosing.services import dose_order_create, dose_order_verify
from kapstone.inventory.models import Lot, RegisterEntry
from kapstone.inventory.services import lot_receive, session_in_hand_mg
from tests.browser.conftest import screenshot
from tests.browser.test_care_pathway import sign_in
from tests.browser.test_dosing import cleared_dosing_today
from tests.dosing.helpers import record_baseline

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_two_lots_then_an_amendment(live_server, browser, clinic_a):
    setup = cleared_dosing_today(
        clinic_a,
        mrn="A-8002",
        given_name="Rowan",
        family_name="Ashcombe",
        birth_date=date(1979, 3, 2),
        sex="female",
    )
    prescriber, nurse, admin = setup.prescriber, setup.nurse, setup.admin
    session, location, product, today = setup.session, setup.location, setup.product, setup.today
    lots = [
        lot_receive(
            actor=admin,
            clinic=clinic_a,
            location=location,
            product=product,
            lot_number=number,
            expiry=today + timedelta(days=days),
            amount_mg=Decimal(mg),
            received_at=timezone.now() - timedelta(days=1),  # in the safe before the dose started
        )
        for number, days, mg in (("K50-OLD", 40, "44"), ("K50-NEW", 300, "1000"))
    ]
    # Charted afterwards: the dose was started 30 min ago, after its order, check and baseline set.
    tz = ZoneInfo(clinic_a.timezone)
    start = (timezone.now() - timedelta(minutes=30)).astimezone(tz)
    order = dose_order_create(
        actor=prescriber,
        session=session,
        mg_per_kg="0.8",
        concentration_mg_per_ml="50",
        bag_ml="100",
        at=start - timedelta(minutes=10),
    )
    order = dose_order_verify(
        actor=nurse,
        order=order,
        weight_kg="80",
        concentration_mg_per_ml="50",
        at=start - timedelta(minutes=5),
    )
    assert order.dose_mg == Decimal("64.0")
    record_baseline(nurse, session, start - timedelta(minutes=3))

    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_server.url, "noor")
    page.goto(f"{live_server.url}/dose-orders/{order.pk}/")
    # The last 44 mg of the old lot, the remaining 20 mg from the new one.
    page.select_option("#id_lot_1", str(lots[0].pk))
    page.fill("#id_mg_1", "44")
    page.fill("#id_started_at", start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Add another lot").click()
    page.locator("#id_lot_3").wait_for()  # a third row, the input kept, no script involved
    assert page.input_value("#id_mg_1") == "44"
    page.select_option("#id_lot_2", str(lots[1].pk))
    page.fill("#id_mg_2", "20")
    screenshot(page, "24-start-from-two-lots")
    page.get_by_role("button", name="Start administration").click()
    page.get_by_text("Administration started").wait_for()
    assert Lot.objects.get(pk=lots[0].pk).balance_mg == 0

    page.fill("#id_ended_at", (start + timedelta(minutes=25)).strftime("%Y-%m-%dT%H:%M"))
    page.select_option("#id_witness", label="Priya")
    page.check("#id_stopped_early")
    page.fill("#id_stop_reason", "Emergence reaction")
    page.get_by_role("button", name="End and record").click()
    page.get_by_text("Administration ended").wait_for()
    administration = Administration.objects.get(order=order)
    old_line, new_line = administration.lots.order_by("position")
    assert (old_line.given_mg, old_line.wasted_mg) == (Decimal("40.0"), Decimal("4.0"))  # 25 min × 1.6 mg/min
    assert (new_line.given_mg, new_line.wasted_mg) == (Decimal("0.0"), Decimal("20.0"))

    # Correct the waste of the new lot: only 15 mg had been drawn from it.
    page.select_option("#id_target", f"wasted_mg:{new_line.pk}")
    page.fill("#id_new_value", "15")
    page.fill("#id_reason", "Only 15 mg was drawn from the second vial; 5 mg stayed in it.")
    page.select_option("#id_witness", label="Priya")
    page.get_by_role("button", name="Record amendment").click()
    page.get_by_text("Amendment recorded").wait_for()
    page.locator("ol.amendments").wait_for()
    screenshot(page, "25-administration-two-lots-amended")
    amendment = AdministrationAmendment.objects.get()
    assert (amendment.old_value, amendment.new_value, amendment.witness) == ("20.0", "15.0", prescriber)
    assert Lot.objects.get(pk=lots[1].pk).balance_mg == Decimal("985.0")  # 1000 − 20 + 5
    assert RegisterEntry.objects.filter(lot=lots[1], kind="adjust").count() == 1
    for lot in lots:
        assert session_in_hand_mg(session, lot) == 0
    text = page.locator("main").inner_text()
    assert "K50-OLD" in text and "K50-NEW" in text and "amended" in text and "witnessed by Priya" in text
    context.close()
