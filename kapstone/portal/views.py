"""The clinic's side of the public door: the referral queue and the public service profile."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import override
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kapstone.accounts.access import ADMINS, clinic_ids_for, require_roles
from kapstone.accounts.models import Clinic, Role
from kapstone.accounts.selectors import clinic_chosen
from kapstone.care.protocols import protocols_for_clinics
from kapstone.domain.errors import DomainError
from kapstone.domain.prescreen import RULES
from kapstone.domain.referrals import (
    CLINIC_MODALITIES,
    CONVERTIBLE,
    REFERRAL_STATUSES,
    REFERRAL_TRANSITIONS,
    STATUS_LABELS,
    split_full_name,
)
from kapstone.forms import DateInput, FreeTextField, add_domain_error
from kapstone.patients.forms import SEX_CHOICES
from kapstone.portal import selectors, services
from kapstone.portal.forms import PrescreenForm

RESULT_WORDS = {
    "urgent_help": "Needs urgent help (thoughts of ending their life in the past month)",
    "not_suitable": "Not suitable",
    "needs_review": "Needs a clinician's review",
    "may_be_suitable": "May be suitable",
}
SEVERITY_WORDS = {
    "urgent": "Urgent",
    "exclusion": "Rules it out",
    "review": "Needs review",
    "info": "For information",
}
MODALITY_WORDS = {"in_person": "In person", "hybrid_follow_up": "Hybrid follow-up (some visits online)"}


def answer_rows(answers: dict[str, Any]) -> list[tuple[str, str]]:
    """The person's answers in the words of the questions they were asked (English)."""
    rows = []
    with override("en"):
        for name, field in PrescreenForm.base_fields.items():
            if name not in answers:
                continue
            value = answers[name]
            choices = dict(getattr(field, "choices", []) or [])
            if isinstance(value, bool):
                shown = "Yes" if value else "No"
            elif isinstance(value, list):
                shown = ", ".join(str(choices.get(v, v)) for v in value)
            else:
                shown = str(choices.get(value, value))
            rows.append((str(field.label), shown))
    return rows


class ConvertForm(forms.Form):
    mrn = forms.CharField(label="MRN", max_length=32)
    given_name = FreeTextField(label="Given name", max_length=100)
    family_name = FreeTextField(label="Family name", max_length=100)
    birth_date = forms.DateField(
        label="Birth date", required=False, widget=DateInput(),
        help_text="Leave empty to estimate it from the age given; the record then says it is estimated.",
    )  # fmt: skip
    sex_at_birth = forms.ChoiceField(label="Sex at birth", choices=SEX_CHOICES, required=False)


def convert_initial(referral) -> dict[str, Any]:
    split = split_full_name(referral.contact_name) or ("", referral.contact_name)
    return {"given_name": split[0], "family_name": split[1]}


class StatusForm(forms.Form):
    to = forms.ChoiceField(label="Move to")
    reason = FreeTextField(
        label="Reason (needed to decline)",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, current: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        moves = sorted(REFERRAL_TRANSITIONS.get(current, ()), key=REFERRAL_STATUSES.index)
        self.fields["to"].choices = [(s, STATUS_LABELS[s]) for s in moves]


@require_roles(*selectors.REFERRAL_STAFF)
@require_GET
def referral_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    status = status if status in REFERRAL_STATUSES else ""
    rows = selectors.referral_queue_for_user(user=request.user, status=status or None)
    context = {
        "rows": [
            {
                "referral": row.referral,
                "overdue": row.overdue,
                "result": RESULT_WORDS.get(row.referral.result, ""),
            }
            for row in rows
        ],
        "status": status,
        "tabs": [("", "All"), *((s, STATUS_LABELS[s]) for s in REFERRAL_STATUSES)],
        "overdue": sum(1 for row in rows if row.overdue),
        "can_edit_profile": bool(clinic_ids_for(request.user, ADMINS)),
    }
    return render(request, "portal/referral_list.html", context)


def _detail(
    request: HttpRequest,
    referral,
    status_form: StatusForm | None = None,
    convert_form: ConvertForm | None = None,
    status: int = 200,
) -> HttpResponse:
    reasons = [
        {**reason, "severity_words": SEVERITY_WORDS.get(reason.get("severity"), reason.get("severity")),
         "source": RULES[reason["code"]].source if reason.get("code") in RULES else ""}
        for reason in referral.reasons
    ]  # fmt: skip
    context = {
        "referral": referral,
        "answers": answer_rows(referral.answers or {}),
        "reasons": reasons,
        "result_words": RESULT_WORDS.get(referral.result, referral.result),
        "overdue": selectors.referral_is_overdue(referral),
        "events": referral.events.select_related("actor").order_by("at", "id"),
        "status_form": status_form or StatusForm(current=referral.status),
        "convert_form": convert_form or ConvertForm(initial=convert_initial(referral)),
        "can_convert": referral.status in CONVERTIBLE and referral.anonymised_at is None,
        "age_given": (referral.answers or {}).get("age_years"),
        "language": {"en": "English", "es": "Spanish"}.get(referral.language, referral.language),
    }
    return render(request, "portal/referral_detail.html", context, status=status)


@require_roles(*selectors.REFERRAL_STAFF)
@require_GET
def referral_detail(request: HttpRequest, referral_id: int) -> HttpResponse:
    referral = selectors.referral_get_for_user(user=request.user, referral_id=referral_id)
    return _detail(request, referral)


@require_roles(*selectors.REFERRAL_STAFF)
@require_POST
def referral_status(request: HttpRequest, referral_id: int) -> HttpResponse:
    referral = selectors.referral_get_for_user(user=request.user, referral_id=referral_id)
    form = StatusForm(request.POST, current=referral.status)
    if form.is_valid():
        try:
            moved = services.referral_status_change(
                actor=request.user,
                referral=referral,
                to=form.cleaned_data["to"],
                reason=form.cleaned_data["reason"],
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"Referral {moved.reference}: {moved.status_label.lower()}.")
            return redirect("referrals:detail", referral_id=moved.pk)
    return _detail(request, referral, status_form=form, status=400)


@require_roles(*selectors.REFERRAL_STAFF)
@require_POST
def referral_convert(request: HttpRequest, referral_id: int) -> HttpResponse:
    referral = selectors.referral_get_for_user(user=request.user, referral_id=referral_id)
    form = ConvertForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            patient, _draft = services.referral_convert(
                actor=request.user,
                referral=referral,
                mrn=data["mrn"],
                given_name=data["given_name"],
                family_name=data["family_name"],
                birth_date=data["birth_date"],
                sex_at_birth=data["sex_at_birth"] or None,
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(
                request,
                f"{patient.display_name} ({patient.mrn}) is now a patient. The screening below starts from "
                "the answers the person gave: confirm each with them.",
            )
            return redirect("screening:new", patient_id=patient.pk)
    return _detail(request, referral, convert_form=form, status=400)


# --- The public service profile (clinic admin) --------------------------------------------------


class ProfileForm(forms.Form):
    display_name = FreeTextField(label="Public name", max_length=120)
    regions = forms.CharField(
        label="Regions served",
        help_text="State codes separated by commas, e.g. NY, NJ.",
        max_length=300,
        required=False,
    )
    languages = forms.CharField(
        label="Languages", help_text="Two-letter codes separated by commas, e.g. en, es.", max_length=100
    )
    modalities = forms.MultipleChoiceField(
        label="How patients are seen",
        choices=[(m, MODALITY_WORDS[m]) for m in CLINIC_MODALITIES],
        widget=forms.CheckboxSelectMultiple,
    )
    protocol_slugs = forms.MultipleChoiceField(
        label="Protocols offered", widget=forms.CheckboxSelectMultiple, required=False
    )
    accepting_referrals = forms.BooleanField(label="Accepting new referrals", required=False)
    wait_weeks = forms.IntegerField(label="Typical wait (weeks)", min_value=0, max_value=104)
    contact_line = FreeTextField(
        label="Public contact line",
        max_length=200,
        required=False,
        help_text="Shown to a person after they ask to be contacted, and to your patients in the portal as the number to call.",
    )
    retention_days = forms.IntegerField(
        label="Keep referrals that never became patients for (days)", min_value=30, max_value=3650
    )
    contact_target_working_days = forms.IntegerField(
        label="Contact new referrals within (working days)", min_value=0, max_value=30
    )
    reason = FreeTextField(label="Reason for the change", max_length=500, required=False)

    def __init__(self, *args: Any, protocols: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["protocol_slugs"].choices = protocols  # fmt: skip


def _admin_clinic(request: HttpRequest) -> Clinic:
    return clinic_chosen(request.user, ADMINS, request.GET.get("clinic") or request.POST.get("clinic"))


@require_roles(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def service_profile(request: HttpRequest) -> HttpResponse:
    clinic = _admin_clinic(request)
    current = selectors.service_profile_current(clinic_id=clinic.pk)
    protocols = sorted({(p.slug, p.title) for p, _owner in protocols_for_clinics([clinic.pk])})
    initial: dict[str, Any] = {"display_name": clinic.name, "languages": "en", "modalities": ["in_person"],
                               "wait_weeks": 4, "retention_days": 180, "contact_target_working_days": 2}  # fmt: skip
    if current is not None:
        initial = {
            "display_name": current.display_name,
            "regions": ", ".join(current.regions),
            "languages": ", ".join(current.languages),
            "modalities": current.modalities,
            "protocol_slugs": current.protocol_slugs,
            "accepting_referrals": current.accepting_referrals,
            "wait_weeks": current.wait_weeks,
            "contact_line": current.contact_line,
            "retention_days": current.retention_days,
            "contact_target_working_days": current.contact_target_working_days,
        }
    form = ProfileForm(request.POST or None, initial=initial, protocols=protocols)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            # The form's fields are the service's arguments, by name.
            profile = services.service_profile_update(actor=request.user, clinic=clinic, **data)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"Public profile saved (version {profile.version}).")
            return redirect("referrals:list")
    context = {"form": form, "clinic": clinic, "current": current}
    return render(
        request, "portal/profile_form.html", context, status=400 if request.method == "POST" else 200
    )
