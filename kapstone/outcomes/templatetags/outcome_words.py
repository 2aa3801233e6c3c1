"""Questionnaire results in the clinician's words: the instrument's display name, the band's and
the flag's words instead of their codes (``{% load outcome_words %}``)."""

from __future__ import annotations

from django import template

from kapstone.domain import instruments
from kapstone.domain.errors import DomainError

register = template.Library()


@register.filter
def instrument_name(code: object) -> str:
    """``"cows"`` → ``"COWS (opioid withdrawal)"``; an unknown code as it is, upper-cased."""
    try:
        return instruments.get_instrument(code).display_name
    except DomainError:
        return str(code).upper()


@register.filter
def band_words(response: object) -> str:
    """The band of a stored response in words (``"Moderately severe withdrawal"``), or ""."""
    code, band = getattr(response, "instrument", None), getattr(response, "band", None)
    if not band:
        return ""
    try:
        return instruments.band_label(code, band) or band
    except DomainError:
        return band


@register.filter
def flag_words(code: object) -> str:
    """``"self-harm-risk"`` → ``"Self-harm risk"``; another code as "Clinical flag"."""
    return instruments.FLAG_LABELS.get(str(code), "Clinical flag")
