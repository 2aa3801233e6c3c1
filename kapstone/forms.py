"""Form helpers shared by every app's web views, and the one parser of what people type into
filters and URLs (record ids, dates, months, counts), with the bounds every view and API uses."""

from __future__ import annotations

from datetime import date

from django import forms
from django.contrib import messages
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.http import HttpRequest
from django.utils.translation import gettext as _

from kapstone.domain.errors import DomainError
from kapstone.domain.text import clean_text


def add_domain_error(form: forms.Form, error: DomainError) -> None:
    """Show a refusal beside the field it concerns (or at the top), with its stable code.

    The form keeps the user's input because it is re-rendered from the same bound data.
    """
    field = error.field if error.field in form.fields else None
    if field is not None and form.fields[field].widget.is_hidden:
        field = None  # errors on hidden fields (the record version) would not be seen
    form.add_error(field, forms.ValidationError(error.message, code=error.code))


def message_refusal(request: HttpRequest, error: DomainError) -> None:
    """Show a refusal of an action that has no form to re-render (a button on a record page): its
    words on screen, its stable code in the message's ``data-code`` for tools and tests."""
    messages.error(request, error.message, extra_tags=error.code)


# --- Parsing filters and URL values -----------------------------------------------------------
#
# A filter or a URL is typed by a person or a script: it may hold a number beyond what the
# database can store (SQLite and psycopg raise OverflowError), a date at the edge of Python's
# range (the day after 9999-12-31, or 0001-01-01 midnight in a zone east of UTC, overflow), or
# kilobytes of junk. These bounds are what every view, form and API operation accepts; a value
# outside them is refused with a message (forms, API) or treated as absent (plain links).

#: The largest row id the databases hold (a signed 64-bit integer: PostgreSQL bigint, SQLite INTEGER).
RECORD_ID_MAX = 2**63 - 1
#: The dates a filter may name: before and after them nothing is on record.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2999, 12, 31)
#: The longest text a filter takes (a name or an MRN is far shorter).
FILTER_TEXT_MAX = 100
# A number typed into a filter is at most this many characters (int() of a longer string is slow).
_NUMBER_CHARS_MAX = 20

_DATE_RANGE_MESSAGE = f"Enter a date between {EARLIEST_DATE.day} {EARLIEST_DATE:%b %Y} and {LATEST_DATE.day} {LATEST_DATE:%b %Y}."


def parse_int(value: object, *, low: int, high: int) -> int | None:
    """``value`` (a query-string or path value) as a whole number in ``[low, high]``, else None.

    Accepts ASCII digits with an optional sign only: no spaces, decimals, exponents or other
    scripts' digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if not (digits.isascii() and digits.isdigit()) or len(text) > _NUMBER_CHARS_MAX:
            return None
        number = int(text)
    else:
        return None
    return number if low <= number <= high else None


def parse_record_id(value: object) -> int | None:
    """A row id (1 … ``RECORD_ID_MAX``) from a query string or path, else None."""
    return parse_int(value, low=1, high=RECORD_ID_MAX)


def parse_date(value: object) -> date | None:
    """An ISO date (``YYYY-MM-DD``) between ``EARLIEST_DATE`` and ``LATEST_DATE``, else None."""
    if isinstance(value, date):
        day = value
    elif isinstance(value, str) and len(value.strip()) == 10:
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    return day if EARLIEST_DATE <= day <= LATEST_DATE else None


def parse_month(value: object) -> date | None:
    """The first day of an ISO month (``YYYY-MM``) between the bounds of :func:`parse_date`, else
    None."""
    if not isinstance(value, str):
        return None
    year, dash, month = value.strip().partition("-")
    if not dash or len(year) != 4:
        return None
    y, m = parse_int(year, low=EARLIEST_DATE.year, high=LATEST_DATE.year), parse_int(month, low=1, high=12)
    if y is None or m is None or len(month) > 2:
        return None
    return date(y, m, 1)


def parse_text(value: object, *, max_length: int = FILTER_TEXT_MAX) -> str:
    """Text from a query string for a search: trimmed, without NUL characters (PostgreSQL cannot
    take them), at most ``max_length`` characters; anything not text is empty."""
    if not isinstance(value, str):
        return ""
    return value.replace("\x00", "").strip()[:max_length]


class RecordIdField(forms.IntegerField):
    """A row id typed into a form: a whole number from 1 to ``RECORD_ID_MAX``."""

    default_error_messages = {
        "invalid": "Enter a whole number.",
        "min_value": "Enter a number of 1 or more.",
        "max_value": "No record has a number this large.",
    }

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", RECORD_ID_MAX)
        super().__init__(**kwargs)

    def to_python(self, value):
        if isinstance(value, str) and len(value.strip()) > _NUMBER_CHARS_MAX:
            raise forms.ValidationError(self.error_messages["max_value"], code="max_value")
        return super().to_python(value)


class FilterDateField(forms.DateField):
    """A date typed into a filter: ISO format, between ``EARLIEST_DATE`` and ``LATEST_DATE``."""

    default_error_messages = {"invalid": "Enter a real date (year-month-day)."}

    def __init__(self, **kwargs) -> None:
        # The date picker offers only the days the filter accepts.
        kwargs.setdefault(
            "widget", DateInput(attrs={"min": f"{EARLIEST_DATE:%Y-%m-%d}", "max": f"{LATEST_DATE:%Y-%m-%d}"})
        )
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.validators.append(MinValueValidator(EARLIEST_DATE, message=_DATE_RANGE_MESSAGE))
        self.validators.append(MaxValueValidator(LATEST_DATE, message=_DATE_RANGE_MESSAGE))


class FilterTextField(forms.CharField):
    """Text typed into a filter (a name, an MRN): trimmed, at most ``FILTER_TEXT_MAX`` characters,
    no NUL character (forms.CharField refuses it)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", FILTER_TEXT_MAX)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.validators = [
            MaxLengthValidator(self.max_length, message=f"Type at most {self.max_length} characters.")
            if isinstance(v, MaxLengthValidator)
            else v
            for v in self.validators
        ]


class FreeTextField(forms.CharField):
    """Free text typed into a form (a reason, a note, a name), cleaned by the one rule of the
    services and the API (:func:`kapstone.domain.text.clean_text`): the same codes beside the
    field (``invalid_text``, ``text_too_long``, ``<field>_required``) and the same words.

    ``max_length`` is the limit (also the browser's ``maxlength``); ``name`` what the text is when
    the field's name does not say (the code of a missing value: ``<name>_required``);
    ``missing_message`` the words for a required value left empty."""

    def __init__(
        self, *, max_length: int, name: str | None = None, missing_message: str | None = None, **kwargs
    ) -> None:
        super().__init__(max_length=max_length, **kwargs)
        # Django's own length and NUL checks answer with other codes; clean_text does both.
        self.validators = []
        self.text_name = name
        self.missing_message = missing_message
        self.field_name = "text"

    def get_bound_field(self, form: forms.BaseForm, field_name: str) -> forms.BoundField:
        # The form's copy of the field learns its name, for the code of a missing value.
        self.field_name = field_name
        return super().get_bound_field(form, field_name)

    def clean(self, value: object) -> str:
        # A form's own words for a missing value (error_messages["required"]) are kept.
        custom = self.error_messages["required"] != forms.Field.default_error_messages["required"]
        missing = self.missing_message or (self.error_messages["required"] if custom else None)
        try:
            return clean_text(
                value,
                field=self.field_name,
                name=self.text_name,
                max_chars=self.max_length,
                required=self.required,
                label=str(self.label) if self.label else None,
                missing_message=missing,
            )
        except DomainError as error:
            raise forms.ValidationError(self.words_for(error, missing), code=error.code) from None

    def words_for(self, error: DomainError, missing: str | None) -> str:
        """The refusal in the reader's language: clean_text's words (English, for the API and
        the services) said again through gettext, so a Spanish page refuses in Spanish."""
        words = str(self.label) if self.label else self.field_name.replace("_", " ").capitalize()
        if error.code == "text_too_long":
            return _("%(words)s is longer than %(limit)s characters.") % {
                "words": words,
                "limit": f"{self.max_length:,}",
            }
        if error.code == "invalid_text":
            return _("%(words)s contains a character that cannot be stored.") % {"words": words}
        return str(missing) if missing else _("%(words)s is required.") % {"words": words}


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class DateTimeLocalInput(forms.DateTimeInput):
    """A date and time picker (``datetime-local``), read and shown in the current time zone
    (the view sets the clinic's)."""

    input_type = "datetime-local"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")
