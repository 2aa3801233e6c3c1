from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django import template

from kapstone.domain.patients import age_in_years

register = template.Library()


@register.filter
def age_years(birth_date: date | None) -> int | str:
    if birth_date is None:
        return ""
    return age_in_years(birth_date, on=date.today())  # noqa: DTZ011 - display only, local day


@register.simple_tag
def bmi(weight_kg: Decimal | None, height_cm: Decimal | None) -> str:
    """Body-mass index kg/m², one decimal; empty when either measure is missing."""
    if not weight_kg or not height_cm:
        return ""
    metres = Decimal(height_cm) / 100
    return str((Decimal(weight_kg) / (metres * metres)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


@register.filter
def get_item(mapping: dict, key: str):
    return mapping.get(key) if isinstance(mapping, dict) else None
