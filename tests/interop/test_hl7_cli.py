"""``kapstone hl7 listen|simulate`` (kapstone/interop/management/commands/hl7.py).

The simulator is driven against an in-process listener with a recording handler; the listener's
refusals at start (no such clinic, no such account) and, end to end, ``kapstone hl7 simulate``
feeding a real ``kapstone hl7 listen`` process that stores the vitals and raises the hypoxemia
alert, then stops on SIGTERM with exit status 0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from itertools import pairwise
from pathlib import Path

import hl7
import pytest

from kapstone.interop.hl7.mllp import MLLPServer
from tests.care.conftest import course_a, eligible_a  # noqa: F401 - shared fixtures
from tests.cli.runner import run_kapstone, run_kapstone_in_transaction, run_kapstone_process
from tests.conftest import make_user
from tests.dosing.conftest import cleared_session, lot_50  # noqa: F401 - shared fixtures
from tests.interop.test_mllp import ack, control_id
from tests.monitoring.conftest import running  # noqa: F401 - shared fixtures
from tests.operations.test_worker_process import WorkerDatabase

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 60


class Listener:
    """An in-process MLLP listener on a free port, in a thread, answering with ``answer``."""

    def __init__(self, answer) -> None:
        self.received: list[tuple[float, str]] = []
        self.answer = answer
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _handle(self, raw: str, peer: str) -> str:
        self.received.append((time.monotonic(), raw))
        return self.answer(raw)

    def _run(self) -> None:
        async def main() -> None:
            self.server = MLLPServer(self._handle, host="127.0.0.1", port=0)
            await self.server.start()
            self.loop = asyncio.get_running_loop()
            self._ready.set()
            await self.server.serve_until_stopped()

        asyncio.run(main())

    def __enter__(self) -> Listener:
        self._thread.start()
        assert self._ready.wait(WAIT_S)
        self.port = self.server.address[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.server.request_stop)
        self._thread.join(WAIT_S)


def refusing(code: str):
    def answer(raw: str) -> str:
        return (
            ack(raw).replace("MSA|AA|", "MSA|AE|")
            + f"ERR||PID^1^3|207^Application internal error^HL70357|E|{code}^{code}^99KAP\r"
        )

    return answer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- simulate ---------------------------------------------------------------------------------


def test_simulate_sends_count_messages_prints_each_ack_and_exits_0_when_all_are_accepted():
    with Listener(ack) as listener:
        result = run_kapstone(
            "hl7", "simulate", "--port", str(listener.port), "--mrn", "N-1004", "--every", "0", "--count", "4",
            "--seed", "3", "--desaturate",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 5
    assert all(line.startswith(f"{i}/4 ") and line.endswith(": AA") for i, line in enumerate(lines[:4], 1))
    assert lines[-1] == "4 message(s) sent, all accepted (AA)."
    messages = [hl7.parse(raw) for _, raw in listener.received]
    assert len(messages) == 4
    assert {str(m.segment("PID")[3][0][0]) for m in messages} == {"N-1004"}
    assert len({control_id(raw) for _, raw in listener.received}) == 4
    spo2 = [str(obx[5]) for m in messages for obx in m.segments("OBX") if str(obx[3][0][0]) == "150456"]
    assert spo2[-1] == "86" and float(spo2[0]) >= 94
    assert "SpO2 86 %" in lines[3]


def test_simulate_waits_every_seconds_between_messages():
    with Listener(ack) as listener:
        result = run_kapstone(
            "hl7",
            "simulate",
            "--port",
            str(listener.port),
            "--mrn",
            "N-1004",
            "--every",
            "0.3",
            "--count",
            "3",
        )
    assert result.returncode == 0, result.stderr
    times = [at for at, _ in listener.received]
    assert all(b - a >= 0.29 for a, b in pairwise(times))


def test_simulate_exits_1_and_prints_the_error_code_when_a_message_is_refused():
    with Listener(refusing("no_active_session")) as listener:
        result = run_kapstone(
            "hl7", "simulate", "--port", str(listener.port), "--mrn", "N-1004", "--every", "0", "--count", "2"
        )
    assert result.returncode == 1
    assert result.stdout.count(": AE no_active_session") == 2
    assert "0 of 2 message(s) accepted (AA)" in result.stderr
    assert "Traceback" not in result.stderr


def test_simulate_exits_1_when_the_listener_closes_without_answering():
    def fail(raw: str) -> str:
        raise RuntimeError("the database is down")

    with Listener(fail) as listener:
        result = run_kapstone(
            "hl7", "simulate", "--port", str(listener.port), "--mrn", "N-1004", "--every", "0", "--count", "3"
        )
    assert result.returncode == 1
    assert "1/3 " in result.stdout and "no answer" in result.stdout
    assert "2/3 " not in result.stdout
    assert "0 of 3 message(s) accepted (AA)" in result.stderr


def test_simulate_exits_2_with_one_line_when_the_connection_is_refused():
    result = run_kapstone("hl7", "simulate", "--port", str(free_port()), "--mrn", "N-1004", "--count", "1")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "cannot connect to 127.0.0.1:" in result.stderr and "refused" in result.stderr
    assert "Traceback" not in result.stderr


def test_simulate_as_a_process_exits_2_when_the_connection_is_refused():
    result = run_kapstone_process(
        "hl7", "simulate", "--port", str(free_port()), "--mrn", "N-1004", "--count", "1"
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "cannot connect" in result.stderr


@pytest.mark.parametrize(
    "flag, value",
    [("--count", "0"), ("--count", "x"), ("--every", "-1"), ("--every", "nan"), ("--port", "70000")],
)
def test_simulate_refuses_invalid_arguments_with_exit_2(flag, value):
    result = run_kapstone("hl7", "simulate", "--mrn", "N-1004", flag, value)
    assert result.returncode == 2
    assert flag in result.stderr


def test_simulate_needs_an_mrn():
    result = run_kapstone("hl7", "simulate", "--count", "1")
    assert result.returncode == 2
    assert "--mrn" in result.stderr


# --- listen (these need kapstone/interop/hl7/receive.py: the handler and the feed's account) ----


@pytest.mark.django_db
def test_listen_exits_2_with_one_line_when_the_clinic_does_not_exist(clinic_a):
    result = run_kapstone_in_transaction("hl7", "listen", "--port", "0", "--clinic", "nowhere")
    assert result.returncode == 2
    assert "nowhere" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.django_db
def test_listen_exits_2_when_the_account_is_not_the_clinics_monitor(clinic_a, nina):
    result = run_kapstone_in_transaction("hl7", "listen", "--port", "0", "--clinic", "a", "--account", "nina")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.django_db
def test_listen_exits_2_with_one_line_when_the_port_is_taken(clinic_a):
    make_user("monitor-a", clinic_a, "monitor")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_kapstone_in_transaction("hl7", "listen", "--port", str(port), "--clinic", "a")
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.django_db(transaction=True)
def test_listen_as_a_process_exits_2_without_a_traceback_for_a_missing_clinic(clinic_a, tmp_path):
    database = WorkerDatabase(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "kapstone", "hl7", "listen", "--port", "0", "--clinic", "nowhere"],
        cwd=ROOT,
        env={**os.environ, "KAPSTONE_DEV": "1", "KAPSTONE_DATABASE_URL": database.url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "nowhere" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_simulate_feeding_listen_stores_the_vitals_raises_hypoxemia_and_sigterm_stops_it(
    clinic_a,
    running,  # noqa: F811 - the imported fixture, requested by name
    tmp_path,
):
    make_user("monitor-a", clinic_a, "monitor")
    database = WorkerDatabase(tmp_path)
    mrn = running.patient.mrn
    before = database.value(
        "SELECT COUNT(*) FROM monitoring_observation WHERE session_id = %s", (running.pk,)
    )
    assert database.value("SELECT COUNT(*) FROM monitoring_alert WHERE code = 'hypoxemia'") == 0
    env = {
        **os.environ,
        "KAPSTONE_DEV": "1",
        "KAPSTONE_DATABASE_URL": database.url,
        "KAPSTONE_AUDIT_CHECKPOINT_FILE": str(tmp_path / "checkpoints.log"),
        "KAPSTONE_LOG_LEVEL": "WARNING",
    }
    log = (tmp_path / "listen.log").open("w+")
    listener = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kapstone",
            "hl7",
            "listen",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--clinic",
            "a",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        line = listener.stdout.readline()
        assert "listener on 127.0.0.1:" in line, (tmp_path / "listen.log").read_text()[-3000:]
        assert "monitor-a" in line
        port = line.split("127.0.0.1:")[1].split()[0]
        simulated = subprocess.run(
            [sys.executable, "-m", "kapstone", "hl7", "simulate", "--port", port, "--mrn", mrn,
             "--every", "0", "--count", "3", "--desaturate", "--seed", "16"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=WAIT_S, check=False,
        )  # fmt: skip
        listener.send_signal(signal.SIGTERM)
        code = listener.wait(WAIT_S)
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait()
    rest = listener.stdout.read()
    assert simulated.returncode == 0, simulated.stdout + simulated.stderr
    assert simulated.stdout.count(": AA") == 3
    assert code == 0, (tmp_path / "listen.log").read_text()[-3000:]
    assert "stopped: 3 message(s)" in rest
    stored = database.value(
        "SELECT COUNT(*) FROM monitoring_observation WHERE session_id = %s", (running.pk,)
    )
    assert stored - before == 3 * 6
    assert database.value("SELECT MIN(value) FROM monitoring_observation WHERE code = 'spo2'") == 86
    assert (
        database.value(
            "SELECT COUNT(*) FROM monitoring_alert WHERE code = 'hypoxemia' AND severity = 'critical' "
            "AND session_id = %s",
            (running.pk,),
        )
        == 1
    )
