"""Consent given in the portal: the fingerprint of the text a patient read, and the typed-name
signature.

A patient signs a consent document by typing their full name and ticking a box. What they
signed is pinned by the SHA-256 of the exact text shown (title and body), kept on the consent
row; a later version of the document has another fingerprint. The typed name must be the name
the clinic has on record, apart from letter case and extra spaces: it shows intent, it is not a
proof of identity (the patient is already signed in to their own account).

Source: the US E-SIGN Act (15 U.S.C. §7001) and UETA accept an electronic signature as "a sound,
symbol, or process … executed or adopted by a person with the intent to sign", which a typed
name with an explicit "I agree" is; the rest (the name check, the fingerprint) is Kapstone's
choice, so that a signature can be tied to one text and one person later.
"""

from __future__ import annotations

import hashlib
import unicodedata

from kapstone.domain.errors import DomainError
from kapstone.domain.text import clean_text
from kapstone.domain.words import gettext_noop

#: The longest name a patient may type (the record's names are at most 100 characters each).
TYPED_NAME_MAX_CHARS = 201


def consent_text(title: str, body: str) -> str:
    """The text a patient is shown, as one string: the title, a blank line, the body; line
    endings as ``\\n`` (a browser may send ``\\r\\n``), no trailing white space."""

    def clean(text: str) -> str:
        return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))

    return f"{clean(title).strip()}\n\n{clean(body).strip()}"


def consent_text_fingerprint(title: str, body: str) -> str:
    """The SHA-256 (64 hex digits) of :func:`consent_text` in UTF-8. The same title and body
    always give the same fingerprint; any change of a character gives another."""
    return hashlib.sha256(consent_text(title, body).encode("utf-8")).hexdigest()


def normalise_name(text: str) -> str:
    """A name for comparison: Unicode NFC, case folded, runs of white space as one space,
    trimmed. Accents and punctuation stay significant."""
    return " ".join(unicodedata.normalize("NFC", text or "").casefold().split())


def check_typed_signature(typed: object, *, given_name: str, family_name: str) -> str:
    """The typed name, trimmed, when it matches "given family" on record; else a refusal.

    Refusals (field ``typed_name``): the free-text ones (:func:`kapstone.domain.text.clean_text`:
    ``signature_required`` when nothing is typed, ``text_too_long`` over
    :data:`TYPED_NAME_MAX_CHARS` characters, ``invalid_text``) and ``signature_mismatch``
    (another name than the record's, case and extra spaces aside).
    """
    try:
        typed = clean_text(
            typed,
            field="typed_name",
            name="signature",
            max_chars=TYPED_NAME_MAX_CHARS,
            required=True,
            label="The name",
            missing_message=gettext_noop("Type your full name to sign."),
        )
    except DomainError as error:
        if error.code != "text_too_long":
            raise
        # The patient's words (translated on the portal), not the generic length message.
        raise DomainError(
            error.code, gettext_noop("That is longer than a name can be."), field=error.field
        ) from None
    if normalise_name(typed) != normalise_name(f"{given_name} {family_name}"):
        raise DomainError(
            "signature_mismatch",
            gettext_noop(
                "The name you typed is not the name on your record. Type your first and last name "
                "as the clinic has them; if the clinic has your name wrong, call the clinic."
            ),
            field="typed_name",
        )
    return " ".join(typed.split())
