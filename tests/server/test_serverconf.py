"""The web server's settings: from the CPU count unless the environment says otherwise, refused
when malformed; and what gunicorn itself reads from kapstone/server/gunicorn_conf.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from kapstone.server.serverconf import default_threads, default_workers, parse_bind, server_settings

ROOT = Path(__file__).resolve().parents[2]
SERVER_VARIABLES = (
    "BIND",
    "WEB_WORKERS",
    "WEB_THREADS",
    "WEB_TIMEOUT",
    "WEB_MAX_REQUESTS",
    "FORWARDED_ALLOW_IPS",
)


@pytest.fixture(autouse=True)
def _no_server_variables(monkeypatch):
    for name in SERVER_VARIABLES:
        monkeypatch.delenv(f"KAPSTONE_{name}", raising=False)


@pytest.mark.parametrize(
    ("cpus", "workers", "threads"), [(1, 3, 4), (2, 5, 4), (4, 9, 2), (8, 16, 2), (64, 16, 2)]
)
def test_workers_and_threads_follow_the_cpu_count(cpus, workers, threads):
    assert (default_workers(cpus), default_threads(cpus)) == (workers, threads)
    server = server_settings(cpus=cpus)
    assert (server.workers, server.threads) == (workers, threads)
    assert server.workers * server.threads <= 32  # database connections within PostgreSQL's 100


def test_the_defaults_are_loopback_and_bounded_timeouts():
    server = server_settings(cpus=2)
    assert server.bind == "127.0.0.1:8000"
    assert server.timeout_s == 30 and server.max_requests == 1000
    assert server.forwarded_allow_ips == "127.0.0.1,::1"


def test_the_environment_overrides_every_value(monkeypatch):
    for name, value in {
        "BIND": "unix:/run/kapstone/web.sock",
        "WEB_WORKERS": "7",
        "WEB_THREADS": "3",
        "WEB_TIMEOUT": "60",
        "WEB_MAX_REQUESTS": "0",
        "FORWARDED_ALLOW_IPS": "10.0.0.5",
    }.items():
        monkeypatch.setenv(f"KAPSTONE_{name}", value)
    server = server_settings(cpus=2)
    assert server == type(server)("unix:/run/kapstone/web.sock", 7, 3, 60, 0, "10.0.0.5")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WEB_WORKERS", "many", "KAPSTONE_WEB_WORKERS='many': expected a whole number."),
        ("WEB_WORKERS", "0", "KAPSTONE_WEB_WORKERS=0: must be between 1 and 64."),
        ("WEB_TIMEOUT", "1", "KAPSTONE_WEB_TIMEOUT=1: must be between 5 and 600."),
        ("BIND", "8000", "KAPSTONE_BIND='8000': use host:port"),
        ("BIND", "unix:relative.sock", "KAPSTONE_BIND='unix:relative.sock'"),
    ],
)
def test_a_malformed_value_is_refused_naming_the_variable(monkeypatch, name, value, message):
    monkeypatch.setenv(f"KAPSTONE_{name}", value)
    with pytest.raises(ImproperlyConfigured) as refused:
        server_settings(cpus=2)
    assert str(refused.value).startswith(message)


@pytest.mark.parametrize("bind", ["127.0.0.1:8000", "[::1]:8000", "0.0.0.0:80", "unix:/run/k.sock"])
def test_sane_bind_addresses_are_kept(bind):
    assert parse_bind(bind) == bind


@pytest.mark.cli
def test_gunicorn_reads_these_values_from_the_configuration_module(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "KAPSTONE_WEB_WORKERS": "3",
        "KAPSTONE_WEB_TIMEOUT": "45",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "python:kapstone.server.gunicorn_conf",
            "--print-config",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    config = {
        key.strip(): value.strip()
        for key, _, value in (line.partition("=") for line in done.stdout.splitlines())
        if value
    }
    assert config["wsgi_app"] == "kapstone.wsgi:application"
    assert config["bind"] == "['127.0.0.1:8000']"
    assert config["workers"] == "3" and config["worker_class"] == "gthread"
    assert config["timeout"] == "45" and config["graceful_timeout"] == "45"
    assert config["max_requests"] == "1000" and config["max_requests_jitter"] == "100"
    assert config["preload_app"] == "False" and config["keepalive"] == "5"
    assert config["forwarded_allow_ips"] == "['127.0.0.1', '::1']"
    assert config["secure_scheme_headers"] == "{'X-FORWARDED-PROTO': 'https'}"
    assert config["logger_class"] == "kapstone.server.logs.GunicornLogger"
    assert config["control_socket_disable"] == "True"
    assert config["accesslog"] == "-"
