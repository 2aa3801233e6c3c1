"""Patient list and search, chart, registration, amendment and the chart's first sections."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from kapstone.accounts.access import CLINICAL, PATIENT_READ, PATIENT_WRITE, clinic_ids_for, require_roles
from kapstone.accounts.selectors import clinics_of
from kapstone.display import day
from kapstone.domain.errors import DomainError
from kapstone.forms import add_domain_error, parse_text
from kapstone.patients import selectors, services
from kapstone.patients.chart import chart_sections_for
from kapstone.patients.forms import (
    ConsentForm,
    DiagnosisForm,
    DiagnosisVoidForm,
    IdentityForm,
    LiverTestForm,
    LiverTestVoidForm,
    MeasurementForm,
    MeasurementVoidForm,
    PatientAmendForm,
    PatientCreateForm,
)
from kapstone.patients.models import Patient


def _invalid(request: HttpRequest, template: str, context: dict) -> HttpResponse:
    """Re-render a refused form with its errors and the user's input: 400, nothing written."""
    return render(request, template, context, status=400)


@require_roles(*PATIENT_READ)
@require_GET
def patient_list(request: HttpRequest) -> HttpResponse:
    search = parse_text(request.GET.get("q"))
    patients, total = selectors.patient_search_for_user(user=request.user, search=search)
    context = {
        "patients": patients,
        "total": total,
        "q": search,
        "many_clinics": len(clinic_ids_for(request.user, PATIENT_READ)) > 1,
    }
    if request.htmx:
        return render(request, "patients/_patient_rows.html", context)
    return render(request, "patients/patient_list.html", context)


@require_roles(*PATIENT_WRITE)
@require_http_methods(["GET", "POST"])
def patient_create(request: HttpRequest) -> HttpResponse:
    clinics = clinics_of(request.user, PATIENT_WRITE)
    form = PatientCreateForm(request.POST or None, clinics=clinics)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        clinic_id = data.pop("clinic_id", None)
        try:
            patient = services.patient_create(actor=request.user, clinic_id=clinic_id, **data)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"Registered {patient.display_name} ({patient.mrn}).")
            return redirect("patients:chart", patient_id=patient.pk)
    if request.method == "POST":
        return _invalid(request, "patients/patient_form.html", {"form": form, "creating": True})
    return render(request, "patients/patient_form.html", {"form": form, "creating": True})


@require_roles(*PATIENT_READ)
@require_GET
def patient_chart(request: HttpRequest, patient_id: int) -> HttpResponse:
    chart = selectors.patient_chart_for_user(user=request.user, patient_id=patient_id)
    can_write = chart.patient.clinic_id in clinic_ids_for(request.user, PATIENT_WRITE)
    sections = chart_sections_for(user=request.user, patient=chart.patient, can_write=can_write)
    return render(
        request,
        "patients/chart.html",
        {
            "chart": chart,
            "patient": chart.patient,
            "can_write": can_write,
            # Voiding a measurement is a clinical judgement: prescribers, nurses, therapists.
            "can_void_measurement": chart.patient.clinic_id in clinic_ids_for(request.user, CLINICAL),
            "sections": sections,
            "liver_tests": selectors.liver_tests_of(chart.patient)[: selectors.CHART_MEASUREMENTS],
        },
    )


def _identity_initial(patient: Patient) -> dict:
    return {name: getattr(patient, name) for name in Patient.IDENTITY_FIELDS} | {"version": patient.version}


@require_roles(*PATIENT_WRITE)
@require_http_methods(["GET", "POST"])
def patient_amend(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = selectors.patient_get_for_user(user=request.user, patient_id=patient_id, roles=PATIENT_WRITE)
    form = PatientAmendForm(request.POST or None, initial=_identity_initial(patient))
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        version = data.pop("version")
        reason = data.pop("reason")
        changes = {name: value for name, value in data.items() if getattr(patient, name) != value}
        try:
            services.patient_amend(
                actor=request.user, patient=patient, expected_version=version, changes=changes, reason=reason
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "The record is amended; the previous version is kept.")
            return redirect("patients:chart", patient_id=patient.pk)
    context = {"form": form, "patient": patient, "creating": False}
    if request.method == "POST":
        return _invalid(request, "patients/patient_form.html", context)
    return render(request, "patients/patient_form.html", context)


@require_roles(*PATIENT_READ)
@require_GET
def patient_versions(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient, versions = selectors.patient_versions_for_user(user=request.user, patient_id=patient_id)
    rows = []
    for index, version in enumerate(versions):
        older = versions[index + 1].data if index + 1 < len(versions) else {}
        fields = [
            (
                _identity_label(name),
                _identity_value(name, version.data.get(name)),
                bool(older) and older.get(name) != version.data.get(name),
            )
            for name in Patient.IDENTITY_FIELDS
        ]
        rows.append({"version": version, "fields": fields})
    return render(request, "patients/versions.html", {"patient": patient, "rows": rows})


def _identity_label(name: str) -> str:
    field = IdentityForm.base_fields.get(name)
    return str(field.label) if field is not None and field.label else name.replace("_", " ").capitalize()


def _identity_value(name: str, value: object) -> str:
    """A stored identity value in words: yes/no, dates as the clinic writes them, "—" for none."""
    if value in (None, ""):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if name == "birth_date":
        return day(value)
    if name == "sex_at_birth":
        return str(value).capitalize()
    return str(value)


def _chart_form_view(
    request,
    patient_id,
    form_class,
    title,
    save,
    template="patients/chart_form.html",
    initial=None,
    roles=PATIENT_WRITE,
    extra=None,
):
    """A small form on a patient's chart. Dates and times are read and shown in the patient's
    clinic's time zone; ``initial`` may be a function of the patient."""
    patient = selectors.patient_get_for_user(user=request.user, patient_id=patient_id, roles=roles)
    with timezone.override(ZoneInfo(patient.clinic.timezone)):
        values = initial(patient) if callable(initial) else (initial or {})
        form = form_class(request.POST or None, initial=values)
        if request.method == "POST" and form.is_valid():
            try:
                save(patient, form.cleaned_data)
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, f"{title}: saved.")
                return redirect("patients:chart", patient_id=patient.pk)
        context = {"form": form, "patient": patient, "title": title, **(extra or {})}
        return render(request, template, context, status=400 if request.method == "POST" else 200)


@require_roles(*PATIENT_WRITE)
@require_http_methods(["GET", "POST"])
def measurement_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    def save(patient, data):
        services.measurement_record(actor=request.user, patient=patient, **data)
        warning = selectors.body_size(patient=patient).bmi_warning
        if warning is not None:
            messages.warning(request, warning.message)

    return _chart_form_view(
        request,
        patient_id,
        MeasurementForm,
        "Weight and height",
        save,
        # Now, to the minute, in the clinic's time zone (the view has switched to it).
        initial=lambda patient: {"measured_at": timezone.localtime().replace(second=0, microsecond=0)},
    )


@require_roles(*CLINICAL)
@require_http_methods(["GET", "POST"])
def measurement_void(request: HttpRequest, patient_id: int, measurement_id: int) -> HttpResponse:
    measurement = selectors.measurement_get_for_user(
        user=request.user, patient_id=patient_id, measurement_id=measurement_id
    )

    def save(patient, data):
        services.measurement_void(actor=request.user, measurement=measurement, reason=data["reason"])

    return _chart_form_view(
        request,
        patient_id,
        MeasurementVoidForm,
        "Void a measurement",
        save,
        template="patients/measurement_void.html",
        roles=CLINICAL,
        extra={"measurement": measurement},
    )


@require_roles(*PATIENT_WRITE)
@require_http_methods(["GET", "POST"])
def liver_test_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    def save(patient, data):
        services.liver_test_record(actor=request.user, patient=patient, **data)

    return _chart_form_view(
        request,
        patient_id,
        LiverTestForm,
        "Liver test result",
        save,
        initial={"taken_on": services.clinic_today_for_user(request.user), "unit": "U/L"},
    )


@require_roles(*CLINICAL)
@require_http_methods(["GET", "POST"])
def liver_test_void(request: HttpRequest, patient_id: int, liver_test_id: int) -> HttpResponse:
    liver_test = selectors.liver_test_get_for_user(
        user=request.user, patient_id=patient_id, liver_test_id=liver_test_id
    )

    def save(patient, data):
        services.liver_test_void(actor=request.user, liver_test=liver_test, reason=data["reason"])

    return _chart_form_view(
        request,
        patient_id,
        LiverTestVoidForm,
        "Void a liver test result",
        save,
        template="patients/liver_test_void.html",
        roles=CLINICAL,
        extra={"liver_test": liver_test},
    )


@require_roles(*PATIENT_WRITE)
@require_http_methods(["GET", "POST"])
def diagnosis_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    def save(patient, data):
        services.diagnosis_add(
            actor=request.user, patient=patient, code=data["code"], is_primary=data["is_primary"]
        )

    return _chart_form_view(request, patient_id, DiagnosisForm, "Diagnosis", save)


@require_roles(*PATIENT_WRITE)
@require_http_methods(["GET", "POST"])
def diagnosis_void(request: HttpRequest, patient_id: int, diagnosis_id: int) -> HttpResponse:
    diagnosis = selectors.diagnosis_get_for_user(
        user=request.user, patient_id=patient_id, diagnosis_id=diagnosis_id
    )

    def save(patient, data):
        services.diagnosis_void(actor=request.user, diagnosis=diagnosis, reason=data["reason"])

    return _chart_form_view(
        request, patient_id, DiagnosisVoidForm, f"Void {diagnosis.code} {diagnosis.name}", save
    )


@require_roles(*PATIENT_WRITE)
@require_http_methods(["GET", "POST"])
def consent_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    def save(patient, data):
        services.consent_record(actor=request.user, patient=patient, **data)

    return _chart_form_view(
        request,
        patient_id,
        ConsentForm,
        "Consent",
        save,
        initial={"effective_on": services.clinic_today_for_user(request.user)},
    )
