"""Monitoring codes as words on screens: one home, the domain's ``title_for``."""

from __future__ import annotations

from django import template

from kapstone.domain.monitoring import title_for

register = template.Library()


@register.filter
def monitoring_title(code: str) -> str:
    """``bp_rise_from_baseline`` → "Blood pressure rise from baseline"; a discharge criterion or
    an observation code likewise. Codes stay in the API, the CLI, the audit trail and data
    attributes."""
    return title_for(str(code))
