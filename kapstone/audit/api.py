"""Audit API for clinic admins."""
# No "from __future__ import annotations" in API modules: django-ninja resolves the operation
# signatures through the role wrapper, which lives in another module, so annotations must be real.

from typing import Literal

from django.http import HttpRequest
from ninja import Schema

from kapstone.accounts.access import AUDIT_REVIEW
from kapstone.accounts.api_kit import (
    FilterDate,
    FilterText,
    KapstoneRouter,
    Page,
    RecordId,
    api_roles,
    paginated,
)
from kapstone.audit.models import AuditAction
from kapstone.audit.selectors import AuditFilter, audit_events_for_admin, utc_iso
from kapstone.domain.errors import DomainError

router = KapstoneRouter()

Action = Literal[tuple(AuditAction.values)]  # type: ignore[valid-type]


class AuditEventOut(Schema):
    action: str
    actor: str
    object_type: str
    object_id: str
    patient_id: int | None
    #: ISO 8601 in UTC ("2026-12-06T19:03:07.123456Z"): the name says which clock.
    at_utc: str


@router.get("/events", response=list[AuditEventOut])
@api_roles(*AUDIT_REVIEW)
@paginated(window=True)
def list_events(
    request: HttpRequest,
    patient_id: RecordId | None = None,
    patient: FilterText = "",
    action: Action | None = None,
    date_from: FilterDate | None = None,
    date_to: FilterDate | None = None,
    **kwargs,
):
    if date_from and date_to and date_to < date_from:
        raise DomainError("date_range_reversed", "date_to is before date_from.", field="date_to")
    window = kwargs["page"]
    page = audit_events_for_admin(
        user=request.auth,
        filters=AuditFilter(
            patient=patient, patient_id=patient_id, action=action, date_from=date_from, date_to=date_to
        ),
        limit=window.limit,
        offset=window.offset,
    )
    return Page(
        [
            {
                "action": row.event.action,
                "actor": row.event.actor_label,
                "object_type": row.event.object_type,
                "object_id": row.event.object_id,
                "patient_id": row.event.patient_id,
                "at_utc": utc_iso(row.event.at),
            }
            for row in page.rows
        ],
        page.total,
    )
