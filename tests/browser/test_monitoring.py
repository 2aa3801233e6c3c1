"""Journeys at the bedside.

Issue 5: a nurse enters vitals at the bedside, the alert appears on the live board, is
acknowledged there with "Infusion paused", and the patient is later discharged.
Issue 11: Enter from the MOAA/S select records the set (defect 8); a paused infusion says so
(8); three implausible values are named beside their fields on the session page, the good values
kept, with and without JavaScript (7); the Aldrete form starts empty and refuses an unchosen item
(6). Screenshots on a desktop and a phone-sized viewport go to test-artifacts/."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db.models import F
from django.utils import timezone
from playwright.sync_api import expect

from kapstone.care.models import SessionEvent
from kapstone.dosing.models import Administration, RateEvent
from kapstone.dosing.services import administration_complete, administration_rate_event
from kapstone.monitoring.models import Alert, AlertEvent, Discharge, Observation, ScaleScore
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
    ScaleScore.objects.filter(session=session).update(observed_at=F("observed_at") - shift)
    Alert.objects.filter(session=session).update(
        raised_at=F("raised_at") - shift,
        escalation_from=F("escalation_from") - shift,
        resolved_at=F("resolved_at") - shift,
    )
    AlertEvent.objects.filter(alert__session=session).update(at=F("at") - shift)
    SessionEvent.objects.filter(session=session).update(at=F("at") - shift)


ALDRETE_ITEMS = ("activity", "respiration", "circulation", "consciousness", "oxygen_saturation")
PHONE = {"width": 390, "height": 844}


def record_aldrete(page, scores) -> None:
    """Choose each item of the modified Aldrete form (they start unchosen) and record the score."""
    for item, score in zip(ALDRETE_ITEMS, scores, strict=True):
        if score is not None:
            page.select_option(f"#id_{item}", str(score))
    page.get_by_role("button", name="Record the score").click()


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

    # The nurse records a full set from the keyboard on the session page: Enter in the last field
    # (the MOAA/S select) records it.
    bedside.goto(f"{live_server.url}/sessions/{running.pk}/")
    before = Observation.objects.filter(session=running).count()
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
    bedside.press("#id_moaas", "Enter")
    # Issue 5: the alert shows on the board, in colour and in words, within a second of the entry.
    expect(
        board.locator(".alert-item.sev-critical", has_text="Blood pressure critically high")
    ).to_be_visible(timeout=1000)
    assert Observation.objects.filter(session=running).count() == before + 7
    expect(board.locator(".alert-item.sev-critical .sev")).to_have_text("Critical")
    # The set went through htmx, which then reloads the session page (same address): wait for the
    # reloaded page's message rather than a load state the old page already has.
    expect(bedside.get_by_text("Critical alert: Blood pressure critically high").first).to_be_visible()
    bedside.wait_for_selector("#vitals-chart .main-svg")
    screenshot(board, "monitoring-board")
    screenshot(bedside, "monitoring-session-chart")
    bedside.locator("#vitals-chart").screenshot(path=str(ARTIFACTS / "monitoring-session-chart-only.png"))

    form = board.locator('form[aria-label="Acknowledge: Blood pressure critically high"]')
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
    expect(board.locator(".alert-item", has_text="Blood pressure critically high")).to_contain_text(
        "acknowledged (infusion paused by Nina)"
    )
    alert = Alert.objects.get(session=running, code="hypertension_critical")
    assert alert.status == "acknowledged" and alert.action == "infusion_paused"
    assert RateEvent.objects.filter(administration__order__session=running, kind="pause").count() == 1
    # Defect 8: the board and the session page say the infusion is paused, and since when.
    pause = RateEvent.objects.get(administration__order__session=running, kind="pause")
    since = pause.at.astimezone(ZoneInfo(running.clinic.timezone)).strftime("%H:%M")
    expect(board.get_by_text(f"Infusion paused (since {since})")).to_be_visible(timeout=1500)
    bedside.goto(f"{live_server.url}/sessions/{running.pk}/")
    expect(bedside.locator("#dose-h + p .state")).to_have_text(f"Infusion paused (since {since})")
    expect(bedside.get_by_text("Being given")).to_have_count(0)
    screenshot(bedside, "monitoring-session-paused")

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
    bedside.reload()
    expect(bedside.locator("#dose-h + p .state")).to_have_text("Being given")
    administration_complete(actor=nina, administration=administration, ended_at=timezone.now(), witness=alice)
    _let_time_pass(running, 130)
    vitals_record(actor=nina, session=running, observations=vitals_set(timezone.now() - timedelta(seconds=5)))

    # Discharge waits for dissociation to resolve: the page says so until a CADSS after the dose.
    bedside.goto(f"{live_server.url}/sessions/{running.pk}/discharge/")
    expect(bedside.get_by_text("Discharge waits for dissociation to resolve")).to_be_visible()
    scale_record(
        actor=nina,
        session=running,
        scale="cadss",
        answers=[0] * 23,
        observed_at=timezone.now() - timedelta(seconds=4),
    )
    bedside.goto(f"{live_server.url}/sessions/{running.pk}/discharge/")
    expect(bedside.get_by_text("Discharge waits for dissociation to resolve")).to_have_count(0)
    record_aldrete(bedside, [2, 2, 2, 2, 2])
    bedside.wait_for_url(f"**/sessions/{running.pk}/discharge/")
    expect(bedside.get_by_text("Modified Aldrete 10 recorded.")).to_be_visible()
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


BAD_SET = {
    "systolic_bp": "400",
    "diastolic_bp": "80",
    "heart_rate": "-5",
    "spo2": "97",
    "respiratory_rate": "14",
    "temperature": "45",
}
BAD_MESSAGES = {
    "systolic_bp": "Systolic BP 400 mmHg is not possible (40–300 mmHg). Nothing was saved.",
    "heart_rate": "Heart rate −5 /min is not possible (20–250 /min). Nothing was saved.",
    "temperature": "Temperature 45 °C is not possible (25–44 °C). Nothing was saved.",
}


def _fill_bad_set(page) -> None:
    for field, value in BAD_SET.items():
        page.fill(f"#id_{field}", value)
    page.select_option("#id_moaas", "5")


def _expect_every_error_beside_its_field(page) -> None:
    for field, message in BAD_MESSAGES.items():
        block = page.locator(f".vitals-form .field-{field}")
        expect(block).to_have_class(re.compile(r"\bhas-error\b"))
        expect(block.locator(".error")).to_have_text(message)
    for field in ("diastolic_bp", "spo2", "respiratory_rate"):
        expect(page.locator(f".vitals-form .field-{field}.has-error")).to_have_count(0)
    for field, value in BAD_SET.items():  # every value kept as typed
        expect(page.locator(f"#id_{field}")).to_have_value(value)
    expect(page.locator("#id_moaas")).to_have_value("5")


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, PHONE], ids=["desktop", "phone"])
def test_three_implausible_values_are_named_beside_their_fields_on_the_session_page(
    live_server,
    browser,
    nina,
    running,  # noqa: F811 - imported fixture
    viewport,
):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_server.url, "nina")
    session_url = f"{live_server.url}/sessions/{running.pk}/"
    page.goto(session_url)
    before = Observation.objects.filter(session=running).count()
    # The Time field shows the whole date and time.
    time_box = page.locator("#id_observed_at").bounding_box()
    assert time_box["width"] >= 200, time_box
    _fill_bad_set(page)
    page.press("#id_moaas", "Enter")  # defect 8: Enter from the last field records (or refuses) the set
    expect(page.locator(".vitals-form .field-systolic_bp.has-error")).to_be_visible()
    _expect_every_error_beside_its_field(page)
    assert page.url == session_url  # still the session page, swapped in place
    expect(page.locator("#monitoring-h")).to_be_visible()
    expect(page.locator("#id_systolic_bp")).to_be_focused()  # the first field in error
    assert Observation.objects.filter(session=running).count() == before
    name = "desktop" if viewport["width"] > 800 else "phone"
    page.locator("#record-vitals").scroll_into_view_if_needed()
    screenshot(page, f"monitoring-vitals-refused-{name}")
    page.locator("#record-vitals").screenshot(
        path=str(ARTIFACTS / f"monitoring-vitals-form-refused-{name}.png")
    )
    # Corrected in place, the set is recorded.
    page.fill("#id_systolic_bp", "128")
    page.fill("#id_heart_rate", "76")
    page.fill("#id_temperature", "36.9")
    page.press("#id_temperature", "Enter")
    expect(page.get_by_text("Vital signs recorded. No alert.")).to_be_visible()  # the page reloaded
    assert page.url == session_url
    assert Observation.objects.filter(session=running).count() == before + 7
    page.wait_for_selector("#vitals-chart .main-svg")
    page.locator("#vitals-chart").screenshot(path=str(ARTIFACTS / f"monitoring-session-chart-{name}.png"))
    context.close()


def test_without_javascript_the_session_page_comes_back_with_every_error(
    live_server,
    browser,
    nina,
    running,  # noqa: F811 - imported fixture
):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_server.url, "nina")
    page.goto(f"{live_server.url}/sessions/{running.pk}/")
    before = Observation.objects.filter(session=running).count()
    _fill_bad_set(page)
    page.get_by_role("button", name="Record vitals").click()
    page.wait_for_load_state()
    # The whole session page (its heading, the dose and monitoring panels), not a bare form.
    expect(page.locator("h1")).to_have_text(running.title)
    expect(page.locator("#dose-h")).to_be_visible()
    expect(page.locator("#monitoring-h")).to_be_visible()
    _expect_every_error_beside_its_field(page)
    assert Observation.objects.filter(session=running).count() == before
    screenshot(page, "monitoring-vitals-refused-no-js")
    context.close()


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, PHONE], ids=["desktop", "phone"])
def test_the_aldrete_form_starts_empty_and_refuses_an_unchosen_item(
    live_server,
    browser,
    alice,
    nina,
    cleared_session,  # noqa: F811 - imported fixture
    lot_50,  # noqa: F811 - imported fixture
    viewport,
):
    from tests.monitoring.test_services import recovering_session

    session = recovering_session(
        alice=alice, nina=nina, session=cleared_session, lot=lot_50, ended_minutes_ago=30
    )
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_server.url, "nina")
    page.goto(f"{live_server.url}/sessions/{session.pk}/discharge/")
    for item in ALDRETE_ITEMS:
        expect(page.locator(f"#id_{item}")).to_have_value("")
        expect(page.locator(f"#id_{item} option:checked")).to_have_text("Choose a score")
    scores = ScaleScore.objects.filter(session=session, scale="aldrete").count()
    # One click records nothing: every item must be chosen.
    page.get_by_role("button", name="Record the score").click()
    expect(page.locator(".form-errors")).to_contain_text(
        "Choose a score for each item: Activity, Respiration, Circulation, Consciousness, Oxygen saturation."
    )
    assert ScaleScore.objects.filter(session=session, scale="aldrete").count() == scores
    # Two items left unchosen: both named, the three chosen kept.
    record_aldrete(page, [2, None, 1, 2, None])
    expect(page.locator(".form-errors")).to_contain_text(
        "Choose a score for each item: Respiration, Oxygen saturation. Nothing was saved."
    )
    expect(page.locator(".field:has(#id_respiration) .error")).to_have_text("Choose a score for Respiration.")
    expect(page.locator("#id_activity")).to_have_value("2")
    expect(page.locator("#id_circulation")).to_have_value("1")
    assert ScaleScore.objects.filter(session=session, scale="aldrete").count() == scores
    name = "desktop" if viewport["width"] > 800 else "phone"
    screenshot(page, f"monitoring-aldrete-refused-{name}")
    record_aldrete(page, [2, 2, 1, 2, 2])
    expect(page.get_by_text("Modified Aldrete 9 recorded.")).to_be_visible()
    assert ScaleScore.objects.filter(session=session, scale="aldrete", total=9).count() == 1
    screenshot(page, f"monitoring-discharge-criteria-{name}")
    context.close()
