"""Portal accounts: the staff's invitations and the patient's first visit (setting a password)."""

from __future__ import annotations

import time

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from kapstone.accounts.access import PATIENT_WRITE, public, require_roles
from kapstone.accounts.middleware import SESSION_LOGIN_AT
from kapstone.domain.errors import DomainError
from kapstone.forms import add_domain_error
from kapstone.patients.selectors import patient_get_for_user
from kapstone.portal import patient_services
from kapstone.portal.models import PatientAccount


def _chart(patient_id: int) -> HttpResponse:
    return redirect(reverse("patients:chart", args=[patient_id]) + "#portal-h")


@require_roles(*PATIENT_WRITE)
@require_POST
def invite(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id, roles=PATIENT_WRITE)
    link_base = request.build_absolute_uri(reverse("portal:invitation", args=["x"]))[:-2]
    try:
        invitation, _token = patient_services.portal_invite(
            actor=request.user, patient=patient, email=request.POST.get("email", ""), link_base=link_base
        )
    except DomainError as error:
        messages.error(request, f"The invitation was not sent: {error.message}")
    else:
        messages.success(
            request, f"Invitation e-mailed to {invitation.sent_to}; the link works once, for 72 hours."
        )
    return _chart(patient.pk)


@require_roles(*PATIENT_WRITE)
@require_POST
def disable(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id, roles=PATIENT_WRITE)
    account = PatientAccount.objects.filter(patient=patient).first()
    if account is None:
        messages.error(request, "This patient has no portal account.")
        return _chart(patient.pk)
    try:
        patient_services.portal_account_disable(
            actor=request.user, account=account, reason=request.POST.get("reason", "")
        )
    except DomainError as error:
        messages.error(request, f"The account was not disabled: {error.message}")
    else:
        messages.success(request, "The portal account is disabled; the patient can no longer sign in.")
    return _chart(patient.pk)


class AcceptForm(forms.Form):
    password = forms.CharField(
        label="Choose a password", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password_again = forms.CharField(
        label="The same password again", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )


@public
@never_cache
@sensitive_post_parameters("password", "password_again")
@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The link of an invitation e-mail: the patient sets a password and is signed in."""
    try:
        invitation = patient_services.invitation_for_token(token)
    except DomainError as error:
        return render(
            request,
            "portal/invitation_invalid.html",
            {"message": error.message, "code": error.code},
            status=410,
        )
    form = AcceptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = patient_services.invitation_accept(
                token=token,
                password=form.cleaned_data["password"],
                password_again=form.cleaned_data["password_again"],
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            login(request, account.user, backend="django.contrib.auth.backends.ModelBackend")
            request.session[SESSION_LOGIN_AT] = time.time()
            request.session.set_expiry(settings.PORTAL_SESSION_IDLE_S)
            messages.success(request, "Your account is ready. Welcome.")
            return redirect("portal:home")
    context = {"form": form, "invitation": invitation, "clinic": invitation.account.patient.clinic}
    return render(request, "portal/invitation.html", context, status=400 if form.errors else 200)
