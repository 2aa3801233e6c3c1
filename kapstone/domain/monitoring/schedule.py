"""The monitoring check schedule: which checks are due, done or overdue.

Sources: the Emory series (BP every 10 min during and every 15 min after a 40-min infusion) and the
Spravato REMS (BP before dosing and at the peak; observation for at least 2 hours).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from kapstone.domain.errors import DomainError
from kapstone.domain.monitoring._common import (
    STATUS_DONE,
    STATUS_DUE,
    STATUS_OVERDUE,
    WARNING,
    aware_arg,
    minutes_between,
    optional_aware_arg,
    sequence_arg,
)
from kapstone.domain.monitoring.alerts import AlertEvaluation, EpisodeEnd, RaisedAlert, coerce_episodes

# --- Monitoring schedule -------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitoringProtocol:
    """A protocol's monitoring timepoints (minutes).

    Defaults: every 10 min during dosing and every 15 min after (Emory series, clinical.md §3.1;
    issue 5 allows 10–15 during dosing); the BP-peak check 40 min after the start of dosing
    (Spravato label); a check is overdue 5 min after it falls due and the baseline must be taken
    within 60 min before dosing (both protocol practice). The app places the BP-peak check by the
    route of the session's order (:func:`kapstone.domain.monitoring.bp_peak_check`) and passes
    its words in ``bp_peak_check_note``, stated on the check.
    """

    interval_during_dosing_min: int = 10
    interval_after_dosing_min: int = 15
    bp_peak_check_min: int = 40
    overdue_grace_min: int = 5
    baseline_window_min: int = 60
    bp_peak_check_note: str = ""

    def __post_init__(self) -> None:
        bounds = {
            "interval_during_dosing_min": (1, 15),
            "interval_after_dosing_min": (1, 60),
            "bp_peak_check_min": (1, 240),
            "overdue_grace_min": (0, 60),
            "baseline_window_min": (1, 24 * 60),
        }
        if not isinstance(self.bp_peak_check_note, str):
            raise DomainError(
                "invalid_monitoring_protocol", "bp_peak_check_note must be text.", field="bp_peak_check_note"
            )
        for name, (low, high) in bounds.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise DomainError(
                    "invalid_monitoring_protocol",
                    f"{name} must be a whole number of minutes within {low}–{high}, got {value!r}.",
                    field=name,
                )

    @classmethod
    def from_mapping(cls, values: object) -> MonitoringProtocol:
        """Build from protocol configuration (a JSON object); unknown keys are refused."""
        if values is None:
            return cls()
        if isinstance(values, MonitoringProtocol):
            return values
        if not isinstance(values, Mapping):
            raise DomainError(
                "invalid_monitoring_protocol",
                "Monitoring protocol must be an object.",
                field="protocol_monitoring",
            )
        names = {item.name for item in fields(cls)}
        for key in values:
            if key not in names:
                raise DomainError(
                    "invalid_monitoring_protocol", f"Unknown monitoring parameter {key!r}.", field=str(key)
                )
        return cls(**dict(values))


@dataclass(frozen=True)
class DueCheck:
    """One scheduled check.

    ``kind`` is ``baseline``, ``during_dosing``, ``bp_peak`` or ``recovery``. A reading taken in
    ``[window_start, window_end)`` (``window_end`` None: open) counts for this check; ``done_at``
    is the first such reading. ``status``: ``done``; ``overdue`` once ``now ≥ overdue_at`` without
    a reading (a check whose window has passed stays ``overdue``: a missed check); otherwise
    ``due`` (including the next upcoming check, whose ``due_at`` may be after ``now``).
    """

    kind: str
    label: str
    minutes_after_dosing_start: int
    due_at: datetime
    overdue_at: datetime
    window_start: datetime
    window_end: datetime | None
    status: str
    done_at: datetime | None
    note: str = ""


_MAX_CHECKS = 5000


def due_checks(
    *,
    protocol_monitoring: object,
    dosing_started_at: datetime | None,
    dosing_ended_at: datetime | None,
    discharged_at: datetime | None,
    recorded_times: object,
    now: datetime,
) -> list[DueCheck]:
    """The session's check schedule with each check's status at ``now``.

    Timepoints: a baseline before dosing (due at the start of dosing; a reading within
    ``baseline_window_min`` before it, up to the start itself, counts); then a check every
    ``interval_during_dosing_min`` while dosing runs and every ``interval_after_dosing_min`` once
    it has ended (each interval counted from the previous check); the first regular check that
    would fall at or after ``bp_peak_check_min`` is moved back to that minute (the BP-peak check)
    and the grid continues from it, so no gap exceeds the protocol interval. The schedule ends at
    ``discharged_at``; until discharge it runs to the first check due after ``now`` (the next one).
    Before dosing starts (``dosing_started_at`` None) only the baseline is listed, due now.

    Each reading counts once, for the check whose window holds it; windows split halfway between
    consecutive due times. ``recorded_times``: the times of recorded vital-sign sets (at least a
    blood pressure).

    Refusals: ``invalid_monitoring_protocol``; ``invalid_datetime``/``naive_datetime``;
    ``invalid_session_times`` (end before start, discharge before start, discharge without dosing).
    Source: Spravato label (BP before dosing and ~40 min after; observe ≥ 2 h), Emory series
    (every 10 min during, 15 min after), issue 5 (every 10–15 min during the infusion).
    """
    protocol = MonitoringProtocol.from_mapping(protocol_monitoring)
    now = aware_arg(now, field="now")
    start = optional_aware_arg(dosing_started_at, field="dosing_started_at")
    end = optional_aware_arg(dosing_ended_at, field="dosing_ended_at")
    discharged = optional_aware_arg(discharged_at, field="discharged_at")
    times = sorted(
        aware_arg(item, field=f"recorded_times[{i}]")
        for i, item in enumerate(
            sequence_arg(recorded_times, field="recorded_times", code="invalid_datetime")
        )
    )
    baseline_window = timedelta(minutes=protocol.baseline_window_min)
    grace = timedelta(minutes=protocol.overdue_grace_min)

    if start is None:
        if end is not None or discharged is not None:
            raise DomainError(
                "invalid_session_times",
                "dosing_ended_at and discharged_at need dosing_started_at.",
                field="dosing_started_at",
            )
        done_at = next((t for t in times if now - baseline_window <= t <= now), None)
        return [
            DueCheck(
                "baseline",
                "Baseline (before dosing)",
                0,
                now,
                now + grace,
                now - baseline_window,
                None,
                STATUS_DONE if done_at else STATUS_DUE,
                done_at,
            )
        ]
    if end is not None and end < start:
        raise DomainError(
            "invalid_session_times", "dosing_ended_at is before dosing_started_at.", field="dosing_ended_at"
        )
    if discharged is not None and discharged < start:
        raise DomainError(
            "invalid_session_times", "discharged_at is before dosing_started_at.", field="discharged_at"
        )

    during = timedelta(minutes=protocol.interval_during_dosing_min)
    after = timedelta(minutes=protocol.interval_after_dosing_min)
    peak = start + timedelta(minutes=protocol.bp_peak_check_min)
    points: list[tuple[datetime, str]] = []
    previous, peak_placed = start, False
    for _ in range(_MAX_CHECKS):
        infusing = end is None or previous < end
        candidate = previous + (during if infusing else after)
        kind = "during_dosing" if end is None or candidate <= end else "recovery"
        if not peak_placed and candidate >= peak:
            candidate, kind, peak_placed = peak, "bp_peak", True
        if discharged is not None and candidate > discharged:
            break
        points.append((candidate, kind))
        if discharged is None and candidate > now:
            break
        previous = candidate

    checks = [
        _make_check(
            "baseline",
            "Baseline (before dosing)",
            start,
            start,
            start - baseline_window,
            start + timedelta(microseconds=1),
            times,
            now,
            grace,
        )
    ]
    labels = {"during_dosing": "during dosing", "bp_peak": "BP peak", "recovery": "recovery"}
    for index, (due_at, kind) in enumerate(points):
        previous_due = points[index - 1][0] if index else start
        window_start = previous_due + (due_at - previous_due) / 2 if index else start + (due_at - start) / 2
        if index + 1 < len(points):
            window_end: datetime | None = due_at + (points[index + 1][0] - due_at) / 2
        elif discharged is not None:
            window_end = discharged + timedelta(microseconds=1)
        else:
            window_end = None
        minutes = int((due_at - start).total_seconds() // 60)
        checks.append(
            _make_check(
                kind,
                f"T+{minutes} min ({labels[kind]})",
                start,
                due_at,
                window_start,
                window_end,
                times,
                now,
                grace,
                note=protocol.bp_peak_check_note if kind == "bp_peak" else "",
            )
        )
    return checks


def _make_check(
    kind: str,
    label: str,
    start: datetime,
    due_at: datetime,
    window_start: datetime,
    window_end: datetime | None,
    times: Sequence[datetime],
    now: datetime,
    grace: timedelta,
    note: str = "",
) -> DueCheck:
    done_at = next((t for t in times if t >= window_start and (window_end is None or t < window_end)), None)
    if done_at is not None:
        status = STATUS_DONE
    elif now >= due_at + grace:
        status = STATUS_OVERDUE
    else:
        status = STATUS_DUE
    minutes = int((due_at - start).total_seconds() // 60)
    return DueCheck(
        kind, label, minutes, due_at, due_at + grace, window_start, window_end, status, done_at, note
    )


def evaluate_overdue(
    *,
    checks: Sequence[DueCheck],
    open_episodes: object = (),
    now: datetime,
    discharged_at: datetime | None = None,
) -> AlertEvaluation:
    """The ``vitals_overdue`` alert from a schedule computed by :func:`due_checks` at ``now``.

    The alert is active when some check is ``overdue`` and no later check is ``done`` (i.e. no
    vitals have been recorded since that check's window opened). A missed check followed by a
    later recorded set is history, not an active alert. One episode at a time: an active alert with
    no open ``vitals_overdue`` episode raises one (``raised_at`` = the check's ``overdue_at``); an
    open episode with nothing active ends at ``now`` (or at ``discharged_at``, after which nothing
    is overdue). Other families in ``open_episodes`` are ignored.
    Refusals: ``invalid_episode``, ``invalid_datetime``/``naive_datetime``, ``invalid_argument``.
    Source: issue 5 (overdue checks flagged on the board); schedule as in :func:`due_checks`.
    """
    now = aware_arg(now, field="now")
    discharged = optional_aware_arg(discharged_at, field="discharged_at")
    items = sequence_arg(checks, field="checks", code="invalid_argument")
    for index, check in enumerate(items):
        if not isinstance(check, DueCheck):
            raise DomainError(
                "invalid_argument", f"checks[{index}] must be a DueCheck.", field=f"checks[{index}]"
            )
    episode = coerce_episodes(open_episodes).get("vitals_overdue")
    active: DueCheck | None = None
    if discharged is None:
        ordered = sorted(items, key=lambda c: c.due_at)
        for index, check in enumerate(ordered):
            if check.status == STATUS_OVERDUE and not any(
                c.status == STATUS_DONE for c in ordered[index + 1 :]
            ):
                active = check
                break
    if active is not None and episode is None:
        late_min = int(minutes_between(active.due_at, now))
        message = f"{active.label} was due {late_min} min ago and no vital signs have been recorded since."
        alert = RaisedAlert("vitals_overdue", WARNING, message, active.overdue_at, "vitals_overdue")
        return AlertEvaluation(raised=(alert,))
    if active is None and episode is not None:
        ended_at = discharged if discharged is not None else now
        end = EpisodeEnd(
            episode.episode_id, "vitals_overdue", ended_at, "vitals_overdue ended: checks up to date."
        )
        return AlertEvaluation(ended=(end,))
    return AlertEvaluation()
