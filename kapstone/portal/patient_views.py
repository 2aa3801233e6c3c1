"""The patient's own pages (the portal). Every query is scoped to the signed-in patient's record
(``request.patient_account.patient``); no page takes a patient id from the request."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from kapstone.audit.services import audit_record
from kapstone.portal.access import require_patient


@require_patient
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    account = request.patient_account
    patient = account.patient
    audit_record(
        actor=request.user,
        action="read",
        object_type="portal_home",
        object_id=patient.pk,
        patient_id=patient.pk,
        clinic_id=patient.clinic_id,
    )
    return render(request, "portal/patient/home.html", {"patient": patient, "clinic": patient.clinic})
