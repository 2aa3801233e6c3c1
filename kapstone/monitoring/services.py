"""Writes of session monitoring: vitals batches and the alerts they raise, acknowledgement (which
may pause or stop the infusion through the dosing services), bedside scales and discharge.

Each runs in one transaction with its audit row, under a lock on the session row so that two
batches of one session are evaluated one after the other (each sees the other's open episodes).
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils import timezone

from kapstone.accounts.access import DOSING_CLINICIANS, PRESCRIBERS, VITALS_SOURCES, has_role
from kapstone.accounts.models import User
from kapstone.audit.services import audit_record
from kapstone.care.models import CareSession
from kapstone.care.services import session_transition
from kapstone.domain import monitoring as rules
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.instruments import score_instrument
from kapstone.domain.protocols import DOSING
from kapstone.domain.scales import score_aldrete, score_moaas
from kapstone.domain.sessions import DISCHARGED, RECOVERING, state_label
from kapstone.domain.text import REASON_MAX_CHARS, clean_text
from kapstone.dosing.services import administration_complete, administration_rate_event
from kapstone.monitoring import selectors
from kapstone.monitoring.models import (
    Alert,
    AlertAction,
    AlertEvent,
    AlertStatus,
    Discharge,
    DissociationAttestation,
    Observation,
    ScaleScore,
)

SWEEP_LABEL = "system:monitoring_overdue"
#: The longest reason for marking a value entered in error (``Observation.void_reason``).
VOID_REASON_MAX_CHARS = 500


def _clinician(
    actor: User, session: CareSession, what: str, roles: frozenset[str] = DOSING_CLINICIANS
) -> None:
    if not has_role(actor, roles, session.clinic_id):
        raise WorkflowConflict("clinician_required", f"Only a nurse or prescriber may {what}.")


def _text(value: object, *, field: str, max_length: int = REASON_MAX_CHARS) -> str:
    return clean_text(value, field=field, max_chars=max_length, label=f"The {field.replace('_', ' ')}")


def _locked_monitored(session: CareSession) -> CareSession:
    current = CareSession.objects.select_for_update().select_related("course", "clinic").get(pk=session.pk)
    if current.kind != DOSING:
        raise WorkflowConflict("not_a_dosing_session", "Vital signs are monitored in dosing sessions.")
    if current.status not in selectors.MONITORED_STATES:
        raise WorkflowConflict(
            "session_not_monitored",
            "Vital signs are recorded from check-in until discharge; this session is "
            f"{current.status.replace('_', ' ')}.",
        )
    return current


# --- Vitals and alerts ------------------------------------------------------------------------


def vitals_record(
    *,
    actor: User,
    session: CareSession,
    observations: Any,
    source: str = "manual",
    now: datetime | None = None,
) -> list[Alert]:
    """Store a batch of observations and the alerts it raises, upgrades or ends.

    The whole batch is validated by the domain first: any implausible value refuses it with
    ``implausible_value`` (a ``DomainErrors`` naming every bad observation, the first as its
    field), and nothing is stored. Only for dosing sessions from check-in to recovery
    (``session_not_monitored``). Returns the alerts this batch raised or upgraded, in time order.

    ``now``: when the batch was recorded, for a record of the past (the demo's history, an
    import), with the alerts evaluated as they were then; None is the real time. An aware time,
    never in the future (``naive_datetime``, ``time_in_future``).
    """
    # A bedside monitor's feed (Role.MONITOR) records vital signs too, and nothing else.
    _clinician(actor, session, "record vital signs", VITALS_SOURCES)
    source = _text(source, field="source", max_length=60) or "manual"
    real_now = timezone.now()
    if now is not None:
        if now.tzinfo is None:
            raise DomainError("naive_datetime", "The time of recording must carry a time zone.", field="now")
        # A minute of clock skew, as for register entries dated by the bedside.
        if now > real_now + timedelta(minutes=1):
            raise DomainError("time_in_future", "A batch cannot be recorded in the future.", field="now")
    with transaction.atomic():
        current = _locked_monitored(session)
        alerts, _ = _store_batch(
            actor=actor, session=current, observations=observations, source=source, now=now or real_now
        )
    return alerts


def _store_batch(
    *, actor: User, session: CareSession, observations: Any, source: str, now: datetime
) -> tuple[list[Alert], list[Observation]]:
    """Validate, store and evaluate one batch inside the caller's transaction (session locked)."""
    times = selectors.session_times(session)
    # Every problem of the batch at once (DomainErrors), times said in the clinic's zone.
    validated = rules.validate_observations(
        observations, session_started_at=times.started_at, now=now, zone=ZoneInfo(session.clinic.timezone)
    )
    if not validated:
        raise DomainError("no_observations", "Enter at least one value.", field="observations")
    ids = _insert_observations(session=session, actor=actor, validated=validated, source=source, now=now)
    # Read only what the rules need (not the session's whole record): the baseline, the open
    # episodes, and the first reading in each window of the check schedule.
    baseline = selectors.baseline_in_db(session, times)
    open_alerts = {
        a.pk: a for a in Alert.objects.select_for_update().filter(session=session, resolved_at__isnull=True)
    }
    episodes = [rules.OpenEpisode(a.pk, a.code, a.severity, a.raised_at) for a in open_alerts.values()]
    evaluation = rules.evaluate_vitals(
        new_observations=validated,
        baseline=baseline,
        open_episodes=episodes,
        thresholds=selectors.alert_thresholds(session),
    )
    notify = _apply_evaluation(
        actor=actor, session=session, evaluation=evaluation, open_alerts=open_alerts, now=now
    )
    # A recorded set may bring the check schedule up to date, ending a vitals_overdue episode.
    notify += _evaluate_schedule(actor=actor, session=session, times=times, open_alerts=open_alerts, now=now)
    audit_record(
        actor=actor,
        action="create",
        object_type="observations",
        object_id=session.pk,
        patient_id=session.patient_id,
        clinic_id=session.clinic_id,
        detail={
            "created": len(ids),
            "source": source,
            "codes": sorted({obs.code for obs in validated}),
            "alerts": [a.code for a in notify],
        },
    )
    return sorted(notify, key=lambda a: (a.escalation_from, a.pk)), ids


#: Columns of one observation row as the ingest writes it (see _insert_observations).
_OBSERVATION_COLUMNS = (
    "session_id",
    "patient_id",
    "clinic_id",
    "code",
    "loinc",
    "value",
    "unit",
    "observed_at",
    "source",
    "entered_by_id",
    "entered_at",
    "void_reason",
)
_OBSERVATION_PG_TYPES = (
    "bigint",
    "bigint",
    "bigint",
    "text",
    "text",
    "numeric",
    "text",
    "timestamptz",
    "text",
    "bigint",
    "timestamptz",
    "text",
)


#: From this many observations a batch goes to PostgreSQL with ``COPY`` (``_copy_observations``);
#: smaller ones with one ``INSERT``. Below it the extra round trip (the ids, then the copy) costs more
#: than the insert's client-side array dumping saves (measured with bench/bench_vitals_ingest.py
#: --crossover; docs/benchmarks.md). Tests change it to send one batch down both paths.
COPY_MIN_OBSERVATIONS = 60


def _insert_observations(
    *, session: CareSession, actor: User, validated: list, source: str, now: datetime
) -> list[int]:
    """Insert a validated batch and return the new ids in the batch's order: on PostgreSQL a batch
    of at least ``COPY_MIN_OBSERVATIONS`` with ``COPY`` (:func:`_copy_observations`), otherwise with
    one multi-row ``INSERT … RETURNING id`` per chunk.

    This is the hot path of a device feed (DESIGN.md: ≥ 20,000 observations/s), and building a
    model instance and compiling every field of it through the ORM cost about four times the
    database's own work (bench/bench_vitals_ingest.py). The values are already validated by the
    domain; each is adapted by the backend's own operations (the same adapters the ORM uses), so
    the stored rows are identical to ``Observation.objects.create``'s — a test compares them.
    """
    ops = connection.ops
    value_field = Observation._meta.get_field("value")
    entered_at = ops.adapt_datetimefield_value(now)
    params: list[tuple] = []
    for obs in validated:
        definition = rules.OBSERVATION_DEFINITIONS[obs.code]
        params.append(
            (
                session.pk,
                session.patient_id,
                session.clinic_id,
                obs.code,
                definition.loinc or "",
                ops.adapt_decimalfield_value(obs.value, value_field.max_digits, value_field.decimal_places),
                definition.unit_ucum,
                ops.adapt_datetimefield_value(obs.observed_at),
                source,
                actor.pk,
                entered_at,
                "",
            )
        )
    if connection.vendor == "postgresql" and len(params) >= COPY_MIN_OBSERVATIONS:
        return _copy_observations(params)
    quote = ops.quote_name
    table = quote(Observation._meta.db_table)
    columns = ", ".join(quote(c) for c in _OBSERVATION_COLUMNS)
    ids: list[int] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One array parameter per column, unnested by the server: a short statement whatever
            # the batch size (psycopg parses a statement's placeholders on the client).
            arrays = ", ".join(f"%s::{kind}[]" for kind in _OBSERVATION_PG_TYPES)
            sql = f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays}) RETURNING {quote('id')}"  # noqa: S608
            cursor.execute(sql, [list(column) for column in zip(*params, strict=True)])
            ids.extend(sorted(r[0] for r in cursor.fetchall()))
            return ids
        row = "(" + ", ".join(["%s"] * len(_OBSERVATION_COLUMNS)) + ")"
        # Stay under the backend's limit of bound variables a statement (Django's own figure).
        chunk = max(1, (connection.features.max_query_params or 65535) // len(_OBSERVATION_COLUMNS))
        for start in range(0, len(params), chunk):
            part = params[start : start + chunk]
            # Names are the model's own, quoted by the backend; every value is a bound parameter.
            sql = f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * len(part))} RETURNING {quote('id')}"  # noqa: S608
            cursor.execute(sql, [value for values in part for value in values])
            # Ids grow in insertion order on both databases; RETURNING's own order is not promised.
            ids.extend(sorted(r[0] for r in cursor.fetchall()))
    return ids


def _copy_observations(params: list[tuple]) -> list[int]:
    """Write adapted observation rows (``_OBSERVATION_COLUMNS``) to PostgreSQL with
    ``COPY … FROM STDIN`` in binary format, in the caller's transaction, and return their ids in
    the batch's order.

    ``COPY`` returns no ids, so they are taken first from the column's own sequence, one
    ``nextval`` a row in the batch's order — what the identity default would have done, so ids
    still grow in insertion order (the tie rule "the later row wins" relies on it) and are never
    handed out twice, without a lock that would serialise concurrent batches. The types are given
    to psycopg so it dumps each value in binary without guessing; the server applies the columns'
    own length, scale and check constraints, as for an ``INSERT``.
    """
    quote = connection.ops.quote_name
    table = Observation._meta.db_table
    columns = ", ".join(quote(c) for c in ("id", *_OBSERVATION_COLUMNS))
    sql = f"COPY {quote(table)} ({columns}) FROM STDIN (FORMAT BINARY)"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [quote(table), len(params)],
        )
        ids = sorted(row[0] for row in cursor.fetchall())
        # Through Django's wrappers: its error classes, and its query log when one is kept.
        debug_sql = getattr(cursor, "debug_sql", None)
        with (
            connection.wrap_database_errors,
            debug_sql(sql) if debug_sql is not None else nullcontext(),
            cursor.cursor.copy(sql) as copy,
        ):
            copy.set_types(("bigint", *_OBSERVATION_PG_TYPES))
            for pk, values in zip(ids, params, strict=True):
                copy.write_row((pk, *values))
    return ids


def _evaluate_schedule(
    *,
    actor: User,
    session: CareSession,
    times: selectors.SessionTimes,
    open_alerts: dict[int, Alert],
    now: datetime,
) -> list[Alert]:
    """Raise or end ``vitals_overdue`` from the check schedule as the valid record now stands
    (after a set is recorded, or a value is marked entered in error). ``open_alerts`` must hold
    exactly the session's open episodes (as ``_apply_evaluation`` keeps it)."""
    checks = selectors.checks_in_db(session, times, now)
    still_open = [rules.OpenEpisode(a.pk, a.code, a.severity, a.raised_at) for a in open_alerts.values()]
    overdue = rules.evaluate_overdue(checks=checks, open_episodes=still_open, now=now)
    return _apply_evaluation(
        actor=actor, session=session, evaluation=overdue, open_alerts=open_alerts, now=now
    )


def _apply_evaluation(
    *,
    actor: User | None,
    session: CareSession,
    evaluation: rules.AlertEvaluation,
    open_alerts: dict[int, Alert],
    now: datetime,
    entered_in_error: bool = False,
) -> list[Alert]:
    """Store what the domain decided. ``open_alerts`` (the session's open episodes, locked) is
    kept up to date: raised episodes still open are added, ended ones removed.

    ``entered_in_error``: the evaluation is the re-evaluation after a value was marked entered in
    error (``rules.reevaluate_after_void``): the episodes it ends are marked so, and those it
    raises are shown now, so their escalation clock starts ``now`` (their ``raised_at`` is the
    first abnormal reading that remains)."""
    notify: list[Alert] = []
    for raised in evaluation.raised:
        alert = Alert.objects.create(
            session=session,
            patient_id=session.patient_id,
            clinic_id=session.clinic_id,
            code=raised.code,
            episode=raised.episode,
            severity=raised.severity,
            message=raised.message[:500],
            raised_at=raised.raised_at,
            escalation_from=now if entered_in_error else raised.raised_at,
            status=AlertStatus.RESOLVED if raised.ended_at else AlertStatus.OPEN,
            resolved_at=raised.ended_at,
        )
        AlertEvent.objects.create(
            alert=alert,
            kind="raised",
            code=alert.code,
            severity=alert.severity,
            message=alert.message,
            at=now if entered_in_error else raised.raised_at,
            actor=actor,
        )
        if raised.ended_at is None:
            open_alerts[alert.pk] = alert
        else:
            AlertEvent.objects.create(
                alert=alert,
                kind="resolved",
                code=alert.code,
                severity=alert.severity,
                at=raised.ended_at,
                actor=actor,
            )
        audit_record(
            actor=actor,
            actor_label=None if actor is not None else SWEEP_LABEL,
            action="create",
            object_type="alert",
            object_id=alert.pk,
            patient_id=session.patient_id,
            clinic_id=session.clinic_id,
            detail={"code": alert.code, "severity": alert.severity},
        )
        notify.append(alert)
    for upgrade in evaluation.upgraded:
        alert = open_alerts[upgrade.episode_id]
        # The domain: treat an upgrade like a new alert — open again, escalation clock restarted.
        alert.code, alert.severity, alert.message = upgrade.code, upgrade.severity, upgrade.message[:500]
        alert.upgraded_at = alert.escalation_from = upgrade.upgraded_at
        alert.status = AlertStatus.OPEN
        alert.acknowledged_by = alert.acknowledged_at = None
        alert.action, alert.note = "", ""
        alert.save()
        AlertEvent.objects.create(
            alert=alert,
            kind="upgraded",
            code=alert.code,
            severity=alert.severity,
            message=alert.message,
            at=upgrade.upgraded_at,
            actor=actor,
        )
        audit_record(
            actor=actor,
            action="update",
            object_type="alert",
            object_id=alert.pk,
            patient_id=session.patient_id,
            clinic_id=session.clinic_id,
            detail={"upgraded_from": upgrade.from_code, "code": alert.code, "severity": alert.severity},
        )
        notify.append(alert)
    for end in evaluation.ended:
        alert = open_alerts.pop(end.episode_id, None) or Alert.objects.get(pk=end.episode_id)
        alert.status, alert.resolved_at = AlertStatus.RESOLVED, end.ended_at
        alert.entered_in_error = entered_in_error
        alert.save(update_fields=["status", "resolved_at", "entered_in_error"])
        AlertEvent.objects.create(
            alert=alert,
            kind="resolved",
            code=alert.code,
            severity=alert.severity,
            message=end.message[:500],
            at=end.ended_at,
            actor=actor,
        )
        audit_record(
            actor=actor,
            actor_label=None if actor is not None else SWEEP_LABEL,
            action="update",
            object_type="alert",
            object_id=alert.pk,
            patient_id=session.patient_id,
            clinic_id=session.clinic_id,
            detail={"resolved": True, "entered_in_error": True} if entered_in_error else {"resolved": True},
        )
    return notify


def vitals_overdue_sweep(*, now: datetime | None = None) -> list[Alert]:
    """Raise (and end) ``vitals_overdue`` alerts for every session being monitored.

    A check that nobody records is only noticed by the clock, so this runs from a timer
    (``kapstone monitoring_overdue``, e.g. every minute). Each session is evaluated under its row
    lock, like a vitals batch. Returns the alerts raised.
    """
    now = now or timezone.now()
    raised: list[Alert] = []
    # In the order of their ids: the worker runs the whole sweep in one transaction
    # (kapstone/operations), and locks taken in one order cannot deadlock two sweeps.
    ids = (
        CareSession.objects.filter(kind=DOSING, status__in=selectors.BOARD_STATES)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for session_id in ids:
        with transaction.atomic():
            session = CareSession.objects.select_for_update().select_related("course").get(pk=session_id)
            if session.status not in selectors.BOARD_STATES:
                continue
            times = selectors.session_times(session)
            if times.dosing_started_at is None:
                continue
            checks = selectors.checks_in_db(session, times, now)
            open_alerts = {
                a.pk: a
                for a in Alert.objects.select_for_update().filter(session=session, resolved_at__isnull=True)
            }
            episodes = [
                rules.OpenEpisode(a.pk, a.code, a.severity, a.raised_at) for a in open_alerts.values()
            ]
            evaluation = rules.evaluate_overdue(checks=checks, open_episodes=episodes, now=now)
            raised += _apply_evaluation(
                actor=None, session=session, evaluation=evaluation, open_alerts=open_alerts, now=now
            )
    return raised


def observation_void(*, actor: User, observation: Observation, reason: str) -> Observation:
    """Mark one value entered in error: it stays on record, struck through with who, when and
    why, and from then on no rule counts it (baseline, alerts, check schedule, discharge).

    The unit is one value (one row): a set is the values sharing a time, and one of them can be
    mistyped while the others are right. Under the session's lock (as a vitals batch), the alert
    state is re-evaluated from the values that remain (``rules.reevaluate_after_void``): an open
    episode the value alone raised or kept at its level ends, marked ``entered_in_error`` with
    the event "<title> ended: value entered in error."; an episode the remaining values still
    show stays as it is; one they show differently (a warning under a typed critical, or an
    abnormal reading whose normal successor was the typo) is raised anew. The alert history is
    never rewritten. The check schedule is evaluated again too (``vitals_overdue``).

    Only a nurse or prescriber of the clinic (``clinician_required``), with a reason
    (``reason_required``, ``text_too_long``, ``invalid_text``), while the session is monitored
    (check-in to recovery): a discharged (or otherwise ended) session is ``session_closed``,
    because its discharge was decided on the record as it stood. Once (409
    ``observation_already_voided``). A refusal writes nothing.
    """
    _clinician(actor, observation.session, "mark a value entered in error")
    reason = clean_text(
        reason,
        field="reason",
        max_chars=VOID_REASON_MAX_CHARS,
        required=True,
        label="The reason",
        missing_message="Say why the value was entered in error.",
    )
    with transaction.atomic():
        # The session first, as a vitals batch locks it: a batch and a void are evaluated one
        # after the other, each seeing the other's values and episodes.
        session = (
            CareSession.objects.select_for_update()
            .select_related("course", "clinic")
            .get(pk=observation.session_id)
        )
        if session.status not in selectors.MONITORED_STATES:
            raise WorkflowConflict(
                "session_closed",
                f"This session is {state_label(session.status).lower()}: its values can no longer be "
                "marked entered in error. Add a note to the session instead.",
            )
        current = Observation.objects.select_for_update().get(pk=observation.pk)
        if current.is_voided:
            raise WorkflowConflict(
                "observation_already_voided", "This value was already marked entered in error."
            )
        now = timezone.now()
        current.voided_by, current.voided_at, current.void_reason = actor, now, reason
        current.save(update_fields=["voided_by", "voided_at", "void_reason"])
        ended, raised = _reevaluate_after_void(actor=actor, session=session, code=current.code, now=now)
        audit_record(
            actor=actor,
            action="void",
            object_type="observation",
            object_id=current.pk,
            patient_id=current.patient_id,
            clinic_id=current.clinic_id,
            detail={"code": current.code, "alerts_ended": ended, "alerts_raised": raised},
        )
    return current


def _reevaluate_after_void(
    *, actor: User, session: CareSession, code: str, now: datetime
) -> tuple[list[str], list[str]]:
    """Store the alert state of the valid record after a void (session locked); return the codes
    of the alerts it ended and raised."""
    times = selectors.session_times(session)
    open_alerts = {
        a.pk: a for a in Alert.objects.select_for_update().filter(session=session, resolved_at__isnull=True)
    }
    evaluation = rules.reevaluate_after_void(
        observations=selectors.as_domain(selectors.observations_of(session)),
        baseline=selectors.baseline_in_db(session, times),
        open_episodes=[
            rules.OpenEpisode(a.pk, a.code, a.severity, a.raised_at) for a in open_alerts.values()
        ],
        voided_code=code,
        now=now,
        thresholds=selectors.alert_thresholds(session),
    )
    ended = [open_alerts[end.episode_id].code for end in evaluation.ended]
    # Ends first: the new episode of a family may only open once its old one is closed.
    _apply_evaluation(
        actor=actor,
        session=session,
        evaluation=rules.AlertEvaluation(ended=evaluation.ended),
        open_alerts=open_alerts,
        now=now,
        entered_in_error=True,
    )
    raised = _apply_evaluation(
        actor=actor,
        session=session,
        evaluation=rules.AlertEvaluation(raised=evaluation.raised),
        open_alerts=open_alerts,
        now=now,
        entered_in_error=True,
    )
    raised += _evaluate_schedule(actor=actor, session=session, times=times, open_alerts=open_alerts, now=now)
    return ended, [a.code for a in raised]


def alert_acknowledge(
    *, actor: User, alert: Alert, action: str, note: str = "", witness: User | None = None
) -> Alert:
    """A nurse or prescriber acknowledges an alert with the action taken.

    ``infusion_paused`` pauses the running infusion and ``infusion_stopped`` ends the
    administration early, through the dosing services (the administration record and the
    register are written in the same transaction); the alert's message is the reason. Stopping
    with drug left over needs a ``witness`` for the waste (``witness_required``).
    """
    if action not in AlertAction.values:
        raise DomainError(
            "invalid_action",
            f"Unknown action {action!r}; choose one of: {', '.join(AlertAction.values)}.",
            field="action",
        )
    note = _text(note, field="note")
    _clinician(actor, alert.session, "acknowledge an alert")
    with transaction.atomic():
        current = Alert.objects.select_for_update().select_related("session").get(pk=alert.pk)
        if current.acknowledged_at is not None:
            raise WorkflowConflict("alert_already_acknowledged", "This alert has already been acknowledged.")
        now = timezone.now()
        if action in (AlertAction.INFUSION_PAUSED, AlertAction.INFUSION_STOPPED):
            administration = selectors.administration_for_session(current.session)
            if administration is None or not administration.is_running:
                raise WorkflowConflict(
                    "no_running_infusion", "There is no running infusion to pause or stop.", field="action"
                )
            reason = f"Alert {current.code}: {current.message}"[:500]
            if action == AlertAction.INFUSION_PAUSED:
                administration_rate_event(
                    actor=actor, administration=administration, kind="pause", at=now, reason=reason
                )
            else:
                administration_complete(
                    actor=actor,
                    administration=administration,
                    ended_at=now,
                    witness=witness,
                    stopped_early=True,
                    stop_reason=reason,
                )
        current.acknowledged_by, current.acknowledged_at = actor, now
        current.action, current.note = action, note
        if current.status == AlertStatus.OPEN:
            current.status = AlertStatus.ACKNOWLEDGED
        current.save(update_fields=["acknowledged_by", "acknowledged_at", "action", "note", "status"])
        AlertEvent.objects.create(
            alert=current,
            kind="acknowledged",
            code=current.code,
            severity=current.severity,
            message=f"{action}: {note}"[:500] if note else action,
            at=now,
            actor=actor,
        )
        audit_record(
            actor=actor,
            action="update",
            object_type="alert",
            object_id=current.pk,
            patient_id=current.patient_id,
            clinic_id=current.clinic_id,
            detail={"acknowledged": True, "action": action},
        )
    return current


# --- Scales -----------------------------------------------------------------------------------


def scale_record(
    *, actor: User, session: CareSession, scale: str, answers: Any, observed_at: datetime | None = None
) -> ScaleScore:
    """Score and store a bedside scale: ``moaas`` (answers: the score 0–5), ``aldrete`` (five
    items, list or mapping) or ``cadss`` (23 items 0–4; its scoring version is recorded).

    MOAA/S and the Aldrete total are also stored as observations, so the sedation alert and the
    discharge rules see them (a sedation alert raised by the MOAA/S is stored as with vitals).
    """
    if scale not in ScaleScore.SCALES:
        raise DomainError(
            "unknown_scale", f"Unknown scale {scale!r}; choose moaas, aldrete or cadss.", field="scale"
        )
    _clinician(actor, session, "record a scale")
    with transaction.atomic():
        current = _locked_monitored(session)
        now = timezone.now()
        at = observed_at or now
        observation_id = None
        if scale == "moaas":
            scored = score_moaas(answers)
            total, items, version = scored.score, {"score": scored.score}, "moaas@1"
            code = "moaas"
        elif scale == "aldrete":
            aldrete = score_aldrete(answers)
            total, items, version = aldrete.total, aldrete.by_item, "aldrete-modified@1"
            code = "aldrete_total"
        else:
            cadss = score_instrument("cadss", answers)
            total, items, version = cadss.total, {"items": list(cadss.item_scores)}, cadss.scoring_version
            code = None
        if code is not None:
            _, ids = _store_batch(
                actor=actor,
                session=current,
                source="manual",
                now=now,
                observations=[{"code": code, "value": total, "observed_at": at}],
            )
            observation_id = ids[0]
        elif at > now or at < selectors.session_times(current).started_at:
            raise DomainError("implausible_value", "The time is outside the session.", field="observed_at")
        score = ScaleScore.objects.create(
            session=current,
            patient_id=current.patient_id,
            clinic_id=current.clinic_id,
            scale=scale,
            answers=items,
            total=total,
            scoring_version=version,
            observation_id=observation_id,
            observed_at=at,
            entered_by=actor,
            entered_at=now,
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="scale_score",
            object_id=score.pk,
            patient_id=current.patient_id,
            clinic_id=current.clinic_id,
            detail={"scale": scale, "total": total, "version": version},
        )
    return score


# --- Discharge --------------------------------------------------------------------------------


def session_discharge(
    *,
    actor: User,
    session: CareSession,
    escort_confirmed: bool,
    driving_advice_given: bool,
    override_reason: str = "",
) -> Discharge:
    """``recovering → discharged`` when the domain's discharge criteria all hold.

    Otherwise refused with WorkflowConflict naming each unmet criterion and its value: code
    ``dissociation_not_resolved`` when dissociation is among them (no CADSS after the dose showing
    resolution, or no attestation, as the protocol sets), else ``discharge_criteria_unmet``; unless a prescriber gives a written override reason
    (``override_requires_prescriber`` for anyone else). The evaluation, including the minute the
    patient would have been ready to leave, is stored with the discharge.
    """
    override_reason = _text(override_reason, field="override_reason")
    _clinician(actor, session, "discharge a patient")
    if override_reason and not has_role(actor, PRESCRIBERS, session.clinic_id):
        raise WorkflowConflict(
            "override_requires_prescriber",
            "Only a prescriber may discharge against an unmet criterion.",
            field="override_reason",
        )
    with transaction.atomic():
        current = (
            CareSession.objects.select_for_update().select_related("course", "clinic").get(pk=session.pk)
        )
        if current.kind != DOSING or current.status != RECOVERING:
            raise WorkflowConflict(
                "session_not_recovering",
                "Only a recovering dosing session can be discharged; this one is "
                f"{current.status.replace('_', ' ')}.",
            )
        now = timezone.now()
        evaluation = selectors.discharge_evaluation(
            session=current,
            now=now,
            escort_confirmed=bool(escort_confirmed),
            driving_advice_given=bool(driving_advice_given),
        )
        if evaluation is None:
            raise WorkflowConflict("session_not_recovering", "Dosing has not started in this session.")
        if not evaluation.ready and not override_reason:
            unmet = "; ".join(f"{c.title} ({c.value}; needs {c.requirement})" for c in evaluation.unmet)
            # Dissociation has its own code: the REMS objective a nurse must see first.
            code = (
                "dissociation_not_resolved"
                if any(c.code == "dissociation_resolved" for c in evaluation.unmet)
                else "discharge_criteria_unmet"
            )
            raise WorkflowConflict(code, f"Not ready for discharge: {unmet}.")
        discharge = Discharge.objects.create(
            session=current,
            patient_id=current.patient_id,
            clinic_id=current.clinic_id,
            criteria=criteria_json(evaluation),
            criteria_met=evaluation.ready,
            observed_min=evaluation.observed_min,
            ready_at=evaluation.ready_at,
            ready_at_min_after_dosing_start=evaluation.ready_at_min_after_dosing_start,
            override_reason=override_reason if not evaluation.ready else "",
            escort_confirmed=bool(escort_confirmed),
            driving_advice_given=bool(driving_advice_given),
            discharged_by=actor,
            discharged_at=now,
        )
        reason = "discharge criteria met" if evaluation.ready else f"prescriber override: {override_reason}"
        session_transition(
            actor=actor, session=current, to=DISCHARGED, reason=reason, discharge_evaluated=True
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="discharge",
            object_id=discharge.pk,
            patient_id=current.patient_id,
            clinic_id=current.clinic_id,
            detail={
                "criteria_met": evaluation.ready,
                "unmet": [c.code for c in evaluation.unmet],
                "override": bool(override_reason and not evaluation.ready),
            },
        )
    return discharge


def dissociation_attest(
    *, actor: User, session: CareSession, note: str = "", now: datetime | None = None
) -> DissociationAttestation:
    """Record a clinician's attestation that dissociation has resolved (who, when, audited).

    For a protocol whose ``monitoring.dissociation_check`` is ``attestation`` this meets the
    discharge criterion ``dissociation_resolved``. Only a nurse or prescriber of the session's
    clinic (``clinician_required``), only once dosing has ended and the session is recovering
    (``session_not_recovering``); ``note`` is free text (``text_too_long``, ``invalid_text``).
    """
    note = _text(note, field="note")
    _clinician(actor, session, "attest that dissociation has resolved")
    with transaction.atomic():
        current = (
            CareSession.objects.select_for_update().select_related("course", "clinic").get(pk=session.pk)
        )
        if current.kind != DOSING or current.status != RECOVERING:
            raise WorkflowConflict(
                "session_not_recovering",
                "Dissociation is attested after the dose, while the patient recovers; this session is "
                f"{state_label(current.status).lower()}.",
            )
        times = selectors.session_times(current)
        at = now or timezone.now()
        if times.dosing_ended_at is None or at <= times.dosing_ended_at:
            raise WorkflowConflict("session_not_recovering", "Dosing has not ended in this session.")
        attestation = DissociationAttestation.objects.create(
            session=current,
            patient_id=current.patient_id,
            clinic_id=current.clinic_id,
            attested_by=actor,
            attested_at=at,
            note=note,
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="dissociation_attestation",
            object_id=attestation.pk,
            patient_id=current.patient_id,
            clinic_id=current.clinic_id,
            detail={"attested": True},
        )
    return attestation


def criteria_json(evaluation: rules.DischargeEvaluation) -> list[dict[str, Any]]:
    return [
        {"code": c.code, "met": c.met, "value": c.value, "requirement": c.requirement, "source": c.source}
        for c in evaluation.criteria
    ]
