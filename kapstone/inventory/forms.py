"""Forms of the register pages: shape only (type, required, length); the domain checks the rules."""

from __future__ import annotations

from django import forms

from kapstone.domain import register as rules
from kapstone.forms import DateInput, DateTimeLocalInput, FilterDateField, FreeTextField, RecordIdField

AMOUNT_HELP = "In mg, to 0.1 mg."


def _amount_field(label: str = "Amount (mg)", help_text: str = AMOUNT_HELP) -> forms.DecimalField:
    # No min/max or decimal places here: the register's own rule refuses them with a stable code.
    return forms.DecimalField(label=label, max_digits=14, help_text=help_text)


class LocationForm(forms.Form):
    name = FreeTextField(max_length=80, help_text="For example: Main safe, Dosing room cabinet.")

    def __init__(self, *args, clinics=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if len(clinics) > 1:
            self.fields["clinic_id"] = forms.TypedChoiceField(
                label="Clinic", coerce=int, choices=[("", "—")] + [(c.pk, c.name) for c in clinics]
            )
            self.order_fields(["clinic_id"])


class ProductForm(forms.Form):
    name = FreeTextField(max_length=120, help_text="For example: Ketamine HCl injection.")
    ndc = forms.CharField(
        label="NDC", max_length=13, help_text="With hyphens, as printed: 4-4-2, 5-3-2 or 5-4-1."
    )
    dosage_form = FreeTextField(max_length=60, initial="Injection, solution")
    strength_mg_per_ml = forms.DecimalField(label="Strength (mg/mL)", max_digits=9)
    vial_volume_ml = forms.DecimalField(label="Vial volume (mL)", max_digits=9)


RECEIVED_AT_HELP = (
    "Leave empty for now. If the delivery arrived earlier, its time (the clinic's time): the "
    "register places the receipt there, so doses drawn from it since can be recorded."
)


class ReceiveForm(forms.Form):
    """A new lot arriving: so many vials of one product, into one location."""

    location = forms.TypedChoiceField(coerce=int, label="Storage location")
    product = forms.TypedChoiceField(coerce=int)
    lot_number = FreeTextField(max_length=40)
    expiry = forms.DateField(
        widget=DateInput(), help_text="A label with month only: enter the month's last day."
    )
    vials = forms.IntegerField(label="Vials received", min_value=1, max_value=10000)
    received_at = forms.DateTimeField(
        label="Received at (optional)",
        required=False,
        widget=DateTimeLocalInput(),
        help_text=RECEIVED_AT_HELP,
    )

    def __init__(self, *args, locations=(), products=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        many = len({loc.clinic_id for loc in locations}) > 1
        self.fields["location"].choices = [("", "—")] + [
            (loc.pk, f"{loc.clinic.name} · {loc.name}" if many else loc.name) for loc in locations
        ]
        self.fields["product"].choices = [("", "—")] + [(p.pk, f"{p} (NDC {p.ndc})") for p in products]


class ReceiveMoreForm(forms.Form):
    vials = forms.IntegerField(label="Vials received", min_value=1, max_value=10000)
    reason = FreeTextField(
        label="Note (optional)",
        max_length=500,
        required=False,
        help_text="For example the invoice number.",
    )
    received_at = forms.DateTimeField(
        label="Received at (optional)",
        required=False,
        widget=DateTimeLocalInput(),
        help_text=RECEIVED_AT_HELP,
    )


class TransactionForm(forms.Form):
    """One register entry on one lot; which fields it has depends on the kind."""

    def __init__(self, *args, kind: str, sessions=(), witnesses=(), locations=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        rule = rules.kind_rule(kind)
        self.kind = kind
        if rule.needs_session:
            self.fields["session"] = forms.TypedChoiceField(
                coerce=int, label="Dosing session", choices=[("", "—"), *sessions]
            )
        if kind == rules.ADJUST:
            self.fields["amount_mg"] = _amount_field(
                "Correction (mg)", "Positive adds to the stock, negative takes from it; to 0.1 mg."
            )
        else:
            self.fields["amount_mg"] = _amount_field()
        if kind == rules.TRANSFER:
            self.fields["to_location"] = forms.TypedChoiceField(
                coerce=int, label="To location", choices=[("", "—"), *locations]
            )
        if rule.needs_witness:
            self.fields["witness"] = forms.TypedChoiceField(
                coerce=int,
                label="Witness",
                choices=[("", "—")] + [(u.pk, _person(u)) for u in witnesses],
                required=False,
                help_text="Another nurse or prescriber, present now.",
            )
            self.fields["witness_password"] = forms.CharField(
                label="Witness's password",
                required=False,
                strip=False,
                widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
                help_text="The witness signs by entering their own password.",
            )
        self.fields["reason"] = FreeTextField(
            label="Reason" if rule.needs_reason else "Note (optional)",
            max_length=500,
            required=False,
            widget=forms.Textarea(attrs={"rows": 2}),
        )


class CountForm(forms.Form):
    """A blind count: the register's balance is not shown until the count is recorded."""

    started = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, lots=(), witnesses=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lot_fields: list[tuple[object, str, str]] = []
        for lot in lots:
            product = lot.product
            vials, ml = f"lot_{lot.pk}_vials", f"lot_{lot.pk}_ml"
            self.fields[vials] = forms.IntegerField(
                label=f"Lot {lot.lot_number} — unopened vials",
                min_value=0,
                max_value=10000,
                required=False,
                help_text=f"{product} · expires {lot.expiry:%Y-%m-%d}",
            )
            self.fields[ml] = forms.DecimalField(
                label=f"Lot {lot.lot_number} — mL left in opened vials",
                min_value=0,
                max_digits=9,
                decimal_places=2,
                required=False,
            )
            self.lot_fields.append((lot, vials, ml))
        self.fields["witness"] = forms.TypedChoiceField(
            coerce=int,
            empty_value=None,
            label="Witness (optional)",
            required=False,
            choices=[("", "none")] + [(u.pk, _person(u)) for u in witnesses],
        )
        self.fields["witness_password"] = forms.CharField(
            label="Witness's password",
            required=False,
            strip=False,
            widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        )
        self.order_fields(
            ["started", *[n for _, v, m in self.lot_fields for n in (v, m)], "witness", "witness_password"]
        )


class ResolveForm(forms.Form):
    explanation = FreeTextField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What was found, and why the count differed.",
    )
    adjust_mg = forms.DecimalField(
        label="Post an adjustment (mg, optional)",
        max_digits=14,
        required=False,
        help_text="Leave empty when the stock is right. Positive adds, negative takes away.",
    )


class RegisterFilterForm(forms.Form):
    date_from = FilterDateField(label="From")
    date_to = FilterDateField(label="To")
    lot = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    kind = forms.ChoiceField(
        required=False, choices=[("", "any")] + [(k, k.capitalize()) for k in rules.KINDS]
    )
    # Set by the "every register entry of this session" link of an entry's page. A record id
    # (kapstone/forms.py): a number beyond the database's integers would fail in the query.
    session = RecordIdField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, lots=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["lot"].choices = [("", "any")] + [
            (
                lot.pk,
                f"{lot.lot_number} · {lot.product.name} {lot.product.strength_mg_per_ml.normalize():f} mg/mL "
                f"· {lot.location.name}",
            )
            for lot in lots
        ]

    def clean(self):
        data = super().clean()
        if "session" in self.errors:  # a hidden field: say so where it is seen
            self.add_error(None, "The dosing session in this link is not valid; clear the filter.")
        return data


class InventoryReportForm(forms.Form):
    day = forms.DateField(widget=DateInput(), label="Inventory date")
    taken_at = forms.ChoiceField(
        label="Taken at",
        choices=[("close", "Close of business"), ("opening", "Opening of business")],
        initial="close",
    )

    def __init__(self, *args, clinics=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if len(clinics) > 1:
            self.fields["clinic_id"] = forms.TypedChoiceField(
                label="Clinic", coerce=int, choices=[(c.pk, c.name) for c in clinics]
            )
            self.order_fields(["clinic_id"])


def _person(user) -> str:
    full = user.get_full_name()
    return f"{full} ({user.username})" if full else user.username
