"""Sections of the patient chart contributed by higher apps.

The chart page belongs to ``patients``, but screening, care, dosing and outcomes live above it
and may not be imported from here (apps depend downward). Each of them registers a section in
its ``AppConfig.ready()``; the chart asks every registered section for its context and renders
its template. The chart's read event covers what its sections show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ChartSection:
    key: str
    order: int
    template: str
    # (user, patient, can_write) -> template context, or None to leave the section out.
    context: Callable[[Any, Any, bool], dict[str, Any] | None]


_SECTIONS: dict[str, ChartSection] = {}


def register_chart_section(section: ChartSection) -> None:
    _SECTIONS[section.key] = section


def chart_sections_for(*, user: Any, patient: Any, can_write: bool) -> list[tuple[str, dict[str, Any]]]:
    rendered = []
    for section in sorted(_SECTIONS.values(), key=lambda s: s.order):
        context = section.context(user, patient, can_write)
        if context is not None:
            rendered.append((section.template, {"patient": patient, "can_write": can_write, **context}))
    return rendered
