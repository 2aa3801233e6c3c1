"""Monitoring forms: shape only (type, required, range of a field); the domain checks the rules."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy

from kapstone.domain.scales import ALDRETE_ITEMS, MOAAS_LEVELS
from kapstone.forms import FreeTextField
from kapstone.monitoring.models import AlertAction

VITAL_FIELDS = ("systolic_bp", "diastolic_bp", "heart_rate", "spo2", "respiratory_rate", "temperature")


class DateTimeLocal(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M")


def _number(label: str, *, decimals: int = 0, step: str = "1") -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=False,
        max_digits=6,
        decimal_places=decimals,
        widget=forms.NumberInput(attrs={"inputmode": "decimal", "step": step, "autocomplete": "off"}),
    )


class VitalsForm(forms.Form):
    """A full set in one screen: six vitals and the MOAA/S, the time defaulting to now.

    Every field is optional (a set may be partial), but at least one value is required.
    """

    observed_at = forms.DateTimeField(label="Time", widget=DateTimeLocal())
    systolic_bp = _number("Systolic (mmHg)")
    diastolic_bp = _number("Diastolic (mmHg)")
    heart_rate = _number("Heart rate (/min)")
    spo2 = _number("SpO2 (%)")
    respiratory_rate = _number("Resp. rate (/min)")
    temperature = _number("Temp (°C)", decimals=1, step="0.1")
    moaas = forms.TypedChoiceField(
        label="MOAA/S",
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "—")] + [(score, f"{score} — {text}") for score, text in MOAAS_LEVELS.items()],
    )

    def clean(self):
        data = super().clean()
        if not any(data.get(name) is not None for name in (*VITAL_FIELDS, "moaas")):
            raise forms.ValidationError("Enter at least one value.", code="no_observations")
        return data

    def observations(self) -> list[dict]:
        at = self.cleaned_data["observed_at"]
        return [
            {"code": name, "value": self.cleaned_data[name], "observed_at": at}
            for name in (*VITAL_FIELDS, "moaas")
            if self.cleaned_data.get(name) is not None
        ]


ACTION_CHOICES = [(value, label) for value, label in AlertAction.choices]


class AcknowledgeForm(forms.Form):
    # Nothing is chosen for the nurse: the record says what was done, so she says it.
    action = forms.ChoiceField(
        label="Action taken",
        choices=[("", "Choose the action taken"), *ACTION_CHOICES],
        error_messages={"required": "Choose the action taken."},
    )
    note = FreeTextField(max_length=500, required=False)
    witness = forms.TypedChoiceField(
        label="Witness for the waste (when stopping)", coerce=int, required=False, empty_value=None
    )

    def __init__(self, *args, witnesses=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["witness"].choices = [("", "—")] + [
            (u.pk, u.get_full_name() or u.username) for u in witnesses
        ]


class AldreteForm(forms.Form):
    """The modified Aldrete score, item by item. No item is pre-filled: each must be chosen at the
    bedside (a pre-filled form records a perfect score in one click)."""

    observed_at = forms.DateTimeField(label="Time", widget=DateTimeLocal())

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for item in ALDRETE_ITEMS:
            self.fields[item.code] = forms.TypedChoiceField(
                label=item.name,
                coerce=int,
                empty_value=None,
                choices=[("", "Choose a score")]
                + [(score, f"{score} — {text}") for score, text in item.levels.items()],
                error_messages={"required": f"Choose a score for {item.name}."},
            )

    def clean(self):
        data = super().clean()
        missing = [item.name for item in ALDRETE_ITEMS if not self.data.get(self.add_prefix(item.code))]
        if missing:
            raise forms.ValidationError(
                f"Choose a score for each item: {', '.join(missing)}. Nothing was saved.",
                code="aldrete_items_missing",
            )
        return data

    def answers(self) -> dict[str, int]:
        return {item.code: self.cleaned_data[item.code] for item in ALDRETE_ITEMS}


class DischargeForm(forms.Form):
    escort_confirmed = forms.BooleanField(label="An escort takes the patient home", required=False)
    driving_advice_given = forms.BooleanField(
        label="Advised not to drive or operate machinery until the next day after restful sleep",
        required=False,
    )
    override_reason = FreeTextField(
        label="Prescriber's reason to discharge against an unmet criterion",
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class DissociationAttestationForm(forms.Form):
    """A clinician's attestation that dissociation has resolved (protocols that use it)."""

    confirmed = forms.BooleanField(
        label="I have assessed the patient: dissociation has resolved", required=True
    )
    note = FreeTextField(
        label="Note (optional)", max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class CadssForm(forms.Form):
    """The CADSS (23 subjective items, 0–4), generated from the instrument definition so the form
    and the scoring cannot disagree; the version scored is stored with the answers."""

    observed_at = forms.DateTimeField(label="Time", widget=DateTimeLocal())

    def __init__(self, *args, **kwargs) -> None:
        from kapstone.domain.instruments import get_instrument

        super().__init__(*args, **kwargs)
        self.definition = get_instrument("cadss")
        for item in self.definition.items:
            self.fields[f"item_{item.number}"] = forms.TypedChoiceField(
                label=f"{item.number}. {item.text}",
                coerce=int,
                widget=forms.RadioSelect,
                choices=[(option.value, f"{option.value} {option.label}") for option in item.options],
                error_messages={"required": "Choose an answer."},
            )

    def clean(self):
        data = super().clean()
        missing = [
            str(item.number)
            for item in self.definition.items
            if not self.data.get(self.add_prefix(f"item_{item.number}"))
        ]
        if missing:
            items = missing[0] if len(missing) == 1 else f"{', '.join(missing[:-1])} and {missing[-1]}"
            raise forms.ValidationError(
                f"Choose an answer for item{'s' if len(missing) > 1 else ''} {items}. Nothing was saved.",
                code="cadss_items_missing",
            )
        return data

    def answers(self) -> list[int]:
        return [self.cleaned_data[f"item_{item.number}"] for item in self.definition.items]


class ObservationVoidForm(forms.Form):
    """Why a value is being marked entered in error. Shape only: whether a reason was given, its
    length and its characters are the service's one rule (``reason_required``, ``text_too_long``,
    ``invalid_text``), so the page shows the same refusal as the API."""

    reason = FreeTextField(
        max_length=500,
        label=gettext_lazy("Reason"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": 500, "aria-required": "true"}),
        help_text=gettext_lazy(
            "Required: what was wrong, e.g. typed 85 for 95, probe off the finger, wrong patient."
        ),
    )
