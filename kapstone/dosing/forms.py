from __future__ import annotations

from django import forms

from kapstone.forms import FreeTextField

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
    adjustment_reason = FreeTextField(
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
    reason = FreeTextField(max_length=500)


class DateTimeLocal(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M")


#: Lot rows the start form shows at first, and at most (the "add a lot" button adds one).
START_LOT_ROWS = 2
MAX_LOT_ROWS = 5


class StartForm(forms.Form):
    """Start giving the dose: the vial lot(s) it is drawn from, in the order drawn, and when.

    Works without JavaScript: two lot rows are shown; "Add another lot" re-renders the form with
    one more row (up to five). With a single lot the mg may be left blank: the whole dose.
    """

    rows = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=MAX_LOT_ROWS, required=False)
    started_at = forms.DateTimeField(label="Started at", widget=DateTimeLocal())
    bolus_given = forms.BooleanField(label="Bolus given at the start", required=False)

    def __init__(self, *args, lots=(), rows: int | None = None, override: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if override:
            # Only for a prescriber, and only while a start gate objects (the baseline vital signs).
            self.fields["override_reason"] = FreeTextField(
                label="Reason to start anyway (prescriber)",
                max_length=500,
                required=False,
                widget=forms.Textarea(attrs={"rows": 2}),
                help_text="Recorded with what was missing, your name and the time.",
            )
        if rows is None:
            rows = self._bound_rows()
        self.row_count = max(1, min(rows, MAX_LOT_ROWS))
        self.initial.setdefault("rows", self.row_count)
        if self.is_bound:
            self.data = self.data.copy()
            self.data["rows"] = str(self.row_count)
        choices = [("", "—")] + [
            (
                lot.pk,
                f"{lot.lot_number} · {lot.product} · exp {lot.expiry:%Y-%m-%d} · {lot.balance_mg} mg in stock",
            )
            for lot in lots
        ]
        for index in range(1, self.row_count + 1):
            label = "Vial lot" if index == 1 else f"Vial lot {index}"
            self.fields[f"lot_{index}"] = forms.TypedChoiceField(
                label=label, coerce=int, required=index == 1, empty_value=None, choices=choices
            )
            self.fields[f"mg_{index}"] = forms.DecimalField(
                label=f"mg from lot {index}" if index > 1 else "mg from this lot",
                required=False,
                max_digits=7,
                decimal_places=1,
                help_text="Blank with a single lot: the whole dose." if index == 1 else "",
            )
        order = [f"{kind}_{i}" for i in range(1, self.row_count + 1) for kind in ("lot", "mg")]
        self.order_fields([*order, "started_at", "bolus_given", "override_reason", "rows"])

    def _bound_rows(self) -> int:
        try:
            return int(self.data.get("rows") or START_LOT_ROWS)
        except (TypeError, ValueError):
            return START_LOT_ROWS

    def lot_rows(self) -> list[tuple]:
        return [(self[f"lot_{i}"], self[f"mg_{i}"]) for i in range(1, self.row_count + 1)]

    def clean(self) -> dict:
        data = super().clean()
        lines = []
        for index in range(1, self.row_count + 1):
            lot, mg = data.get(f"lot_{index}"), data.get(f"mg_{index}")
            if lot is None and mg is not None:
                self.add_error(f"lot_{index}", forms.ValidationError("Choose the lot.", code="lot_required"))
            elif lot is not None:
                lines.append((index, lot, mg))
        if len(lines) > 1:
            for index, _, mg in lines:
                if mg is None:
                    self.add_error(
                        f"mg_{index}",
                        forms.ValidationError("Give the mg drawn from each lot.", code="lot_amount_required"),
                    )
        data["lines"] = [(lot, mg) for _, lot, mg in lines]
        data.setdefault("override_reason", "")
        return data


class RateEventForm(forms.Form):
    kind = forms.ChoiceField(choices=[("change", "Change rate"), ("pause", "Pause"), ("resume", "Resume")])
    at = forms.DateTimeField(label="At", widget=DateTimeLocal())
    rate = forms.DecimalField(label="New rate", required=False, max_digits=8, decimal_places=2)
    reason = FreeTextField(max_length=500, required=False)


class CompleteForm(forms.Form):
    ended_at = forms.DateTimeField(label="Ended at", widget=DateTimeLocal())
    witness = forms.TypedChoiceField(
        label="Witness for the waste", coerce=int, required=False, empty_value=None
    )
    stopped_early = forms.BooleanField(label="Stopped before the full dose", required=False)
    stop_reason = FreeTextField(label="Why it was stopped", max_length=500, required=False)

    def __init__(self, *args, witnesses=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["witness"].choices = [("", "—")] + [
            (u.pk, u.get_full_name() or u.username) for u in witnesses
        ]


class AmendForm(forms.Form):
    """Correct one field of an ended administration, with a reason (and a witness for amounts)."""

    target = forms.ChoiceField(label="What to correct")
    new_value = forms.CharField(
        label="Correct value",
        max_length=500,
        help_text="An amount in mg, a time as YYYY-MM-DDTHH:MM, or the text of the reason for stopping.",
    )
    reason = FreeTextField(
        label="Why it is corrected", max_length=500, widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    witness = forms.TypedChoiceField(label="Witness (amounts)", coerce=int, required=False, empty_value=None)

    def __init__(self, *args, administration=None, witnesses=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        targets = [("ended_at", "End time"), ("stop_reason", "Why it was stopped")]
        if administration is not None:
            for line in administration.lots.all():
                targets.append((f"given_mg:{line.pk}", f"mg given from lot {line.lot.lot_number}"))
                targets.append((f"wasted_mg:{line.pk}", f"mg wasted from lot {line.lot.lot_number}"))
        self.fields["target"].choices = targets
        self.fields["witness"].choices = [("", "—")] + [
            (u.pk, u.get_full_name() or u.username) for u in witnesses
        ]
