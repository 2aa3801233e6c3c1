"""The typed-name signature and the fingerprint of the text shown."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.domain.consent import (
    check_typed_signature,
    consent_text,
    consent_text_fingerprint,
    normalise_name,
)
from kapstone.domain.errors import DomainError


def test_the_fingerprint_is_the_sha256_of_the_text_shown():
    assert consent_text("Title ", "Line one\r\nLine two  \n") == "Title\n\nLine one\nLine two"
    expected = hashlib.sha256(b"Title\n\nLine one\nLine two").hexdigest()
    assert consent_text_fingerprint("Title", "Line one\r\nLine two") == expected
    assert consent_text_fingerprint("Title", "Line one\nLine two.") != expected


@given(st.text(), st.text())
def test_the_fingerprint_is_64_hex_digits_and_stable(title, body):
    first = consent_text_fingerprint(title, body)
    assert first == consent_text_fingerprint(title, body)
    assert len(first) == 64 and set(first) <= set("0123456789abcdef")


@pytest.mark.parametrize(
    "typed", ["Avery Zzyzxfield", "avery zzyzxfield", "  AVERY   Zzyzxfield ", "Avery\tZzyzxfield"]
)
def test_the_record_name_is_accepted_whatever_the_case_and_spaces(typed):
    assert check_typed_signature(typed, given_name="Avery", family_name="Zzyzxfield") == " ".join(
        typed.split()
    )


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("", "signature_required"),
        ("   ", "signature_required"),
        (None, "signature_required"),
        (42, "invalid_text"),
        ("Avery", "signature_mismatch"),
        ("Zzyzxfield Avery", "signature_mismatch"),
        ("Avery Zzyzxfeld", "signature_mismatch"),
        ("A" * 202, "text_too_long"),
        ("Avery\x00 Zzyzxfield", "invalid_text"),
    ],
)
def test_another_name_is_refused(typed, code):
    with pytest.raises(DomainError) as caught:
        check_typed_signature(typed, given_name="Avery", family_name="Zzyzxfield")
    assert (caught.value.code, caught.value.field) == (code, "typed_name")


def test_accents_count_but_composed_and_decomposed_forms_are_one():
    assert normalise_name("Jose\u0301 Núñez") == normalise_name("José NÚÑEZ")
    with pytest.raises(DomainError):
        check_typed_signature("Jose Nunez", given_name="José", family_name="Núñez")
