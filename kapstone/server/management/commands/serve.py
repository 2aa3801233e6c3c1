"""``kapstone serve``: the production web server (gunicorn with kapstone/server/gunicorn_conf.py).

Before gunicorn starts: the configuration is read (a malformed or missing value exits 2 with one
line, through kapstone/__main__.py), and static files are collected when their manifest is
missing or stale. Then this process *becomes* gunicorn's master (``exec``), so the signals of
systemd reach it directly: TERM stops gracefully, HUP reloads the code and configuration with
new workers (collecting static files again first, through ``--collect-only``, since an upgrade
may have changed them), QUIT/INT stop at once.
"""

from __future__ import annotations

import json
import os
import sys

from django.core.management.base import BaseCommand, CommandParser

from kapstone.server.serverconf import cpu_count, server_settings
from kapstone.server.staticfiles import ensure_collected

CONFIG_MODULE = "python:kapstone.server.gunicorn_conf"


def gunicorn_argv() -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--config", CONFIG_MODULE]


class Command(BaseCommand):
    help = "Run the production web server (gunicorn), collecting static files first if needed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--print-config",
            action="store_true",
            help="print the server's settings as JSON (from the environment and the CPU count) and exit",
        )
        parser.add_argument(
            "--collect-only",
            action="store_true",
            help="collect static files if their manifest is missing or stale, then exit (run on HUP)",
        )

    def handle(self, *args, **options) -> None:
        server = server_settings()  # ImproperlyConfigured: exit 2, one line (kapstone/__main__.py)
        if options["print_config"]:
            self.stdout.write(json.dumps({**server.__dict__, "cpus": cpu_count()}))
            return
        reason = ensure_collected()
        if reason:
            self.stderr.write(f"kapstone serve: collected static files ({reason}).")
        if options["collect_only"]:
            return
        sys.stdout.flush()
        sys.stderr.flush()
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kapstone.settings")
        # Close what Django opened here: the exec'd server opens its own connections.
        from django.db import connections

        connections.close_all()
        os.execv(sys.executable, gunicorn_argv())  # noqa: S606 - our own interpreter, fixed arguments
