"""The cohort filter form: shape only (known protocol, substance, group-by; dates in order), and
for a researcher, enrolment by whole calendar quarters (``small_counts``)."""

from __future__ import annotations

from datetime import date

from django import forms
from django.utils.formats import date_format
from django.utils.translation import gettext, gettext_lazy

from kapstone.domain.protocols import INDICATIONS, protocol_library
from kapstone.forms import FilterDateField
from kapstone.research.cohorts import GROUP_BY, CohortFilter, sees_exact_counts
from kapstone.research.small_counts import (
    is_quarter_first_day,
    is_quarter_last_day,
    quarter_first_day,
    quarter_last_day,
)

#: The error code of a day-precision enrolment date from a researcher.
QUARTER_ONLY = "enrolment_quarter_only"

QUARTER_HELP = gettext_lazy(
    "By calendar quarter: from 1 January, 1 April, 1 July or 1 October; "
    "to 31 March, 30 June, 30 September or 31 December."
)


def _day(day: date) -> str:
    return date_format(day, "j F Y")


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

    def __init__(self, *args, clinics=(), user=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.clinics = list(clinics)
        self.user = user
        self.fields["protocol"].choices = [("", "All protocols")] + [
            (p.slug, p.title) for p in protocol_library()
        ]
        self.fields["substance"].choices = [("", "All substances")] + [(s, s) for s in INDICATIONS]
        self.fields["clinic"].choices = [("", "All my clinics")] + [(c.pk, c.name) for c in self.clinics]
        if not self.exact_for([c.pk for c in self.clinics]):
            self.fields["enrolled_from"].help_text = QUARTER_HELP
            self.fields["enrolled_to"].help_text = QUARTER_HELP

    def exact_for(self, clinic_ids: list[int]) -> bool:
        """Whether the user sees exact counts (and may filter enrolment by day) in these clinics;
        without a user, never."""
        return self.user is not None and sees_exact_counts(self.user, clinic_ids)

    def clean(self):
        data = super().clean()
        start, end = data.get("enrolled_from"), data.get("enrolled_to")
        if start and end and end < start:
            self.add_error("enrolled_to", "The end of the enrolment range is before its start.")
        clinic = data.get("clinic")
        scope = [clinic] if clinic is not None else [c.pk for c in self.clinics]
        if not self.exact_for(scope):
            self._require_quarters(start, end)
        return data

    def _require_quarters(self, start: date | None, end: date | None) -> None:
        """A researcher filters enrolment by whole calendar quarters: a day-precision range
        would let two reports differ by a handful of patients (issue 15). Refused, not moved to
        the quarter, so the report shown is always the one asked for."""
        if start and not is_quarter_first_day(start):
            message = gettext(
                "Researchers choose enrolment by calendar quarter: “Enrolled from” must be the first "
                "day of a quarter (1 January, 1 April, 1 July or 1 October). %(day)s is in the quarter "
                "that starts on %(first)s."
            ) % {"day": _day(start), "first": _day(quarter_first_day(start))}
            self.add_error("enrolled_from", forms.ValidationError(message, code=QUARTER_ONLY))
        if end and not is_quarter_last_day(end):
            message = gettext(
                "Researchers choose enrolment by calendar quarter: “Enrolled to” must be the last "
                "day of a quarter (31 March, 30 June, 30 September or 31 December). %(day)s is in the "
                "quarter that ends on %(last)s."
            ) % {"day": _day(end), "last": _day(quarter_last_day(end))}
            self.add_error("enrolled_to", forms.ValidationError(message, code=QUARTER_ONLY))

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
