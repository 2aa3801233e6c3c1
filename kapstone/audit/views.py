"""The audit viewer for clinic admins."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from kapstone.accounts.access import AUDIT_REVIEW, clinic_ids_for, require_roles
from kapstone.accounts.models import Membership, User
from kapstone.audit.models import AuditAction
from kapstone.audit.selectors import AuditFilter, audit_events_for_admin
from kapstone.forms import DateInput


class AuditFilterForm(forms.Form):
    patient_id = forms.IntegerField(required=False, min_value=1, label="Patient id")
    actor = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="User")
    action = forms.ChoiceField(required=False, choices=[("", "any"), *list(AuditAction.choices)])
    date_from = forms.DateField(required=False, widget=DateInput(), label="From")
    date_to = forms.DateField(required=False, widget=DateInput(), label="To")

    def __init__(self, *args, staff=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["actor"].choices = [("", "anyone")] + [(u.pk, u.username) for u in staff]


@require_roles(*AUDIT_REVIEW)
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    clinic_ids = clinic_ids_for(request.user, AUDIT_REVIEW)
    member_ids = list(
        Membership.objects.filter(clinic_id__in=clinic_ids).values_list("user_id", flat=True).distinct()
    )
    staff = list(User.objects.filter(pk__in=member_ids).order_by("username"))
    form = AuditFilterForm(request.GET or None, staff=staff)
    filters = AuditFilter()
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters = AuditFilter(
            patient_id=data["patient_id"],
            actor_id=data["actor"],
            action=data["action"] or None,
            date_from=data["date_from"],
            date_to=data["date_to"],
        )
    events, total = audit_events_for_admin(
        user=request.user, clinic_ids=clinic_ids, member_ids=member_ids, filters=filters
    )
    status = 400 if form.is_bound and form.errors else 200
    return render(
        request, "audit/audit_list.html", {"form": form, "events": events, "total": total}, status=status
    )
