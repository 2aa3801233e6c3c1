"""Who may use the patient portal: a signed-in patient account, active, and nothing else.

Staff are refused (403) as patients are refused by every staff page (they hold no membership).
Every portal query is then scoped to ``request.patient_account.patient``: a portal page never
takes a patient id from the request.

A portal page and a portal API answer run in the patient's clinic's time zone (a patient holds no
membership, so the staff's ``ClinicTimezoneMiddleware`` finds none); a page also in the language
the patient chose (English unless they chose Spanish), the API stays English.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone, translation

from kapstone.accounts.access import PATIENT, forbidden, login_redirect, mfa_satisfied
from kapstone.accounts.api_kit import GuardedBearer, api_denied
from kapstone.audit.services import audit_record
from kapstone.portal.models import PatientAccount


def patient_account_of(user: Any) -> PatientAccount | None:
    """The active portal account of ``user`` (a patient who accepted and is not disabled), or None."""
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_patient", False):
        return None
    account = (
        PatientAccount.objects.select_related("patient__clinic")
        .filter(user=user, accepted_at__isnull=False, disabled_at__isnull=True)
        .first()
    )
    return account


def audit_own_read(account: PatientAccount, object_type: str, **detail: Any) -> None:
    """The audit row of a patient reading their own record in the portal (the patient is the actor)."""
    patient = account.patient
    audit_record(
        actor=account.user,
        action="read",
        object_type=object_type,
        object_id=patient.pk,
        patient_id=patient.pk,
        clinic_id=patient.clinic_id,
        detail=detail,
    )


def require_patient(view: Callable) -> Callable:
    """A portal page: signed in as an active patient account (second factor if they added one)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return login_redirect(request)
        account = patient_account_of(request.user)
        if account is None:
            return forbidden(request, reason="not_a_patient")
        if not mfa_satisfied(request):
            return redirect("accounts:mfa_verify")
        request.patient_account = account
        language = (
            account.language if account.language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        )
        with timezone.override(ZoneInfo(account.patient.clinic.timezone)), translation.override(language):
            request.LANGUAGE_CODE = language
            return view(request, *args, **kwargs)

    wrapper.kapstone_access = PATIENT  # type: ignore[attr-defined]
    return wrapper


NOT_A_PATIENT = "Only a patient's own portal account may use this."


def api_patient(func: Callable) -> Callable:
    """A portal API operation: the token's user must be an active patient account (else 403,
    before the request's parameters are read when the router is a ``KapstoneRouter``)."""

    @wraps(func)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        account = patient_account_of(request.auth)
        if account is None:
            raise api_denied(
                actor=request.auth, operation=func.__name__, reason="not_a_patient", message=NOT_A_PATIENT
            )
        request.patient_account = account
        with timezone.override(ZoneInfo(account.patient.clinic.timezone)):
            return func(request, *args, **kwargs)

    wrapper.kapstone_access = PATIENT  # type: ignore[attr-defined]
    wrapper.kapstone_auth = GuardedBearer(  # type: ignore[attr-defined]
        allows=lambda user: patient_account_of(user) is not None,
        operation=func.__name__,
        reason="not_a_patient",
        message=NOT_A_PATIENT,
    )
    return wrapper
