"""Vitals batch ingest with alert evaluation, through the service a device feed uses
(``kapstone.monitoring.services.vitals_record``), on SQLite and PostgreSQL.

Budget (DESIGN.md): ≥ 20,000 observations/s on PostgreSQL.

Method: a fresh database per backend (SQLite file ``kapstone_bench_vitals.sqlite3`` in the temporary directory;
PostgreSQL database ``kapstone_bench_vitals``, created here and dropped afterwards), migrated and
seeded with the demo (``seed_demo``, 6 patients per clinic), which leaves one dosing session in
progress per clinic (dosing started 25 min earlier). Each of those sessions is then given a
history of ``--history`` observations (default 1,800: a full set of 6 vital signs every ~5 s since
the start of dosing, a monitor feed). Then batches are recorded alternately into the sessions, as a device feed would: a batch
is ``--sets`` readings of the 6 vital signs at consecutive seconds (6 observations per set); one
batch in ten carries a systolic of 165 (``hypertension`` warning) and the next is normal again,
so alert episodes are raised and ended along the way. Each batch is one call of
``vitals_record`` (its own transaction, row lock, plausibility check, alert evaluation, overdue
check and audit row). Best and median of 3 timed runs of ``--batches`` batches after a warm-up;
database queries per batch counted once with Django's ``CaptureQueriesContext``.

Run: ``.venv/bin/python bench/bench_vitals_ingest.py [--backends sqlite,postgres] [--sets 1]
[--batches 300] [--history 1800]``. PostgreSQL at ``KAPSTONE_BENCH_PG`` (default
``postgres://postgres@127.0.0.1:5432``).
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DB_NAME = "kapstone_bench_vitals"
SQLITE_PATH = Path(tempfile.gettempdir()) / f"{DB_NAME}.sqlite3"
PG_SERVER = os.environ.get("KAPSTONE_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
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
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from kapstone.accounts.models import Membership, Role
    from kapstone.care.models import CareSession
    from kapstone.care.services import session_transition
    from kapstone.demo.seed import seed_demo
    from kapstone.domain.sessions import CHECKED_IN
    from kapstone.monitoring import selectors
    from kapstone.monitoring.demo import _start_today
    from kapstone.monitoring.services import vitals_record

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

    def run(batches: int) -> tuple[float, list[float]]:
        nonlocal counter
        per_batch = []
        started = time.perf_counter()
        for _ in range(batches):
            session, nurse, _ = feeds[counter % len(feeds)]
            # Readings a little in the past, later than every earlier batch (a device's clock).
            at = timezone.now() - timedelta(seconds=args.sets + 1)
            t0 = time.perf_counter()
            vitals_record(
                actor=nurse, session=session, observations=_batch(at, args.sets, counter), source="bench"
            )
            per_batch.append(time.perf_counter() - t0)
            counter += 1
        return time.perf_counter() - started, per_batch

    run(30)  # warm-up (connections, caches, the first alert episodes)
    with CaptureQueriesContext(connection) as queries:
        run(1)
    obs_per_batch = args.sets * len(CODES)
    results = []
    for _ in range(3):
        elapsed, per_batch = run(args.batches)
        results.append((args.batches * obs_per_batch / elapsed, per_batch))
    rates = sorted(r for r, _ in results)
    all_batches = sorted(ms for _, per in results for ms in per)
    return {
        "backend": connection.vendor,
        "sessions": len(feeds),
        "history_obs_per_session": feeds[0][2],
        "obs_per_batch": obs_per_batch,
        "batches_per_run": args.batches,
        "obs_per_s_best": round(rates[-1]),
        "obs_per_s_median": round(statistics.median(rates)),
        "batch_ms_p50": round(1000 * all_batches[len(all_batches) // 2], 2),
        "batch_ms_p95": round(1000 * all_batches[int(len(all_batches) * 0.95)], 2),
        "queries_per_batch": len(queries.captured_queries),
    }


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--sets", type=int, default=1, help="readings of 6 vital signs per batch")
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--history", type=int, default=1800, help="observations per session beforehand")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)), flush=True)
        return 0
    failed = 0
    for backend in args.backends.split(","):
        # PYTHONPATH: measure the kapstone of this tree, whatever the virtualenv has installed.
        env = dict(
            os.environ, KAPSTONE_DEV="1", DJANGO_SETTINGS_MODULE="kapstone.settings", PYTHONPATH=str(ROOT)
        )
        if backend == "sqlite":
            SQLITE_PATH.unlink(missing_ok=True)
            env["KAPSTONE_DATABASE_URL"] = f"sqlite:///{SQLITE_PATH}"
        else:
            _pg_admin(f"DROP DATABASE IF EXISTS {DB_NAME}")
            _pg_admin(f"CREATE DATABASE {DB_NAME}")
            env["KAPSTONE_DATABASE_URL"] = f"{PG_SERVER}/{DB_NAME}"
        command = [
            sys.executable,
            __file__,
            "--worker",
            f"--sets={args.sets}",
            f"--batches={args.batches}",
            f"--history={args.history}",
        ]
        try:
            result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        finally:
            if backend == "sqlite":
                SQLITE_PATH.unlink(missing_ok=True)
            else:
                _pg_admin(f"DROP DATABASE IF EXISTS {DB_NAME}")
        if result.returncode != 0:
            failed += 1
            print(f"{backend}: failed\n{result.stderr[-3000:]}")
            continue
        print(result.stdout.strip().splitlines()[-1])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
