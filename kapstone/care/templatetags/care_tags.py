from django import template

register = template.Library()


@register.filter
def code_label(code: str) -> str:
    """A stable code as words: ``breath_alcohol`` → "Breath alcohol"."""
    return str(code).replace("_", " ").capitalize()
