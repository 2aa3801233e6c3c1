from __future__ import annotations

from django import forms

CONCENTRATIONS = [("10", "10 mg/mL"), ("50", "50 mg/mL"), ("100", "100 mg/mL")]


class DoseOrderForm(forms.Form):
    mg_per_kg = forms.DecimalField(label="Dose (mg/kg)", max_digits=6, decimal_places=3)
    concentration_mg_per_ml = forms.TypedChoiceField(
        label="Vial concentration", choices=CONCENTRATIONS, coerce=str
    )
    bag_ml = forms.DecimalField(
        label="Prepared bag volume (mL)",
        required=False,
        max_digits=7,
        decimal_places=2,
        help_text="Infusions: the final volume of the prepared bag, for the pump rate in mL/h.",
    )
    adjustment_reason = forms.CharField(
        label="Reason for a dose other than the protocol's",
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class VerifyForm(forms.Form):
    weight_kg = forms.DecimalField(label="Weight on the chart (kg)", max_digits=6, decimal_places=2)
    concentration_mg_per_ml = forms.DecimalField(
        label="Concentration on the vial (mg/mL)", max_digits=6, decimal_places=2
    )


class VoidForm(forms.Form):
    reason = forms.CharField(max_length=500)


class DateTimeLocal(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M")


class StartForm(forms.Form):
    lot = forms.TypedChoiceField(label="Vial lot", coerce=int)
    started_at = forms.DateTimeField(label="Started at", widget=DateTimeLocal())
    bolus_given = forms.BooleanField(label="Bolus given at the start", required=False)

    def __init__(self, *args, lots=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["lot"].choices = [("", "—")] + [
            (
                lot.pk,
                f"{lot.lot_number} · {lot.product} · exp {lot.expiry:%Y-%m-%d} · {lot.balance_mg} mg in stock",
            )
            for lot in lots
        ]


class RateEventForm(forms.Form):
    kind = forms.ChoiceField(choices=[("change", "Change rate"), ("pause", "Pause"), ("resume", "Resume")])
    at = forms.DateTimeField(label="At", widget=DateTimeLocal())
    rate = forms.DecimalField(label="New rate", required=False, max_digits=8, decimal_places=2)
    reason = forms.CharField(max_length=500, required=False)


class CompleteForm(forms.Form):
    ended_at = forms.DateTimeField(label="Ended at", widget=DateTimeLocal())
    witness = forms.TypedChoiceField(
        label="Witness for the waste", coerce=int, required=False, empty_value=None
    )
    stopped_early = forms.BooleanField(label="Stopped before the full dose", required=False)
    stop_reason = forms.CharField(label="Why it was stopped", max_length=500, required=False)

    def __init__(self, *args, witnesses=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["witness"].choices = [("", "—")] + [
            (u.pk, u.get_full_name() or u.username) for u in witnesses
        ]
