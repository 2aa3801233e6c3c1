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


def session_panels_for(*, user: Any, session: Any) -> list[tuple[str, dict[str, Any]]]:
    rendered = []
    for panel in sorted(_PANELS.values(), key=lambda p: p.order):
        context = panel.context(user, session)
        if context is not None:
            rendered.append((panel.template, {"session": session, **context}))
    return rendered
