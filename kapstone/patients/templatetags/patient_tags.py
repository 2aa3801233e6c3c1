from __future__ import annotations

from datetime import date

from django import template

from kapstone.domain.patients import age_in_years

register = template.Library()


@register.filter
def age_years(birth_date: date | None) -> int | str:
    if birth_date is None:
        return ""
    return age_in_years(birth_date, on=date.today())  # noqa: DTZ011 - display only, local day


@register.filter
def get_item(mapping: dict, key: str):
    return mapping.get(key) if isinstance(mapping, dict) else None
