"""``kapstone devserver`` (what ``make run`` starts): the web server and the worker together,
one Ctrl-C stops both, and when one dies the other is stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.operations.test_worker_process import ROOT, WorkerDatabase, alive, descendants, kill_all

pytestmark = pytest.mark.django_db(transaction=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(database: WorkerDatabase, tmp_path: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "kapstone", "devserver", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env={
            **os.environ,
            "KAPSTONE_DEV": "1",
            "KAPSTONE_DATABASE_URL": database.url,
            "KAPSTONE_AUDIT_CHECKPOINT_FILE": str(tmp_path / "checkpoints.log"),
            "KAPSTONE_LOG_LEVEL": "WARNING",
        },
        stdout=(tmp_path / "devserver.log").open("w"),
        stderr=subprocess.STDOUT,
    )


def both_up(database: WorkerDatabase, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            web = response.status == 200
    except OSError:
        return False
    return web and database.value("SELECT COUNT(*) FROM operations_workerheartbeat") >= 1


def wait_until_up(supervisor, database, port, tmp_path) -> list[int]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and supervisor.poll() is None:
        if both_up(database, port):
            return descendants(supervisor.pid)
        time.sleep(0.5)
    kill_all(supervisor)
    pytest.fail("devserver did not bring both up:\n" + (tmp_path / "devserver.log").read_text()[-3000:])


def all_gone(pids: list[int]) -> bool:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if not any(alive(pid) for pid in pids):
            return True
        time.sleep(0.2)
    return False


def test_one_ctrl_c_stops_the_web_server_and_the_worker(tmp_path):
    database = WorkerDatabase(tmp_path)
    port = free_port()
    supervisor = start(database, tmp_path, port)
    children = wait_until_up(supervisor, database, port, tmp_path)
    assert len(children) >= 3  # runserver (and its reloaded child), the worker and its cluster
    supervisor.send_signal(signal.SIGINT)
    assert supervisor.wait(timeout=60) == 0
    assert all_gone(children), [pid for pid in children if alive(pid)]
    # Both stopped when asked; nothing had to be killed after the grace.
    assert "killed" not in (tmp_path / "devserver.log").read_text()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)


def test_when_the_worker_dies_the_web_server_is_stopped_too(tmp_path):
    database = WorkerDatabase(tmp_path)
    port = free_port()
    supervisor = start(database, tmp_path, port)
    children = wait_until_up(supervisor, database, port, tmp_path)
    worker = next(
        pid for pid in children if b"worker" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    )
    cluster = descendants(worker)
    assert cluster
    os.kill(worker, signal.SIGKILL)
    assert supervisor.wait(timeout=60) != 0
    assert "the worker stopped" in (tmp_path / "devserver.log").read_text()
    # The web server stopped, and the killed worker's cluster died with it (not left running jobs).
    assert all_gone(children), [pid for pid in children if alive(pid)]
