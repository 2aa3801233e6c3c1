"""``{% load clinic_time %}`` … ``{{ moment|clinic_time:clinic }}``: see kapstone/accounts/clinic_time.py."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone

from kapstone.accounts import clinic_time as rules

register = template.Library()


@register.filter(expects_localtime=False)
def clinic_time(moment: datetime | None, clinic=None) -> str:
    """``moment`` on the clock of ``clinic`` (or of the page's zone), zone named, the year only
    when it is not this year there."""
    if moment is None:
        return ""
    zone = rules.clinic_zone(clinic) if clinic is not None else timezone.get_current_timezone()
    today = timezone.now().astimezone(zone).date()
    return rules.clinic_time(moment, zone, today=today)
