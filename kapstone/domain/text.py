"""Free text typed by a person: one cleaning rule for every form, API body and command.

Strips surrounding white space, refuses what the database cannot hold or a reader should never
see (a NUL character, other control characters except tab and line breaks), enforces a length,
and when ``required`` refuses an empty value with the caller's code and words.
"""

from __future__ import annotations

import re

from kapstone.domain.errors import DomainError

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(
    value: object,
    *,
    field: str,
    max_chars: int,
    required: bool = False,
    label: str | None = None,
    missing_code: str | None = None,
    missing_message: str | None = None,
) -> str:
    """The text, stripped; or DomainError ``invalid_text`` (not text, or a control character),
    ``text_too_long`` (over ``max_chars``), or, when ``required`` and empty, ``missing_code``
    (default ``<field>_required``) with ``missing_message``. ``label`` names the field in words."""
    words = label or field.replace("_", " ").capitalize()
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError("invalid_text", f"{words} must be text.", field=field)
    text = value.strip()
    if _CONTROL.search(text):
        raise DomainError("invalid_text", f"{words} contains a character that cannot be stored.", field=field)
    if len(text) > max_chars:
        raise DomainError("text_too_long", f"{words} is longer than {max_chars} characters.", field=field)
    if required and not text:
        raise DomainError(
            missing_code or f"{field}_required", missing_message or f"{words} is required.", field=field
        )
    return text
