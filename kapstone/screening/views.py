"""A patient's screenings: the current decision and history, the screening form, the sign-off."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kapstone.accounts.access import clinic_ids_for, require_roles
from kapstone.domain.errors import DomainError
from kapstone.domain.patients import age_in_years
from kapstone.forms import add_domain_error
from kapstone.patients.selectors import patient_get_for_user
from kapstone.patients.services import clinic_today
from kapstone.screening import selectors, services
from kapstone.screening.access import SCREENING_READ, SCREENING_RECORD, SCREENING_SIGN_OFF
from kapstone.screening.forms import ScreeningForm, SignOffForm, initial_from_draft
from kapstone.screening.models import Decision

_DECISION_WORDS = {
    Decision.ELIGIBLE: "No contraindication found.",
    Decision.NEEDS_REVIEW: "A prescriber must review and approve, with a written reason, before enrolment.",
    Decision.DEFERRED: "Not now: screen again once the reason for deferral has resolved.",
    Decision.INELIGIBLE: "An absolute contraindication was found: ketamine treatment is not offered.",
}


def _page(
    request: HttpRequest, patient_id: int, *, sign_off_form: SignOffForm | None = None, status: int = 200
):
    history = selectors.screening_list_for_user(user=request.user, patient_id=patient_id)
    patient, current = history.patient, history.current
    can_sign_off = patient.clinic_id in clinic_ids_for(request.user, SCREENING_SIGN_OFF)
    if (
        sign_off_form is None
        and can_sign_off
        and current is not None
        and selectors.sign_off_of(current) is None
    ):
        sign_off_form = SignOffForm(decision=current.decision)
    context = {
        "patient": patient,
        "current": current,
        "current_sign_off": selectors.sign_off_of(current) if current else None,
        "current_approved": selectors.screening_is_approved(current),
        "decision_words": _DECISION_WORDS.get(current.decision, "") if current else "",
        "earlier": history.earlier,
        "can_record": patient.clinic_id in clinic_ids_for(request.user, SCREENING_RECORD),
        "can_sign_off": can_sign_off,
        "sign_off_form": sign_off_form if can_sign_off else None,
    }
    return render(request, "screening/screening_list.html", context, status=status)


@require_roles(*SCREENING_READ)
@require_GET
def screening_list(request: HttpRequest, patient_id: int) -> HttpResponse:
    return _page(request, patient_id)


@require_roles(*SCREENING_RECORD)
@require_http_methods(["GET", "POST"])
def screening_new(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id, roles=SCREENING_RECORD)
    # Answers known before (a referral's pre-screen) start the form; the clinician confirms each.
    draft = selectors.screening_draft_open(patient=patient)
    initial = initial_from_draft(draft.answers) if draft is not None else {}
    # Age is a question of its own; pre-fill it from the record for the clinician to confirm.
    initial["age_years"] = age_in_years(patient.birth_date, on=clinic_today(patient.clinic))
    form = ScreeningForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            screening = services.screening_record(
                actor=request.user, patient=patient, answers=form.answers(), draft=draft
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            label = Decision(screening.decision).label.lower()
            messages.success(request, f"Screening recorded: {label}.")
            return redirect("screening:list", patient_id=patient.pk)
    context = {"form": form, "patient": patient, "groups": form.question_groups(), "draft": draft}
    return render(
        request, "screening/screening_form.html", context, status=400 if request.method == "POST" else 200
    )


@require_roles(*SCREENING_SIGN_OFF)
@require_POST
def screening_sign_off(request: HttpRequest, screening_id: int) -> HttpResponse:
    screening = selectors.screening_get_for_user(
        user=request.user, screening_id=screening_id, roles=SCREENING_SIGN_OFF
    )
    form = SignOffForm(request.POST, decision=screening.decision)
    if form.is_valid():
        try:
            sign_off = services.screening_sign_off(
                actor=request.user,
                screening=screening,
                approve=form.approve,
                reason=form.cleaned_data["reason"],
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"Screening {'approved' if sign_off.approve else 'declined'}.")
            return redirect("screening:list", patient_id=screening.patient_id)
    return _page(request, screening.patient_id, sign_off_form=form, status=400)
