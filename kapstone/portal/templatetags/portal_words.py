"""Sentences the domain gives the portal, in the page's language.

{% load portal_words %}
{{ instruction|instruction_text }}     "No comas nada durante 6 horas …"
"""

from __future__ import annotations

from django import template
from django.utils.translation import gettext

register = template.Library()


@register.filter
def instruction_text(instruction) -> str:
    """A preparation instruction (:class:`kapstone.domain.preparation.Instruction`) translated,
    its values filled in; the English sentence if the template has no translation."""
    return gettext(instruction.template) % dict(instruction.values)
