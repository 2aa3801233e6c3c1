"""Form helpers shared by every app's web views."""

from __future__ import annotations

from django import forms

from kapstone.domain.errors import DomainError


def add_domain_error(form: forms.Form, error: DomainError) -> None:
    """Show a refusal beside the field it concerns (or at the top), with its stable code.

    The form keeps the user's input because it is re-rendered from the same bound data.
    """
    field = error.field if error.field in form.fields else None
    if field is not None and form.fields[field].widget.is_hidden:
        field = None  # errors on hidden fields (the record version) would not be seen
    form.add_error(field, forms.ValidationError(error.message, code=error.code))


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class DateTimeLocalInput(forms.DateTimeInput):
    """A date and time as the clinic's wall clock shows it (the browser's datetime-local)."""

    input_type = "datetime-local"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")
