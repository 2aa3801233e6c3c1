"""The server survives its database: a killed backend and a restarted PostgreSQL.

gunicorn (as in production, one worker with two threads) runs against the private primary of
``pg_pair``; never the shared server at 5432, which other tests use. Persistent connections
(``CONN_MAX_AGE``) are checked at the start of each request (``CONN_HEALTH_CHECKS``), so a dead
one is replaced instead of failing the request; while the database is down, ``/health`` answers
503 within the connect timeout instead of hanging.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time

import pytest

from tests.scale.conftest import ROOT, run_kapstone
from tests.scale.pg_pair import DATABASE, free_port

# One private pair (and one `migrate`, the slow part) per run: with `--dist loadgroup` the tests
# of tests/scale go to one xdist worker together.
pytestmark = pytest.mark.xdist_group("private_pg_pair")

START_TIMEOUT_S = 60
#: No request may hang: each one gives up (and fails the test) after this long.
REQUEST_TIMEOUT_S = 20


def request(port: int, path: str, token: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    try:
        headers = {"Host": "127.0.0.1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.fixture
def server(pair, tmp_path):
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "kapstone.wsgi",
            "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "2",
            "--timeout", "30", "--graceful-timeout", "5",
        ],
        cwd=ROOT, env=pair.env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                if request(port, "/health")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not answer /health"
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        log.close()


@pytest.fixture
def token(pair):
    return run_kapstone(pair.env, "tests.scale.replica_probe", "token").strip()


def api_patients(port: int, token: str) -> int:
    status, body = request(port, "/api/v1/patients", token)
    if status == 200:
        assert "items" in json.loads(body)
    return status


def backends(pair) -> int:
    with pair.primary.connect("postgres") as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'",
            [DATABASE],
        ).fetchone()[0]


def test_next_request_succeeds_after_its_backend_is_killed(pair, server, token):
    assert api_patients(server, token) == 200
    assert backends(pair) >= 1  # the worker kept its connection (CONN_MAX_AGE)
    with pair.primary.connect("postgres") as conn:
        killed = conn.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND backend_type = 'client backend'",
            [DATABASE],
        ).fetchone()[0]
    assert killed >= 1
    assert api_patients(server, token) == 200
    assert request(server, "/health")[0] == 200


def test_server_recovers_after_postgresql_restarts(pair, server, token):
    assert api_patients(server, token) == 200
    pair.primary.stop("fast")
    try:
        # Down: the load balancer's health check says so (503), within the request timeout.
        status, body = request(server, "/health")
        assert (status, json.loads(body)) == (503, {"status": "unavailable"})
    finally:
        pair.primary.start()
    # Back: the very next requests succeed, without restarting the server.
    assert request(server, "/health")[0] == 200
    assert api_patients(server, token) == 200
