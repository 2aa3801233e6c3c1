"""Scoped, audited reads of courses and sessions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.db.models import QuerySet

from kapstone.accounts.access import PATIENT_READ, clinic_ids_for, scoped_get
from kapstone.accounts.models import User
from kapstone.audit.services import audit_record
from kapstone.care.models import CareSession, DayOfCheck, SessionEvent, TreatmentCourse


def course_list_for_patient(*, patient) -> list[TreatmentCourse]:
    """Courses of a patient already fetched through a scoped selector (the chart), newest first."""
    return list(
        TreatmentCourse.objects.filter(patient=patient)
        .prefetch_related("sessions")
        .order_by("-start_date", "-id")
    )


def course_get_for_user(
    *, user: User, course_id: int, roles: Iterable[str] = PATIENT_READ
) -> TreatmentCourse:
    """One course of the user's clinics (404 alike for missing and not-yours), audited."""
    return scoped_get(
        TreatmentCourse.objects.select_related("patient", "clinic"),
        course_id,
        user=user,
        roles=roles,
        object_type="course",
    )


def session_get_for_user(*, user: User, session_id: int, roles: Iterable[str] = PATIENT_READ) -> CareSession:
    """One session of the user's clinics (404 alike for missing and not-yours), audited."""
    return scoped_get(
        CareSession.objects.select_related("patient", "course", "clinic", "group_session"),
        session_id,
        user=user,
        roles=roles,
        object_type="session",
    )


def session_history(*, session: CareSession) -> tuple[list[SessionEvent], list[DayOfCheck]]:
    events = list(SessionEvent.objects.filter(session=session).select_related("actor").order_by("at", "id"))
    checks = list(
        DayOfCheck.objects.filter(session=session)
        .select_related("recorded_by")
        .order_by("-recorded_at", "-id")
    )
    return events, checks


def sessions_for_user(
    *, user: User, day: date | None = None, status: str | None = None, limit: int = 500
) -> list[CareSession]:
    """Sessions of the user's clinics on ``day`` and/or in ``status``, in time then room order.

    Lists names, so the read is audited (how many, which filter; not who).
    """
    return session_page_for_user(user=user, day=day, status=status, limit=limit)[0]


def session_page_for_user(
    *, user: User, day: date | None = None, status: str | None = None, limit: int = 500, offset: int = 0
) -> tuple[list[CareSession], int]:
    """:func:`sessions_for_user`, ``limit`` of them from ``offset``; (rows, total)."""
    qs: QuerySet[CareSession] = CareSession.objects.filter(clinic_id__in=clinic_ids_for(user, PATIENT_READ))
    if day is not None:
        qs = qs.filter(scheduled_date=day)
    if status is not None:
        qs = qs.filter(status=status)
    total = qs.count()
    rows = list(
        qs.select_related("patient", "clinic", "course").order_by(
            "scheduled_date", "start_time", "room", "id"
        )[offset : offset + limit]
    )
    audit_record(
        actor=user,
        action="read",
        object_type="session_list",
        detail={"day": day.isoformat() if day else None, "status": status, "returned": len(rows)},
    )
    return rows, total
