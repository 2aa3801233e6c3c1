"""Issue 16: a bedside monitor's HL7 v2 stream, sent over MLLP by the simulator to the listener,
puts vital signs on the session and the alert they call for on the nurse's live board — nobody
types anything. (The command-line processes themselves are driven in tests/interop/test_hl7_cli.py;
here the listener runs in a thread of the test, against the live server's database.)"""

from __future__ import annotations

import asyncio
import re
import threading

import pytest
from playwright.sync_api import expect

from kapstone.accounts.models import Role
from kapstone.interop.hl7.mllp import MLLPClient, MLLPServer
from kapstone.interop.hl7.receive import receive_message
from kapstone.interop.hl7.simulator import MonitorFeed, ack_summary
from kapstone.monitoring.models import Alert, Observation
from tests.browser.conftest import screenshot
from tests.browser.test_care_pathway import sign_in
from tests.care.conftest import course_a, eligible_a  # noqa: F401 - shared fixtures
from tests.conftest import make_user
from tests.dosing.conftest import cleared_session, lot_50  # noqa: F401 - shared fixtures
from tests.monitoring.conftest import running  # noqa: F401 - shared fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class ListenerThread:
    """The MLLP listener with the real handler, on a port of the system's choosing."""

    def __init__(self, clinic, actor) -> None:
        self.server = MLLPServer(
            lambda raw, peer: receive_message(raw, clinic=clinic, actor=actor, sender=peer),
            host="127.0.0.1",
            port=0,
            workers=1,
        )
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.start())
        self.ready.set()
        self.loop.run_until_complete(self.server.serve_until_stopped())

    def __enter__(self) -> tuple[str, int]:
        self.thread.start()
        assert self.ready.wait(10)
        return self.server.address

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.server.request_stop)
        self.thread.join(30)
        assert not self.thread.is_alive()


def test_a_monitor_stream_puts_vitals_on_the_session_and_its_alert_on_the_board(
    live_server,
    browser,
    clinic_a,
    running,  # noqa: F811 - imported fixture
):
    monitor = make_user("monitor.a", clinic_a, Role.MONITOR)
    monitor.set_unusable_password()
    monitor.save(update_fields=["password"])
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    board = context.new_page()
    board.set_default_timeout(15_000)
    sign_in(board, live_server.url, "nina")
    board.goto(f"{live_server.url}/monitoring/")
    expect(board.get_by_text("Zzyzxfield, Avery")).to_be_visible()
    expect(board.get_by_text("Low oxygen saturation")).to_have_count(0)
    before = Observation.objects.filter(session=running).count()

    feed = MonitorFeed(running.patient.mrn, count=6, seed=7, desaturate=True, chair="CHAIR-03")
    with ListenerThread(clinic_a, monitor) as (host, port), MLLPClient(host, port) as client:
        summaries = [ack_summary(client.send(message)) for message in feed.stream()]
    assert [code for code, _, _ in summaries] == ["AA"] * 6, summaries

    # Six sets of six parameters (SpO2, heart rate, blood pressure ×2, respiration, temperature).
    assert Observation.objects.filter(session=running).count() - before == 36
    assert set(
        Observation.objects.filter(session=running).exclude(source="manual").values_list("code", flat=True)
    ) >= {"spo2", "heart_rate", "systolic_bp", "diastolic_bp"}
    assert Alert.objects.filter(session=running, code="hypoxemia", resolved_at__isnull=True).count() == 1

    # The board picks the new alert up by itself (it polls), in the nurse's words.
    expect(board.get_by_text("Low oxygen saturation").first).to_be_visible(timeout=20_000)
    expect(board.get_by_text(re.compile(r"SpO2 8\d % <")).first).to_be_visible()
    screenshot(board, "hl7-monitor-feed-board")
    context.close()
