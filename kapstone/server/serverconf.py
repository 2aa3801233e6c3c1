"""The web server's settings from the environment, without side effects: read by
kapstone/server/gunicorn_conf.py (which gunicorn loads) and by ``kapstone serve`` (which checks
them before starting gunicorn, and prints them with ``--print-config``). The reasons for each
value are in gunicorn_conf.py's docstring."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from kapstone.env import PREFIX, env_int, env_str, parse_networks

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
OWNED_ENV = "KAPSTONE_METRICS_DIR_OWNED"


def cpu_count() -> int:
    """CPUs this process may run on (affinity and cpusets), not the machine's."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_workers(cpus: int) -> int:
    return min(2 * cpus + 1, 16)


def default_threads(cpus: int) -> int:
    return 4 if cpus <= 2 else 2


def parse_bind(raw: str) -> str:
    if raw.startswith("unix:"):
        if len(raw) > len("unix:/") and raw[len("unix:")] == "/":
            return raw
    else:
        host, sep, port = raw.rpartition(":")
        if sep and host and port.isdigit() and 1 <= int(port) <= 65535:
            return raw
    raise ImproperlyConfigured(
        f"{PREFIX}BIND={raw!r}: use host:port (127.0.0.1:8000, [::1]:8000) or unix:/absolute/path."
    )


@dataclass(frozen=True)
class ServerSettings:
    bind: str
    workers: int
    threads: int
    timeout_s: int
    max_requests: int
    forwarded_allow_ips: str


def server_settings(cpus: int | None = None) -> ServerSettings:
    """The values below, from the environment; raises ImproperlyConfigured on a malformed one."""
    cpus = cpu_count() if cpus is None else cpus
    forwarded = env_str("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
    parse_networks("FORWARDED_ALLOW_IPS", forwarded, [])  # the same list Django reads: refuse a bad one here
    return ServerSettings(
        bind=parse_bind(env_str("BIND", "127.0.0.1:8000")),
        workers=env_int("WEB_WORKERS", default_workers(cpus), minimum=1, maximum=64),
        threads=env_int("WEB_THREADS", default_threads(cpus), minimum=1, maximum=64),
        timeout_s=env_int("WEB_TIMEOUT", 30, minimum=5, maximum=600),
        max_requests=env_int("WEB_MAX_REQUESTS", 1000, minimum=0, maximum=1_000_000),
        forwarded_allow_ips=forwarded,
    )


def multiprocess_dir() -> str:
    """The metrics directory shared by the workers (created here unless the environment names one)."""
    given = os.environ.get(MULTIPROCESS_ENV)
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        return given
    made = tempfile.mkdtemp(prefix="kapstone-metrics-")
    os.environ[MULTIPROCESS_ENV] = made
    os.environ[OWNED_ENV] = "1"
    return made
