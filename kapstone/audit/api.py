"""Audit API for clinic admins."""
# No "from __future__ import annotations" in API modules: django-ninja resolves the operation
# signatures through the role wrapper, which lives in another module, so annotations must be real.

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema

from kapstone.accounts.access import AUDIT_REVIEW, clinic_ids_for
from kapstone.accounts.api_kit import api_roles
from kapstone.accounts.models import Membership
from kapstone.audit.selectors import AuditFilter, audit_events_for_admin

router = Router()


class AuditEventOut(Schema):
    action: str
    actor: str
    object_type: str
    object_id: str
    patient_id: int | None
    at: datetime


@router.get("/events", response=list[AuditEventOut])
@api_roles(*AUDIT_REVIEW)
def list_events(request: HttpRequest, patient_id: int | None = None, action: str | None = None):
    clinic_ids = clinic_ids_for(request.auth, AUDIT_REVIEW)
    member_ids = list(
        Membership.objects.filter(clinic_id__in=clinic_ids).values_list("user_id", flat=True).distinct()
    )
    events, _ = audit_events_for_admin(
        user=request.auth,
        clinic_ids=clinic_ids,
        member_ids=member_ids,
        filters=AuditFilter(patient_id=patient_id, action=action),
    )
    return [
        {
            "action": e.action,
            "actor": e.actor_label,
            "object_type": e.object_type,
            "object_id": e.object_id,
            "patient_id": e.patient_id,
            "at": e.at,
        }
        for e in events
    ]
