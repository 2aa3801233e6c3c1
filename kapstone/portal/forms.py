"""The public pre-screen's forms: the questions, and the request to be contacted.

The forms check shape only (a number, a choice); the pre-screen's rules are the domain's
(:mod:`kapstone.domain.prescreen`). Words are translatable (English and Spanish).
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from kapstone.domain.prescreen import AGE_RANGE_YEARS, SUBSTANCES, US_REGIONS
from kapstone.forms import FreeTextField

YES, NO = "yes", "no"
YES_NO = [(YES, _("Yes")), (NO, _("No"))]

SUBSTANCE_CHOICES = [
    ("alcohol", _("Alcohol")),
    ("opioids", _("Opioids (heroin, fentanyl, pain pills)")),
    ("cocaine", _("Cocaine or crack")),
    ("methamphetamine", _("Methamphetamine")),
    ("cannabis", _("Cannabis")),
    ("other", _("Something else")),
]
assert [code for code, _label in SUBSTANCE_CHOICES] == list(SUBSTANCES)

SELF_HARM_CHOICES = [
    ("no", _("No")),
    ("past", _("Yes, but not in the past month")),
    ("now", _("Yes, in the past month")),
]
MODALITY_CHOICES = [("any", _("In person or partly online")), ("in_person", _("Only in person"))]
LANGUAGE_CHOICES = [("en", "English"), ("es", "Español")]
REGION_CHOICES = [("", _("Prefer not to say")), *sorted((code, code) for code in US_REGIONS if code != "US"),
                  ("XX", _("Outside the United States"))]  # fmt: skip


def _yes_no(label: Any, help_text: Any = "") -> forms.ChoiceField:
    return forms.ChoiceField(
        label=label,
        help_text=help_text,
        choices=YES_NO,
        widget=forms.RadioSelect,
        error_messages={"required": _("Please answer yes or no.")},
    )


class PrescreenForm(forms.Form):
    """The questions. ``answers()`` gives them in the domain's shape."""

    age_years = forms.IntegerField(
        label=_("How old are you?"),
        min_value=AGE_RANGE_YEARS[0],
        max_value=AGE_RANGE_YEARS[1],
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
        error_messages={
            "required": _("Please enter your age."),
            "invalid": _("Enter your age as a whole number of years."),
            "min_value": _("Enter your age as a whole number of years."),
            "max_value": _("Enter your age as a whole number of years."),
        },
    )
    substances = forms.MultipleChoiceField(
        label=_("Which do you want help with?"),
        help_text=_("Choose all that apply."),
        choices=SUBSTANCE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one.")},
    )
    pregnant_or_breastfeeding = _yes_no(_("Are you pregnant or breastfeeding?"))
    psychosis_history = _yes_no(
        _("Have you ever been told you have schizophrenia or another psychotic illness, or had psychosis?"),
        _("Psychosis means losing touch with reality: hearing voices or believing things that are not true."),
    )
    ketamine_allergy = _yes_no(_("Have you ever had an allergic or bad reaction to ketamine?"))
    heart_or_bp_problem = _yes_no(
        _("Do you have a heart or blood-pressure problem?"),
        _(
            "High blood pressure that is not controlled, heart disease, an aneurysm, a stroke or bleeding in the brain."
        ),
    )
    ketamine_misuse_history = _yes_no(_("Have you ever used ketamine other than as prescribed?"))
    withdrawal_risk = _yes_no(
        _("When you stop drinking or using, do you get shakes, sweats, seizures or hallucinations?"),
        _("This matters for heavy daily use: stopping suddenly can be dangerous."),
    )
    self_harm = forms.ChoiceField(
        label=_("Have you had thoughts of ending your life?"),
        choices=SELF_HARM_CHOICES,
        widget=forms.RadioSelect,
        error_messages={"required": _("Please choose an answer.")},
    )
    region = forms.ChoiceField(label=_("Where do you live?"), choices=REGION_CHOICES, required=False)
    language = forms.ChoiceField(
        label=_("Which language would you like to be seen in?"), choices=LANGUAGE_CHOICES
    )
    modality = forms.ChoiceField(
        label=_("How would you like to be seen?"),
        choices=MODALITY_CHOICES,
        widget=forms.RadioSelect,
        initial="any",
    )

    def answers(self) -> dict[str, Any]:
        data = self.cleaned_data
        answers: dict[str, Any] = {
            "age_years": data["age_years"],
            "substances": list(data["substances"]),
            "self_harm": data["self_harm"],
            "language": data["language"],
            "modality": data["modality"],
        }
        for name in (
            "pregnant_or_breastfeeding",
            "psychosis_history",
            "ketamine_allergy",
            "heart_or_bp_problem",
            "ketamine_misuse_history",
            "withdrawal_risk",
        ):
            answers[name] = data[name] == YES
        if data.get("region") and data["region"] != "XX":
            answers["region"] = data["region"]
        elif data.get("region") == "XX":
            answers["region"] = "XX-XX"  # outside the US: no US region, the crisis block says so
        return answers

    def first_error_id(self) -> str | None:
        """The id of the first field in error, for moving the focus there."""
        for name in self.fields:
            if name in self.errors:
                return self[name].auto_id
        return None


class ContactForm(forms.Form):
    """The request to be contacted by one of the matched clinics; the answers travel with it."""

    clinic_id = forms.TypedChoiceField(
        label=_("Which clinic should contact you?"),
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose a clinic."),
            "invalid_choice": _("Choose one of the clinics shown."),
        },
    )
    name = FreeTextField(
        label=_("Your name"), max_length=120, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    email = FreeTextField(label=_("E-mail"), max_length=254, required=False,
                            widget=forms.EmailInput(attrs={"autocomplete": "email"}))  # fmt: skip
    phone = FreeTextField(label=_("Phone"), max_length=40, required=False,
                            widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}))  # fmt: skip
    preferred_time = FreeTextField(label=_("Best time to reach you"), max_length=120, required=False)
    consent_to_contact = forms.BooleanField(
        label=_("I agree that this clinic may contact me about treatment, and may keep what I entered here."),
        error_messages={"required": _("Tick the box to agree that the clinic may contact you.")},
    )
    # A field people never see (hidden by the style sheet, skipped by the keyboard and screen
    # readers); automated form fillers complete it. A filled one is dropped without a trace.
    website = forms.CharField(required=False, label=_("Leave this empty"))
    answers = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, clinic_choices: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["clinic_id"].choices = clinic_choices
        self.fields["name"].error_messages["required"] = _("Tell us your name.")

    def parsed_answers(self) -> Any:
        try:
            return json.loads(self.cleaned_data["answers"])
        except (ValueError, KeyError):
            return None

    def first_error_id(self) -> str | None:
        for name in self.fields:
            if name in self.errors:
                return self[name].auto_id
        return None
