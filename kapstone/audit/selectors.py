"""Reading the audit trail: clinic admins review the events of their own clinics.

This is the audit *viewer* (with views.py and api.py): it uses accounts' access control and the
patient register (to find patients by MRN or name and to name them on screen), while the audit
*log* beneath it (models, services, chain) imports nothing above it (pyproject.toml declares the
exception for these three modules only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet
from django.utils import timezone

from kapstone.accounts.access import AUDIT_REVIEW, clinic_ids_for
from kapstone.accounts.models import Clinic, Membership, User
from kapstone.audit.models import AuditAction, AuditEvent
from kapstone.audit.services import audit_record
from kapstone.patients.models import Patient

#: The newest events a page shows, and an export holds.
PAGE_LIMIT = 500
EXPORT_LIMIT = 10_000
#: How many of the patients a search matched the page names.
PATIENTS_NAMED = 10

_MATCH_TERMS_MAX = 4


@dataclass(frozen=True)
class AuditFilter:
    """What the admin asked for. ``patient`` is an MRN or a name (or part of one), matched
    case-insensitively among the patients of the admin's clinics; ``patient_id`` a record id."""

    patient: str = ""
    patient_id: int | None = None
    actor_id: int | None = None
    action: str | None = None
    date_from: date | None = None
    date_to: date | None = None


@dataclass(frozen=True)
class AuditScope:
    """The clinics where the user is an admin, their staff, and each clinic's time zone."""

    clinic_ids: list[int]
    member_ids: list[int]
    staff: list[User]
    zones: dict[int, tzinfo]


@dataclass(frozen=True)
class AuditRow:
    event: AuditEvent
    #: The clock the event is shown on: its clinic's (the admin's own for sign-ins, which carry
    #: no clinic). The page writes "6 Dec 14:03 EST" (kapstone/display.py, ``moment_zone``).
    zone: tzinfo
    action_label: str
    object_label: str
    patient: Patient | None


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    total: int
    #: Patients whose MRN or name matched ``AuditFilter.patient`` (None: no such filter).
    patients_matched: int | None = None
    patients_named: list[Patient] = field(default_factory=list)


def audit_scope_for_admin(*, user: User) -> AuditScope:
    clinic_ids = clinic_ids_for(user, AUDIT_REVIEW)
    member_ids = list(
        Membership.objects.filter(clinic_id__in=clinic_ids).values_list("user_id", flat=True).distinct()
    )
    staff = list(User.objects.filter(pk__in=member_ids).order_by("username"))
    zones = {
        pk: ZoneInfo(name)
        for pk, name in Clinic.objects.filter(pk__in=clinic_ids).values_list("pk", "timezone")
    }
    return AuditScope(clinic_ids=clinic_ids, member_ids=member_ids, staff=staff, zones=zones)


def _patients_matching(clinic_ids: list[int], text: str) -> QuerySet[Patient]:
    """Patients of ``clinic_ids`` whose MRN, given or family name contains each word of ``text``
    (case-insensitive). An empty text matches nobody."""
    terms = text.split()[:_MATCH_TERMS_MAX]
    if not terms:
        return Patient.objects.none()
    qs = Patient.objects.filter(clinic_id__in=clinic_ids)
    for term in terms:
        qs = qs.filter(
            Q(mrn__icontains=term) | Q(given_name__icontains=term) | Q(family_name__icontains=term)
        )
    return qs


def _day_start(day: date, zone: tzinfo) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), zone)


def audit_events_for_admin(
    *,
    user: User,
    filters: AuditFilter,
    scope: AuditScope | None = None,
    limit: int = PAGE_LIMIT,
    offset: int = 0,
    export: bool = False,
) -> AuditPage:
    """Events about the admin's clinics, plus sign-ins of their clinics' staff; newest first,
    ``limit`` of them from ``offset`` (``total`` counts them all).

    Dates are days on the clock of the admin's (first) clinic, the zone the page shows. The
    review is itself audited: a ``read`` of the audit log, or an ``export`` when ``export``.
    """
    scope = scope or audit_scope_for_admin(user=user)
    qs: QuerySet[AuditEvent] = AuditEvent.objects.filter(
        Q(clinic_id__in=scope.clinic_ids) | Q(clinic_id__isnull=True, actor_id__in=scope.member_ids)
    )
    matched: int | None = None
    named: list[Patient] = []
    if filters.patient:
        patients = _patients_matching(scope.clinic_ids, filters.patient)
        matched = patients.count()
        named = list(patients.order_by("family_name", "given_name", "id")[:PATIENTS_NAMED])
        qs = qs.filter(patient_id__in=patients.values("pk"))
    if filters.patient_id is not None:
        qs = qs.filter(patient_id=filters.patient_id)
    if filters.actor_id is not None:
        qs = qs.filter(actor_id=filters.actor_id)
    if filters.action:
        qs = qs.filter(action=filters.action)
    zone = timezone.get_current_timezone()
    if filters.date_from:
        qs = qs.filter(at__gte=_day_start(filters.date_from, zone))
    if filters.date_to:
        qs = qs.filter(at__lt=_day_start(filters.date_to + timedelta(days=1), zone))
    total = qs.count()
    events = list(qs.select_related("actor").order_by("-id")[offset : offset + limit])
    # The patients the shown events concern, to name them (only those of the admin's clinics).
    shown = {
        p.pk: p
        for p in Patient.objects.filter(
            clinic_id__in=scope.clinic_ids, pk__in={e.patient_id for e in events if e.patient_id}
        )
    }
    actions = dict(AuditAction.choices)
    rows = [
        AuditRow(
            event=e,
            zone=scope.zones.get(e.clinic_id, zone),
            action_label=actions.get(e.action, e.action),
            object_label=e.object_type.replace("_", " "),
            patient=shown.get(e.patient_id),
        )
        for e in events
    ]
    single = filters.patient_id if filters.patient_id is not None else (named[0].pk if matched == 1 else None)
    # The search text may be a name: record that one ran and what it found, never the text.
    audit_record(
        actor=user,
        action="export" if export else "read",
        object_type="audit_log",
        patient_id=single,
        detail={
            "returned": len(rows),
            "filtered_by_patient": bool(filters.patient) or filters.patient_id is not None,
            **({"patients_matched": matched} if matched is not None else {}),
        },
    )
    return AuditPage(rows=rows, total=total, patients_matched=matched, patients_named=named)


def utc_iso(moment: datetime) -> str:
    """``moment`` in UTC, ISO 8601 with a ``Z`` (exports and the API)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
