from __future__ import annotations

from django import forms

from kapstone.domain.sessions import PREGNANCY_TEST_RESULTS, URINE_DRUG_SCREEN_RESULTS
from kapstone.forms import DateInput, FreeTextField


class EnrolForm(forms.Form):
    protocol = forms.ChoiceField(label="Protocol")
    start_date = forms.DateField(widget=DateInput())
    arm = FreeTextField(label="Research arm (optional)", max_length=40, required=False)

    def __init__(self, *args, protocols=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["protocol"].choices = [("", "—")] + [
            (f"{p.slug}@{p.version}", f"{p.title} (v{p.version})") for p in protocols
        ]


class CourseStatusForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("pause", "Pause"), ("resume", "Resume"), ("complete", "Complete"), ("withdraw", "Withdraw")]
    )
    reason = FreeTextField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class TransitionForm(forms.Form):
    to = forms.CharField(max_length=20)
    reason = FreeTextField(max_length=500, required=False)


class RescheduleForm(forms.Form):
    scheduled_date = forms.DateField(widget=DateInput())
    start_time = forms.TimeField(required=False, widget=forms.TimeInput(attrs={"type": "time"}))
    room = FreeTextField(max_length=60, required=False)
    reason = FreeTextField(max_length=500)


def _choices(values, blank="—"):
    return [("", blank)] + [(v, v.capitalize()) for v in values]


class DayOfChecksForm(forms.Form):
    """One screen, top to bottom in the order a nurse does them."""

    breath_alcohol_g_per_210l = forms.DecimalField(
        label="Breath alcohol (g/210 L)",
        min_value=0,
        max_value=1,
        decimal_places=3,
        max_digits=4,
        help_text="Must read 0.000 to proceed.",
    )
    urine_drug_screen_result = forms.ChoiceField(
        label="Urine drug screen", choices=_choices(URINE_DRUG_SCREEN_RESULTS, "not done"), required=False
    )
    childbearing_potential = forms.BooleanField(label="Of child-bearing potential", required=False)
    pregnancy_test_result = forms.ChoiceField(
        label="Pregnancy test", choices=_choices(PREGNANCY_TEST_RESULTS, "not done"), required=False
    )
    systolic_bp = forms.IntegerField(label="Systolic BP (mmHg)", min_value=40, max_value=300)
    diastolic_bp = forms.IntegerField(label="Diastolic BP (mmHg)", min_value=20, max_value=200)
    fasting_hours = forms.DecimalField(
        label="Fasting since (hours)", min_value=0, max_value=72, decimal_places=1, max_digits=4
    )
    escort_confirmed = forms.BooleanField(label="Escort home confirmed", required=False)

    def __init__(self, *args, overridable=(), can_override=False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.override_fields = []
        if can_override:
            for check in overridable:
                name = f"override_{check}"
                self.fields[name] = FreeTextField(
                    name="reason",
                    label=f"Override '{check.replace('_', ' ')}' — prescriber's reason",
                    max_length=500,
                    required=False,
                    help_text="Only if this check fails and you decide to proceed.",
                )
                self.override_fields.append(name)

    def inputs(self) -> dict:
        data = self.cleaned_data
        return {
            "breath_alcohol_g_per_210l": data["breath_alcohol_g_per_210l"],
            "urine_drug_screen_result": data["urine_drug_screen_result"] or None,
            "childbearing_potential": data["childbearing_potential"],
            "pregnancy_test_result": data["pregnancy_test_result"] or None,
            "systolic_bp": data["systolic_bp"],
            "diastolic_bp": data["diastolic_bp"],
            "fasting_hours": data["fasting_hours"],
            "escort_confirmed": data["escort_confirmed"],
        }

    def overrides(self) -> dict[str, str]:
        return {
            name.removeprefix("override_"): self.cleaned_data.get(name, "") for name in self.override_fields
        }


class CloneForm(forms.Form):
    note = FreeTextField(
        label="What changes and why", max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )
