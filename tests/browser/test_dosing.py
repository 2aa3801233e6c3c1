"""Journey (issue 4): a prescriber orders the dose; a nurse's first check with a wrong weight is
refused, the second matches; the nurse gives the infusion with a rate change and stops it early;
the session is recovering and the register shows the dispense and the witnessed waste."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from kapstone.accounts.models import Role, User
from kapstone.care.models import CareSession
from kapstone.care.services import course_enrol, day_of_checks_record, session_transition
from kapstone.dosing.models import DoseOrder
from kapstone.inventory.models import Product, RegisterEntry, StorageLocation
from kapstone.inventory.services import location_create, lot_receive, product_create
from kapstone.patients.models import Patient
from kapstone.patients.services import clinic_today, consent_record
from kapstone.screening.services import screening_record
from tests.browser.conftest import screenshot
from tests.browser.test_care_pathway import sign_in
from tests.care.conftest import ELIGIBLE
from tests.care.test_sessions import SERVICE_INPUTS
from tests.conftest import make_user, new_patient, record_liver_panel
from tests.dosing.helpers import as_if_earlier, record_baseline

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@dataclass
class ClearedDosing:
    """Today's first dosing session of a new KARE patient, cleared by the day-of checks, with the
    staff who handle it and a safe holding the 50 mg/mL product (no lot yet)."""

    prescriber: User
    nurse: User
    admin: User
    patient: Patient
    session: CareSession
    location: StorageLocation
    product: Product
    today: date


def cleared_dosing_today(clinic, *, mrn: str, given_name: str, family_name: str, birth_date: date, sex: str):
    prescriber = make_user("priya", clinic, Role.PRESCRIBER)
    nurse = make_user("noor", clinic, Role.NURSE)
    admin = make_user("alex", clinic, Role.ADMIN)
    patient = new_patient(
        prescriber,
        clinic,
        mrn=mrn,
        given_name=given_name,
        family_name=family_name,
        birth_date=birth_date,
        sex_at_birth=sex,
        weight_kg="80",
    )
    consent_record(
        actor=prescriber,
        patient=patient,
        kind="treatment",
        status="granted",
        effective_on=date(2026, 1, 5),
        document_version="2026-01",
    )
    screening_record(actor=prescriber, patient=patient, answers=ELIGIBLE)
    today = clinic_today(clinic)
    course = course_enrol(
        actor=prescriber, patient=patient, protocol_slug="kare-alcohol-grabski-2022", start_date=today
    )
    session = course.sessions.filter(kind="dosing").order_by("order").first()
    session.scheduled_date = today
    session.save(update_fields=["scheduled_date"])
    # The patient arrived two hours ago (so a dose may be charted as started in the past).
    arrived = timezone.now() - timedelta(hours=2)
    session = session_transition(actor=nurse, session=session, to="checked_in", at=arrived)
    day_of_checks_record(
        actor=nurse, session=session, inputs=SERVICE_INPUTS, at=arrived + timedelta(minutes=5)
    )
    record_liver_panel(prescriber, patient, taken_on=today)  # the liver gate's baseline
    location = location_create(actor=admin, clinic=clinic, name="Main safe")
    product = product_create(
        actor=admin, name="Ketamine HCl", ndc="00000-0050-10", strength_mg_per_ml="50", vial_volume_ml="10"
    )
    return ClearedDosing(prescriber, nurse, admin, patient, session, location, product, today)


def test_order_verify_administer_and_register(live_server, browser, clinic_a):
    setup = cleared_dosing_today(
        clinic_a,
        mrn="A-8001",
        given_name="Sage",
        family_name="Marrowdale",
        birth_date=date(1971, 6, 9),
        sex="male",
    )
    admin, session, location, product, today = (
        setup.admin,
        setup.session,
        setup.location,
        setup.product,
        setup.today,
    )
    lot = lot_receive(
        actor=admin,
        clinic=clinic_a,
        location=location,
        product=product,
        lot_number="K50-DEMO",
        expiry=today + timedelta(days=300),
        amount_mg=Decimal("1500"),
        received_at=timezone.now() - timedelta(days=1),  # in the safe before the dose started
    )

    # The prescriber orders from the protocol's rule: 0.8 mg/kg × 80 kg = 64 mg over 40 min.
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_server.url, "priya")
    page.goto(f"{live_server.url}/sessions/{session.pk}/")
    page.get_by_role("link", name="Order the dose").click()
    page.fill("#id_bag_ml", "100")
    page.get_by_role("button", name="Recalculate").click()
    page.get_by_text("64.0 mg").first.wait_for()
    page.locator("#pk-chart .main-svg").first.wait_for()  # the PK curve is drawn
    screenshot(page, "20-dose-order-with-pk")
    page.get_by_role("button", name="Sign order").click()
    page.get_by_text("A second clinician must now verify it").wait_for()
    order = DoseOrder.objects.get(session=session)
    context.close()

    # The nurse checks blind: a wrong weight is refused, the right one verifies.
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_server.url, "noor")
    page.goto(f"{live_server.url}/dose-orders/{order.pk}/")
    assert "hidden until your check is accepted" in page.content()
    page.fill("#id_weight_kg", "88")
    page.fill("#id_concentration_mg_per_ml", "50")
    page.get_by_role("button", name="Verify").click()
    page.locator('[data-code="verification_mismatch"]').wait_for()  # the message, without the code shown
    screenshot(page, "21-verification-mismatch")
    assert DoseOrder.objects.get(pk=order.pk).status == "ordered"
    page.fill("#id_weight_kg", "80")
    page.fill("#id_concentration_mg_per_ml", "50")
    page.get_by_role("button", name="Verify").click()
    page.get_by_text("Verified: the values match").wait_for()

    # Time passes (test set-up): the order was written and checked 40 min ago, and the baseline
    # set taken before the start. Start 30 min ago (backdated entry), slow the pump at 10 min,
    # stop early at 25 min.
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(clinic_a.timezone)
    as_if_earlier(order, minutes=40)
    start = (timezone.now() - timedelta(minutes=30)).astimezone(tz)
    record_baseline(setup.nurse, session, start - timedelta(minutes=3))
    page.reload()
    page.select_option("#id_lot_1", str(lot.pk))
    page.fill("#id_started_at", start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Start administration").click()
    page.get_by_text("Administration started").wait_for()
    assert CareSession.objects.get(pk=session.pk).status == "in_progress"
    page.select_option("#id_kind", "change")
    page.fill("#id_at", (start + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_rate", "100")
    page.fill("#id_reason", "Nausea: slowed the infusion")
    page.get_by_role("button", name="Record", exact=True).click()
    page.get_by_text("Rate changed").wait_for()
    page.fill("#id_ended_at", (start + timedelta(minutes=25)).strftime("%Y-%m-%dT%H:%M"))
    page.select_option("#id_witness", label="Priya")
    page.check("#id_stopped_early")
    page.fill("#id_stop_reason", "Patient asked to stop; distressing dissociation")
    page.get_by_role("button", name="End and record").click()
    page.get_by_text("Administration ended").wait_for()
    screenshot(page, "22-administration-record")
    assert CareSession.objects.get(pk=session.pk).status == "recovering"
    kinds = list(RegisterEntry.objects.filter(session=session).order_by("id").values_list("kind", flat=True))
    assert kinds == ["dispense", "waste", "administer"]
    context.close()

    # The clinic admin's register shows the dispense and the witnessed waste. (Another user: a
    # TOTP code is accepted once, and the nurse's code of this half-minute is spent.)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_server.url, "alex")
    page.goto(f"{live_server.url}/inventory/register/")
    register = page.locator("main").inner_text()
    assert "K50-DEMO" in register and "ispense" in register and "aste" in register
    screenshot(page, "23-register")
    context.close()
