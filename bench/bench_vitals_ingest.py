"""Vitals batch ingest with alert evaluation, through the service a device feed uses
(``kapstone.monitoring.services.vitals_record``), on SQLite and PostgreSQL.

Budget (DESIGN.md): ≥ 20,000 observations/s on PostgreSQL.

Method: a fresh database per backend (SQLite file ``kapstone_bench_vitals.sqlite3`` in the temporary
directory; PostgreSQL database ``kapstone_bench_vitals``, created here and dropped afterwards),
migrated and seeded with the demo (``seed_demo``, 6 patients per clinic), which leaves one dosing
session in progress per clinic (dosing started 25 min earlier). Each of those sessions is then given
a history of ``--history`` observations (default 1,800: a full set of 6 vital signs every ~5 s since
the start of dosing, a monitor feed). Then batches are recorded alternately into the sessions, as a
device feed would: a batch is a number of readings of the 6 vital signs at consecutive seconds (6
observations per set); one batch in ten carries a systolic of 165 (``hypertension`` warning) and
the next is normal again, so alert episodes are raised and ended along the way. Each batch is one
call of ``vitals_record`` (its own transaction, row lock, plausibility check, alert evaluation,
overdue check and audit row).

Measured, after a warm-up, in 3 runs whose kinds are interleaved (so that a change of load on the
machine hits every kind alike):

- ``large``: ``--batches`` batches of ``--sets`` sets (default 100 sets = 600 observations); on
  PostgreSQL through ``COPY`` (the service's path for batches of at least
  ``COPY_MIN_OBSERVATIONS``) and, for comparison, the same batches forced through the one-statement
  ``INSERT`` (``insert``); observations per second, median and best of the runs.
- ``raw_copy`` (PostgreSQL): the same rows, built beforehand, written with a bare binary ``COPY``
  and a commit per batch — no validation, no reads, no alert evaluation, no audit: the database's
  own floor. ``ratio_to_raw_copy`` is the ingest's rate over the raw copy's.
- ``small``: ``--small-batches`` batches of 1 set (6 observations): latency p50/p95.
- ``--crossover`` (PostgreSQL): ``_insert_observations`` alone, ``COPY`` against ``INSERT``, at
  several batch sizes, each in a transaction rolled back (median of 15): where ``COPY`` starts to pay.

Queries per batch are counted once per batch size with Django's ``CaptureQueriesContext``.

Run: ``.venv/bin/python bench/bench_vitals_ingest.py [--backends sqlite,postgres] [--sets 100]
[--batches 20] [--small-batches 60] [--history 1800] [--crossover]``. PostgreSQL at
``KAPSTONE_BENCH_PG`` (default ``postgres://postgres@127.0.0.1:5432``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from _common import ROOT, backends, bench_env, database, db_name

DB_NAME = db_name("kapstone_bench_vitals")
SQLITE_PATH = Path(tempfile.gettempdir()) / "kapstone_bench_vitals.sqlite3"
CODES = ("systolic_bp", "diastolic_bp", "heart_rate", "spo2", "respiratory_rate", "temperature")


def _normal(i: int) -> dict[str, object]:
    return {
        "systolic_bp": 120 + i % 7,
        "diastolic_bp": 76 + i % 5,
        "heart_rate": 70 + i % 9,
        "spo2": 97 + i % 3,
        "respiratory_rate": 14,
        "temperature": "36.8",
    }


def _batch(at, sets: int, index: int) -> list[dict[str, object]]:
    values = _normal(index)
    if index % 10 == 9:
        values["systolic_bp"] = 165  # a hypertension warning; the next batch ends the episode
    return [
        {"code": code, "value": values[code], "observed_at": at + timedelta(seconds=s)}
        for s in range(sets)
        for code in CODES
    ]


def _history(session, nurse, administration, count: int) -> int:
    """``count`` observations in sets spread evenly from the start of dosing to a minute ago
    (every ~5 s for the default 1,800), written in bulk: set-up, not measured."""
    from django.utils import timezone

    from kapstone.domain.monitoring import OBSERVATION_DEFINITIONS
    from kapstone.monitoring.models import Observation

    sets = count // len(CODES)
    start = administration.started_at
    step = (timezone.now() - timedelta(minutes=1) - start) / max(sets, 1)
    rows = []
    for i in range(sets):
        at = start + step * i
        for code, value in _normal(i).items():
            definition = OBSERVATION_DEFINITIONS[code]
            rows.append(
                Observation(
                    session=session,
                    patient_id=session.patient_id,
                    clinic_id=session.clinic_id,
                    code=code,
                    loinc=definition.loinc or "",
                    value=value,
                    unit=definition.unit_ucum,
                    observed_at=at,
                    source="bench-monitor",
                    entered_by=nurse,
                    entered_at=at,
                )
            )
    Observation.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def worker(args: argparse.Namespace) -> dict[str, object]:
    """Runs inside a process whose KAPSTONE_DATABASE_URL names the bench database."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kapstone.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from kapstone.accounts.models import Membership, Role
    from kapstone.care.models import CareSession
    from kapstone.care.services import session_transition
    from kapstone.demo.seed import seed_demo
    from kapstone.domain.monitoring import OBSERVATION_DEFINITIONS
    from kapstone.domain.monitoring.observations import coerce_observations
    from kapstone.domain.sessions import CHECKED_IN
    from kapstone.monitoring import selectors, services
    from kapstone.monitoring.demo import _start_today
    from kapstone.monitoring.models import Observation
    from kapstone.monitoring.services import vitals_record

    setup_started = time.perf_counter()
    call_command("migrate", verbosity=0)
    seed_demo(patients_per_clinic=6, follow_up_per_protocol=0)

    def staff(clinic_id, role):
        membership = Membership.objects.filter(clinic_id=clinic_id, role=role, is_active=True).first()
        return membership.user

    # Sessions in progress: the demo's, else today's scheduled dosing sessions taken into dosing
    # through the services (check-in, day-of checks, order, verification, start 25 min ago).
    today = timezone.localdate()
    for session in CareSession.objects.filter(kind="dosing", status="scheduled", scheduled_date=today):
        nurse, prescriber = staff(session.clinic_id, Role.NURSE), staff(session.clinic_id, Role.PRESCRIBER)
        session_transition(actor=nurse, session=session, to=CHECKED_IN)
        _start_today(CareSession.objects.get(pk=session.pk), nurse=nurse, prescriber=prescriber, today=today)
    sessions = list(CareSession.objects.filter(kind="dosing", status="in_progress").order_by("id"))
    if not sessions:
        raise SystemExit("no dosing session in progress to record into")
    feeds = []
    for session in sessions:
        nurse = staff(session.clinic_id, Role.NURSE)
        administration = selectors.administration_for_session(session)
        history = _history(session, nurse, administration, args.history)
        feeds.append((session, nurse, history))

    counter = 0

    def batch_for(sets: int) -> tuple:
        nonlocal counter
        session, nurse, _ = feeds[counter % len(feeds)]
        # Readings a little in the past, later than every earlier batch (a device's clock).
        at = timezone.now() - timedelta(seconds=sets + 1)
        batch = _batch(at, sets, counter)
        counter += 1
        return session, nurse, batch

    def ingest(batches: int, sets: int) -> tuple[float, list[float]]:
        """``batches`` calls of the service; total seconds and each batch's."""
        per_batch = []
        for _ in range(batches):
            session, nurse, batch = batch_for(sets)
            t0 = time.perf_counter()
            vitals_record(actor=nurse, session=session, observations=batch, source="bench")
            per_batch.append(time.perf_counter() - t0)
        return sum(per_batch), per_batch

    def insert_path(batches: int, sets: int) -> tuple[float, list[float]]:
        saved = services.COPY_MIN_OBSERVATIONS
        services.COPY_MIN_OBSERVATIONS = 10**9
        try:
            return ingest(batches, sets)
        finally:
            services.COPY_MIN_OBSERVATIONS = saved

    def raw_copy(batches: int, sets: int) -> tuple[float, list[float]]:
        """The same rows as the service writes (built beforehand, not timed), with a bare binary
        COPY and a commit per batch: the database's own cost."""
        per_batch = []
        columns = ", ".join(services._OBSERVATION_COLUMNS)
        sql = f"COPY {Observation._meta.db_table} ({columns}) FROM STDIN (FORMAT BINARY)"
        for _ in range(batches):
            session, nurse, batch = batch_for(sets)
            now = timezone.now()
            rows = []
            for obs in coerce_observations(batch, prefix="observations"):
                definition = OBSERVATION_DEFINITIONS[obs.code]
                rows.append(
                    (
                        session.pk,
                        session.patient_id,
                        session.clinic_id,
                        obs.code,
                        definition.loinc or "",
                        obs.value,
                        definition.unit_ucum,
                        obs.observed_at,
                        "bench-raw",
                        nurse.pk,
                        now,
                        "",
                    )
                )
            t0 = time.perf_counter()
            with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
                copy.set_types(services._OBSERVATION_PG_TYPES)
                for row in rows:
                    copy.write_row(row)
            per_batch.append(time.perf_counter() - t0)
        return sum(per_batch), per_batch

    def queries(sets: int) -> int:
        session, nurse, batch = batch_for(sets)
        with CaptureQueriesContext(connection) as captured:
            vitals_record(actor=nurse, session=session, observations=batch, source="bench")
        return len(captured.captured_queries)

    postgres = connection.vendor == "postgresql"
    kinds = {"large": ingest}
    if postgres:
        kinds |= {"insert": insert_path, "raw_copy": raw_copy}
    obs_large = args.sets * len(CODES)
    measure_started = time.perf_counter()
    # Warm-up: connections, caches, the first alert episodes, each kind once.
    ingest(10, 1)
    # Counted on batches 10 and 11 (normal readings; the second may end the episode batch 9 raised
    # in its session), alike on both backends.
    queries_small, queries_large = queries(1), queries(args.sets)
    for run in kinds.values():
        run(3, args.sets)
    result: dict[str, object] = {
        "backend": connection.vendor,
        "setup_s": round(measure_started - setup_started, 1),
        "sessions": len(feeds),
        "history_obs_per_session": feeds[0][2],
        "copy_min_observations": services.COPY_MIN_OBSERVATIONS,
        "queries_per_small_batch": queries_small,
        "queries_per_large_batch": queries_large,
        "large_obs_per_batch": obs_large,
        "large_batches_per_run": args.batches,
    }
    rates: dict[str, list[float]] = {kind: [] for kind in kinds}
    small: list[float] = []
    for _ in range(3):
        for kind, run in kinds.items():
            elapsed, _ = run(args.batches, args.sets)
            rates[kind].append(args.batches * obs_large / elapsed)
        small += ingest(args.small_batches, 1)[1]
    for kind, values in rates.items():
        result[f"{kind}_obs_per_s_median"] = round(statistics.median(values))
        result[f"{kind}_obs_per_s_best"] = round(max(values))
    if postgres:
        result["ratio_to_raw_copy"] = round(
            statistics.median(rates["large"]) / statistics.median(rates["raw_copy"]), 2
        )
    small.sort()
    result["small_obs_per_batch"] = len(CODES)
    result["small_batch_ms_p50"] = round(1000 * small[len(small) // 2], 1)
    result["small_batch_ms_p95"] = round(1000 * small[int(len(small) * 0.95)], 1)
    if postgres and args.crossover:
        result["crossover_ms_insert_vs_copy"] = crossover(feeds[0][0], feeds[0][1])
    result["measure_s"] = round(time.perf_counter() - measure_started, 1)
    return result


def crossover(session, nurse) -> dict[int, tuple[float, float]]:
    """``_insert_observations`` alone by INSERT and by COPY at several batch sizes, each call in a
    transaction rolled back; median ms of 15, the two paths interleaved."""
    from django.db import transaction
    from django.utils import timezone

    from kapstone.domain.monitoring import Observation as Reading
    from kapstone.monitoring import services

    saved = services.COPY_MIN_OBSERVATIONS
    now = timezone.now()
    out = {}
    try:
        for size in (6, 12, 30, 60, 120, 300, 600):
            readings = [
                Reading(
                    CODES[i % 6], Decimal(str(_normal(i)[CODES[i % 6]])), now - timedelta(seconds=size - i)
                )
                for i in range(size)
            ]
            times: dict[str, list[float]] = {"insert": [], "copy": []}
            for _ in range(15):
                for path, threshold in (("insert", 10**9), ("copy", 1)):
                    services.COPY_MIN_OBSERVATIONS = threshold
                    with transaction.atomic():
                        t0 = time.perf_counter()
                        services._insert_observations(
                            session=session, actor=nurse, validated=readings, source="bench", now=now
                        )
                        times[path].append(time.perf_counter() - t0)
                        transaction.set_rollback(True)
            out[size] = tuple(round(1000 * statistics.median(times[p]), 2) for p in ("insert", "copy"))
    finally:
        services.COPY_MIN_OBSERVATIONS = saved
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--sets", type=int, default=100, help="readings of 6 vital signs per large batch")
    parser.add_argument("--batches", type=int, default=20, help="large batches per run")
    parser.add_argument("--small-batches", type=int, default=60, help="batches of 1 set per run")
    parser.add_argument("--crossover", action="store_true", help="time COPY against INSERT by batch size")
    parser.add_argument("--history", type=int, default=1800, help="observations per session beforehand")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)), flush=True)
        return 0
    failed = 0
    for backend in backends(args.backends):
        command = [
            sys.executable,
            __file__,
            "--worker",
            f"--sets={args.sets}",
            f"--batches={args.batches}",
            f"--history={args.history}",
            f"--small-batches={args.small_batches}",
        ] + (["--crossover"] if args.crossover else [])
        with database(backend, sqlite_path=SQLITE_PATH, pg_name=DB_NAME) as url:
            env = bench_env(KAPSTONE_DATABASE_URL=url)
            result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            failed += 1
            print(f"{backend}: failed\n{result.stderr[-3000:]}")
            continue
        print(result.stdout.strip().splitlines()[-1])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
