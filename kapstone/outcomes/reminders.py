"""Other reminder e-mails that ``kapstone send_reminders`` sends after the staff's follow-up
counts: a registry that apps above outcomes fill from their ``AppConfig.ready()``.

outcomes sits below the portal in the layer order, so the command cannot import the portal's
patient reminders; the portal registers them here instead (the pattern of ``dosing/gates.py``).
A source is called with the command's ``base_url`` and ``dry_run`` and returns a JSON-able summary
of what it sent, which the command prints under the source's key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ReminderSource = Callable[..., dict[str, Any]]

_SOURCES: dict[str, ReminderSource] = {}


def register_reminder_source(key: str, source: ReminderSource) -> None:
    """Add (or replace, by ``key``) a source; idempotent, so a repeated ``ready()`` is harmless."""
    _SOURCES[key] = source


def reminder_sources_run(*, base_url: str, dry_run: bool) -> dict[str, dict[str, Any]]:
    """Run every source (in key order); their summaries by key."""
    return {key: _SOURCES[key](base_url=base_url, dry_run=dry_run) for key in sorted(_SOURCES)}
