"""The cohort filter form: shape only (known protocol, substance, group-by; dates in order)."""

from __future__ import annotations

from django import forms

from kapstone.domain.protocols import INDICATIONS, protocol_library
from kapstone.forms import FilterDateField
from kapstone.research.cohorts import GROUP_BY, CohortFilter


class CohortForm(forms.Form):
    protocol = forms.ChoiceField(required=False, label="Protocol")
    substance = forms.ChoiceField(required=False, label="Substance")
    arm = forms.CharField(required=False, max_length=40, label="Arm")
    clinic = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Clinic")
    enrolled_from = FilterDateField(label="Enrolled from")
    enrolled_to = FilterDateField(label="Enrolled to")
    group_by = forms.ChoiceField(
        required=False, choices=[(g, f"by {g}") for g in GROUP_BY], initial="arm", label="Compare"
    )

    def __init__(self, *args, clinics=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["protocol"].choices = [("", "All protocols")] + [
            (p.slug, p.title) for p in protocol_library()
        ]
        self.fields["substance"].choices = [("", "All substances")] + [(s, s) for s in INDICATIONS]
        self.fields["clinic"].choices = [("", "All my clinics")] + [(c.pk, c.name) for c in clinics]

    def clean(self):
        data = super().clean()
        start, end = data.get("enrolled_from"), data.get("enrolled_to")
        if start and end and end < start:
            self.add_error("enrolled_to", "The end of the enrolment range is before its start.")
        return data

    def cohort_filter(self) -> CohortFilter:
        data = self.cleaned_data
        return CohortFilter(
            protocol_slug=data.get("protocol") or "",
            substance=data.get("substance") or "",
            arm=(data.get("arm") or "").strip(),
            clinic_id=data.get("clinic"),
            enrolled_from=data.get("enrolled_from"),
            enrolled_to=data.get("enrolled_to"),
            group_by=data.get("group_by") or "arm",
        )
