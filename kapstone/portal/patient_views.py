"""The patient's own pages (the portal). Every query is scoped to the signed-in patient's record
(``request.patient_account.patient``); no page takes a patient id from the request. Pages run in
the patient's language and their clinic's time zone (:func:`kapstone.portal.access.require_patient`).
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from kapstone.domain.errors import DomainError
from kapstone.forms import FreeTextField, add_domain_error
from kapstone.portal import consent as consent_services
from kapstone.portal import patient_selectors, patient_services
from kapstone.portal.access import require_patient
from kapstone.portal.selectors import service_profile_current


def _translated(error: DomainError) -> DomainError:
    """The refusal in the page's language (the services give English marked for translation)."""
    return DomainError(error.code, _(error.message), field=error.field)


def _contact_line(patient) -> str:
    profile = service_profile_current(clinic_id=patient.clinic_id)
    return profile.contact_line if profile else ""


def _context(request: HttpRequest, **extra) -> dict:
    patient = request.patient_account.patient
    return {"patient": patient, "clinic": patient.clinic, **extra}


@require_patient
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    home = patient_selectors.home_read(account=request.patient_account)
    return render(request, "portal/patient/home.html", _context(request, home=home))


@require_patient
@require_GET
def sessions(request: HttpRequest) -> HttpResponse:
    upcoming, past = patient_selectors.sessions_read(account=request.patient_account)
    return render(request, "portal/patient/sessions.html", _context(request, upcoming=upcoming, past=past))


@require_patient
@require_GET
def consents(request: HttpRequest) -> HttpResponse:
    states = consent_services.portal_consents_read(actor=request.user)
    return render(request, "portal/patient/consents.html", _context(request, states=states))


class SignForm(forms.Form):
    """Signing a consent document. Shape only: the service checks the name and the box, so that
    its refusals (and their codes) are the same for every way in."""

    document_id = forms.CharField(widget=forms.HiddenInput, required=False)
    text_sha256 = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)
    typed_name = FreeTextField(
        label=gettext_lazy("Your full name"),
        required=False,
        max_length=201,
        widget=forms.TextInput(
            attrs={"autocomplete": "name", "autocapitalize": "words", "spellcheck": "false"}
        ),
    )
    agreed = forms.BooleanField(
        label=gettext_lazy("I have read this document and I agree to it."),
        required=False,
    )


class WithdrawForm(forms.Form):
    confirmed = forms.BooleanField(label=gettext_lazy("I withdraw this consent."), required=False)


@require_patient
@require_http_methods(["GET", "POST"])
def consent(request: HttpRequest, kind: str) -> HttpResponse:
    """One consent document: read it, sign it (typed name and a tick), or withdraw."""
    if kind not in consent_services.KIND_WORDS:
        raise Http404("kind")
    action = request.POST.get("action") if request.method == "POST" else None
    sign_form = SignForm(request.POST if action == "sign" else None, prefix="sign")
    withdraw_form = WithdrawForm(request.POST if action == "withdraw" else None, prefix="withdraw")
    status = 200
    if action == "sign" and sign_form.is_valid():
        data = sign_form.cleaned_data
        try:
            consent_services.consent_sign(
                actor=request.user,
                document_id=data["document_id"],
                text_sha256=data["text_sha256"],
                typed_name=data["typed_name"],
                agreed=data["agreed"],
            )
        except DomainError as error:
            add_domain_error(sign_form, _translated(error))
        else:
            messages.success(request, _("Thank you. Your signature is recorded."))
            return redirect("portal:consents")
    elif action == "withdraw" and withdraw_form.is_valid():
        try:
            consent_services.consent_withdraw(
                actor=request.user, kind=kind, confirmed=withdraw_form.cleaned_data["confirmed"]
            )
        except DomainError as error:
            add_domain_error(withdraw_form, _translated(error))
        else:
            messages.success(request, _("Your consent is withdrawn. The clinic can see this in your record."))
            return redirect("portal:consents")
    elif action is not None and action not in ("sign", "withdraw"):
        raise Http404("action")
    if sign_form.errors or withdraw_form.errors:
        status = 400
    state = consent_services.portal_consent_read(actor=request.user, kind=kind)
    context = _context(
        request,
        state=state,
        kind_words=consent_services.KIND_WORDS[kind],
        sign_form=sign_form,
        withdraw_form=withdraw_form,
        contact_line=_contact_line(request.patient_account.patient),
        withdrawable=kind in consent_services.WITHDRAWABLE,
    )
    return render(request, "portal/patient/consent.html", context, status=status)


class SettingsForm(forms.Form):
    reminders = forms.BooleanField(
        label=gettext_lazy("Send me reminder e-mails"),
        required=False,
        help_text=gettext_lazy(
            "When a questionnaire is due and the day before a session. The e-mails never say what the "
            "reminder is about: they ask you to sign in."
        ),
    )
    language = forms.ChoiceField(
        label=gettext_lazy("Language"),
        choices=settings.LANGUAGES,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": gettext_lazy("Choose English or Spanish.")},
    )


@require_patient
@require_http_methods(["GET", "POST"])
def portal_settings(request: HttpRequest) -> HttpResponse:
    """Reminders on or off, and the language of the portal."""
    account = request.patient_account
    form = SettingsForm(
        request.POST or None, initial={"reminders": account.reminders_enabled, "language": account.language}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if data["language"] != account.language:
                patient_services.portal_language_set(actor=request.user, language=data["language"])
            if data["reminders"] != account.reminders_enabled:
                patient_services.portal_reminders_set(actor=request.user, enabled=data["reminders"])
        except DomainError as error:
            add_domain_error(form, _translated(error))
        else:
            with translation.override(data["language"]):
                messages.success(request, _("Your settings are saved."))
            return redirect("portal:settings")
    patient_selectors.settings_read(account=account)
    status = 400 if form.errors else 200
    return render(request, "portal/patient/settings.html", _context(request, form=form), status=status)
