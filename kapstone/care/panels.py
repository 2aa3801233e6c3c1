"""Panels of the session page contributed by apps above care (dosing, monitoring).

Like the chart sections of patients: care may not import them, so they register here in their
``AppConfig.ready()`` and the session page renders each panel that returns a context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SessionPanel:
    key: str
    order: int
    template: str
    context: Callable[[Any, Any], dict[str, Any] | None]  # (user, session) -> context or None


_PANELS: dict[str, SessionPanel] = {}


def register_session_panel(panel: SessionPanel) -> None:
    _PANELS[panel.key] = panel


def session_panels_for(
    *, user: Any, session: Any, overrides: dict[str, dict[str, Any]] | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """Each registered panel's template and context. ``overrides`` (panel key → context items)
    lets the app that owns a panel re-render the page with its refused form bound, so the user
    sees the errors beside the fields on the page they were on."""
    rendered = []
    for panel in sorted(_PANELS.values(), key=lambda p: p.order):
        context = panel.context(user, session)
        if context is not None:
            extra = (overrides or {}).get(panel.key, {})
            rendered.append((panel.template, {"session": session, **context, **extra}))
    return rendered
