"""The clinic's consent documents (staff pages): what patients read and sign in the portal.

Clinicians and admins read them; a clinic admin publishes a new version (a published version is
never edited). Another clinic's document is "not found".
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from kapstone.accounts.access import ADMINS, PATIENT_READ, clinic_ids_for, require_roles
from kapstone.accounts.models import Clinic, Role
from kapstone.accounts.selectors import clinic_chosen, clinics_of
from kapstone.domain.errors import DomainError
from kapstone.forms import FreeTextField, add_domain_error
from kapstone.patients.models import ConsentKind
from kapstone.patients.selectors import (
    consent_document_get_for_user,
    consent_document_versions,
    consent_documents_current,
)
from kapstone.patients.services import (
    CONSENT_BODY_MAX_CHARS,
    CONSENT_TITLE_MAX_CHARS,
    consent_document_publish,
)


def _clinic(request: HttpRequest, roles) -> Clinic:
    """The clinic the page is about: ``?clinic=`` when it is one of the user's, else their first."""
    return clinic_chosen(request.user, roles, request.GET.get("clinic") or request.POST.get("clinic"))


@require_roles(*PATIENT_READ)
@require_GET
def document_list(request: HttpRequest) -> HttpResponse:
    clinic = _clinic(request, PATIENT_READ)
    current = consent_documents_current(clinic_id=clinic.pk)
    versions = consent_document_versions(clinic_id=clinic.pk)
    rows = [
        {
            "kind": kind,
            "label": label,
            "current": current[kind],
            "earlier": [d for d in versions if d.kind == kind and d != current[kind]],
        }
        for kind, label in ConsentKind.choices
    ]
    context = {
        "clinic": clinic,
        "rows": rows,
        "can_publish": clinic.pk in clinic_ids_for(request.user, ADMINS),
        "clinics": clinics_of(request.user, PATIENT_READ),
    }
    return render(request, "portal/consent_documents.html", context)


@require_roles(*PATIENT_READ)
@require_GET
def document_detail(request: HttpRequest, document_id: int) -> HttpResponse:
    document, signed = consent_document_get_for_user(user=request.user, document_id=document_id)
    return render(request, "portal/consent_document.html", {"document": document, "signed": signed})


class PublishForm(forms.Form):
    title = FreeTextField(label="Title", max_length=CONSENT_TITLE_MAX_CHARS)
    body = FreeTextField(
        label="Text",
        max_length=CONSENT_BODY_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 18}),
        help_text="Plain text; a blank line starts a new paragraph. Patients see exactly this text, "
        "and their signature records its fingerprint.",
    )


@require_roles(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def document_publish(request: HttpRequest, kind: str) -> HttpResponse:
    """Publish a new version of one kind of document (a clinic admin)."""
    if kind not in ConsentKind.values:
        raise Http404("kind")
    clinic = _clinic(request, ADMINS)
    current = consent_documents_current(clinic_id=clinic.pk)[kind]
    initial = {"title": current.title, "body": current.body} if current else {}
    form = PublishForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            document = consent_document_publish(
                actor=request.user,
                clinic=clinic,
                kind=kind,
                title=form.cleaned_data["title"],
                body=form.cleaned_data["body"],
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(
                request,
                f"Version {document.version} is published; patients are asked to sign it in the portal.",
            )
            return redirect(f"{reverse('consent_documents:list')}?clinic={clinic.pk}")
    context = {
        "form": form,
        "clinic": clinic,
        "current": current,
        "kind_label": ConsentKind(kind).label,
    }
    return render(request, "portal/consent_document_form.html", context, status=400 if form.errors else 200)
