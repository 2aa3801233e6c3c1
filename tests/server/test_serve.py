"""``kapstone serve`` for real: a production-mode process (no KAPSTONE_DEV) on a free port, a
fresh SQLite file and a STATIC_ROOT without a manifest. It collects the static files itself,
answers /health, a static file and the sign-in page, writes access log lines without the query
string, reloads on HUP, and stops on TERM. A missing configuration exits 2 with one line."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.cli  # its own database file and processes: run once, in the SQLite stage

PROXY = {"X-Forwarded-Proto": "https"}  # what the TLS proxy on loopback adds


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def production_env(tmp_path: Path, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KAPSTONE_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "KAPSTONE_SECRET_KEY": "serve-test-" + "s" * 60,
            "KAPSTONE_AUDIT_KEY": "serve-test-audit-" + "a" * 40,
            "KAPSTONE_AUDIT_CHECKPOINT_FILE": str(tmp_path / "checkpoints.log"),
            "KAPSTONE_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
            "KAPSTONE_STATIC_ROOT": str(tmp_path / "static"),
            "KAPSTONE_ALLOWED_HOSTS": "127.0.0.1",
            "KAPSTONE_BIND": f"127.0.0.1:{port}",
            "KAPSTONE_WEB_WORKERS": "1",
            "KAPSTONE_WEB_THREADS": "2",
            "KAPSTONE_LOG_FORMAT": "json",
        }
    )
    return env


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={**PROXY, **(headers or {})})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def wait_until_up(port: int, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 300  # collecting static files (plotly.min.js compressed) included
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"kapstone serve exited {server.returncode}: {log.read_text()[-2000:]}")
        try:
            if get(port, "/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"kapstone serve did not answer: {log.read_text()[-2000:]}")


def wait_for(path: Path, text: str, count: int = 1) -> None:
    deadline = time.monotonic() + 300  # a reload collects static files first: minutes on a busy CI
    while time.monotonic() < deadline:
        if path.read_text().count(text) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not written ({count}x): {path.read_text()[-2000:]}")


def access_lines(out: Path) -> list[dict]:
    found = []
    for line in out.read_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record["logger"] == "gunicorn.access":
                found.append(record)
    return found


def test_kapstone_serve_collects_static_serves_and_stops_on_term(tmp_path):
    port = free_port()
    env = production_env(tmp_path, port)
    subprocess.run(
        [sys.executable, "-m", "kapstone", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
        capture_output=True,
    )
    assert not (tmp_path / "static").exists()
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with out.open("w") as stdout, err.open("w") as stderr:
        server = subprocess.Popen(
            [sys.executable, "-m", "kapstone", "serve"], cwd=ROOT, env=env, stdout=stdout, stderr=stderr
        )
    try:
        wait_until_up(port, server, err)
        assert "kapstone serve: collected static files (the manifest is missing)." in err.read_text()
        manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())["paths"]

        status, headers, body = get(port, "/health", {"X-Request-ID": "serve-test-0000000000000001"})
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        assert headers["x-request-id"] == "serve-test-0000000000000001"

        status, _, page = get(port, "/accounts/login/")
        assert status == 200 and b"<form" in page
        # The page links the hashed names of the manifest, and they are served.
        linked = re.findall(r'/static/([^"?]+)', page.decode())
        assert linked and set(linked) <= set(manifest.values())
        stylesheet = next(name for name in linked if name.endswith(".css"))
        status, headers, _ = get(port, f"/static/{stylesheet}")
        assert status == 200 and headers["content-type"].startswith("text/css")

        status, headers, _ = get(port, "/patients/?q=Smith", {"X-Request-ID": "serve-test-0000000000000002"})
        assert status == 302 and headers["location"].startswith("/accounts/login/")
        wait_for(out, "serve-test-0000000000000002")
        [line] = [r for r in access_lines(out) if r["request_id"] == "serve-test-0000000000000002"]
        assert line["path"] == "/patients/" and line["status"] == 302 and line["method"] == "GET"
        assert isinstance(line["duration_ms"], float) and line["user_id"] is None
        assert "Smith" not in out.read_text() and "Smith" not in err.read_text()

        # /metrics from loopback, straight to gunicorn (no proxy header): the request histogram
        # summed across processes (multiprocess mode) and the database's gauges.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/metrics")
        metrics = connection.getresponse().read().decode()
        connection.close()
        assert (
            'kapstone_http_request_duration_seconds_count{method="GET",route="health",status_class="2xx"}'
            in metrics
        )
        assert "kapstone_vitals_ingested_total 0.0" in metrics

        # HUP: static files collected again when stale (an upgrade), then new workers on the
        # code as it is now, the old ones stopped.
        (tmp_path / "static" / "staticfiles.json").unlink()
        booted = err.read_text().count("Booting worker")
        server.send_signal(signal.SIGHUP)
        wait_for(err, "Booting worker", booted + 1)
        wait_until_up(port, server, err)
        assert err.read_text().count("collected static files (the manifest is missing)") == 2
        assert (tmp_path / "static" / "staticfiles.json").is_file()
        assert get(port, "/accounts/login/")[0] == 200

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        wait_for(err, "Shutting down")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=30)


def test_kapstone_serve_without_a_secret_key_exits_2_with_one_line(tmp_path):
    env = production_env(tmp_path, free_port())
    del env["KAPSTONE_SECRET_KEY"]
    done = subprocess.run(
        [sys.executable, "-m", "kapstone", "serve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "kapstone: KAPSTONE_SECRET_KEY (or KAPSTONE_SECRET_KEY_FILE) is required unless KAPSTONE_DEV=1.\n"
    )
    assert not (tmp_path / "static").exists()
