"""The audit viewer for clinic admins: the page and its CSV export."""

from __future__ import annotations

import csv

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from kapstone.accounts.access import AUDIT_REVIEW, require_roles
from kapstone.audit.models import AuditAction
from kapstone.audit.selectors import (
    EXPORT_LIMIT,
    AuditFilter,
    AuditScope,
    audit_events_for_admin,
    audit_scope_for_admin,
    utc_iso,
)
from kapstone.domain.register import csv_safe_cell
from kapstone.forms import FilterDateField, FilterTextField


class AuditFilterForm(forms.Form):
    patient = FilterTextField(
        label="Patient", help_text="MRN or name, or part of one.", widget=forms.TextInput(attrs={"size": 16})
    )
    actor = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        label="User",
        error_messages={"invalid_choice": "Choose a user from the list."},
    )
    action = forms.ChoiceField(
        required=False,
        choices=[("", "any"), *list(AuditAction.choices)],
        error_messages={"invalid_choice": "Choose an action from the list."},
    )
    date_from = FilterDateField(label="From")
    date_to = FilterDateField(label="To")

    def __init__(self, *args, staff=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["actor"].choices = [("", "anyone")] + [(u.pk, u.username) for u in staff]

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end of the range is before its start.")
        return data

    def audit_filter(self) -> AuditFilter:
        data = self.cleaned_data
        return AuditFilter(
            patient=data["patient"],
            actor_id=data["actor"],
            action=data["action"] or None,
            date_from=data["date_from"],
            date_to=data["date_to"],
        )


def _filter_form(request: HttpRequest) -> tuple[AuditScope, AuditFilterForm]:
    scope = audit_scope_for_admin(user=request.user)
    return scope, AuditFilterForm(request.GET or None, staff=scope.staff)


@require_roles(*AUDIT_REVIEW)
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    scope, form = _filter_form(request)
    # A filter that cannot be read shows why beside it, and no events: the whole trail in its
    # place would look like the answer to the question asked.
    page = None
    if not form.is_bound or form.is_valid():
        filters = form.audit_filter() if form.is_bound else AuditFilter()
        page = audit_events_for_admin(user=request.user, filters=filters, scope=scope)
    context = {
        "form": form,
        "page": page,
        "zone": timezone.get_current_timezone(),
        "query": request.GET.urlencode() if form.is_bound and form.is_valid() else "",
    }
    return render(request, "audit/audit_list.html", context)


EXPORT_COLUMNS = (
    "event",
    "at_utc",
    "clinic_id",
    "user",
    "action",
    "object_type",
    "object_id",
    "patient_id",
    "outcome",
    "remote_addr",
)


@require_roles(*AUDIT_REVIEW)
@require_GET
def audit_export(request: HttpRequest) -> HttpResponse:
    """The filtered events as CSV, times in UTC (ISO 8601). The page shows a filter it cannot
    read; the export answers with that page."""
    scope, form = _filter_form(request)
    if form.is_bound and not form.is_valid():
        return audit_list(request)
    filters = form.audit_filter() if form.is_bound else AuditFilter()
    page = audit_events_for_admin(
        user=request.user, filters=filters, scope=scope, limit=EXPORT_LIMIT, export=True
    )
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit-trail.csv"'
    writer = csv.writer(response)
    writer.writerow(EXPORT_COLUMNS)
    for row in page.rows:
        e = row.event
        writer.writerow(
            [
                csv_safe_cell(value)
                for value in (
                    e.pk,
                    utc_iso(e.at),
                    e.clinic_id or "",
                    e.actor_label,
                    e.action,
                    e.object_type,
                    e.object_id,
                    e.patient_id or "",
                    e.outcome,
                    e.remote_addr or "",
                )
            ]
        )
    return response
