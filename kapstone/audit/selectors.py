"""Reading the audit trail: clinic admins review the events of their own clinics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from kapstone.audit.models import AuditEvent
from kapstone.audit.services import audit_record


@dataclass(frozen=True)
class AuditFilter:
    patient_id: int | None = None
    actor_id: int | None = None
    action: str | None = None
    date_from: date | None = None
    date_to: date | None = None


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def audit_events_for_admin(
    *, user, clinic_ids: list[int], member_ids: list[int], filters: AuditFilter, limit: int = 500
) -> tuple[list[AuditEvent], int]:
    """Events about the admin's clinics, plus sign-ins of their clinics' staff; newest first.

    ``clinic_ids`` are the clinics where ``user`` is an admin; ``member_ids`` the staff of those
    clinics (sign-in events carry no clinic). The review itself is audited.
    """
    qs: QuerySet[AuditEvent] = AuditEvent.objects.filter(
        Q(clinic_id__in=clinic_ids) | Q(clinic_id__isnull=True, actor_id__in=member_ids)
    )
    if filters.patient_id is not None:
        qs = qs.filter(patient_id=filters.patient_id)
    if filters.actor_id is not None:
        qs = qs.filter(actor_id=filters.actor_id)
    if filters.action:
        qs = qs.filter(action=filters.action)
    if filters.date_from:
        qs = qs.filter(at__gte=_day_start(filters.date_from))
    if filters.date_to:
        qs = qs.filter(at__lt=_day_start(filters.date_to + timedelta(days=1)))
    total = qs.count()
    rows = list(qs.select_related("actor").order_by("-id")[:limit])
    audit_record(
        actor=user,
        action="read",
        object_type="audit_log",
        patient_id=filters.patient_id,
        detail={"returned": len(rows), "filtered_by_patient": filters.patient_id is not None},
    )
    return rows, total
