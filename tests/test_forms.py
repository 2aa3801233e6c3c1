"""The one parser of what people type into filters and URLs (kapstone/forms.py)."""

from __future__ import annotations

from datetime import date

import pytest
from django import forms as django_forms
from django.utils.translation import gettext_lazy
from hypothesis import given
from hypothesis import strategies as st

from kapstone.forms import (
    EARLIEST_DATE,
    LATEST_DATE,
    RECORD_ID_MAX,
    FilterDateField,
    FilterTextField,
    FreeTextField,
    RecordIdField,
    parse_date,
    parse_int,
    parse_month,
    parse_record_id,
)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("1", 1),
        (" 42 ", 42),
        (str(RECORD_ID_MAX), RECORD_ID_MAX),
        (str(RECORD_ID_MAX + 1), None),
        ("99999999999999999999", None),
        ("0", None),
        ("-1", None),
        ("1.5", None),
        ("1e3", None),
        ("abc", None),
        ("", None),
        (None, None),
        ("١٢٣", None),  # other scripts' digits: int() accepts them, we do not
        ("9" * 5000, None),
        ("1\x00", None),
        (True, None),
        (7, 7),
    ],
)
def test_parse_record_id(typed, expected):
    assert parse_record_id(typed) == expected


@given(st.text(max_size=40))
def test_parse_int_returns_a_number_in_range_or_none(text):
    value = parse_int(text, low=-5, high=5)
    assert value is None or -5 <= value <= 5


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2026-12-06", date(2026, 12, 6)),
        ("1900-01-01", EARLIEST_DATE),
        ("2999-12-31", LATEST_DATE),
        ("1899-12-31", None),
        ("9999-12-31", None),
        ("0001-01-01", None),
        ("2026-02-30", None),
        ("99999-01-01", None),
        ("20261206", None),
        ("not a date", None),
        (None, None),
    ],
)
def test_parse_date(typed, expected):
    assert parse_date(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2026-03", date(2026, 3, 1)),
        ("2026-3", date(2026, 3, 1)),
        ("2026-13", None),
        ("2026-00", None),
        ("0001-01", None),
        ("9999-12", None),
        ("99999999999999999999-1", None),
        ("2026", None),
        ("2026-003", None),
        ("abc-de", None),
        (None, None),
    ],
)
def test_parse_month(typed, expected):
    assert parse_month(typed) == expected


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        (RecordIdField(), "99999999999999999999", "No record has a number this large."),
        (RecordIdField(), "9" * 5000, "No record has a number this large."),
        (RecordIdField(), "0", "Enter a number of 1 or more."),
        (RecordIdField(), "abc", "Enter a whole number."),
        (FilterDateField(), "2026-02-30", "Enter a real date (year-month-day)."),
        (FilterDateField(), "0001-01-01", "Enter a date between 1 Jan 1900 and 31 Dec 2999."),
        (FilterDateField(), "9999-12-31", "Enter a date between 1 Jan 1900 and 31 Dec 2999."),
        (FilterTextField(), "x" * 101, "Type at most 100 characters."),
        (FilterTextField(), "a\x00b", "Null characters are not allowed."),
    ],
)
def test_form_fields_refuse_with_a_message_in_words(field, typed, message):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        field.clean(typed)
    assert refused.value.messages == [message]


def test_form_fields_accept_what_they_should():
    assert RecordIdField().clean(str(RECORD_ID_MAX)) == RECORD_ID_MAX
    assert FilterDateField().clean("2999-12-31") == LATEST_DATE
    assert FilterDateField().clean("") is None
    assert FilterTextField().clean("  A-1001 ") == "A-1001"


class _NameForm(django_forms.Form):
    name = FreeTextField(label=gettext_lazy("Your name"), max_length=5)


@pytest.mark.parametrize(
    ("value", "english", "spanish"),
    [
        (
            "a\x00b",
            "Your name contains a character that cannot be stored.",
            "Su nombre contiene un carácter que no se puede guardar.",
        ),
        ("abcdef", "Your name is longer than 5 characters.", "Su nombre tiene más de 5 caracteres."),
        ("  ", "Your name is required.", "Su nombre es obligatorio."),
    ],
)
def test_free_text_refusals_speak_the_language_of_the_page(value, english, spanish):
    """The portal is in Spanish too: clean_text's refusals are said in the reader's language."""
    from django.utils import translation

    for language, words in (("en", english), ("es", spanish)):
        with translation.override(language):
            form = _NameForm({"name": value})
            assert not form.is_valid()
            assert form.errors["name"] == [words]
