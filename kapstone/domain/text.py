"""Free text typed by a person: one cleaning rule for every form, API body and command.

Strips surrounding white space, refuses what the database cannot hold or a reader should never
see (a NUL character, other control characters except tab and line breaks), refuses text over
its length (never cuts it), and when ``required`` refuses an empty value. One set of codes,
whatever the app, the web form or the API operation (docs/api.md, "Errors"):

- ``invalid_text``: not text, or a NUL or other control character in it;
- ``text_too_long``: longer than the field holds (the message gives the limit);
- ``<field>_required``: empty (or only spaces) where the text is required, ``field`` being the
  input's name (``reason_required``, ``note_required``, ``title_required``…).
"""

from __future__ import annotations

import re

from kapstone.domain.errors import DomainError

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

#: The longest reason, note or explanation kept beside a record (their columns hold 500).
REASON_MAX_CHARS = 500


def clean_text(
    value: object,
    *,
    field: str,
    max_chars: int,
    required: bool = False,
    label: str | None = None,
    missing_message: str | None = None,
    name: str | None = None,
) -> str:
    """The text, stripped; or DomainError ``invalid_text`` (not text, or a control character),
    ``text_too_long`` (over ``max_chars``), or, when ``required`` and empty,
    ``<field>_required`` with ``missing_message``. ``label`` names the field in words.

    ``field`` is where the input is, as the caller knows it (``reason``, ``entries[2].marker``);
    the code of a missing value is made from ``name``, what the text is: by default the last part
    of ``field`` (``marker_required``); a reason kept under a key (``overrides.weight``) passes
    ``name="reason"``, an addendum typed in ``text`` ``name="addendum"``."""
    words = label or field.replace("_", " ").capitalize()
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError("invalid_text", f"{words} must be text.", field=field)
    # Searched before stripping: str.strip() would silently drop \x1c–\x1f at either end.
    if _CONTROL.search(value):
        raise DomainError("invalid_text", f"{words} contains a character that cannot be stored.", field=field)
    text = value.strip()
    if len(text) > max_chars:
        raise DomainError("text_too_long", f"{words} is longer than {max_chars:,} characters.", field=field)
    if required and not text:
        raise DomainError(
            required_code(name or field), missing_message or f"{words} is required.", field=field
        )
    return text


def required_code(field: str) -> str:
    """The code of a required text left empty: ``<field>_required`` (the last part of a dotted or
    indexed name: ``entries[2].marker`` → ``marker_required``)."""
    return re.sub(r"\[\d+\]", "", field).rsplit(".", 1)[-1] + "_required"
