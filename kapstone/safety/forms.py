"""Forms of the safety app: shape only (types, required, ranges). The clinical rules of an
adverse event are the domain's (``validate_adverse_event``), reached through the services."""

from __future__ import annotations

from django import forms

from kapstone.domain.adverse_events import (
    ACTIONS_TAKEN,
    ADVERSE_EVENT_TERMS,
    GRADES,
    OUTCOMES,
    RELATEDNESS,
    SERIOUSNESS_CRITERIA,
)
from kapstone.forms import DateInput, FreeTextField
from kapstone.safety.models import DecisionKind


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")


def _choices(vocabulary) -> list[tuple[str, str]]:
    return [(code, choice.label) for code, choice in vocabulary.items()]


def _chosen(label: str, choices: list, what: str, **kwargs) -> forms.TypedChoiceField:
    """A required choice that starts unchosen: a clinical judgement (term, grade, relatedness,
    action, outcome) is made by the reporter, never defaulted to the first option."""
    return forms.TypedChoiceField(
        label=label,
        choices=[("", f"Choose the {what}"), *choices],
        error_messages={"required": f"Choose the {what}."},
        **kwargs,
    )


class AdverseEventForm(forms.Form):
    session = forms.TypedChoiceField(label="During session", coerce=int, required=False, empty_value=None)
    term = _chosen("Term", [(code, t.name) for code, t in ADVERSE_EVENT_TERMS.items()], "term")
    term_text = FreeTextField(label="Description (for 'Other')", max_length=500, required=False, strip=True)
    onset_at = forms.DateTimeField(label="Onset", widget=DateTimeInput())
    grade = _chosen(
        "Grade (CTCAE)",
        [(g.grade, f"{g.grade} – {g.name}") for g in GRADES.values()],
        "grade",
        coerce=int,
        empty_value=None,
    )
    serious = forms.BooleanField(label="Serious", required=False)
    seriousness_criteria = forms.MultipleChoiceField(
        label="Seriousness criteria",
        choices=_choices(SERIOUSNESS_CRITERIA),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    relatedness = _chosen("Relatedness to ketamine", _choices(RELATEDNESS), "relatedness to ketamine")
    action_taken = _chosen(
        "Action taken with ketamine", _choices(ACTIONS_TAKEN), "action taken with ketamine"
    )
    outcome = _chosen("Outcome", _choices(OUTCOMES), "outcome")
    resolved_at = forms.DateTimeField(label="Resolved", required=False, widget=DateTimeInput())

    def __init__(self, *args, sessions=(), with_session: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if with_session:
            self.fields["session"].choices = [("", "— not during a session —")] + [
                (s.pk, f"{s.scheduled_date:%Y-%m-%d} {s.title}") for s in sessions
            ]
        else:
            del self.fields["session"]


class AdverseEventUpdateForm(AdverseEventForm):
    reason = FreeTextField(
        label="Reason for the change", max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, with_session=False, **kwargs)


class ReviewForm(forms.Form):
    note = FreeTextField(label="Review", max_length=5000, widget=forms.Textarea(attrs={"rows": 4}))


class ExtraSessionRequestForm(forms.Form):
    requested_at = forms.DateTimeField(label="Requested", widget=DateTimeInput())
    note = FreeTextField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class CravingForm(forms.Form):
    rated_on = forms.DateField(label="Rated on", widget=DateInput())
    score = forms.DecimalField(
        label="Craving for ketamine (0–10)", min_value=0, max_value=10, max_digits=3, decimal_places=1
    )


class MisuseForm(forms.Form):
    active = forms.TypedChoiceField(
        label="Active substance misuse",
        choices=[("yes", "Present"), ("no", "No longer present")],
        coerce=lambda value: value == "yes",
    )
    note = FreeTextField(label="What was found", max_length=500, widget=forms.Textarea(attrs={"rows": 2}))


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=DecisionKind.choices)
    reason = FreeTextField(max_length=500, widget=forms.Textarea(attrs={"rows": 3}))


class SafetyPlanForm(forms.Form):
    plan = FreeTextField(
        label="Safety plan",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 12}),
        help_text=(
            "Stanley & Brown's six steps: warning signs; the patient's own coping strategies; people "
            "and places that distract; people to ask for help; professionals and crisis lines (988, "
            "or 911 in an emergency); making the surroundings safe."
        ),
    )
