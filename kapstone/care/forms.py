from __future__ import annotations

from django import forms

from kapstone.domain.protocols import CIWA_AR_MAX, COWS_MAX
from kapstone.domain.sessions import CHECK_LABELS, PREGNANCY_TEST_RESULTS, URINE_DRUG_SCREEN_RESULTS
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


#: A yes/no question answered every time (no default: an unanswered question is not a "no").
YES_NO = [("no", "No"), ("yes", "Yes")]


def _yes_no(label: str, help_text: str = "") -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=label,
        choices=YES_NO,
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
        help_text=help_text,
        error_messages={"required": "Answer yes or no."},
    )


def _confirm(label: str) -> forms.BooleanField:
    return forms.BooleanField(label=label, required=False)


#: The form's fields of each day-of check, in the protocol's terms (a check not in the course's
#: protocol has no field on the form).
CHECK_FIELDS: dict[str, tuple[str, ...]] = {
    "breath_alcohol": ("breath_alcohol_g_per_210l",),
    "urine_drug_screen": ("urine_drug_screen_result",),
    "pregnancy_test": ("childbearing_potential", "pregnancy_test_result"),
    "blood_pressure": ("systolic_bp", "diastolic_bp"),
    "fasting": ("fasting_hours",),
    "escort": ("escort_confirmed",),
    "consent": (),
    "alcohol_withdrawal": ("ciwa_ar_total",),
    "opioid_withdrawal": ("cows_total",),
    "benzodiazepines": ("benzodiazepine_use",),
    "sedatives_opioids": ("sedative_or_opioid_use",),
    "stimulants": ("stimulant_use",),
    "maoi": ("maoi_use",),
    "theophylline": ("theophylline_use",),
    "airway_clinician": ("airway_clinician_present",),
    "resuscitation_equipment": ("resuscitation_equipment_checked",),
    "vital_signs_monitoring": ("vital_signs_monitoring_available",),
    "prescriber_on_site": ("prescriber_on_site",),
}


class DayOfChecksForm(forms.Form):
    """One screen, top to bottom in the order a nurse does them: the patient's checks, withdrawal,
    the medicines asked at every session, then the room and team ready. Only the checks of the
    course's protocol are on it."""

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
    ciwa_ar_total = forms.IntegerField(
        label="Alcohol withdrawal: CIWA-Ar total (0–67)",
        min_value=0,
        max_value=CIWA_AR_MAX,
        help_text="Score the CIWA-Ar today and enter its total.",
    )
    cows_total = forms.IntegerField(
        label="Opioid withdrawal: COWS total (0–48)",
        min_value=0,
        max_value=COWS_MAX,
        help_text="Score the COWS today and enter its total.",
    )
    benzodiazepine_use = _yes_no(
        "Taking a benzodiazepine (e.g. diazepam, lorazepam, clonazepam)?",
        "Prescribed or not, regularly or today.",
    )
    sedative_or_opioid_use = _yes_no(
        "Taking another sedative, sleeping tablet or an opioid (e.g. zopiclone, methadone)?",
        "Prescribed or not, regularly or today.",
    )
    stimulant_use = _yes_no(
        "Taking a stimulant (e.g. methylphenidate, amphetamine, cocaine)?",
        "Prescribed or not, regularly or today.",
    )
    maoi_use = _yes_no("Taking an MAOI antidepressant (e.g. phenelzine, tranylcypromine)?")
    theophylline_use = _yes_no("Taking theophylline or aminophylline?")
    airway_clinician_present = _confirm(
        "A clinician trained in airway management is present for the whole of dosing and monitoring"
    )
    resuscitation_equipment_checked = _confirm(
        "Emergency airway and resuscitation equipment checked today (oxygen, suction, bag-valve mask, airways)"
    )
    vital_signs_monitoring_available = _confirm(
        "Continuous vital-sign monitoring is set up (pulse oximetry, heart rate, blood pressure)"
    )
    prescriber_on_site = _confirm("A prescriber is on site for dosing and monitoring")

    def __init__(self, *args, rules=None, can_override=False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        listed = [rule.check for rule in rules.checks] if rules is not None else list(CHECK_FIELDS)
        wanted = {name for check in listed for name in CHECK_FIELDS.get(check, ())}
        for name in [n for n in self.fields if n not in wanted]:
            del self.fields[name]
        if rules is not None:
            for name, threshold in (
                ("ciwa_ar_total", rules.ciwa_ar_stop_at),
                ("cows_total", rules.cows_stop_at),
            ):
                if name in self.fields:
                    self.fields[name].help_text = (
                        f"Score it today and enter the total; {threshold} or more stops today's dose "
                        "unless you record why it is safe to proceed."
                    )
        self.override_fields = []
        for rule in rules.checks if rules is not None else ():
            if not rule.overridable or not (rule.soft or can_override):
                continue
            label = CHECK_LABELS.get(rule.check, rule.check)
            name = f"override_{rule.check}"
            self.fields[name] = FreeTextField(
                name="reason",
                label=(
                    f"Proceed despite “{label}” — your reason"
                    if rule.soft
                    else f"Override “{label}” — prescriber’s reason"
                ),
                max_length=500,
                required=False,
                help_text="Only if this check fails and you decide to proceed.",
                widget=forms.TextInput(),
            )
            self.override_fields.append(name)

    #: The form's sections, in the order a nurse works: (title, field names).
    SECTIONS = (
        ("The patient today", CHECK_FIELDS["breath_alcohol"] + CHECK_FIELDS["urine_drug_screen"]
         + CHECK_FIELDS["pregnancy_test"] + CHECK_FIELDS["blood_pressure"] + CHECK_FIELDS["fasting"]
         + CHECK_FIELDS["escort"]),
        ("Withdrawal", ("ciwa_ar_total", "cows_total")),
        ("Medicines: ask at every session", ("benzodiazepine_use", "sedative_or_opioid_use", "stimulant_use",
                                            "maoi_use", "theophylline_use")),
        ("Room and team ready", ("airway_clinician_present", "resuscitation_equipment_checked",
                                 "vital_signs_monitoring_available", "prescriber_on_site")),
    )  # fmt: skip

    def sections(self) -> list[tuple[str, list]]:
        """The sections with the bound fields this protocol has (empty sections left out), then the
        reasons to proceed."""
        shown = [
            (title, [self[name] for name in names if name in self.fields]) for title, names in self.SECTIONS
        ]
        shown.append(
            ("Reasons to proceed (only for a check that fails)", [self[n] for n in self.override_fields])
        )
        return [(title, fields) for title, fields in shown if fields]

    def inputs(self) -> dict:
        data = self.cleaned_data
        values = {
            name: data[name] for name in self.fields if name in data and not name.startswith("override_")
        }
        for name in ("urine_drug_screen_result", "pregnancy_test_result"):
            if name in values:
                values[name] = values[name] or None
        return values

    def overrides(self) -> dict[str, str]:
        return {
            name.removeprefix("override_"): self.cleaned_data.get(name, "") for name in self.override_fields
        }


class CloneForm(forms.Form):
    note = FreeTextField(
        label="What changes and why", max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )
