from __future__ import annotations

from django import forms

from kapstone.domain.patients import COMORBID_CATALOGUE, DIAGNOSIS_CATALOGUE, SEXES_AT_BIRTH
from kapstone.forms import DateInput, DateTimeLocalInput, FreeTextField
from kapstone.patients.models import ConsentKind, ConsentStatus, LiverTestKind, LiverTestUnit, Patient

SEX_CHOICES = [("", "—")] + [(s, s.capitalize()) for s in SEXES_AT_BIRTH]
_limit = Patient.text_limit


def measurement_field(label: str) -> forms.DecimalField:
    """A weight or a height as typed: a number. How precise, and how large, is the domain's one
    rule (``domain.patients.validate_body_measurement``: plausible range, rounded to 0.1), which
    the API applies too."""
    return forms.DecimalField(label=label, required=False)


class IdentityForm(forms.Form):
    mrn = forms.CharField(label="MRN", max_length=_limit("mrn"))
    given_name = FreeTextField(max_length=_limit("given_name"))
    family_name = FreeTextField(max_length=_limit("family_name"))
    birth_date = forms.DateField(widget=DateInput())
    birth_date_estimated = forms.BooleanField(
        label="Birth date estimated", required=False, help_text="Untick once confirmed with the patient."
    )
    sex_at_birth = forms.ChoiceField(choices=SEX_CHOICES)
    gender_identity = FreeTextField(
        max_length=_limit("gender_identity"), required=False, help_text="Optional, in the patient's words."
    )
    phone = FreeTextField(max_length=_limit("phone"), required=False)
    email = forms.EmailField(max_length=_limit("email"), required=False)
    address = FreeTextField(max_length=_limit("address"), required=False)
    emergency_contact_name = FreeTextField(max_length=_limit("emergency_contact_name"), required=False)
    emergency_contact_phone = FreeTextField(max_length=_limit("emergency_contact_phone"), required=False)
    emergency_contact_relationship = FreeTextField(
        max_length=_limit("emergency_contact_relationship"), required=False
    )


class PatientCreateForm(IdentityForm):
    weight_kg = measurement_field("Weight (kg)")
    height_cm = measurement_field("Height (cm)")

    def __init__(self, *args, clinics=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if len(clinics) > 1:
            self.fields["clinic_id"] = forms.TypedChoiceField(
                label="Clinic", coerce=int, choices=[("", "—")] + [(c.pk, c.name) for c in clinics]
            )
            self.order_fields(["clinic_id"])


class PatientAmendForm(IdentityForm):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    reason = FreeTextField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required: why is the record being changed?",
    )


class MeasurementForm(forms.Form):
    weight_kg = measurement_field("Weight (kg)")
    height_cm = measurement_field("Height (cm)")
    measured_at = forms.DateTimeField(
        label="Weighed or measured at",
        widget=DateTimeLocalInput(),
        help_text="Date and time in the clinic's time zone; not in the future.",
    )


class MeasurementVoidForm(forms.Form):
    reason = FreeTextField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required: why is this measurement wrong (e.g. weighed in shoes and coat, wrong patient)?",
    )


class DiagnosisForm(forms.Form):
    code = forms.ChoiceField(
        label="Diagnosis (ICD-10-CM)",
        choices=[
            ("", "—"),
            (
                "Substance use disorders (the treated diagnosis)",
                [(d.code, f"{d.code} — {d.name}") for d in DIAGNOSIS_CATALOGUE],
            ),
            (
                "Comorbid conditions (never primary)",
                [(d.code, f"{d.code} — {d.name}") for d in COMORBID_CATALOGUE],
            ),
        ],
    )
    is_primary = forms.BooleanField(
        label="Primary diagnosis",
        required=False,
        help_text="The substance use disorder being treated; a comorbid condition cannot be primary.",
    )


class DiagnosisVoidForm(forms.Form):
    reason = FreeTextField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}))


class ConsentForm(forms.Form):
    kind = forms.ChoiceField(choices=ConsentKind.choices)
    status = forms.ChoiceField(choices=ConsentStatus.choices)
    effective_on = forms.DateField(widget=DateInput())
    document_version = FreeTextField(
        max_length=40, help_text="The version printed on the signed form, e.g. 2026-01."
    )
    note = FreeTextField(max_length=500, required=False)


class LiverTestForm(forms.Form):
    """One result as typed; the rules (units of each test, ranges, the day) are the service's."""

    test = forms.ChoiceField(label="Test", choices=[("", "—"), *LiverTestKind.choices])
    value = forms.DecimalField(label="Result")
    unit = forms.ChoiceField(label="Unit", choices=LiverTestUnit.choices)
    upper_limit = forms.DecimalField(
        label="Upper limit of normal",
        help_text="As printed on the laboratory's report, in the same unit.",
    )
    taken_on = forms.DateField(label="Blood taken on", widget=DateInput())


class LiverTestVoidForm(forms.Form):
    reason = FreeTextField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required: why is this result wrong (e.g. another patient's report, typing slip)?",
    )
