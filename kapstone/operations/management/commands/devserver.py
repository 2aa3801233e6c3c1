"""``kapstone devserver [ADDRPORT]``: the development web server and the background worker
together in the foreground (what ``make run`` starts). One Ctrl-C (or a SIGTERM) stops both; when
either stops by itself, the other is stopped too and the exit status is the one that died's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

#: Seconds a child has to stop after being asked before it is killed.
STOP_GRACE_S = 30


class Command(BaseCommand):
    help = "Development: runserver and the worker together; Ctrl-C stops both."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000", help="address:port to serve on")

    def handle(self, *args: Any, **options: Any) -> None:
        kapstone = [sys.executable, "-m", "kapstone"]
        # Each child leads its own process group, so that stopping one reaches its own children
        # (runserver's autoreloader) and a Ctrl-C reaches them only through this supervisor.
        # The commands are this interpreter and Kapstone itself, never input.
        web = subprocess.Popen(  # noqa: S603
            [*kapstone, "runserver", options["addrport"]], start_new_session=True
        )
        worker = subprocess.Popen([*kapstone, "worker"], start_new_session=True)  # noqa: S603
        children = {"web server": web, "worker": worker}
        asked = False

        def on_signal(signum: int, frame: object) -> None:
            nonlocal asked
            asked = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        dead: tuple[str, int] | None = None
        while not asked and dead is None:
            for name, child in children.items():
                code = child.poll()
                if code is not None:
                    dead = (name, code)
                    break
            else:
                time.sleep(0.2)
        if dead:
            self.stderr.write(f"devserver: the {dead[0]} stopped (exit status {dead[1]}); stopping the rest.")
        stop(web, worker)
        if dead and dead[1] != 0:
            sys.exit(dead[1])


def stop(web: subprocess.Popen, worker: subprocess.Popen) -> None:
    """Ask both to stop (the web server's process group, its autoreloader and the server it
    runs: SIGTERM, which no shell leaves ignored, unlike the SIGINT of a Ctrl-C in a job started
    in the background; the worker: SIGTERM, which it answers by finishing its job in hand), then
    kill what remains, saying so."""
    if web.poll() is None:
        _signal_group(web, signal.SIGTERM)
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for child in (web, worker):
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            sys.stderr.write(
                f"devserver: process {child.pid} did not stop within {STOP_GRACE_S} s; killed.\n"
            )
            _signal_group(child, signal.SIGKILL)
            child.wait()


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signum)
