"""Forms of the therapy-note and group pages. They check shape; the services check the rules."""

from __future__ import annotations

from django import forms

from kapstone.care.models import AttendanceStatus
from kapstone.care.notes import GROUP_DURATION_MIN, NOTE_LABELS, NOTE_MAX_CHARS
from kapstone.domain.protocols import INTEGRATION, PREPARATION
from kapstone.forms import DateInput, FreeTextField


def _note_text(name: str, help_text: str) -> FreeTextField:
    return FreeTextField(
        label=NOTE_LABELS[name],
        required=False,
        max_length=NOTE_MAX_CHARS,
        help_text=help_text,
        widget=forms.Textarea(attrs={"rows": 5}),
    )


class NoteForm(forms.Form):
    intentions = _note_text("intentions", "What the patient wants from this work, in their words.")
    themes = _note_text("themes", "Images and themes prepared for the guided visualisation.")
    insights = _note_text("insights", "What came up; what the patient made of it.")
    plan = _note_text("plan", "Next steps, homework, what to pick up next time.")


class AddendumForm(forms.Form):
    text = FreeTextField(
        label="Addendum",
        max_length=NOTE_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Signed notes are locked; a correction or later information is added here, with your name and the time.",
    )


class GroupForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[(INTEGRATION, "Integration"), (PREPARATION, "Preparation")], initial=INTEGRATION
    )
    title = FreeTextField(max_length=200, initial="Integration group")
    scheduled_date = forms.DateField(label="Date", widget=DateInput())
    start_time = forms.TimeField(
        label="Start time", required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    duration_min = forms.IntegerField(
        label="Duration (min)", min_value=GROUP_DURATION_MIN[0], max_value=GROUP_DURATION_MIN[1], initial=90
    )
    room = FreeTextField(max_length=60, required=False)

    def __init__(self, *args, clinics=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if len(clinics) > 1:
            self.fields["clinic_id"] = forms.TypedChoiceField(
                label="Clinic", coerce=int, choices=[("", "—")] + [(c.pk, c.name) for c in clinics]
            )
            self.order_fields(["clinic_id"])


class AddPatientForm(forms.Form):
    # An integer, not a choice among the offered patients: a patient the user may not add is the
    # service's "not found", the same answer as for a patient id that does not exist.
    patient_id = forms.IntegerField(label="Patient", min_value=1)

    def __init__(self, *args, candidates=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["patient_id"].widget = forms.Select(
            choices=[("", "—")]
            + [
                (
                    p.pk,
                    f"{p.display_name} ({p.mrn}){' · session on this day' if p.due_today else ''}",
                )
                for p in candidates
            ]
        )


class AttendanceForm(forms.Form):
    """One radio row per patient in the group: ``status_<patient id>``."""

    def __init__(self, *args, attendance=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rows = []
        for row in attendance:
            name = f"status_{row.patient_id}"
            self.fields[name] = forms.ChoiceField(
                label=f"{row.patient.display_name}",
                choices=AttendanceStatus.choices,
                initial=row.status,
                widget=forms.RadioSelect,
            )
            self.rows.append((row, name))

    def statuses(self) -> dict[int, str]:
        return {row.patient_id: self.cleaned_data[name] for row, name in self.rows}

    def bound_rows(self):
        return [(row, self[name]) for row, name in self.rows]
