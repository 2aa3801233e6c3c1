"""Scoped, audited reads of monitoring records, and the session facts the domain rules need.

The session itself is read through ``care.selectors.session_get_for_user`` (scoped, audited);
the functions that take a ``session`` here assume it was.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

from django.db.models import Count, F, Max, Min, OuterRef, Q, Subquery, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from kapstone.accounts.access import PATIENT_READ, clinic_ids_for, scoped_get
from kapstone.accounts.models import User
from kapstone.audit.services import audit_record
from kapstone.care.models import CareSession, SessionEvent
from kapstone.care.services import course_protocol
from kapstone.domain import monitoring as rules
from kapstone.domain.baseline import BaselineCheck, check_baseline
from kapstone.domain.sessions import CHECKED_IN, CLEARED, IN_PROGRESS, RECOVERING
from kapstone.dosing.models import Administration, DoseOrder, RateEvent
from kapstone.forms import parse_record_id
from kapstone.monitoring.charts import thin_series
from kapstone.monitoring.models import Alert, DissociationAttestation, Observation, ScaleScore
from kapstone.monitoring.notices import BoardNotice, board_notices_for

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
    """The administration of the session's live (not voided) order, if dosing has started, with
    its order and rate events (whether it is paused: ``Administration.paused_since``)."""
    return (
        Administration.objects.filter(order__session=session)
        .exclude(order__status="voided")
        .select_related("order")
        .prefetch_related("rate_events")
        .order_by("-started_at")
        .first()
    )


@lru_cache(maxsize=64)
def _parsed_protocol(canonical_json: str):
    return course_protocol(SimpleNamespace(protocol_data=json.loads(canonical_json)))


def _protocol(session: CareSession):
    """The course's protocol snapshot, parsed once per distinct snapshot in this process.

    Parsing and validating a protocol costs milliseconds (``protocol_from_dict``), and a vitals
    batch needs it three times; the cache is keyed by the snapshot's own content (canonical
    JSON), so a changed snapshot is parsed afresh and nothing stale is ever returned. The parsed
    protocol is a tree of frozen dataclasses: safe to share.
    """
    return _parsed_protocol(json.dumps(session.course.protocol_data, sort_keys=True, default=str))


def peak_check(session: CareSession) -> rules.PeakCheck:
    """The BP-peak check of the session: by the route (and infusion time) of its live order, the
    protocol's ``bp_peak_check_min`` when there is no order yet (``rules.bp_peak_check``)."""
    order = (
        DoseOrder.objects.filter(session=session)
        .exclude(status="voided")
        .order_by("-ordered_at", "-id")
        .values_list("route", "over_min")
        .first()
    )
    return _peak_check_of(session, order)


def _peak_check_of(session: CareSession, order: tuple[Any, Any] | None) -> rules.PeakCheck:
    """:func:`peak_check` from the (route, over_min) of the session's live order, already read."""
    route, over_min = order if order is not None else (None, None)
    return rules.bp_peak_check(
        route=route, infusion_min=over_min, fallback_min=_protocol(session).monitoring.bp_peak_check_min
    )


def monitoring_protocol(
    session: CareSession, peak: rules.PeakCheck | None = None
) -> rules.MonitoringProtocol:
    """The course protocol's monitoring parameters, in the domain's terms, with the BP-peak
    check placed by the route of the session's order (:func:`peak_check`; ``peak`` when the
    caller already has it, as the board has for all its sessions at once)."""
    monitoring = _protocol(session).monitoring
    if peak is None:
        peak = peak_check(session)
    # The domain allows 1–15 min during dosing (issue 5: every 10–15 min); clamp a clone's value.
    return rules.MonitoringProtocol(
        interval_during_dosing_min=max(1, min(15, monitoring.vitals_interval_min)),
        interval_after_dosing_min=max(1, min(60, monitoring.vitals_interval_recovery_min)),
        bp_peak_check_min=peak.minutes,
        bp_peak_check_note=peak.note,
        baseline_window_min=monitoring.baseline_window_min,
    )


def baseline_check(session: CareSession, dosing_starts_at: datetime) -> BaselineCheck:
    """Whether the session holds a complete baseline set of vital signs within the protocol's
    window before ``dosing_starts_at`` (:func:`kapstone.domain.baseline.check_baseline`): the
    valid (not voided) observations of that window, read in the database."""
    monitoring = _protocol(session).monitoring
    window = timedelta(minutes=monitoring.baseline_window_min)
    readings = Observation.objects.filter(
        session=session,
        voided_at__isnull=True,
        observed_at__gte=dosing_starts_at - window,
        observed_at__lte=dosing_starts_at,
    ).values_list("code", "observed_at")
    return check_baseline(
        readings,
        dosing_starts_at=dosing_starts_at,
        window_min=monitoring.baseline_window_min,
        moaas_required=monitoring.baseline_moaas,
    )


def alert_thresholds(session: CareSession) -> rules.AlertThresholds:
    """The session's alert thresholds: the label-sourced ones fixed, the local-policy ones
    (``monitoring.alert_limits``) and the critical escalation time from the course's protocol."""
    monitoring = _protocol(session).monitoring
    limits = {name: Decimal(value) for name, value in asdict(monitoring.alert_limits).items()}
    return rules.AlertThresholds(
        escalate_critical_after_min=Decimal(monitoring.alert_ack_escalation_min), **limits
    )


def dissociation_check(session: CareSession) -> rules.DissociationCheck:
    """What the discharge needs to show dissociation resolved, by the protocol's method: the
    session's CADSS totals, or the latest dissociation-resolved attestation."""
    monitoring = _protocol(session).monitoring
    if monitoring.dissociation_check == rules.DISSOCIATION_BY_ATTESTATION:
        attested = (
            DissociationAttestation.objects.filter(session=session)
            .order_by("-attested_at", "-id")
            .values_list("attested_at", flat=True)
            .first()
        )
        return rules.DissociationCheck(method=rules.DISSOCIATION_BY_ATTESTATION, attested_at=attested)
    return rules.DissociationCheck(
        method=rules.DISSOCIATION_BY_CADSS,
        cadss=tuple(
            rules.CadssTotal(at, total)
            for at, total in ScaleScore.objects.filter(session=session, scale="cadss").values_list(
                "observed_at", "total"
            )
        ),
        cadss_resolved_at_or_below=monitoring.cadss_resolved_at_or_below,
    )


def min_observation_min(session: CareSession) -> int:
    return _protocol(session).monitoring.min_observation_min


def dissociation_attestations_of(session: CareSession) -> list[DissociationAttestation]:
    """The session's dissociation-resolved attestations, oldest first, with who attested (a read
    of a session already read through the scoped selector)."""
    return list(
        DissociationAttestation.objects.filter(session=session)
        .select_related("attested_by")
        .order_by("attested_at", "id")
    )


def session_times(session: CareSession, administration: Administration | None = None) -> SessionTimes:
    if administration is not None:
        dosing = (administration.started_at, administration.ended_at)
    else:  # the same administration as administration_for_session, only its two times
        dosing = (
            Administration.objects.filter(order__session=session)
            .exclude(order__status="voided")
            .order_by("-started_at")
            .values_list("started_at", "ended_at")
            .first()
        ) or (None, None)
    # The first check-in and the first discharge, in one query.
    firsts = SessionEvent.objects.filter(session=session, kind="transition").aggregate(**_FIRST_TRANSITIONS)
    return _session_times_of(session, dosing, firsts["checked_in"], firsts["discharged"])


#: The first check-in and the first discharge of a session's transitions (one aggregate).
_FIRST_TRANSITIONS = {
    "checked_in": Min("at", filter=Q(to_state=CHECKED_IN)),
    "discharged": Min("at", filter=Q(to_state="discharged")),
}


def _session_times_of(
    session: CareSession,
    dosing: tuple[datetime | None, datetime | None],
    checked_in: datetime | None,
    discharged: datetime | None,
) -> SessionTimes:
    """:func:`session_times` from what it reads: the administration's (start, end), the first
    check-in and the first discharge."""
    dosing_started, dosing_ended = dosing
    candidates = [t for t in (checked_in,) if t is not None]
    if dosing_started is not None:
        candidates.append(
            dosing_started - timedelta(minutes=_protocol(session).monitoring.baseline_window_min)
        )
    started = min(candidates) if candidates else timezone.now()
    return SessionTimes(
        started_at=started,
        dosing_started_at=dosing_started,
        dosing_ended_at=dosing_ended,
        discharged_at=discharged,
    )


def observations_of(session: CareSession) -> list[Observation]:
    """The session's valid (not voided) observations in time order."""
    return list(
        Observation.objects.filter(session=session, voided_at__isnull=True)
        .select_related("entered_by")
        .order_by("observed_at", "id")
    )


#: Above this many valid values of one vital sign in a session (a monitor feed: a set every few
#: seconds), the session page's chart is thinned (:func:`chart_points`). 720: a value a minute for
#: twelve hours, more than the chart's width in pixels on a bedside screen.
CHART_POINTS_PER_CODE = 720


@dataclass(frozen=True)
class ChartPoint:
    """One value drawn on the session's chart (what ``charts.vitals_figure`` reads of a row)."""

    code: str
    observed_at: datetime
    value: Decimal


@dataclass(frozen=True)
class ChartSeries:
    points: list[ChartPoint]
    #: Values not drawn (thinned away); every one of them is on the page of recorded values.
    thinned: int


def chart_points(session: CareSession, thresholds: rules.AlertThresholds, times: SessionTimes) -> ChartSeries:
    """The session's valid values for its chart, in time order, three columns a row (no model
    instances, no join: a monitor-fed session holds thousands of rows).

    A vital sign with more than :data:`CHART_POINTS_PER_CODE` values is thinned
    (:func:`kapstone.monitoring.charts.thin_series`): every value beyond one of the session's
    alert thresholds, or risen (fallen) from its pre-dose value (as :func:`baseline_in_db`
    finds it, here from the rows already read) as far as a rule looks at, is kept, and of the
    others the first, the last and each time bucket's lowest and highest, so no peak or trough
    disappears from the line. Nothing else on the page is thinned: the alerts list every
    episode, and the page of recorded values every value.
    """
    rows = (
        Observation.objects.filter(session=session, voided_at__isnull=True)
        .order_by("observed_at", "id")
        .values_list("code", "observed_at", "value")
    )
    by_code: dict[str, list[ChartPoint]] = {}
    for code, at, value in rows:
        by_code.setdefault(code, []).append(ChartPoint(code, at, value))
    cutoff = times.dosing_started_at or timezone.now() + timedelta(minutes=5)
    baseline = {}
    for code, series in by_code.items():
        before = [p for p in series if p.observed_at <= cutoff]  # time order, then id: the last wins
        if before:
            baseline[code] = before[-1].value
    points: list[ChartPoint] = []
    thinned = 0
    for series in by_code.values():
        kept = thin_series(series, thresholds, CHART_POINTS_PER_CODE, baseline)
        thinned += len(series) - len(kept)
        points.extend(kept)
    points.sort(key=lambda p: p.observed_at)
    return ChartSeries(points=points, thinned=thinned)


def observations_with_voided_of(session: CareSession) -> list[Observation]:
    """Every observation of the session in time order, those marked entered in error included
    (with who marked them): for displays and the API, never for a rule (:func:`observations_of`)."""
    return list(
        Observation.objects.filter(session=session).select_related("voided_by").order_by("observed_at", "id")
    )


def observation_get_for_user(
    *, user: User, observation_id: int, session_id: int | None = None, roles: Iterable[str] = PATIENT_READ
) -> Observation:
    """One observation of the user's clinics (under ``session_id`` when given: nested ids are
    checked), voided or not, audited; 404 alike for missing, not-yours and not-under-that-session
    (``scoped_get``: another clinic's also leaves a ``denied`` row, ids only)."""
    rows = Observation.objects.select_related(
        "session", "session__course", "session__clinic", "patient", "entered_by", "voided_by"
    )
    if session_id is not None:
        # A foreign key's lookup does not range-check the id as a primary key's does.
        rows = rows.filter(session_id=parse_record_id(session_id) or 0)
    return scoped_get(rows, observation_id, user=user, roles=roles, object_type="observation")


#: How many sets the session page lists (the rest are on the session's page of recorded values).
RECENT_SETS = 12


@dataclass(frozen=True)
class RecordedSet:
    """The values recorded at one time, voided ones included: ``values`` maps a code to its
    rows at that time in entry order (a value marked entered in error and its re-entry)."""

    observed_at: datetime
    values: dict[str, list[Observation]]

    @property
    def entered_by(self) -> list[str]:
        """Who entered the set, and the device when not typed in ("manual")."""
        names: list[str] = []
        for rows in self.values.values():
            for row in rows:
                name = row.entered_by.get_full_name() or row.entered_by.username
                if row.source != "manual":
                    name = f"{name} ({row.source})"
                if name not in names:
                    names.append(name)
        return names


def set_times(session: CareSession):
    """The times of the session's recorded sets, newest first (a query: count it or slice it)."""
    return (
        Observation.objects.filter(session=session)
        .order_by("-observed_at")
        .values_list("observed_at", flat=True)
        .distinct()
    )


def recorded_sets(session: CareSession, times: Iterable[datetime]) -> list[RecordedSet]:
    """The sets recorded at ``times`` (from :func:`set_times`), newest first, every value with who
    entered it and who marked it entered in error (a read of a session already read through
    the scoped selector)."""
    wanted = sorted(set(times), reverse=True)
    if not wanted:
        return []
    rows = (
        Observation.objects.filter(session=session, observed_at__gte=wanted[-1], observed_at__lte=wanted[0])
        .select_related("entered_by", "voided_by")
        .order_by("observed_at", "id")
    )
    by_time: dict[datetime, dict[str, list[Observation]]] = {t: {} for t in wanted}
    for row in rows:
        if row.observed_at in by_time:
            by_time[row.observed_at].setdefault(row.code, []).append(row)
    return [RecordedSet(t, by_time[t]) for t in wanted]


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


def baseline_in_db(session: CareSession, times: SessionTimes) -> dict[str, Decimal]:
    """:func:`baseline_of` over the session's observations, computed in the database: the latest
    valid value of each code at or before the start of dosing (ties: the later row), without
    reading the whole record (the vitals ingest's path)."""
    cutoff = times.dosing_started_at or timezone.now() + timedelta(minutes=5)
    latest = (
        Observation.objects.filter(session=session, voided_at__isnull=True, observed_at__lte=cutoff)
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[F("code")], order_by=[F("observed_at").desc(), F("id").desc()]
            )
        )
        .filter(rank=1)
        .values_list("code", "value")
    )
    return {code: Decimal(value) for code, value in latest}


#: Above this many scheduled checks the first reading per window is found from the times instead
#: of one aggregate per window (a session left open for days; never in a normal session).
_MAX_WINDOW_AGGREGATES = 200


def checks_in_db(session: CareSession, times: SessionTimes, now: datetime) -> list[rules.DueCheck]:
    """:func:`checks_of` over the session's observations, reading only what the schedule needs.

    The schedule's windows do not depend on the readings (``rules.due_checks``: due times come
    from the start and end of dosing, discharge and ``now``), and each check only asks for the
    first blood-pressure reading inside its window, windows being disjoint. So the schedule is
    laid out once without readings, the first reading of each window is found with one aggregate
    query, and the schedule is evaluated again with those times: the same checks as from every
    recorded time, without reading the whole record.
    """
    arguments = _check_arguments(session, times, now, monitoring_protocol(session))
    skeleton = rules.due_checks(recorded_times=[], **arguments)
    readings = _bp_readings(session.pk, skeleton)
    if len(skeleton) > _MAX_WINDOW_AGGREGATES:
        return rules.due_checks(
            recorded_times=list(readings.values_list("observed_at", flat=True).distinct()), **arguments
        )
    firsts = {
        f"w{index}": Min("observed_at", filter=window)
        for index, window in enumerate(_check_windows(skeleton, times, now))
    }
    found = [t for t in readings.aggregate(**firsts).values() if t is not None]
    return rules.due_checks(recorded_times=found, **arguments)


def _check_arguments(
    session: CareSession, times: SessionTimes, now: datetime, protocol_monitoring: rules.MonitoringProtocol
) -> dict[str, Any]:
    return {
        "protocol_monitoring": protocol_monitoring,
        "dosing_started_at": times.dosing_started_at,
        "dosing_ended_at": times.dosing_ended_at,
        "discharged_at": times.discharged_at,
        "now": now,
    }


def _bp_readings(session_id: int, skeleton: list[rules.DueCheck]):
    """The session's valid blood-pressure readings from the first window of its schedule on."""
    return Observation.objects.filter(
        session_id=session_id,
        voided_at__isnull=True,
        code__in=BLOOD_PRESSURE_CODES,
        observed_at__gte=min(c.window_start for c in skeleton),
    )


def _check_windows(skeleton: list[rules.DueCheck], times: SessionTimes, now: datetime) -> list[Q]:
    """Each scheduled check's window as a condition on ``observed_at`` (windows are disjoint)."""
    windows = []
    for check in skeleton:
        window = Q(observed_at__gte=check.window_start)
        if times.dosing_started_at is None:
            window &= Q(observed_at__lte=now)  # before dosing: the baseline window ends at now
        elif check.window_end is not None:
            window &= Q(observed_at__lt=check.window_end)
        windows.append(window)
    return windows


def alerts_of(session: CareSession, *, open_only: bool = False) -> list[Alert]:
    qs = Alert.objects.filter(session=session).select_related("acknowledged_by")
    if open_only:
        qs = qs.filter(resolved_at__isnull=True)
    return list(qs.order_by("-raised_at", "-id"))


def alert_get_for_user(*, user: User, alert_id: int, roles: Iterable[str] = PATIENT_READ) -> Alert:
    """One alert of the user's clinics (404 alike for missing and not-yours), audited."""
    return scoped_get(
        Alert.objects.select_related("session", "session__course", "session__clinic", "patient"),
        alert_id,
        user=user,
        roles=roles,
        object_type="alert",
    )


BLOOD_PRESSURE_CODES = ("systolic_bp", "diastolic_bp")


def vital_times(observations: Iterable[Observation]) -> list[datetime]:
    """Times of recorded vital-sign sets (at least a blood pressure), for the check schedule."""
    return sorted({o.observed_at for o in observations if o.code in BLOOD_PRESSURE_CODES})


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
    # An episode that ended because its value was entered in error never was a clinical event:
    # it neither blocks discharge nor delays the "ready to leave" time.
    critical = [
        rules.CriticalAlertPeriod(a.code, a.raised_at, a.resolved_at)
        for a in Alert.objects.filter(session=session, severity="critical", entered_in_error=False)
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
        dissociation=dissociation_check(session),
    )


def latest_by_code(observations: Iterable[Observation]) -> dict[str, list[Observation]]:
    """Each code's readings, newest first."""
    by_code: dict[str, list[Observation]] = {}
    for obs in sorted(observations, key=lambda o: (o.observed_at, o.pk), reverse=True):
        by_code.setdefault(obs.code, []).append(obs)
    return by_code


def recent_by_code(session: CareSession, per_code: int = 2) -> dict[str, list[Observation]]:
    """:func:`latest_by_code` limited to the newest ``per_code`` valid readings of each code, read
    in the database (the board shows the latest value and its trend, the session page the latest
    value, not the whole record).

    One query: for each code and rank a scalar subquery walking the session's index on
    (session, time) backwards, found by primary key. A window function over the session's rows
    (the earlier form) read every row of the session: 30 ms for a monitor-fed session of 5,000
    values at 10 million vitals on PostgreSQL, against about 1 ms this way
    (bench/bench_chart_page.py).
    """
    valid = Observation.objects.filter(session=session, voided_at__isnull=True)
    wanted = Q()
    for code in rules.OBSERVATION_DEFINITIONS:
        newest = valid.filter(code=code).order_by("-observed_at", "-id").values("pk")
        for rank in range(per_code):
            wanted |= Q(pk=Subquery(newest[rank : rank + 1]))
    by_code: dict[str, list[Observation]] = {}
    for obs in valid.filter(wanted).order_by("code", "-observed_at", "-id"):
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


def board_token(*, user: User, roles: Iterable[str], now: datetime) -> str:
    """A fingerprint of everything the board shows for the user's clinics, cheap to compute.

    The board polls it twice a second and is re-rendered only when it changed (``views.board_poll``).
    It covers: the monitored sessions (id, status, room), the newest observation and the voids,
    the newest scale score, the administrations (start, end) and their newest rate event (a pause
    or resume), each open alert (id, code,
    severity, status, acknowledgement and whether its escalation is now due), the board notices
    of higher apps (by key), and the current minute — so "minutes since dosing", due and overdue
    checks still advance when nothing is recorded. No PHI is in it (a hash), so it is not audited;
    the board render it triggers is.
    """
    clinic_ids = clinic_ids_for(user, roles)
    sessions = list(
        CareSession.objects.filter(clinic_id__in=clinic_ids, status__in=BOARD_STATES, kind="dosing")
        .order_by("id")
        .values_list("id", "status", "room")
    )
    ids = [s[0] for s in sessions]
    parts: list[Any] = [now.strftime("%Y-%m-%dT%H:%M"), sessions]
    if ids:
        parts.append(
            Observation.objects.filter(session_id__in=ids).aggregate(
                last=Max("id"), voided=Count("voided_at"), voided_last=Max("voided_at")
            )
        )
        parts.append(ScaleScore.objects.filter(session_id__in=ids).aggregate(last=Max("id")))
        parts.append(
            Administration.objects.filter(order__session_id__in=ids).aggregate(
                last=Max("id"), started=Max("started_at"), ended=Max("ended_at"), count=Count("ended_at")
            )
        )
        # A pause or resume changes what a row says ("Infusion paused (since 10:42)").
        parts.append(
            RateEvent.objects.filter(administration__order__session_id__in=ids).aggregate(last=Max("id"))
        )
        alerts = list(
            Alert.objects.filter(session_id__in=ids, resolved_at__isnull=True)
            .order_by("id")
            .values_list(
                "id", "session_id", "code", "severity", "status", "acknowledged_at", "escalation_from"
            )
        )
        unacknowledged = {a[1] for a in alerts if a[5] is None}
        thresholds = {
            s.pk: alert_thresholds(s)
            for s in CareSession.objects.filter(pk__in=unacknowledged).select_related("course")
        }
        parts.append(
            [
                (*a[:6], a[5] is None and rules.escalation_due(a[6], a[3], now, thresholds[a[1]]))
                for a in alerts
            ]
        )
    parts.append([n.key for n in board_notices_for(user=user, clinic_ids=clinic_ids, session_ids=ids)])
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:20]


def board_rows(
    sessions: list[CareSession], now: datetime, notices: Iterable[BoardNotice] = ()
) -> list[dict[str, Any]]:
    """What the board shows of each session (a read of sessions already listed through the selector).

    ``notices``: the board notices of higher apps (``monitoring.notices``); each row gets those
    attached to its session.

    Set-based: each kind of data is read for all the sessions at once (administrations and their
    rate events, first transitions, newest values, live orders, check windows, open alerts), so a
    redraw issues the same queries for one session as for fifty; every row holds what the
    per-session reads (:func:`administration_for_session`, :func:`session_times`,
    :func:`recent_by_code`, :func:`checks_in_db`, :func:`alerts_of`) give for that session
    (held by tests/monitoring/test_board_reads.py)."""
    by_session: dict[int, list[BoardNotice]] = {}
    for notice in notices:
        if notice.session_id is not None:
            by_session.setdefault(notice.session_id, []).append(notice)
    if not sessions:
        return []
    ids = [session.pk for session in sessions]
    administrations = _board_administrations(ids)
    firsts = _board_first_transitions(ids)
    times_of = {}
    for session in sessions:
        administration = administrations.get(session.pk)
        dosing = (administration.started_at, administration.ended_at) if administration else (None, None)
        checked_in, discharged = firsts.get(session.pk, (None, None))
        times_of[session.pk] = _session_times_of(session, dosing, checked_in, discharged)
    recent = _board_recent_by_code(ids)
    checks_of_session = _board_checks(sessions, times_of, _board_live_orders(ids), now)
    alerts_of_session = _board_open_alerts(ids)
    rows = []
    for session in sessions:
        administration = administrations.get(session.pk)
        times = times_of[session.pk]
        by_code = recent.get(session.pk, {})
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
        checks = checks_of_session[session.pk]
        thresholds = alert_thresholds(session)
        open_alerts = alerts_of_session.get(session.pk, [])
        for alert in open_alerts:
            alert.escalate = alert.acknowledged_at is None and rules.escalation_due(
                alert.escalation_from, alert.severity, now, thresholds
            )
        rows.append(
            {
                "session": session,
                "times": times,
                "administration": administration,
                "vitals": vitals,
                "alerts": open_alerts,
                "escalate": any(a.escalate for a in open_alerts),
                "notices": by_session.get(session.pk, []),
                "overdue": [c for c in checks if c.status == rules.STATUS_OVERDUE],
                "next_due": next((c for c in checks if c.status == rules.STATUS_DUE), None),
                "minutes": int((now - times.dosing_started_at).total_seconds() // 60)
                if times.dosing_started_at
                else None,
            }
        )
    return rows


def _board_administrations(ids: list[int]) -> dict[int, Administration]:
    """:func:`administration_for_session` of each session (two queries: the administrations
    and their rate events)."""
    found: dict[int, Administration] = {}
    rows = (
        Administration.objects.filter(order__session_id__in=ids)
        .exclude(order__status="voided")
        .select_related("order")
        .prefetch_related("rate_events")
        .order_by("-started_at", "-id")
    )
    for administration in rows:
        found.setdefault(administration.order.session_id, administration)
    return found


def _board_first_transitions(ids: list[int]) -> dict[int, tuple[datetime | None, datetime | None]]:
    """Each session's first check-in and first discharge (:func:`session_times`), one query."""
    rows = (
        SessionEvent.objects.filter(session_id__in=ids, kind="transition")
        .order_by()
        .values("session_id")
        .annotate(**_FIRST_TRANSITIONS)
        .values_list("session_id", "checked_in", "discharged")
    )
    return {session_id: (checked_in, discharged) for session_id, checked_in, discharged in rows}


def _board_recent_by_code(ids: list[int], per_code: int = 2) -> dict[int, dict[str, list[Observation]]]:
    """:func:`recent_by_code` of each session, in two queries: the ids of each session's newest
    ``per_code`` valid readings of each code (a scalar subquery a code and rank, walking the
    session's index on (session, time) backwards, as :func:`recent_by_code` does), then those rows."""
    newest_ids = {}
    for index, code in enumerate(rules.OBSERVATION_DEFINITIONS):
        newest = (
            Observation.objects.filter(session_id=OuterRef("pk"), code=code, voided_at__isnull=True)
            .order_by("-observed_at", "-id")
            .values("pk")
        )
        for rank in range(per_code):
            newest_ids[f"c{index}r{rank}"] = Subquery(newest[rank : rank + 1])
    wanted = [
        pk
        for row in CareSession.objects.filter(pk__in=ids)
        .order_by()
        .annotate(**newest_ids)
        .values_list(*newest_ids)
        for pk in row
        if pk is not None
    ]
    found: dict[int, dict[str, list[Observation]]] = {}
    if wanted:
        for obs in Observation.objects.filter(pk__in=wanted).order_by(
            "session_id", "code", "-observed_at", "-id"
        ):
            found.setdefault(obs.session_id, {}).setdefault(obs.code, []).append(obs)
    return found


def _board_live_orders(ids: list[int]) -> dict[int, tuple[Any, Any]]:
    """The (route, over_min) of each session's live order (:func:`peak_check`), one query."""
    found: dict[int, tuple[Any, Any]] = {}
    rows = (
        DoseOrder.objects.filter(session_id__in=ids)
        .exclude(status="voided")
        .order_by("session_id", "-ordered_at", "-id")
        .values_list("session_id", "route", "over_min")
    )
    for session_id, route, over_min in rows:
        found.setdefault(session_id, (route, over_min))
    return found


#: At most this many check windows are looked up in one statement by the board (one scalar
#: subquery and about five parameters each: within SQLite's 2,000 result columns and its
#: parameter limit). 25 sessions two hours into dosing hold about 400.
_BOARD_WINDOWS_PER_QUERY = 1000


def _board_checks(
    sessions: list[CareSession],
    times_of: dict[int, SessionTimes],
    orders: dict[int, tuple[Any, Any]],
    now: datetime,
) -> dict[int, list[rules.DueCheck]]:
    """:func:`checks_in_db` of each session: the schedules laid out without readings, then the
    first blood-pressure reading of every window of every session in one statement (a scalar
    subquery a window, walking the session's index on (session, time) from the window's start:
    the earliest reading of the window, as :func:`checks_in_db`'s ``Min`` finds it). A session
    with more than ``_MAX_WINDOW_AGGREGATES`` checks (left open for days) is read as
    :func:`checks_in_db` reads it, with a query of its own."""
    found: dict[int, list[rules.DueCheck]] = {}
    arguments_of: dict[int, dict[str, Any]] = {}
    lookups: list[tuple[int, Subquery]] = []
    for session in sessions:
        times = times_of[session.pk]
        peak = _peak_check_of(session, orders.get(session.pk))
        arguments = _check_arguments(session, times, now, monitoring_protocol(session, peak))
        skeleton = rules.due_checks(recorded_times=[], **arguments)
        readings = _bp_readings(session.pk, skeleton)
        if len(skeleton) > _MAX_WINDOW_AGGREGATES:
            found[session.pk] = rules.due_checks(
                recorded_times=list(readings.values_list("observed_at", flat=True).distinct()), **arguments
            )
            continue
        arguments_of[session.pk] = arguments
        for window in _check_windows(skeleton, times, now):
            first = readings.filter(window).order_by("observed_at").values("observed_at")[:1]
            lookups.append((session.pk, Subquery(first)))
    recorded: dict[int, list[datetime]] = {pk: [] for pk in arguments_of}
    for start in range(0, len(lookups), _BOARD_WINDOWS_PER_QUERY):
        chunk = lookups[start : start + _BOARD_WINDOWS_PER_QUERY]
        names = {f"w{index}": lookup for index, (_, lookup) in enumerate(chunk)}
        # One row (any session of the chunk's: it exists) carrying every window's first reading.
        [row] = CareSession.objects.filter(pk=chunk[0][0]).order_by().annotate(**names).values_list(*names)
        for (session_id, _), first in zip(chunk, row, strict=True):
            if first is not None:
                recorded[session_id].append(first)
    for pk, arguments in arguments_of.items():
        found[pk] = rules.due_checks(recorded_times=recorded[pk], **arguments)
    return found


def _board_open_alerts(ids: list[int]) -> dict[int, list[Alert]]:
    """:func:`alerts_of` (open only) of each session, newest first, one query."""
    found: dict[int, list[Alert]] = {}
    rows = (
        Alert.objects.filter(session_id__in=ids, resolved_at__isnull=True)
        .select_related("acknowledged_by")
        .order_by("-raised_at", "-id")
    )
    for alert in rows:
        found.setdefault(alert.session_id, []).append(alert)
    return found


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
