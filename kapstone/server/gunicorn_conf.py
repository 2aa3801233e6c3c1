"""Gunicorn's configuration for ``kapstone serve`` (gunicorn 27; loaded as
``-c python:kapstone.server.gunicorn_conf``). Every value is read from the environment with
Kapstone's strict parsers, so a typo stops the server at start-up; ``kapstone serve`` computes
them once before it starts gunicorn, so a bad value exits 2 with one line.

Choices (docs/deployment.md has the operator's view):

- **bind** ``KAPSTONE_BIND`` (``127.0.0.1:8000``): loopback only; the TLS proxy on the same
  machine is the only client. ``unix:/run/kapstone/web.sock`` works too.
- **workers** ``KAPSTONE_WEB_WORKERS`` (2 × CPUs + 1, at most 16): gunicorn's rule of thumb,
  processes being what runs Python on several cores at once; the CPUs are those this process may
  use (``sched_getaffinity``: a systemd ``CPUAffinity=`` or container limit counts). The cap
  bounds memory and database connections.
- **threads** ``KAPSTONE_WEB_THREADS`` (4 on one or two CPUs, 2 above; ``gthread`` workers):
  threads only overlap database and network waits (the GIL runs one at a time), so they are a
  small constant; on a small machine with few workers a few more keep a slow report from
  queueing the bedside board behind it. Workers × threads is also the number of PostgreSQL
  connections (each kept 60 s): at most 32, within PostgreSQL's default 100.
- **timeout** ``KAPSTONE_WEB_TIMEOUT`` (30 s): a worker silent that long is killed and replaced.
  Long work (exports, reports on a whole clinic) belongs to the background worker.
- **graceful_timeout** (same value): on TERM (systemd stop) or HUP, requests in flight get
  this long to finish before their worker is killed. systemd's ``TimeoutStopSec`` must exceed it.
- **keepalive** 5 s: the proxy on loopback reuses its connections to us.
- **max_requests** ``KAPSTONE_WEB_MAX_REQUESTS`` (1000, ``0`` off) with a jitter of a tenth:
  each worker is replaced after that many requests, so a slow leak cannot grow for weeks, and
  the jitter keeps the workers from restarting at the same moment.
- **preload_app** off: with it, the application would be imported once in the master and new
  workers forked from that copy, so a HUP after an upgrade would keep serving the old code, and a
  database connection opened while importing would be shared by every worker. Off, each worker
  imports the application itself: a ``systemctl reload kapstone`` (HUP) starts workers on the
  new code and stops the old ones gracefully, with no request refused.
- **forwarded_allow_ips** ``KAPSTONE_FORWARDED_ALLOW_IPS`` (``127.0.0.1,::1``): only the proxy
  on loopback may say a request came over HTTPS, and only with ``X-Forwarded-Proto: https``
  (``secure_scheme_headers``: the one header our proxy configurations set and overwrite; the
  other two that gunicorn knows by default could otherwise be sent by a client to contradict it).
- **logs**: error log and access log on stderr/stdout for journald, in Kapstone's format
  (``KAPSTONE_LOG_FORMAT``); the access log has no query string, client address, referrer or
  user agent (kapstone/server/logs.py).
- **metrics**: every worker writes its request metrics under one ``PROMETHEUS_MULTIPROC_DIR``
  (a fresh private directory unless the environment names one, emptied at start, removed at
  exit when it is ours), which ``/metrics`` sums (kapstone/server/metrics.py). It must be set
  before any worker imports prometheus_client, hence here, in the master, at import.
- **control socket** off: gunicorn ≥ 25 opens one in ``$HOME`` by default; we manage the server
  with signals (HUP, TERM) through systemd and keep no extra socket.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from kapstone.server.serverconf import OWNED_ENV, multiprocess_dir, server_settings

# --- The configuration gunicorn reads ---------------------------------------------------------

_server = server_settings()

wsgi_app = "kapstone.wsgi:application"
proc_name = "kapstone"
bind = [_server.bind]
worker_class = "gthread"
workers = _server.workers
threads = _server.threads
timeout = _server.timeout_s
graceful_timeout = _server.timeout_s
keepalive = 5
max_requests = _server.max_requests
max_requests_jitter = _server.max_requests // 10
preload_app = False
forwarded_allow_ips = _server.forwarded_allow_ips
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}
accesslog = "-"
errorlog = "-"
loglevel = "info"
logger_class = "kapstone.server.logs.GunicornLogger"
control_socket_disable = True
# The heartbeat file on a memory file system, so a busy disk cannot make a worker look dead.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - not a temp file of ours

_metrics_dir = multiprocess_dir()


def on_starting(server) -> None:
    """Counts left by an earlier run would be summed with ours: start from empty."""
    for stale in Path(_metrics_dir).glob("*.db"):
        stale.unlink(missing_ok=True)


def on_reload(server) -> None:
    """HUP, before the new workers start: an upgrade may have brought new static files, and a
    worker whose manifest lacks one answers 500. Collected by ``kapstone serve --collect-only``
    in a process of its own (the master never loads Django); the old workers keep serving the
    old files meanwhile, which collecting does not remove."""
    done = subprocess.run(  # our own interpreter and command, fixed arguments
        [sys.executable, "-m", "kapstone", "serve", "--collect-only"], check=False, timeout=600
    )
    if done.returncode != 0:
        server.log.error("static files could not be collected on reload (exit %s)", done.returncode)


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if os.environ.get(OWNED_ENV) == "1":
        shutil.rmtree(_metrics_dir, ignore_errors=True)
