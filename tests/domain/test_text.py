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


def test_required_uses_the_callers_code_and_words():
    with pytest.raises(DomainError) as caught:
        clean_text(
            "  ",
            field="reason",
            max_chars=10,
            required=True,
            missing_code="reason_required",
            missing_message="Say why.",
        )
    assert (caught.value.code, caught.value.message) == ("reason_required", "Say why.")
    with pytest.raises(DomainError) as caught:
        clean_text("", field="name", max_chars=10, required=True)
    assert caught.value.code == "name_required"


@given(st.text(max_size=40))
def test_returns_clean_text_or_refuses(value):
    try:
        text = clean_text(value, field="f", max_chars=30)
    except DomainError as error:
        assert error.code in {"invalid_text", "text_too_long"}
    else:
        assert text == text.strip() and len(text) <= 30 and "\x00" not in text
