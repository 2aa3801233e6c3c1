"""Journey (issue 11, defect 1): two weights on the day of dosing and a mistaken one.

The nurse weighs the patient twice (70.0 kg, then 72.0 kg), then enters 92.0 kg by mistake and
voids it with a reason: the chart shows 72.0 kg in force and the voided weight struck through.
The prescriber's order form calculates on 72.0 kg (0.8 mg/kg → 57.6 mg) and the nurse's blind
check with the chart's weight passes.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from kapstone.dosing.models import DoseOrder
from kapstone.patients.models import BodyMeasurement
from tests.browser.conftest import screenshot
from tests.browser.test_care_pathway import sign_in
from tests.browser.test_dosing import cleared_dosing_today

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def record_weight(page, base_url: str, patient_id: int, kg: str) -> None:
    page.goto(f"{base_url}/patients/{patient_id}/")
    page.get_by_role("link", name="Record weight").click()
    # The time is offered as now, in the clinic's time zone; the nurse keeps it.
    assert page.input_value("#id_measured_at")
    page.fill("#id_weight_kg", kg)
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Weight and height: saved.").wait_for()


def test_same_day_weights_order_on_the_later_and_a_void_is_struck_through(live_server, browser, clinic_a):
    setup = cleared_dosing_today(
        clinic_a,
        mrn="A-8101",
        given_name="Rowan",
        family_name="Ashcombe",
        birth_date=date(1975, 4, 12),
        sex="female",
    )
    patient, session = setup.patient, setup.session
    base = live_server.url

    # The nurse: two weighings, then a slip voided with its reason.
    nurse_context = browser.new_context(viewport={"width": 1280, "height": 1000})
    nurse = nurse_context.new_page()
    nurse.set_default_timeout(10_000)
    sign_in(nurse, base, "noor")
    record_weight(nurse, base, patient.pk, "70.0")
    record_weight(nurse, base, patient.pk, "72.0")
    assert "72.0 kg" in nurse.locator("#weight-in-force").inner_text()
    record_weight(nurse, base, patient.pk, "92.0")
    assert "92.0 kg" in nurse.locator("#weight-in-force").inner_text()
    mistaken = BodyMeasurement.objects.get(patient=patient, weight_kg=Decimal("92.0"))
    nurse.locator(f"a[href$='/measurements/{mistaken.pk}/void/']").click()
    nurse.fill("#id_reason", "Typed 92 for 72")
    nurse.get_by_role("button", name="Void measurement").click()
    nurse.get_by_text("Void a measurement: saved.").wait_for()
    assert "72.0 kg" in nurse.locator("#weight-in-force").inner_text()
    voided_row = nurse.locator("table.measurements tr.voided")
    assert voided_row.locator("s", has_text="92.0").count() == 1
    assert "Typed 92 for 72" in voided_row.inner_text()
    screenshot(nurse, "weight-in-force-chart-with-void")

    # The prescriber's order form calculates on the later weight of the day.
    prescriber_context = browser.new_context(viewport={"width": 1280, "height": 900})
    prescriber = prescriber_context.new_page()
    prescriber.set_default_timeout(10_000)
    sign_in(prescriber, base, "priya")
    prescriber.goto(f"{base}/sessions/{session.pk}/")
    prescriber.get_by_role("link", name="Order the dose").click()
    prescriber.fill("#id_bag_ml", "100")
    prescriber.get_by_role("button", name="Recalculate").click()
    arithmetic = prescriber.locator("table.arithmetic")
    arithmetic.get_by_text("57.6 mg").first.wait_for()
    assert "72.0 kg" in arithmetic.inner_text() and "70.0 kg" not in arithmetic.inner_text()
    screenshot(prescriber, "weight-in-force-order-form")
    prescriber.get_by_role("button", name="Sign order").click()
    prescriber.get_by_text("A second clinician must now verify it").wait_for()
    order = DoseOrder.objects.get(session=session)
    assert (order.weight_kg, order.dose_mg) == (Decimal("72.0"), Decimal("57.6"))
    prescriber_context.close()

    # The nurse's blind check with the weight the chart shows passes.
    nurse.goto(f"{base}/patients/{patient.pk}/")
    chart_weight = nurse.locator("#weight-in-force").inner_text().split(" kg")[0].strip()
    nurse.goto(f"{base}/dose-orders/{order.pk}/")
    nurse.fill("#id_weight_kg", chart_weight)
    nurse.fill("#id_concentration_mg_per_ml", "50")
    nurse.get_by_role("button", name="Verify").click()
    nurse.get_by_text("Verified: the values match").wait_for()
    assert DoseOrder.objects.get(pk=order.pk).status == "verified"
    screenshot(nurse, "weight-in-force-verified")
    nurse_context.close()
