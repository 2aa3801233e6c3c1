"""Research screens: the cohort report and the de-identified CSV exports.

Researchers, prescribers and clinic admins (``REPORT_ROLES``); nurses and therapists get 403.
Only aggregates and de-identified rows are shown, for every role. A researcher filters
enrolment by calendar quarter, for the report and the exports alike (the same form): a
day-precision date is refused (400, the input kept, nothing read or written).

With a replica configured (``KAPSTONE_REPLICA_DATABASE_URL``), the report and the exports read the
research data from it (``kapstone.replica``); their audit events and disclosure rows, and the
user's rights, stay on the primary. The report says how old the replica's data is; when the
replica does not answer, both read from the primary (and the report says so).
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from kapstone.accounts.access import require_roles
from kapstone.accounts.models import Clinic
from kapstone.patients.services import clinic_today
from kapstone.replica import reading_research_from, research_source
from kapstone.research import selectors, services
from kapstone.research.cohorts import REPORT_ROLES, report_clinic_ids
from kapstone.research.forms import CohortForm


def _today(clinics: list[Clinic]):
    # Windows close on the date of the first clinic in scope (clinics differ by a day at most).
    return clinic_today(clinics[0])


def _form(request: HttpRequest, data=None) -> tuple[CohortForm, list[Clinic]]:
    """The filter form of the user's report clinics, bound to ``data`` (default: the query)."""
    clinics = list(Clinic.objects.filter(pk__in=report_clinic_ids(request.user)).order_by("pk"))
    return CohortForm(
        data if data is not None else request.GET or None, clinics=clinics, user=request.user
    ), clinics


@require_roles(*REPORT_ROLES)
@require_GET
def cohort_report(request: HttpRequest) -> HttpResponse:
    form, clinics = _form(request)
    report = None
    if not form.is_bound:
        form, _ = _form(request, {"group_by": "arm"})
        form.is_valid()
    source = None
    if form.is_valid():
        # Asked first: the report's data is at least as recent as the time it gives.
        source = research_source()
        with reading_research_from(source):
            report = selectors.cohort_report_for_user(
                user=request.user, filters=form.cohort_filter(), today=_today(clinics)
            )
    status = 400 if form.is_bound and form.errors else 200
    return render(
        request,
        "research/report.html",
        {
            "form": form,
            "report": report,
            "query": request.GET.urlencode(),
            "source": source,
        },
        status=status,
    )


@require_roles(*REPORT_ROLES)
@require_GET
def cohort_export(request: HttpRequest, export_format: str) -> HttpResponse:
    if export_format not in services.FORMATS:
        raise Http404("format")
    form, clinics = _form(request)
    if not form.is_bound:
        form, _ = _form(request, {"group_by": "arm"})
    if not form.is_valid():
        return render(request, "research/report.html", {"form": form, "report": None}, status=400)
    with reading_research_from(research_source()):
        export = services.research_export(
            actor=request.user,
            filters=form.cohort_filter(),
            export_format=export_format,
            today=_today(clinics),
        )
    response = HttpResponse(export.content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    return response
