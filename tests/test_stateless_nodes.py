"""App nodes keep nothing in process memory that another node needs (DESIGN.md, Runtime):
sessions, login lockouts and rate limits live in the database, and nothing uses Django's cache,
whose default backend is private to each process. docs/deployment.md ("Beyond one machine") lists the audit."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

PACKAGE = Path(__file__).resolve().parent.parent / "kapstone"
PROCESS_LOCAL = re.compile(r"django\.core\.cache|LocMemCache|ninja\.throttling|FileBasedCache")


def test_sessions_and_lockouts_live_in_the_database():
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"
    # django-axes' default handler is the database one; a cache handler would need a shared cache.
    assert getattr(settings, "AXES_HANDLER", "axes.handlers.database.AxesDatabaseHandler") == (
        "axes.handlers.database.AxesDatabaseHandler"
    )


def test_no_code_uses_a_process_local_cache():
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if PROCESS_LOCAL.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "state another node needs belongs in the database or a shared cache"
