"""Journey (issue 5): a nurse enters vitals at the bedside, the alert appears on the live board,
is acknowledged there with "infusion_paused", and the patient is later discharged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone
from playwright.sync_api import expect

from kapstone.care.models import SessionEvent
from kapstone.dosing.models import Administration, RateEvent
from kapstone.dosing.services import administration_complete, administration_rate_event
from kapstone.monitoring.models import Alert, AlertEvent, Discharge, Observation
from kapstone.monitoring.services import scale_record, vitals_record
from kapstone.safety.services import adverse_event_report, adverse_event_review
from tests.browser.conftest import ARTIFACTS, screenshot
from tests.browser.test_care_pathway import sign_in
from tests.care.conftest import course_a, eligible_a  # noqa: F401 - shared fixtures
from tests.dosing.conftest import cleared_session, lot_50  # noqa: F401 - shared fixtures
from tests.monitoring.conftest import running, vitals_set  # noqa: F401 - shared fixtures
from tests.safety.conftest import serious_fields

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _let_time_pass(session, minutes: int) -> None:
    """Move the session's record back in time, as if ``minutes`` had passed since it was written."""
    shift = timedelta(minutes=minutes)
    Administration.objects.filter(order__session=session).update(
        started_at=F("started_at") - shift, ended_at=F("ended_at") - shift
    )
    RateEvent.objects.filter(administration__order__session=session).update(at=F("at") - shift)
    Observation.objects.filter(session=session).update(observed_at=F("observed_at") - shift)
    Alert.objects.filter(session=session).update(
        raised_at=F("raised_at") - shift,
        escalation_from=F("escalation_from") - shift,
        resolved_at=F("resolved_at") - shift,
    )
    AlertEvent.objects.filter(alert__session=session).update(at=F("at") - shift)
    SessionEvent.objects.filter(session=session).update(at=F("at") - shift)


def test_vitals_alert_on_board_acknowledge_pause_and_discharge(live_server, browser, alice, nina, running):  # noqa: F811 - imported fixture
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    bedside = context.new_page()
    bedside.set_default_timeout(10_000)
    sign_in(bedside, live_server.url, "nina")
    board = context.new_page()
    board.set_default_timeout(10_000)
    board.goto(f"{live_server.url}/monitoring/")
    assert board.get_by_text("Zzyzxfield, Avery").is_visible()
    # The board is polling its change check (204 while nothing changed).
    with board.expect_response(lambda r: "/monitoring/changes/" in r.url and r.status == 204):
        pass

    # A dissociation score earlier in the infusion (charted under the vitals with MOAA/S).
    scale_record(actor=nina, session=running, scale="cadss", answers=[1] * 23, observed_at=timezone.now())

    # The nurse records a full set from the keyboard on the session page: Enter submits.
    bedside.goto(f"{live_server.url}/sessions/{running.pk}/")
    for field, value in (
        ("systolic_bp", "185"),
        ("diastolic_bp", "95"),
        ("heart_rate", "88"),
        ("spo2", "97"),
        ("respiratory_rate", "14"),
        ("temperature", "36.8"),
    ):
        bedside.fill(f"#id_{field}", value)
    bedside.select_option("#id_moaas", "5")
    bedside.press("#id_temperature", "Enter")
    # Issue 5: the alert shows on the board, in colour and in words, within a second of the entry.
    expect(board.locator(".alert-item.sev-critical", has_text="hypertension_critical")).to_be_visible(
        timeout=1000
    )
    expect(board.locator(".alert-item.sev-critical .sev")).to_have_text("Critical")
    bedside.wait_for_load_state()
    assert bedside.get_by_text("Critical alert").first.is_visible()
    bedside.wait_for_selector("#vitals-chart .main-svg")
    screenshot(board, "monitoring-board")
    screenshot(bedside, "monitoring-session-chart")
    bedside.locator("#vitals-chart").screenshot(path=str(ARTIFACTS / "monitoring-session-chart-only.png"))

    form = board.locator('form[aria-label="Acknowledge hypertension_critical"]')
    form.locator("select[name=action]").select_option("infusion_paused")
    form.locator("input[name=note]").fill("Rechecking in 5 minutes")
    # Something else on the board changes while the nurse is typing: the board is redrawn (its
    # poller replaced) and what she entered in the acknowledgement form is kept.
    board.locator(".board-poll").evaluate("element => element.setAttribute('data-before-redraw', '')")
    scale_record(actor=nina, session=running, scale="cadss", answers=[0] * 23, observed_at=timezone.now())
    expect(board.locator(".board-poll[data-before-redraw]")).to_have_count(0, timeout=2000)
    expect(form.locator("input[name=note]")).to_have_value("Rechecking in 5 minutes")
    expect(form.locator("select[name=action]")).to_have_value("infusion_paused")
    form.get_by_role("button", name="Acknowledge").click()
    board.wait_for_url("**/monitoring/")
    expect(board.locator(".alert-item", has_text="hypertension_critical")).to_contain_text(
        "acknowledged (infusion paused by nina)"
    )
    alert = Alert.objects.get(session=running, code="hypertension_critical")
    assert alert.status == "acknowledged" and alert.action == "infusion_paused"
    assert RateEvent.objects.filter(administration__order__session=running, kind="pause").count() == 1

    # A serious adverse event reported elsewhere reaches the open board by itself, at the top and
    # in the patient's row, until a prescriber reviews it.
    event = adverse_event_report(actor=nina, patient=running.patient, session=running, **serious_fields())
    expect(board.locator(f'[data-notice="safety:serious_unreviewed:row:{event.pk}"]')).to_be_visible(
        timeout=1000
    )
    expect(board.locator(f'[data-notice="safety:serious_unreviewed:top:{event.pk}"]')).to_contain_text(
        "Serious adverse event awaiting a prescriber's review"
    )
    screenshot(board, "monitoring-board-serious-event")
    adverse_event_review(actor=alice, event=event, note="Observed 4 h; no further dosing this week.")
    expect(board.locator("[data-notice]")).to_have_count(0, timeout=1000)

    # The pressure settles; the infusion is resumed and completed; two hours and more pass.
    administration = Administration.objects.get(order__session=running)
    administration_rate_event(actor=nina, administration=administration, kind="resume", at=timezone.now())
    administration_complete(actor=nina, administration=administration, ended_at=timezone.now(), witness=alice)
    _let_time_pass(running, 130)
    vitals_record(actor=nina, session=running, observations=vitals_set(timezone.now() - timedelta(seconds=5)))

    bedside.goto(f"{live_server.url}/sessions/{running.pk}/discharge/")
    bedside.get_by_role("button", name="Record the score").click()  # Aldrete: every item at 2
    bedside.wait_for_url(f"**/sessions/{running.pk}/discharge/")
    bedside.check("#id_escort_confirmed")
    bedside.check("#id_driving_advice_given")
    screenshot(bedside, "monitoring-discharge")
    bedside.get_by_role("button", name="Discharge").click()
    bedside.wait_for_url(f"**/sessions/{running.pk}/")
    running.refresh_from_db()
    assert running.status == "discharged"
    assert Discharge.objects.get(session=running).criteria_met
    # The board, still open, drops the discharged patient by itself.
    expect(board.get_by_text("No session is in progress or recovering.")).to_be_visible(timeout=1500)
    expect(board.locator("table.monitoring-board")).to_have_count(0)
    context.close()
