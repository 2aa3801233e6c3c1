"""Journey: a nurse signs in (password + TOTP), searches a patient, opens the chart."""

from __future__ import annotations

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from kapstone.accounts.models import User
from kapstone.demo.seed import DEMO_PASSWORD, seed_demo
from kapstone.patients.models import Patient
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def code_for(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def test_nurse_signs_in_searches_and_opens_chart(live_server, page):
    seed_demo(patients_per_clinic=12, follow_up_per_protocol=0)
    nurse = User.objects.get(username="nurse.north")
    device = TOTPDevice.objects.create(user=nurse, name="phone", confirmed=True)
    target = Patient.objects.filter(clinic__slug="north").order_by("mrn")[3]
    other_clinic = Patient.objects.filter(clinic__slug="river").order_by("mrn").first()

    page.goto(live_server.url + "/")
    assert "/accounts/login/" in page.url
    screenshot(page, "01-login")
    # Keyboard only: type, Tab, type, Enter. Typing waits for the autofocus to land: keys sent
    # before it are lost (a code of 5 digits was once refused this way).
    expect(page.locator("#id_username")).to_be_focused()
    page.keyboard.type("nurse.north")
    page.keyboard.press("Tab")
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/accounts/login/verify/**")
    expect(page.locator("#id_token")).to_be_focused()
    page.keyboard.type(code_for(device))
    page.keyboard.press("Enter")
    page.wait_for_url("**/patients/**")

    # The search box has focus on arrival; results update as one types (htmx).
    expect(page.locator('[data-shortcut="/"]')).to_be_focused()
    page.keyboard.type(target.family_name)
    page.get_by_text(f"1 match for “{target.family_name}”").wait_for()
    row = page.get_by_role("link", name=f"{target.family_name}, {target.given_name}")
    assert page.locator("#patient-rows tbody tr").count() == 1
    assert page.locator("#patient-rows").inner_text().count(other_clinic.mrn) == 0
    screenshot(page, "02-patient-search")
    row.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/patients/{target.pk}/")
    heading = page.get_by_role("heading", level=1)
    assert heading.inner_text() == f"{target.family_name}, {target.given_name}"
    assert target.mrn in page.locator(".chart-head").inner_text()
    screenshot(page, "03-patient-chart")

    # Another clinic's patient is simply not there.
    response = page.goto(f"{live_server.url}/patients/{other_clinic.pk}/")
    assert response.status == 404
    assert other_clinic.family_name not in page.content()
