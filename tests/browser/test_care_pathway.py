"""Journey (issue 3): a prescriber screens a patient, approves a needs-review screening with a
reason, is refused KARE (its own criteria are not answered), enrols them in Dakwar 2020 and sees
the schedule on the chart; a nurse checks the first dosing
session in, records the day-of checks and the session is cleared."""

from __future__ import annotations

from datetime import date

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from kapstone.accounts.models import Role
from kapstone.care.models import CareSession, TreatmentCourse
from kapstone.patients.services import clinic_today, consent_record
from kapstone.screening.models import Screening
from tests.browser.conftest import screenshot
from tests.conftest import PASSWORD, make_user, new_patient

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, base_url: str, username: str) -> None:
    from kapstone.accounts.models import User

    device, _ = TOTPDevice.objects.get_or_create(
        user=User.objects.get(username=username), name="phone", defaults={"confirmed": True}
    )
    page.goto(base_url + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.press("#id_password", "Enter")
    page.wait_for_url("**/login/verify/**")
    page.fill("#id_token", f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}")
    page.press("#id_token", "Enter")
    page.wait_for_url(lambda url: "/login/" not in url)


def test_screen_approve_enrol_then_check_in_and_clear(live_server, browser, clinic_a):
    prescriber = make_user("priya", clinic_a, Role.PRESCRIBER)
    make_user("noor", clinic_a, Role.NURSE)
    patient = new_patient(
        prescriber,
        clinic_a,
        mrn="A-7001",
        given_name="Wren",
        family_name="Thistledown",
        birth_date=date(1978, 3, 2),
        sex_at_birth="male",
    )
    consent_record(
        actor=prescriber,
        patient=patient,
        kind="treatment",
        status="granted",
        effective_on=date(2026, 1, 5),
        document_version="2026-01",
    )

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_server.url, "priya")

    # Screen: every answer "no" except a relevant medication; blood pressure elevated → needs review.
    page.goto(f"{live_server.url}/patients/{patient.pk}/screenings/new/")
    for radio in page.locator("input[type=radio][value=no]").all():
        radio.check()
    page.check("input[name=cns_depressant_use][value=yes]")
    page.fill("input[name=systolic_bp]", "148")
    page.fill("input[name=diastolic_bp]", "86")
    page.fill("input[name=age_years]", "48")
    screenshot(page, "10-screening-form")
    page.get_by_role("button", name="Save screening").click()
    page.wait_for_url(f"**/patients/{patient.pk}/screenings/")
    assert Screening.objects.get(patient=patient).decision == "needs_review"
    assert "blood_pressure_elevated" in page.content() and "cns_depressant_use" in page.content()

    # Approve with a reason.
    page.check("input[name=outcome][value=approve]")
    page.fill(
        "textarea[name=reason], input[name=reason]",
        "Repeat BP 138/84; benzodiazepine tapered, last dose 5 days ago.",
    )
    page.get_by_role("button", name="Sign off").click()
    page.get_by_text("Approved").first.wait_for()
    screenshot(page, "11-screening-approved")

    # KARE has the trial's own criteria, which this screening did not answer: refused on the
    # form, in words, with the choice kept and nothing written.
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    page.get_by_role("link", name="Enrol in a protocol").click()
    page.select_option("#id_protocol", "kare-alcohol-grabski-2022@1")
    page.fill("#id_start_date", clinic_today(clinic_a).isoformat())
    page.get_by_role("button", name="Enrol and schedule").click()
    page.get_by_text("its own eligibility criteria need answers").wait_for()
    assert page.locator("#id_protocol").input_value() == "kare-alcohol-grabski-2022@1"
    assert not TreatmentCourse.objects.filter(patient=patient).exists()

    # Dakwar 2020 (alcohol, no criteria of its own beyond the general screening) is enrolled.
    page.select_option("#id_protocol", "ketamine-met-alcohol-dakwar-2020@1")
    page.fill("#id_start_date", clinic_today(clinic_a).isoformat())
    page.get_by_role("button", name="Enrol and schedule").click()
    page.wait_for_url("**/courses/**")
    course = TreatmentCourse.objects.get(patient=patient)
    assert course.sessions.count() == 6
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    timeline = page.locator("ol.timeline")
    assert timeline.locator("li").count() == 6
    assert "Ketamine infusion (quit day)" in timeline.inner_text()
    screenshot(page, "12-chart-with-schedule")
    context.close()

    # The nurse checks in the first dosing session and records the day-of checks.
    dosing = course.sessions.filter(kind="dosing").order_by("order").first()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_server.url, "noor")
    page.goto(f"{live_server.url}/sessions/{dosing.pk}/")
    page.get_by_role("button", name="Check in").click()
    page.get_by_text("Session is now checked in").wait_for()
    page.get_by_role("link", name="Day-of checks").click()
    page.fill("#id_breath_alcohol_g_per_210l", "0.000")
    page.select_option("#id_urine_drug_screen_result", "negative")
    page.fill("#id_systolic_bp", "132")
    page.fill("#id_diastolic_bp", "82")
    page.fill("#id_fasting_hours", "7")
    page.check("#id_escort_confirmed")
    page.fill("#id_ciwa_ar_total", "3")
    # The medicines asked at every session: keyboard-only, as a nurse beside the patient would.
    for name in (
        "benzodiazepine_use",
        "sedative_or_opioid_use",
        "stimulant_use",
        "maoi_use",
        "theophylline_use",
    ):
        page.locator(f'input[name="{name}"][value="no"]').focus()
        page.keyboard.press("Space")
    for name in ("airway_clinician_present", "resuscitation_equipment_checked", "vital_signs_monitoring_available",
                 "prescriber_on_site"):  # fmt: skip
        page.locator(f"#id_{name}").focus()
        page.keyboard.press("Space")
    screenshot(page, "13-day-of-checks")
    page.get_by_role("button", name="Record checks").click()
    page.get_by_text("All day-of checks passed").wait_for()
    assert CareSession.objects.get(pk=dosing.pk).status == "cleared"
    assert page.locator(".state.big").inner_text() == "Cleared"
    screenshot(page, "14-session-cleared")
    context.close()
