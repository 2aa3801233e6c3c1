"""HL7 v2 monitor messages through the MLLP listener into the database: messages per second, ACK
latency, and how many chairs one listener process serves, on SQLite and (``--postgres``) PostgreSQL.

Budget (DESIGN.md): state chairs per process; ≥ 1,000 messages/s.

Method. A database of its own per backend (SQLite file ``kapstone_bench_hl7.sqlite3`` in the
temporary directory; PostgreSQL database ``kapstone_bench_hl7``, or ``KAPSTONE_BENCH_DB``, on
``KAPSTONE_BENCH_PG``, default ``postgres://postgres@127.0.0.1:5432``, created here and dropped
afterwards: bench/_common.py), migrated, then
seeded through the services (``--seed`` below): one clinic ``hl7-bench`` with its monitor account
and ``--chairs`` patients each in a dosing session in progress (screened, enrolled on KARE,
checked in, day-of checks passed, a dose ordered, verified and started 10 minutes before, a
baseline set recorded). Then the real listener runs as a process of its own,
``kapstone hl7 listen --clinic hl7-bench --workers W``, and this script (asyncio, on the same
cores: its own CPU is part of the load) sends it the simulator's ORU^R01 messages
(kapstone/interop/hl7/simulator.py: 6 vital signs, normal values), each chair on its own
connection and about its own patient, each message waiting for its ACK:

- ``paced``: each of ``--levels`` chairs (default 50 and 200) sends one message every
  ``--interval`` s (default 5, a monitor's rate), from a random offset, for ``--duration`` s;
- ``flood``: ``--flood-connections`` chairs (default 16) send back to back, each message as soon as
  the previous one's ACK arrives, for ``--duration`` s: the listener's ceiling.

Each message is one ``receive_message`` call in the listener: the parse, the replay record, the
vitals ingest (plausibility, row lock on the session, 6 observations, alert evaluation, audit row)
in one transaction. Reported per run: messages, msgs/s, ACK latency p50/p95/p99 (ms, from the
write to the whole ACK read), errors (anything but ``MSA|AA``, a connection lost). "Chairs per
process" is the flood rate × ``--interval``: the chairs sending one message every interval that
one process keeps up with at its ceiling (the paced runs show the latency at a given number).

This needs the message handling (kapstone/interop/hl7/receive.py) and the ``monitor`` role.

Run: ``.venv/bin/python bench/bench_hl7.py [--postgres] [--only-postgres] [--levels 50,200]
[--duration 20] [--flood-connections 16] [--workers 4] [--interval 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, bench_env, database, db_name, run_checked, start_server, stop_server

sys.path.insert(0, str(ROOT))
DB_NAME = db_name("kapstone_bench_hl7")
SQLITE_PATH = Path(tempfile.gettempdir()) / "kapstone_bench_hl7.sqlite3"
CLINIC = "hl7-bench"
START_TIMEOUT_S = 120


# --- seeding (runs inside Django: ``bench_hl7.py --seed``) -------------------------------------


def seed(chairs: int) -> dict:
    """The clinic, its monitor account and ``chairs`` sessions in progress, through the services."""
    import django

    django.setup()
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from kapstone.accounts.models import Role
    from kapstone.accounts.services import clinic_get_or_create
    from kapstone.care.services import course_enrol, day_of_checks_record, session_transition
    from kapstone.inventory.services import location_create, lot_receive, product_create
    from kapstone.patients.services import clinic_today, consent_record
    from tests.care.conftest import first_dosing, screen
    from tests.care.test_sessions import SERVICE_INPUTS
    from tests.conftest import make_user, new_patient, record_liver_panel
    from tests.monitoring.conftest import start_dosing

    clinic = clinic_get_or_create(actor=None, name="HL7 Bench Clinic", slug=CLINIC, timezone_name="UTC")
    admin = make_user("hl7-bench-admin", clinic, Role.ADMIN)
    prescriber = make_user("hl7-bench-prescriber", clinic, Role.PRESCRIBER)
    make_user("hl7-bench-monitor", clinic, Role.MONITOR)
    location = location_create(actor=admin, clinic=clinic, name="Main safe")
    product = product_create(
        actor=admin, name="Ketamine HCl", ndc="00000-0070-10", strength_mg_per_ml="50", vial_volume_ml="10"
    )
    lot = lot_receive(
        actor=admin,
        clinic=clinic,
        location=location,
        product=product,
        lot_number="HL7-BENCH",
        expiry=clinic_today(clinic) + timedelta(days=200),
        amount_mg=Decimal(100 * chairs),
        received_at=timezone.now() - timedelta(days=1),
    )
    mrns = []
    for chair in range(chairs):
        if chair % 5 == 0:
            nurse = make_user(f"hl7-bench-nurse-{chair // 5}", clinic, Role.NURSE)
        mrn = f"H-{chair:04d}"
        person = new_patient(prescriber, clinic, mrn=mrn, family_name=f"Chairside{chair:04d}")
        consent_record(
            actor=prescriber,
            patient=person,
            kind="treatment",
            status="granted",
            effective_on=clinic_today(clinic) - timedelta(days=30),
            document_version="2026-01",
        )
        screen(prescriber, person)
        course = course_enrol(
            actor=prescriber,
            patient=person,
            protocol_slug="kare-alcohol-grabski-2022",
            start_date=clinic_today(clinic) - timedelta(days=7),
        )
        session = first_dosing(course)
        record_liver_panel(nurse, person)
        session.scheduled_date = clinic_today(clinic)
        session.save(update_fields=["scheduled_date"])
        arrived = timezone.now() - timedelta(hours=1)
        session = session_transition(actor=nurse, session=session, to="checked_in", at=arrived)
        day_of_checks_record(actor=nurse, session=session, inputs=SERVICE_INPUTS, at=arrived)
        session.refresh_from_db()
        start_dosing(prescriber=prescriber, nurse=nurse, session=session, lot=lot, minutes_ago=10)
        mrns.append(mrn)
    return {"mrns": mrns}


# --- load ----------------------------------------------------------------------------------------


class Results:
    def __init__(self) -> None:
        self.latency_ms: list[float] = []
        self.errors: dict[str, int] = {}

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


async def chair(port: int, mrn: str, *, interval_s: float, start_s: float, stop_at: float, results: Results):
    """One monitor: its own connection, a message every ``interval_s`` (0: back to back)."""
    from kapstone.interop.hl7.mllp import AsyncMLLPClient
    from kapstone.interop.hl7.simulator import MonitorFeed, ack_summary

    await asyncio.sleep(start_s)
    feed = MonitorFeed(mrn, count=100_000, seed=int(mrn.rsplit("-", 1)[-1]), chair=f"CHAIR-{mrn}")
    try:
        client = await AsyncMLLPClient.connect("127.0.0.1", port)
    except OSError as error:
        results.error(f"connect: {type(error).__name__}")
        return
    try:
        next_at = time.monotonic()
        for message in feed.stream():
            if time.monotonic() >= stop_at:
                break
            t0 = time.perf_counter()
            try:
                ack = await client.send(message)
            except (OSError, ConnectionError) as error:
                results.error(f"lost: {type(error).__name__}")
                return
            results.latency_ms.append(1000 * (time.perf_counter() - t0))
            code, _, errors = ack_summary(ack)
            if code != "AA" or errors:
                results.error(f"{code} {' '.join(errors)}".strip())
            if interval_s:
                next_at += interval_s
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        await client.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


async def run_load(port: int, mrns: list[str], *, interval_s: float, duration_s: float, seed: int) -> dict:
    rng = random.Random(seed)
    results = Results()
    started = time.monotonic()
    stop_at = started + duration_s + (interval_s or 0)
    await asyncio.gather(
        *(
            chair(
                port,
                mrn,
                interval_s=interval_s,
                start_s=rng.uniform(0, interval_s) if interval_s else 0,
                stop_at=stop_at,
                results=results,
            )
            for mrn in mrns
        )
    )
    elapsed = time.monotonic() - started
    count = len(results.latency_ms)
    return {
        "chairs": len(mrns),
        "interval_s": interval_s,
        "seconds": round(elapsed, 1),
        "messages": count,
        "msgs_per_s": round(count / elapsed, 1),
        "ack_ms_p50": round(percentile(results.latency_ms, 0.50), 1),
        "ack_ms_p95": round(percentile(results.latency_ms, 0.95), 1),
        "ack_ms_p99": round(percentile(results.latency_ms, 0.99), 1),
        "errors": results.errors,
    }


# --- one backend -----------------------------------------------------------------------------------


def start_listener(env: dict, workers: int, log: Path) -> tuple[subprocess.Popen, int]:
    listener = start_server(
        ["-m", "kapstone", "hl7", "listen", "--port", "0", "--clinic", CLINIC, "--workers", str(workers)],
        env,
        log,
        stdout=subprocess.PIPE,
    )
    line = listener.stdout.readline()
    if "listener on" not in line:
        listener.kill()
        raise RuntimeError(f"the listener did not start:\n{log.read_text()[-3000:]}")
    port = int(line.split("listener on ")[1].split()[0].rsplit(":", 1)[1])
    return listener, port


def stop_listener(listener: subprocess.Popen) -> dict:
    code = stop_server(listener, timeout=60)
    return {"exit_status": code, "last_line": (listener.stdout.read().strip().splitlines() or [""])[-1]}


def bench_backend(backend: str, args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="kapstone-bench-hl7-"))
    levels = [int(n) for n in args.levels.split(",") if n]
    chairs = max([*levels, args.flood_connections])
    keep = args.keep and backend != "sqlite"  # --keep keeps the PostgreSQL database only
    with database(backend, sqlite_path=SQLITE_PATH, pg_name=DB_NAME, keep=keep, force=True) as url:
        env = bench_env(
            clean=True,
            KAPSTONE_LOG_LEVEL="ERROR",
            KAPSTONE_AUDIT_CHECKPOINT_FILE=str(workdir / "audit-checkpoints.log"),
            KAPSTONE_DATABASE_URL=url,
        )
        t0 = time.monotonic()
        run_checked([sys.executable, "-m", "kapstone", "migrate", "--noinput", "-v", "0"], env, 900)
        seeded = json.loads(
            run_checked([sys.executable, __file__, "--seed", f"--chairs={chairs}"], env, 3600)
            .strip()
            .splitlines()[-1]
        )
        result: dict = {
            "backend": backend,
            "workers": args.workers,
            "setup_s": round(time.monotonic() - t0, 1),
        }
        listener, port = start_listener(env, args.workers, workdir / "listener.log")
        try:
            mrns = seeded["mrns"]
            # Warm-up (not measured): connections, caches, each session's first alert evaluation.
            asyncio.run(run_load(port, mrns[: args.flood_connections], interval_s=0, duration_s=3, seed=0))
            result["flood"] = asyncio.run(
                run_load(port, mrns[: args.flood_connections], interval_s=0, duration_s=args.duration, seed=1)
            )
            result["paced"] = [
                asyncio.run(
                    run_load(port, mrns[:n], interval_s=args.interval, duration_s=args.duration, seed=2 + i)
                )
                for i, n in enumerate(levels)
            ]
        finally:
            result["stop"] = stop_listener(listener)
        result["chairs_per_process"] = int(result["flood"]["msgs_per_s"] * args.interval)
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL as well as SQLite")
    parser.add_argument("--only-postgres", action="store_true", help="PostgreSQL alone")
    parser.add_argument("--levels", default="50,200", help="chairs sending every --interval s, run in turn")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between a chair's messages")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load per run")
    parser.add_argument("--flood-connections", type=int, default=16, help="chairs sending back to back")
    parser.add_argument("--workers", type=int, default=4, help="the listener's --workers")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    parser.add_argument("--seed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--chairs", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed:
        print(json.dumps(seed(args.chairs)), flush=True)
        return 0
    backends = ["postgres"] if args.only_postgres else ["sqlite"] + (["postgres"] if args.postgres else [])
    failed = 0
    for backend in backends:
        try:
            print(json.dumps(bench_backend(backend, args)), flush=True)
        except RuntimeError as error:
            failed += 1
            print(f"{backend}: failed\n{error}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
