"""How dates and times read on screen: one home for every page (a template builtin, no ``load``).

Times are shown in the active time zone (the clinic's, set per request by
``ClinicTimezoneMiddleware``); stored times stay UTC. A date carries its year only when it is not
this year's ("22 Nov" this year, "22 Nov 2025" otherwise), as clinicians write them; exports and
the API keep ISO 8601.

    {{ session.scheduled_date|day }}        22 Nov / 22 Nov 2025
    {{ event.at|moment }}                   22 Nov 14:05 / 22 Nov 2025 14:05
    {{ event.at|clock }}                    14:05
    {{ event.at|moment_zone }}              22 Nov 14:05 EST
"""

from __future__ import annotations

from datetime import date, datetime

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime

register = template.Library()


def _aware_local(value: datetime) -> datetime:
    if timezone.is_naive(value):
        return value
    return timezone.localtime(value)


def _coerce(value: object) -> date | datetime | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        return parse_datetime(value) or _parse_date(value)
    return None


def _parse_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _day_text(value: date, today: date) -> str:
    text = f"{value.day} {value:%b}"
    return text if value.year == today.year else f"{text} {value.year}"


@register.filter
def day(value: object) -> str:
    """A date (or the local date of a time) as "22 Nov", with the year when not this year's."""
    value = _coerce(value)
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = _aware_local(value).date()
    return _day_text(value, timezone.localdate())


@register.filter
def clock(value: object) -> str:
    """The local time of day, 24-hour: "14:05"."""
    value = _coerce(value)
    if not isinstance(value, datetime):
        return ""
    return f"{_aware_local(value):%H:%M}"


@register.filter
def moment(value: object) -> str:
    """A local date and time: "22 Nov 14:05", with the year when not this year's."""
    value = _coerce(value)
    if not isinstance(value, datetime):
        return day(value) if value is not None else ""
    local = _aware_local(value)
    return f"{_day_text(local.date(), timezone.localdate())} {local:%H:%M}"


@register.filter
def moment_zone(value: object) -> str:
    """:func:`moment` with the zone's abbreviation: "22 Nov 14:05 EST"."""
    value = _coerce(value)
    if not isinstance(value, datetime):
        return moment(value)
    local = _aware_local(value)
    return f"{moment(value)} {local:%Z}".strip()
