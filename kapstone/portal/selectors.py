"""Reads of the public door.

The service profiles are public by design (a clinic publishes them) and are read without an
audit row. A referral is PHI of its clinic: every staff read is scoped to the user's clinics
("not yours" and "does not exist" are the same 404) and audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from kapstone.accounts.access import PATIENT_READ, clinic_ids_for, scoped_get
from kapstone.accounts.models import User
from kapstone.audit.services import audit_record
from kapstone.care.protocols import protocols_for_clinics
from kapstone.domain.referrals import NEW, REFERRAL_STATUSES, ClinicOffer, referral_overdue
from kapstone.portal.models import Referral, ServiceProfile

REFERRAL_STAFF = PATIENT_READ  # admin, prescriber, nurse, therapist (never the researcher)


def service_profile_current(*, clinic_id: int) -> ServiceProfile | None:
    """The clinic's profile in force (its newest version), or None before the first."""
    return ServiceProfile.objects.filter(clinic_id=clinic_id).order_by("-version").first()


def _current_profiles() -> list[ServiceProfile]:
    newest = ServiceProfile.objects.filter(clinic=OuterRef("clinic")).order_by("-version").values("pk")[:1]
    return list(
        ServiceProfile.objects.filter(pk=Subquery(newest)).select_related("clinic").order_by("clinic_id")
    )


def clinic_offers() -> list[ClinicOffer]:
    """What every clinic accepting referrals offers, for matching (public data)."""
    profiles = [p for p in _current_profiles() if p.accepting_referrals]
    if not profiles:
        return []
    substance_of: dict[int, dict[str, str]] = {}
    for protocol, owner in protocols_for_clinics([p.clinic_id for p in profiles]):
        for profile in profiles:
            if owner is None or owner == profile.clinic_id:
                substance_of.setdefault(profile.clinic_id, {})[protocol.slug] = protocol.indication
    offers = []
    for profile in profiles:
        known = substance_of.get(profile.clinic_id, {})
        slugs = tuple(s for s in profile.protocol_slugs if s in known)
        offers.append(
            ClinicOffer(
                clinic_id=profile.clinic_id,
                name=profile.display_name,
                regions=frozenset(profile.regions),
                languages=frozenset(profile.languages),
                modalities=frozenset(profile.modalities),
                protocol_slugs=slugs,
                protocol_substances=known,
                accepting=True,
                wait_weeks=profile.wait_weeks,
            )
        )
    return offers


def public_clinic_contact(*, clinic_id: int) -> ServiceProfile | None:
    """A clinic's public profile for the thank-you page (its name and contact line)."""
    return service_profile_current(clinic_id=clinic_id)


# --- Staff -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    referral: Referral
    overdue: bool


def _overdue(referral: Referral, *, now: datetime, target: int) -> bool:
    zone = ZoneInfo(referral.clinic.timezone)
    return referral_overdue(
        status=referral.status,
        created_at_local=referral.created_at.astimezone(zone).replace(tzinfo=None),
        now_local=now.astimezone(zone).replace(tzinfo=None),
        target_working_days=target,
    )


def _targets(clinic_ids: list[int]) -> dict[int, int]:
    default = ServiceProfile._meta.get_field("contact_target_working_days").default
    targets = dict.fromkeys(clinic_ids, default)
    for profile in _current_profiles():
        if profile.clinic_id in targets:
            targets[profile.clinic_id] = profile.contact_target_working_days
    return targets


def referral_queue_for_user(
    *, user: User, status: str | None = None, now: datetime | None = None, limit: int = 500
) -> list[QueueRow]:
    """The referrals of the user's clinics, newest first, each with whether it is overdue.

    ``status`` narrows to one state (an unknown state gives an empty list). One audited read.
    """
    return referral_queue_page_for_user(user=user, status=status, now=now, limit=limit)[0]


def referral_queue_page_for_user(
    *, user: User, status: str | None = None, now: datetime | None = None, limit: int = 500, offset: int = 0
) -> tuple[list[QueueRow], int]:
    """:func:`referral_queue_for_user`, ``limit`` of them from ``offset``; (rows, total)."""
    clinic_ids = clinic_ids_for(user, REFERRAL_STAFF)
    now = now or timezone.now()
    rows = Referral.objects.filter(clinic_id__in=clinic_ids).select_related("clinic", "patient")
    if status:
        rows = rows.filter(status=status) if status in REFERRAL_STATUSES else rows.none()
    total = rows.count()
    referrals = list(rows.order_by("-created_at", "-id")[offset : offset + limit])
    targets = _targets(clinic_ids)
    result = [QueueRow(r, _overdue(r, now=now, target=targets[r.clinic_id])) for r in referrals]
    audit_record(
        actor=user,
        action="read",
        object_type="referral_list",
        detail={"returned": len(result), "status": status if status in REFERRAL_STATUSES else None},
    )
    return result, total


def referral_get_for_user(*, user: User, referral_id: int, roles=REFERRAL_STAFF) -> Referral:
    """One referral of the user's clinics (audited read), else 404."""
    return scoped_get(
        Referral.objects.select_related("clinic", "patient"),
        referral_id,
        user=user,
        roles=roles,
        object_type="referral",
    )


def referral_is_overdue(referral: Referral, *, now: datetime | None = None) -> bool:
    target = _targets([referral.clinic_id])[referral.clinic_id]
    return _overdue(referral, now=now or timezone.now(), target=target)


def referral_overdue_count_for_user(*, user: User, now: datetime | None = None) -> int:
    """How many new referrals of the user's clinics are past their clinic's contact target (a
    count for the home page: no PHI, not audited)."""
    clinic_ids = clinic_ids_for(user, REFERRAL_STAFF)
    if not clinic_ids:
        return 0
    now = now or timezone.now()
    targets = _targets(clinic_ids)
    waiting = Referral.objects.filter(clinic_id__in=clinic_ids, status=NEW, anonymised_at__isnull=True)
    return sum(
        1 for r in waiting.select_related("clinic") if _overdue(r, now=now, target=targets[r.clinic_id])
    )
