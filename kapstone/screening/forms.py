"""The screening form, generated from the domain's questions, and the sign-off form.

The forms check shape only (an answer was given, a number is a whole number). Plausibility and
every clinical rule are the domain's: its refusals come back through ``add_domain_error`` with
their codes, beside the field they name.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms

from kapstone.domain import screening as rules
from kapstone.forms import FreeTextField

YES, NO = "yes", "no"
YES_NO = [(YES, "Yes"), (NO, "No")]

# Display groups of the one-screen form. A question the domain adds later and nobody groups
# still appears, under "Other questions" (see ``question_groups``).
GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "contraindications",
        "Contraindications",
        (
            "ketamine_hypersensitivity",
            "pregnant",
            "breastfeeding",
            "psychotic_disorder",
            "aneurysmal_vascular_disease",
            "intracerebral_hemorrhage_history",
            "uncontrolled_cardiovascular_disease",
            "severe_hepatic_impairment",
            "raised_intracranial_or_intraocular_pressure",
            "seizure_history",
            "uncontrolled_hyperthyroidism",
            "pre_eclampsia",
        ),
    ),
    ("current_state", "Current state", ("intoxicated_now", "active_ketamine_misuse", "current_mania")),
    ("medications", "Medications and drugs", ("maoi_use", "cns_depressant_use", "stimulant_use")),
    ("vitals", "Blood pressure and age", ("systolic_bp", "diastolic_bp", "age_years")),
    (
        "protocol",
        "Only for a protocol with its own criteria (e.g. KARE): leave blank otherwise",
        rules.PROTOCOL_ANSWER_NAMES,
    ),
)


def _integer_help(question: rules.Question) -> str:
    plausible = f"Plausible range {question.min_value}–{question.max_value} {question.unit}."
    return f"{question.help_text} {plausible}".strip()


def initial_from_draft(answers: dict) -> dict:
    """A draft's answers as the form's starting values (yes/no radios take "yes"/"no")."""
    return {
        name: (YES if value else NO) if isinstance(value, bool) else value for name, value in answers.items()
    }


class ScreeningForm(forms.Form):
    """One field per domain question: yes/no radios for booleans, radios for choices, number
    inputs for numbers. The protocol inputs are optional (a blank one is left out)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for question in rules.ALL_QUESTIONS:
            if question.kind in (rules.BOOLEAN, rules.CHOICE):
                field: forms.Field = forms.ChoiceField(
                    label=question.label,
                    choices=YES_NO if question.kind == rules.BOOLEAN else list(question.choices),
                    widget=forms.RadioSelect,
                    help_text=question.help_text,
                    required=question.required,
                    error_messages={"required": "Answer yes or no."},
                )
            elif question.kind == rules.DECIMAL:
                # No decimal-places or range validators: both are the domain's (invalid_answer,
                # implausible_value).
                field = forms.DecimalField(
                    label=question.label,
                    help_text=_integer_help(question),
                    required=question.required,
                    widget=forms.NumberInput({"inputmode": "decimal", "step": "0.1"}),
                )
                field.unit = question.unit  # type: ignore[attr-defined]
            else:
                # No min/max validators: plausibility is the domain's rule (code implausible_value).
                attrs = {"inputmode": "numeric", "step": "1"}
                if question.min_value is not None and question.max_value is not None:
                    attrs |= {"min": str(question.min_value), "max": str(question.max_value)}
                field = forms.IntegerField(
                    label=question.label,
                    help_text=_integer_help(question),
                    required=question.required,
                    widget=forms.NumberInput(attrs),
                )
                field.unit = question.unit  # type: ignore[attr-defined]
            self.fields[question.name] = field

    def answers(self) -> dict[str, bool | int | str]:
        """The cleaned answers in the domain's shape (booleans, whole numbers, a decimal as text,
        a choice's code); a blank protocol input is left out."""
        data = self.cleaned_data
        result: dict[str, bool | int | str] = {}
        for q in rules.ALL_QUESTIONS:
            value = data.get(q.name)
            if not q.required and value in (None, ""):
                continue
            if q.kind == rules.BOOLEAN:
                result[q.name] = value == YES
            elif q.kind == rules.DECIMAL:
                result[q.name] = str(value)
            else:
                result[q.name] = value
        return result

    def question_groups(self) -> list[FieldGroup]:
        grouped: set[str] = set()
        result = []
        for key, title, names in GROUPS:
            fields = [self[name] for name in names if name in self.fields]
            grouped.update(names)
            if fields:
                result.append(FieldGroup(key, title, fields))
        rest = [self[q.name] for q in rules.ALL_QUESTIONS if q.name not in grouped]
        if rest:
            result.append(FieldGroup("other", "Other questions", rest))
        return result


@dataclass(frozen=True)
class FieldGroup:
    key: str
    title: str
    fields: list[forms.BoundField]


APPROVE, DECLINE = "approve", "decline"


class SignOffForm(forms.Form):
    """Approve or decline the current screening, with the prescriber's written reason."""

    outcome = forms.ChoiceField(
        label="Sign-off",
        choices=[(APPROVE, "Approve"), (DECLINE, "Decline")],
        widget=forms.RadioSelect,
        error_messages={"required": "Choose approve or decline."},
    )
    reason = FreeTextField(
        label="Reason",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required to decline, and to approve a screening that needs review.",
    )

    def __init__(self, *args, decision: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if decision in (rules.INELIGIBLE, rules.DEFERRED):
            # Such a screening cannot be approved; only a documented decline is on offer.
            self.fields["outcome"].choices = [(DECLINE, "Decline")]
            self.fields["outcome"].initial = DECLINE

    @property
    def approve(self) -> bool:
        return self.cleaned_data["outcome"] == APPROVE
