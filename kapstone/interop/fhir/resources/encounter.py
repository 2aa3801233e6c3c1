"""FHIR Encounter from ``care.CareSession`` (http://hl7.org/fhir/R4/encounter.html): each
treatment session (preparation, ketamine dosing, integration, follow-up) of a course.

- ``class``: ``AMB`` (ambulatory) of v3 ActCode
  (http://terminology.hl7.org/CodeSystem/v3-ActCode): every session is an outpatient visit,
  dosing and recovery included, discharged the same day.
- ``type``: the kind of session, in our code system ``refs.KAPSTONE_SESSION_KIND``.
- ``status`` from the session's state (kapstone/domain/sessions.py) by :data:`STATUS`, and
  ``statusHistory`` from its recorded transitions.
- ``period``: from the first check-in to the end (discharge, stop or cancellation) as
  recorded; a session that never began has its planned time (the scheduled date and start
  time in the clinic's time zone, for its planned duration; the date alone without a time).
- ``serviceProvider``: the clinic, by name.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import QuerySet

from kapstone.care.models import CareSession, SessionEvent
from kapstone.domain import sessions as states
from kapstone.domain.protocols import SESSION_KIND_LABELS
from kapstone.interop.fhir import refs
from kapstone.interop.fhir import search as sp
from kapstone.patients.models import Patient

RESOURCE_TYPE = "Encounter"
SEARCH_PARAMS = {"_id": "token", "patient": "reference", "date": "date", "status": "token"}

#: Session state → Encounter.status (http://hl7.org/fhir/R4/valueset-encounter-status.html).
#: Cleared (the day-of checks passed) is ``triaged``: assessed, not yet begun; recovering is still
#: ``in-progress`` (the patient is in the chair under monitoring); a stop ends the encounter
#: (``finished``, the stop is in the history); a no-show never began (``cancelled``: "ended
#: before it has begun"; R4 Encounter has no no-show status).
STATUS: dict[str, str] = {
    states.SCHEDULED: "planned",
    states.CHECKED_IN: "arrived",
    states.CLEARED: "triaged",
    states.IN_PROGRESS: "in-progress",
    states.RECOVERING: "in-progress",
    states.DISCHARGED: "finished",
    states.STOPPED: "finished",
    states.NO_SHOW: "cancelled",
    states.CANCELLED: "cancelled",
}
#: Every Encounter.status code of R4; searching for one we never produce finds nothing.
FHIR_STATUSES = frozenset(
    {
        "planned",
        "arrived",
        "triaged",
        "in-progress",
        "onleave",
        "finished",
        "cancelled",
        "entered-in-error",
        "unknown",
    }
)
ENCOUNTER_STATUS_SYSTEM = "http://hl7.org/fhir/encounter-status"

_ENDS = frozenset({states.DISCHARGED, states.STOPPED, states.CANCELLED})


@dataclass(frozen=True)
class _Times:
    """The session's period: ``start``/``end`` as instants (end None: still open) or, for a
    planned session without a start time, the day alone (``day``)."""

    start: datetime | None
    end: datetime | None
    day: date | None
    last_change: datetime | None
    moves: list[SessionEvent]


def _times(session: CareSession, moves: list[SessionEvent]) -> _Times:
    zone = ZoneInfo(session.clinic.timezone)
    began = next((m.at for m in moves if m.to_state == states.CHECKED_IN), None)
    ended = next((m.at for m in moves if m.to_state in _ENDS), None)
    last = max((m.at for m in moves), default=None)
    if began is not None:
        return _Times(began, ended if ended is None or ended >= began else began, None, last, moves)
    if session.start_time is None:
        return _Times(None, None, session.scheduled_date, last, moves)
    start = datetime.combine(session.scheduled_date, session.start_time, tzinfo=zone)
    return _Times(start, start + timedelta(minutes=session.duration_min), None, last, moves)


def _moves_of(session_ids: Iterable[int]) -> dict[int, list[SessionEvent]]:
    out: dict[int, list[SessionEvent]] = defaultdict(list)
    ids = sorted(set(session_ids))
    if ids:
        for move in SessionEvent.objects.filter(session_id__in=ids, kind="transition").order_by("at", "id"):
            out[move.session_id].append(move)
    return out


def _period(times: _Times) -> dict[str, str]:
    if times.day is not None:
        return {"start": times.day.isoformat()}
    period = {"start": refs.instant(times.start)}
    if times.end is not None:
        period["end"] = refs.instant(times.end)
    return period


def to_fhir(session: CareSession, times: _Times) -> dict[str, Any]:
    history = []
    for i, move in enumerate(times.moves):
        following = times.moves[i + 1].at if i + 1 < len(times.moves) else None
        period = {"start": refs.instant(move.at)}
        if following is not None:
            period["end"] = refs.instant(following)
        history.append({"status": STATUS.get(move.to_state, "unknown"), "period": period})
    resource: dict[str, Any] = {
        "resourceType": RESOURCE_TYPE,
        "id": str(session.pk),
        "status": STATUS.get(session.status, "unknown"),
        "class": refs.coding(refs.ACT_CODE, "AMB", "ambulatory"),
        "type": [
            {
                "coding": [
                    refs.coding(
                        refs.KAPSTONE_SESSION_KIND, session.kind, SESSION_KIND_LABELS.get(session.kind, "")
                    )
                ],
                "text": session.title,
            }
        ],
        "subject": refs.patient_ref(session.patient_id),
        "period": _period(times),
        "serviceProvider": {"display": session.clinic.name},
    }
    last = times.last_change or session.course.enrolled_at
    resource["meta"] = {"lastUpdated": refs.instant(last)}
    if history:
        resource["statusHistory"] = history
    return resource


def _sessions(clinic_ids: set[int]) -> QuerySet[CareSession]:
    return CareSession.objects.filter(clinic_id__in=sorted(clinic_ids)).select_related("clinic", "course")


def _render(rows: list[CareSession]) -> list[tuple[CareSession, _Times]]:
    moves = _moves_of(s.pk for s in rows)
    return [(s, _times(s, moves.get(s.pk, []))) for s in rows]


def read(logical_id: str, *, clinic_ids: set[int]) -> dict | None:
    pk = sp.pk_of(logical_id)
    row = _sessions(clinic_ids).filter(pk=pk).first() if pk else None
    if row is None:
        return None
    return to_fhir(*_render([row])[0])


def owner(logical_id: str) -> tuple[int, int] | None:
    """(clinic id, patient id) of the record, whoever may see it (for the ``denied`` audit)."""
    pk = sp.pk_of(logical_id)
    row = CareSession.objects.filter(pk=pk).values_list("clinic_id", "patient_id").first() if pk else None
    return (row[0], row[1]) if row else None


def _date_matches(param: sp.DateParam, session: CareSession, times: _Times) -> bool:
    zone = ZoneInfo(session.clinic.timezone)
    if times.day is not None:
        lower = datetime.combine(times.day, time(), tzinfo=zone)
        upper = datetime.combine(times.day + timedelta(days=1), time(), tzinfo=zone)
    else:
        lower, upper = times.start, times.end
    return sp.range_matches(param, lower, upper, zone)


def _states_for(value: str) -> set[str]:
    wanted: set[str] = set()
    for fhir_code in sp.codes_of("status", value, FHIR_STATUSES, ENCOUNTER_STATUS_SYSTEM):
        wanted |= {state for state, code in STATUS.items() if code == fhir_code}
    return wanted


def search(*, clinic_ids: set[int], params: dict[str, list[str]]) -> list[dict]:
    sp.check_params(params, SEARCH_PARAMS)
    qs = sp.scoped(_sessions(clinic_ids), params, clinic_ids=clinic_ids, clinic_field="clinic_id")
    for value in params.get("status", []):
        qs = qs.filter(status__in=sorted(_states_for(value)))
    dates = [sp.dates("date", value) for value in params.get("date", [])]
    rendered = _render(list(qs.order_by("scheduled_date", "start_time", "id")))
    return [
        to_fhir(session, times)
        for session, times in rendered
        if all(_date_matches(param, session, times) for param in dates)
    ]


def for_patient(patient: Patient, *, since: datetime | None = None) -> list[dict]:
    rows = list(
        CareSession.objects.filter(patient=patient)
        .select_related("clinic", "course")
        .order_by("scheduled_date", "start_time", "id")
    )
    out = []
    for session, times in _render(rows):
        changed = times.last_change or session.course.enrolled_at
        if since is None or changed >= since:
            out.append(to_fhir(session, times))
    return out
