"""Outcome forms: a questionnaire generated from the domain's instrument definition, the
one-screen use calendar (a grid of days), a sample's toxicology results, the flag
acknowledgement and the follow-up record.

The forms check shape only (an answer was chosen, a number is a number). Scoring, the
calendar's consistency rules and every refusal code are the domain's and the services': their
DomainErrors come back through :func:`add_outcome_error` beside the field they name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django import forms

from kapstone.domain import tlfb
from kapstone.domain.errors import DomainError
from kapstone.domain.instruments import SEXES, InstrumentDefinition
from kapstone.forms import DateInput, FreeTextField, add_domain_error
from kapstone.outcomes.models import (
    CSSRS_DUE_HOURS_BOUNDS,
    CSSRS_DUE_HOURS_DEFAULT,
    ToxicologyMethod,
    ToxicologyResultValue,
)

#: The substances offered on the forms (the API accepts any name).
SUBSTANCES = ("alcohol", "cocaine", "opioids", "cannabis", "amphetamines", "benzodiazepines", "ketamine")
SUBSTANCE_CHOICES = [(s, s.capitalize()) for s in SUBSTANCES]
NOT_TESTED = ""


def _item_field(number: int) -> str:
    return f"item_{number}"


class QuestionnaireForm(forms.Form):
    """One radio row per item of ``definition`` (arrow keys choose within a row, Tab moves on);
    ``sex`` only where the bands need it and the record does not say (AUDIT-C for a patient
    whose sex at birth is intersex or unknown); the follow-up time point of the patient's course."""

    administered_on = forms.DateField(label="Completed on", widget=DateInput())

    def __init__(
        self, *args, definition: InstrumentDefinition, ask_sex: bool, time_points=(), **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.definition = definition
        for item in definition.items:
            self.fields[_item_field(item.number)] = forms.TypedChoiceField(
                label=f"{item.number}. {item.text}",
                # Values between a scale's anchors (CIWA-Ar 2, 3, 5, 6) have no words: the number alone.
                choices=[
                    (str(o.value), f"{o.label} ({o.value})" if o.label else str(o.value))
                    for o in item.options
                ],
                coerce=int,
                widget=forms.RadioSelect,
                error_messages={
                    "required": "Choose an answer.",
                    # A value the item does not offer (COWS gooseflesh is 0, 3 or 5): the same refusal
                    # as the domain's answer_out_of_range, in words.
                    "invalid_choice": f"Choose one of this item's answers ({', '.join(map(str, item.allowed_values))}).",
                },
            )
        if ask_sex:
            self.fields["sex"] = forms.ChoiceField(
                label="Sex for scoring",
                choices=[(s, s.capitalize()) for s in SEXES],
                widget=forms.RadioSelect,
                help_text="The AUDIT-C cut-off differs by sex (≥ 4 men, ≥ 3 women) and the record "
                "does not say male or female; choose the one the clinician judges appropriate.",
                error_messages={"required": "Choose the sex to score by."},
            )
        if time_points:
            self.fields["time_point"] = forms.TypedChoiceField(
                label="Time point",
                choices=[("", "Not a study time point"), *time_points],
                coerce=int,
                empty_value=None,
                required=False,
            )

    def item_fields(self) -> list[forms.BoundField]:
        return [self[_item_field(item.number)] for item in self.definition.items]

    def answers(self) -> list[int]:
        return [self.cleaned_data[_item_field(item.number)] for item in self.definition.items]


def add_outcome_error(
    form: forms.Form, error: DomainError, *, fields_by_index: dict[int, str] | None = None
) -> None:
    """Put a refusal beside its field: ``answers[i]`` → item i+1, ``days[i].x`` → the grid row of
    the i-th day given, ``time_point``/``sex``/… as named; anything else at the top."""
    field = error.field or ""
    match = re.match(r"^(answers|days|results)\[(\d+)\]", field)
    if match:
        index = int(match.group(2))
        if match.group(1) == "answers":
            field = _item_field(index + 1)
        else:
            field = (fields_by_index or {}).get(index, "")
    add_domain_error(form, DomainError(error.code, error.message, field=field or None))


# --- Use calendar ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GridRow:
    day: date
    fields: list[forms.BoundField]
    errors: list[Any]


class UseCalendarForm(forms.Form):
    """One row per day of the window. Alcohol: standard drinks (0 = none). Other substances:
    used yes/no and an amount. A blank row is a day not reported (never assumed abstinent)."""

    amount_unit = FreeTextField(
        label="Unit of amounts",
        max_length=20,
        required=False,
        help_text="For other substances, e.g. g, pills, bags; blank if no amounts.",
    )

    def __init__(self, *args, substance: str, days: list[date], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.substance = substance
        self.days = days
        self.alcohol = substance == tlfb.ALCOHOL
        for day in days:
            key = day.isoformat()
            if self.alcohol:
                self.fields[f"drinks_{key}"] = forms.DecimalField(
                    label=f"Standard drinks on {key}",
                    required=False,
                    min_value=0,
                    max_value=99,
                    max_digits=3,
                    decimal_places=1,
                    widget=forms.NumberInput(
                        attrs={"step": "0.5", "inputmode": "decimal", "class": "tlfb-num"}
                    ),
                )
            else:
                self.fields[f"used_{key}"] = forms.ChoiceField(
                    label=f"Used on {key}",
                    required=False,
                    choices=[("", "—"), ("no", "No"), ("yes", "Yes")],
                )
                self.fields[f"amount_{key}"] = forms.DecimalField(
                    label=f"Amount on {key}",
                    required=False,
                    min_value=0,
                    max_digits=8,
                    decimal_places=2,
                    widget=forms.NumberInput(
                        attrs={"step": "any", "inputmode": "decimal", "class": "tlfb-num"}
                    ),
                )
            self.fields[f"marker_{key}"] = FreeTextField(
                name="marker",
                label=f"Marker on {key}",
                required=False,
                max_length=100,
                widget=forms.TextInput(attrs={"placeholder": "holiday, birthday…", "class": "tlfb-marker"}),
            )
        self.given_days: list[date] = []

    def rows(self) -> list[GridRow]:
        rows = []
        for day in self.days:
            key = day.isoformat()
            names = [f"drinks_{key}"] if self.alcohol else [f"used_{key}", f"amount_{key}"]
            names.append(f"marker_{key}")
            fields = [self[name] for name in names]
            rows.append(GridRow(day=day, fields=fields, errors=[e for f in fields for e in f.errors]))
        return rows

    def entries(self) -> list[dict[str, Any]]:
        """The reported days in the service's shape; a row with nothing in it is left out."""
        data = self.cleaned_data
        entries = []
        self.given_days = []
        unit = data.get("amount_unit") or None
        for day in self.days:
            key = day.isoformat()
            marker = data.get(f"marker_{key}") or None
            if self.alcohol:
                drinks: Decimal | None = data.get(f"drinks_{key}")
                if drinks is None and marker is None:
                    continue
                entry = {"day": day, "standard_drinks": drinks, "marker": marker}
            else:
                used = data.get(f"used_{key}")
                amount = data.get(f"amount_{key}")
                if not used and amount is None and marker is None:
                    continue
                entry = {
                    "day": day,
                    "used": {"yes": True, "no": False}.get(used),
                    "amount": amount,
                    "amount_unit": unit if amount is not None else None,
                    "marker": marker,
                }
            entries.append(entry)
            self.given_days.append(day)
        return entries

    def fields_by_index(self) -> dict[int, str]:
        """Where the i-th day given to the service shows its errors."""
        first = "drinks" if self.alcohol else "used"
        return {i: f"{first}_{day.isoformat()}" for i, day in enumerate(self.given_days)}


# --- Toxicology --------------------------------------------------------------------------------


class ToxicologyForm(forms.Form):
    """One sample: its date, method, whether the results are confirmed, and a result per
    substance tested (blank = not tested)."""

    collected_on = forms.DateField(label="Collected on", widget=DateInput())
    method = forms.ChoiceField(label="Method", choices=ToxicologyMethod.choices)
    confirmed = forms.BooleanField(
        label="Confirmed (laboratory) result",
        required=False,
        help_text="A confirmed positive counts as use on the collection day in the calendar summaries.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for substance in SUBSTANCES:
            self.fields[f"result_{substance}"] = forms.ChoiceField(
                label=substance.capitalize(),
                required=False,
                choices=[(NOT_TESTED, "Not tested"), *ToxicologyResultValue.choices],
            )

    def result_fields(self) -> list[forms.BoundField]:
        return [self[f"result_{s}"] for s in SUBSTANCES]

    def results(self) -> list[dict[str, Any]]:
        data = self.cleaned_data
        return [
            {"substance": s, "result": data[f"result_{s}"], "confirmed": data["confirmed"]}
            for s in SUBSTANCES
            if data.get(f"result_{s}")
        ]

    def fields_by_index(self) -> dict[int, str]:
        tested = [s for s in SUBSTANCES if self.cleaned_data.get(f"result_{s}")]
        return {i: f"result_{s}" for i, s in enumerate(tested)}


class AcknowledgeForm(forms.Form):
    note = FreeTextField(
        label="What was done",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="E.g. safety assessment done, plan agreed, crisis line given.",
        error_messages={"required": "Say what was done about the alert."},
    )


class FollowUpForm(forms.Form):
    done_on = forms.DateField(label="Done on", widget=DateInput())


class CssrsDueHoursForm(forms.Form):
    """A clinic admin's time to complete the C-SSRS after a PHQ-9 item 9 above 0."""

    clinic = forms.TypedChoiceField(coerce=int, label="Clinic")
    due_hours = forms.IntegerField(
        label="Hours to complete the C-SSRS",
        min_value=CSSRS_DUE_HOURS_BOUNDS[0],
        max_value=CSSRS_DUE_HOURS_BOUNDS[1],
        help_text=(
            f"Whole hours, {CSSRS_DUE_HOURS_BOUNDS[0]}–{CSSRS_DUE_HOURS_BOUNDS[1]}. "
            f"Local policy; Kapstone's default is {CSSRS_DUE_HOURS_DEFAULT} hours. "
            "Tasks already open keep their due time."
        ),
        error_messages={
            "required": "Give the number of hours.",
            "invalid": "Give a whole number of hours.",
            "min_value": f"At least {CSSRS_DUE_HOURS_BOUNDS[0]} hour.",
            "max_value": f"At most {CSSRS_DUE_HOURS_BOUNDS[1]} hours (a week).",
        },
    )

    def __init__(self, *args, clinics=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["clinic"].choices = [(c.pk, c.name) for c in clinics]
