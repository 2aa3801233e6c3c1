from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.domain.errors import DomainError
from kapstone.domain.text import clean_text


def test_strips_and_keeps_line_breaks():
    assert clean_text("  two\nlines\t ", field="note", max_chars=20) == "two\nlines"
    assert clean_text(None, field="note", max_chars=5) == ""


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (42, "invalid_text"),
        ("a\x00b", "invalid_text"),
        ("bell\x07", "invalid_text"),
        ("x" * 11, "text_too_long"),
    ],
)
def test_refusals(value, code):
    with pytest.raises(DomainError) as caught:
        clean_text(value, field="contact_name", max_chars=10, label="Your name")
    assert (caught.value.code, caught.value.field) == (code, "contact_name")
    assert caught.value.message.startswith("Your name")


def test_required_is_the_fields_code_with_the_callers_words():
    with pytest.raises(DomainError) as caught:
        clean_text("  ", field="reason", max_chars=10, required=True, missing_message="Say why.")
    assert (caught.value.code, caught.value.message, caught.value.field) == (
        "reason_required",
        "Say why.",
        "reason",
    )
    with pytest.raises(DomainError) as caught:
        clean_text("", field="name", max_chars=10, required=True)
    assert (caught.value.code, caught.value.message) == ("name_required", "Name is required.")


@pytest.mark.parametrize(
    ("field", "name", "code"),
    [
        ("stop_reason", None, "stop_reason_required"),
        ("days[2].marker", None, "marker_required"),
        ("overrides.weight", "reason", "reason_required"),
        ("typed_name", "signature", "signature_required"),
    ],
)
def test_the_code_of_a_missing_text_names_what_is_missing(field, name, code):
    with pytest.raises(DomainError) as caught:
        clean_text(None, field=field, name=name, max_chars=10, required=True)
    assert (caught.value.code, caught.value.field) == (code, field)


@pytest.mark.parametrize("character", ["\x00", "\x07", "\x1b", "\x1c", "\x1f", "\x7f"])
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_a_control_character_anywhere_is_refused_not_stripped(character, where):
    value = {"start": character + "ab", "middle": "a" + character + "b", "end": "ab" + character}[where]
    with pytest.raises(DomainError) as caught:
        clean_text(value, field="note", max_chars=10)
    assert caught.value.code == "invalid_text"


def test_text_over_the_limit_is_refused_not_cut():
    assert clean_text(" " + "x" * 10 + " ", field="note", max_chars=10) == "x" * 10
    with pytest.raises(DomainError) as caught:
        clean_text("x" * 10_001, field="note", max_chars=10_000)
    assert (caught.value.code, caught.value.message) == (
        "text_too_long",
        "Note is longer than 10,000 characters.",
    )


@given(st.text(max_size=40))
def test_returns_clean_text_or_refuses(value):
    try:
        text = clean_text(value, field="f", max_chars=30)
    except DomainError as error:
        assert error.code in {"invalid_text", "text_too_long"}
    else:
        assert text == text.strip() and len(text) <= 30 and "\x00" not in text
