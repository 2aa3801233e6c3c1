"""Scoped, audited reads of monitoring records, and the session facts the domain rules need.

The session itself is read through ``care.selectors.session_get_for_user`` (scoped, audited);
the functions that take a ``session`` here assume it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.http import Http404
from django.utils import timezone

from kapstone.accounts.access import PATIENT_READ, clinic_ids_for
from kapstone.accounts.models import User
from kapstone.audit.services import audit_record
from kapstone.care.models import CareSession, SessionEvent
from kapstone.care.services import course_protocol
from kapstone.domain import monitoring as rules
from kapstone.domain.sessions import CHECKED_IN, CLEARED, IN_PROGRESS, RECOVERING
from kapstone.dosing.models import Administration
from kapstone.monitoring.models import Alert, Observation

MONITORED_STATES = (CHECKED_IN, CLEARED, IN_PROGRESS, RECOVERING)
BOARD_STATES = (IN_PROGRESS, RECOVERING)


@dataclass(frozen=True)
class SessionTimes:
    """The instants the rules count from. ``started_at``: when the session began (check-in, or
    the start of the baseline window before dosing if that is earlier — a baseline set taken
    before a late check-in entry still belongs to the session)."""

    started_at: datetime
    dosing_started_at: datetime | None
    dosing_ended_at: datetime | None
    discharged_at: datetime | None


def administration_for_session(session: CareSession) -> Administration | None:
    """The administration of the session's live (not voided) order, if dosing has started."""
    return (
        Administration.objects.filter(order__session=session)
        .exclude(order__status="voided")
        .select_related("order")
        .order_by("-started_at")
        .first()
    )


def monitoring_protocol(session: CareSession) -> rules.MonitoringProtocol:
    """The course protocol's monitoring parameters, in the domain's terms."""
    monitoring = course_protocol(session.course).monitoring
    # The domain allows 1–15 min during dosing (issue 5: every 10–15 min); clamp a clone's value.
    return rules.MonitoringProtocol(
        interval_during_dosing_min=max(1, min(15, monitoring.vitals_interval_min)),
        interval_after_dosing_min=max(1, min(60, monitoring.vitals_interval_recovery_min)),
        bp_peak_check_min=monitoring.bp_peak_check_min,
    )


def alert_thresholds(session: CareSession) -> rules.AlertThresholds:
    monitoring = course_protocol(session.course).monitoring
    return rules.AlertThresholds(escalate_critical_after_min=Decimal(monitoring.alert_ack_escalation_min))


def min_observation_min(session: CareSession) -> int:
    return course_protocol(session.course).monitoring.min_observation_min


def session_times(session: CareSession, administration: Administration | None = None) -> SessionTimes:
    administration = administration or administration_for_session(session)
    events = SessionEvent.objects.filter(session=session, kind="transition")
    checked_in = events.filter(to_state=CHECKED_IN).order_by("at").values_list("at", flat=True).first()
    discharged = events.filter(to_state="discharged").order_by("at").values_list("at", flat=True).first()
    dosing_started = administration.started_at if administration else None
    candidates = [t for t in (checked_in,) if t is not None]
    if dosing_started is not None:
        candidates.append(
            dosing_started - timedelta(minutes=monitoring_protocol(session).baseline_window_min)
        )
    started = min(candidates) if candidates else timezone.now()
    return SessionTimes(
        started_at=started,
        dosing_started_at=dosing_started,
        dosing_ended_at=administration.ended_at if administration else None,
        discharged_at=discharged,
    )


def observations_of(session: CareSession) -> list[Observation]:
    """The session's valid (not voided) observations in time order."""
    return list(
        Observation.objects.filter(session=session, voided_at__isnull=True)
        .select_related("entered_by")
        .order_by("observed_at", "id")
    )


def as_domain(observations: Iterable[Observation]) -> list[rules.Observation]:
    return [
        rules.Observation(code=o.code, value=Decimal(o.value), observed_at=o.observed_at)
        for o in observations
    ]


def baseline_of(
    session: CareSession, observations: list[Observation], times: SessionTimes
) -> dict[str, Decimal]:
    """The pre-dose set (before dosing starts, everything recorded so far is pre-dose)."""
    cutoff = times.dosing_started_at or timezone.now() + timedelta(minutes=5)
    return rules.derive_baseline(as_domain(observations), dosing_started_at=cutoff)


def alerts_of(session: CareSession, *, open_only: bool = False) -> list[Alert]:
    qs = Alert.objects.filter(session=session).select_related("acknowledged_by")
    if open_only:
        qs = qs.filter(resolved_at__isnull=True)
    return list(qs.order_by("-raised_at", "-id"))


def alert_get_for_user(*, user: User, alert_id: int, roles: Iterable[str] = PATIENT_READ) -> Alert:
    alert = (
        Alert.objects.select_related("session", "session__course", "session__clinic", "patient")
        .filter(pk=alert_id, clinic_id__in=clinic_ids_for(user, roles))
        .first()
    )
    if alert is None:
        raise Http404("alert")
    audit_record(
        actor=user,
        action="read",
        object_type="alert",
        object_id=alert.pk,
        patient_id=alert.patient_id,
        clinic_id=alert.clinic_id,
    )
    return alert


def vital_times(observations: Iterable[Observation]) -> list[datetime]:
    """Times of recorded vital-sign sets (at least a blood pressure), for the check schedule."""
    return sorted({o.observed_at for o in observations if o.code in ("systolic_bp", "diastolic_bp")})


def checks_of(
    session: CareSession, observations: list[Observation], times: SessionTimes, now: datetime
) -> list[rules.DueCheck]:
    return rules.due_checks(
        protocol_monitoring=monitoring_protocol(session),
        dosing_started_at=times.dosing_started_at,
        dosing_ended_at=times.dosing_ended_at,
        discharged_at=times.discharged_at,
        recorded_times=vital_times(observations),
        now=now,
    )


def discharge_evaluation(
    *, session: CareSession, now: datetime, escort_confirmed: bool, driving_advice_given: bool
) -> rules.DischargeEvaluation | None:
    """The discharge criteria at ``now``; None before dosing has started (nothing to evaluate)."""
    times = session_times(session)
    if times.dosing_started_at is None:
        return None
    observations = observations_of(session)
    critical = [
        rules.CriticalAlertPeriod(a.code, a.raised_at, a.resolved_at)
        for a in Alert.objects.filter(session=session, severity="critical")
    ]
    return rules.evaluate_discharge(
        now=now,
        dosing_started_at=times.dosing_started_at,
        dosing_ended_at=times.dosing_ended_at,
        observations=as_domain(observations),
        baseline=baseline_of(session, observations, times),
        escort_confirmed=escort_confirmed,
        driving_advice_given=driving_advice_given,
        critical_alerts=critical,
        thresholds=alert_thresholds(session),
        min_observation_min=min_observation_min(session),
    )


def latest_by_code(observations: Iterable[Observation]) -> dict[str, list[Observation]]:
    """Each code's readings, newest first."""
    by_code: dict[str, list[Observation]] = {}
    for obs in sorted(observations, key=lambda o: (o.observed_at, o.pk), reverse=True):
        by_code.setdefault(obs.code, []).append(obs)
    return by_code


def board_sessions_for_user(*, user: User, roles: Iterable[str]) -> list[CareSession]:
    """Every dosing session being monitored (in progress or recovering) in the user's clinics.

    Lists names, so the read is audited (how many; not who).
    """
    rows = list(
        CareSession.objects.filter(
            clinic_id__in=clinic_ids_for(user, roles), status__in=BOARD_STATES, kind="dosing"
        )
        .select_related("patient", "clinic", "course")
        .order_by("room", "id")
    )
    audit_record(actor=user, action="read", object_type="monitoring_board", detail={"returned": len(rows)})
    return rows


def board_rows(sessions: list[CareSession], now: datetime) -> list[dict[str, Any]]:
    """What the board shows of each session (a read of sessions already listed through the selector)."""
    rows = []
    for session in sessions:
        times = session_times(session)
        observations = observations_of(session)
        by_code = latest_by_code(observations)
        vitals = []
        for code, definition in rules.OBSERVATION_DEFINITIONS.items():
            readings = by_code.get(code)
            if not readings or code == "aldrete_total":
                continue
            latest, previous = readings[0], readings[1] if len(readings) > 1 else None
            trend = ""
            if previous is not None:
                trend = (
                    "up"
                    if latest.value > previous.value
                    else "down"
                    if latest.value < previous.value
                    else "steady"
                )
            vitals.append(
                {
                    "code": code,
                    "label": definition.display,
                    "short": SHORT_LABELS.get(code, code),
                    "value": latest.value,
                    "unit": definition.unit_display,
                    "trend": trend,
                    "at": latest.observed_at,
                }
            )
        checks = checks_of(session, observations, times, now)
        thresholds = alert_thresholds(session)
        open_alerts = alerts_of(session, open_only=True)
        for alert in open_alerts:
            alert.escalate = alert.acknowledged_at is None and rules.escalation_due(
                alert.escalation_from, alert.severity, now, thresholds
            )
        rows.append(
            {
                "session": session,
                "times": times,
                "vitals": vitals,
                "alerts": open_alerts,
                "escalate": any(a.escalate for a in open_alerts),
                "overdue": [c for c in checks if c.status == rules.STATUS_OVERDUE],
                "next_due": next((c for c in checks if c.status == rules.STATUS_DUE), None),
                "minutes": int((now - times.dosing_started_at).total_seconds() // 60)
                if times.dosing_started_at
                else None,
            }
        )
    return rows


SHORT_LABELS = {
    "systolic_bp": "SBP",
    "diastolic_bp": "DBP",
    "heart_rate": "HR",
    "spo2": "SpO2",
    "respiratory_rate": "RR",
    "temperature": "Temp",
    "moaas": "MOAA/S",
    "aldrete_total": "Aldrete",
}
