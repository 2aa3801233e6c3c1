"""Words for screening decisions, severities and answers, shared by the page and the chart."""

from __future__ import annotations

from typing import Any

from django import template

from kapstone.domain import screening as rules
from kapstone.screening.models import Decision

register = template.Library()

_SEVERITY_WORDS = {
    rules.ABSOLUTE: "Absolute contraindication",
    rules.DEFER: "Defer: screen again later",
    rules.RELATIVE: "Relative: prescriber review",
}


@register.filter
def decision_label(decision: str) -> str:
    """ "Eligible", "Needs prescriber review", "Deferred", "Ineligible"."""
    return Decision(decision).label if decision in Decision.values else str(decision)


@register.filter
def severity_label(severity: str) -> str:
    return _SEVERITY_WORDS.get(severity, severity)


@register.filter
def answer_rows(answers: Any) -> list[dict[str, Any]]:
    """The stored answers in question order, with their labels and units, for display."""
    if not isinstance(answers, dict):
        return []
    rows = []
    for question in rules.ALL_QUESTIONS:
        if question.name not in answers:
            continue
        value = answers[question.name]
        if question.kind == rules.BOOLEAN:
            shown = "Yes" if value is True else "No" if value is False else str(value)
        elif question.kind == rules.CHOICE:
            shown = dict(question.choices).get(value, str(value))
        else:
            shown = f"{value} {question.unit or ''}".strip()
        rows.append(
            {"name": question.name, "label": question.label, "value": shown, "positive": value is True}
        )
    return rows
