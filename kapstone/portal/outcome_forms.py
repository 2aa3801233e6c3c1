"""The patient's own forms: one questionnaire (a radio group per item) and a block of days of
the use calendar. They check shape only (an answer chosen, a number that is a number); scoring,
the calendar's rules and the window of days are the domain's and the services', whose refusals
come back beside the field they name (``add_domain_error``)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django import forms
from django.utils.translation import gettext as _

from kapstone.domain import tlfb
from kapstone.domain.errors import DomainError
from kapstone.domain.instruments import InstrumentDefinition
from kapstone.forms import add_domain_error
from kapstone.portal.outcome_selectors import CalendarDay, drinks_text

YES, NO, UNSURE = "yes", "no", "unsure"


def item_field(number: int) -> str:
    return f"item_{number}"


class PatientQuestionnaireForm(forms.Form):
    """One radio group per item, in the instrument's published wording and item order."""

    def __init__(self, *args: Any, definition: InstrumentDefinition, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.definition = definition
        for item in definition.items:
            self.fields[item_field(item.number)] = forms.TypedChoiceField(
                label=item.text,
                choices=[(str(o.value), o.label) for o in item.options],
                coerce=int,
                widget=forms.RadioSelect,
                error_messages={
                    "required": _("Choose an answer."),
                    "invalid_choice": _("Choose one of the answers shown."),
                },
            )

    def items(self) -> list[tuple[Any, forms.BoundField]]:
        return [(item, self[item_field(item.number)]) for item in self.definition.items]

    def answers(self) -> list[int]:
        return [self.cleaned_data[item_field(item.number)] for item in self.definition.items]

    def add_refusal(self, error: DomainError) -> None:
        """A refusal of ``answers[i]`` beside item i+1; anything else at the top."""
        match = re.match(r"^answers\[(\d+)\]$", error.field or "")
        field = item_field(int(match.group(1)) + 1) if match else None
        add_domain_error(self, DomainError(error.code, error.message, field=field))

    def first_error_id(self) -> str | None:
        for item, bound in self.items():
            if bound.errors:
                return f"q-{item.number}"
        return None


class PatientCalendarForm(forms.Form):
    """The days of one block of the calendar that the patient may fill in (the clinic's days are
    shown, not asked). Alcohol: standard drinks (0 for none) or "I don't remember"; another
    substance: used yes / no / "I don't remember". Every day shown needs an answer, so that a
    day is never left blank by mistake."""

    def __init__(self, *args: Any, substance: str, days: list[CalendarDay], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.substance = substance
        self.alcohol = substance == tlfb.ALCOHOL
        self.days = [d for d in days if not d.by_clinic]
        for entry in self.days:
            key = entry.day.isoformat()
            if self.alcohol:
                self.fields[f"drinks_{key}"] = forms.DecimalField(
                    label=_("Standard drinks"),
                    required=False,
                    min_value=0,
                    max_value=99,
                    max_digits=3,
                    decimal_places=1,
                    widget=forms.NumberInput(attrs={"step": "0.5", "inputmode": "decimal", "min": "0"}),
                    error_messages={
                        "invalid": _("Enter a number, such as 0, 2 or 1.5."),
                        "min_value": _("Enter 0 or more."),
                        "max_value": _("Enter 99 or fewer."),
                        "max_digits": _("Enter 99 or fewer."),
                        "max_decimal_places": _("Use whole or half drinks, such as 1.5."),
                        "max_whole_digits": _("Enter 99 or fewer."),
                    },
                )
                self.fields[f"unsure_{key}"] = forms.BooleanField(label=_("I don't remember"), required=False)
                if entry.row is not None:
                    self.initial.setdefault(f"drinks_{key}", drinks_text(entry.row.standard_drinks))
            else:
                self.fields[f"used_{key}"] = forms.ChoiceField(
                    label=_("Did you use it?"),
                    choices=[(NO, _("No")), (YES, _("Yes")), (UNSURE, _("I don't remember"))],
                    widget=forms.RadioSelect,
                    error_messages={"required": _("Choose an answer for this day.")},
                )
                if entry.row is not None:
                    self.initial.setdefault(f"used_{key}", YES if entry.row.used else NO)

    def first_field(self, day: date) -> str:
        return f"{'drinks' if self.alcohol else 'used'}_{day.isoformat()}"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.alcohol:
            return data
        for entry in self.days:
            key = entry.day.isoformat()
            drinks, unsure = data.get(f"drinks_{key}"), data.get(f"unsure_{key}")
            if f"drinks_{key}" in self.errors:
                continue
            if drinks is None and not unsure:
                self.add_error(
                    f"drinks_{key}",
                    _('Enter the number of standard drinks (0 if none), or tick "I don\'t remember".'),
                )
            elif drinks is not None and unsure:
                self.add_error(f"drinks_{key}", _('Enter a number or tick "I don\'t remember", not both.'))
        return data

    def rows(self) -> list[dict[str, Any]]:
        """For the template: each day shown, with its fields when the patient fills it in."""
        rows = []
        for entry in self.days:
            key = entry.day.isoformat()
            if self.alcohol:
                fields = {"drinks": self[f"drinks_{key}"], "unsure": self[f"unsure_{key}"]}
                errors = self[f"drinks_{key}"].errors
            else:
                fields = {"used": self[f"used_{key}"]}
                errors = self[f"used_{key}"].errors
            rows.append({"day": entry.day, "key": key, "fields": fields, "errors": errors})
        return rows

    def entries(self) -> list[dict[str, Any]]:
        """The days in the portal service's shape; a day not remembered carries no value."""
        data = self.cleaned_data
        entries = []
        for entry in self.days:
            key = entry.day.isoformat()
            if self.alcohol:
                drinks = data.get(f"drinks_{key}")
                entries.append(
                    {"day": entry.day} if drinks is None else {"day": entry.day, "standard_drinks": drinks}
                )
            else:
                used = data.get(f"used_{key}")
                entries.append(
                    {"day": entry.day} if used == UNSURE else {"day": entry.day, "used": used == YES}
                )
        return entries

    def add_refusal(self, error: DomainError) -> None:
        """A refusal of ``days[i]`` beside the i-th day of the block; anything else at the top."""
        match = re.match(r"^days\[(\d+)\]", error.field or "")
        field = None
        if match and int(match.group(1)) < len(self.days):
            field = self.first_field(self.days[int(match.group(1))].day)
        add_domain_error(self, DomainError(error.code, error.message, field=field))

    def first_error_id(self) -> str | None:
        for entry in self.days:
            if self[self.first_field(entry.day)].errors:
                return f"day-{entry.day.isoformat()}"
        return None
