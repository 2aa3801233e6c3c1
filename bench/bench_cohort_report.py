"""The whole cohort report from the database for 100,000 synthetic patients, on SQLite and on
PostgreSQL: cohort assembly (courses, last given dosing, the grouped calendar/test aggregate)
plus every statistic the report view computes (rates, Kaplan–Meier, log-rank, Cox), timed with
peak memory.

Run: ``.venv/bin/python bench/bench_cohort_report.py [--patients N] [--backends sqlite,postgresql]
[--keep]``. Each backend runs in its own process (Django settings are per process):

* SQLite: a fresh file ``var/bench-cohort-report.sqlite3``;
* PostgreSQL: a database ``kapstone_bench_cohort`` created on ``postgres@127.0.0.1:5432`` (or
  ``KAPSTONE_BENCH_PG``) and dropped afterwards (``--keep`` keeps both).

Data (seed 20261128, build time reported separately and not counted): one clinic, a researcher;
N patients (half men), each with one course of the Dakwar 2020 alcohol protocol (outcome window
course days 9–29, acute phase to day 35, relapse = first heavy drinking day), arms "ketamine" and
"control" alternating, started 60–700 days ago; one discharged dosing session per course (a
fifth given 1–5 days late, which moves the anchor); a TLFB calendar per patient: the 21 window
days (15 % of patients with a third of them missing, 10 % with a drinking day), then after the
acute phase daily until the first heavy day (exponential, median 25 days for ketamine and 15 for
control) or censoring (uniform 0–28 days): about 33 rows per patient, 3.3 million in all; a
confirmed EtG for one patient in five. A re-entered day for one patient in fifty.

Measured: ``cohort_report_for_user`` as the researcher (the report view's whole computation,
with its audit row), split into assembly and statistics, in three cases (``measure``): cold (no
stored outcome summary), warm (best of 3), and after one new calendar day for 1 % of the
patients; peak Python memory with ``tracemalloc`` over one more warm run; the process's peak RSS
(``ru_maxrss``) after the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
import tracemalloc
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQLITE_PATH = ROOT / "var" / "bench-cohort-report.sqlite3"
PG_SERVER = os.environ.get("KAPSTONE_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PG_NAME = "kapstone_bench_cohort"
PROTOCOL = "ketamine-met-alcohol-dakwar-2020"
SEED = 20261128


def _setup(url: str) -> None:
    os.environ["KAPSTONE_DATABASE_URL"] = url
    os.environ.setdefault("KAPSTONE_DEV", "1")  # a throwaway secret key; no real data here
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kapstone.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def build(n: int) -> dict:
    """Fill an empty, migrated database; returns the researcher and the clinic's today."""
    from django.db import transaction
    from django.utils import timezone

    from kapstone.accounts.models import Clinic, Membership, Role, User
    from kapstone.care.models import CareSession, TreatmentCourse
    from kapstone.care.services import _dose_json
    from kapstone.domain.protocols import get_protocol, protocol_to_dict
    from kapstone.outcomes.models import ToxicologyTest, UseDay
    from kapstone.patients.models import Patient
    from kapstone.screening.models import Screening

    rng = random.Random(SEED)
    now = timezone.now()
    today = timezone.localdate()
    protocol = get_protocol(PROTOCOL)
    data = protocol_to_dict(protocol)
    last_dosing = max(protocol.dosing_sessions, key=lambda s: s.day_offset)
    planned = last_dosing.day_offset
    dose_rule = _dose_json(last_dosing.dose)
    clinic = Clinic.objects.create(name="Bench clinic", slug="bench")
    staff = User.objects.create_user(username="bench-staff", password=None)
    researcher = User.objects.create_user(username="bench-researcher", password=None)
    Membership.objects.create(user=staff, clinic=clinic, role=Role.PRESCRIBER)
    Membership.objects.create(user=researcher, clinic=clinic, role=Role.RESEARCHER)
    batch = 5000
    with transaction.atomic():
        patients = Patient.objects.bulk_create(
            [
                Patient(
                    clinic=clinic,
                    mrn=f"B-{i:06d}",
                    given_name="Bench",
                    family_name=f"Patient{i:06d}",
                    birth_date=date(1960 + i % 40, 1 + i % 12, 1 + i % 28),
                    sex_at_birth="male" if i % 2 else "female",
                    created_at=now,
                    created_by=staff,
                    updated_at=now,
                )
                for i in range(n)
            ],
            batch_size=batch,
        )
        screening = Screening.objects.create(
            patient=patients[0],
            answers={},
            decision="eligible",
            rules_version="bench",
            entered_by=staff,
            entered_at=now,
        )
        starts = [today - timedelta(days=rng.randint(60, 700)) for _ in range(n)]
        courses = TreatmentCourse.objects.bulk_create(
            [
                TreatmentCourse(
                    patient=p,
                    clinic=clinic,
                    protocol_slug=protocol.slug,
                    protocol_version=protocol.version,
                    protocol_title=protocol.title,
                    protocol_data=data,
                    start_date=start,
                    arm="ketamine" if i % 2 == 0 else "control",
                    status="completed",
                    screening=screening,
                    enrolled_by=staff,
                    enrolled_at=now,
                )
                for i, (p, start) in enumerate(zip(patients, starts, strict=True))
            ],
            batch_size=batch,
        )
        CareSession.objects.bulk_create(
            [
                CareSession(
                    course=c,
                    patient_id=c.patient_id,
                    clinic=clinic,
                    order=1,
                    kind="dosing",
                    title="Dosing",
                    scheduled_date=c.start_date
                    + timedelta(days=planned + (rng.randint(1, 5) if i % 5 == 0 else 0)),
                    duration_min=120,
                    status="discharged",
                    dose_rule=dose_rule,
                )
                for i, c in enumerate(courses)
            ],
            batch_size=batch,
        )
    outcome = protocol.outcome
    window = range(outcome.window_ends_day - outcome.window_days + 1, outcome.window_ends_day + 1)
    acute_end = outcome.acute_phase_end_day
    use_rows: list[UseDay] = []
    tests: list[ToxicologyTest] = []
    rows_written = 0

    def flush() -> None:
        nonlocal rows_written
        with transaction.atomic():
            UseDay.objects.bulk_create(use_rows, batch_size=batch)
        rows_written += len(use_rows)
        use_rows.clear()

    for i, course in enumerate(courses):
        start = course.start_date
        male = i % 2 == 1
        heavy = Decimal(5 if male else 4)

        def day(offset: int, drinks: Decimal, *, at=now, course=course, start=start) -> None:
            use_rows.append(
                UseDay(
                    patient_id=course.patient_id,
                    substance="alcohol",
                    day=start + timedelta(days=offset),
                    used=drinks > 0,
                    standard_drinks=drinks,
                    entered_by=staff,
                    entered_at=at,
                )
            )

        gaps = rng.random() < 0.15
        drinker = rng.random() < 0.10
        for offset in window:
            if gaps and rng.random() < 0.33:
                continue
            day(offset, Decimal(2) if drinker and rng.random() < 0.2 else Decimal(0))
        median = 25 if course.arm == "ketamine" else 15
        relapse = 1 + int(rng.expovariate(0.6931 / median))
        censor = rng.randint(0, 28)
        for offset in range(1, min(relapse, censor) + 1):
            day(acute_end + offset, heavy if offset == relapse else Decimal(0))
        if rng.random() < 0.02:
            day(window[0], Decimal(1), at=now + timedelta(hours=1))  # a re-entered day
        if rng.random() < 0.2:
            tests.append(
                ToxicologyTest(
                    patient_id=course.patient_id,
                    collected_on=start + timedelta(days=rng.choice(list(window))),
                    substance="alcohol",
                    method="etg",
                    result="positive" if rng.random() < 0.3 else "negative",
                    confirmed=True,
                    entered_by=staff,
                    entered_at=now,
                )
            )
        if len(use_rows) >= 50_000:
            flush()
    flush()
    with transaction.atomic():
        ToxicologyTest.objects.bulk_create(tests, batch_size=batch)
    return {"researcher": researcher, "today": today, "use_days": rows_written, "tests": len(tests)}


def measure(researcher, today: date) -> dict:
    """Three cases: cold (no outcome summary stored: the first report after a bulk load, which
    computes and stores every course's summary from the calendar), warm (best of 3: summaries
    current), and after changes (one new calendar day for 1 % of the patients, so their
    summaries are stale and recomputed by the report)."""
    from django.utils import timezone

    from kapstone.outcomes.models import UseDay
    from kapstone.research import selectors
    from kapstone.research.models import CourseOutcomeSummary

    filters = selectors.CohortFilter(group_by="arm")
    assemble = selectors.cohort_assemble
    spent: list[tuple[float, int]] = []

    def timed_assemble(**kwargs):
        start = time.perf_counter()
        cohort = assemble(**kwargs)
        spent.append((time.perf_counter() - start, cohort.recomputed))
        return cohort

    # The report's own call of the assembly is timed, so one run gives both halves.
    selectors.cohort_assemble = timed_assemble

    def once() -> dict:
        spent.clear()
        start = time.perf_counter()
        report = selectors.cohort_report_for_user(user=researcher, filters=filters, today=today)
        total = time.perf_counter() - start
        assert report.km_figure is not None and report.cox is not None
        assembly, recomputed = spent[0]
        return {
            "report_s": total,
            "assembly_s": assembly,
            "statistics_s": total - assembly,
            "recomputed": recomputed,
        }

    try:
        CourseOutcomeSummary.objects.all().delete()
        cold = once()
        runs = [once() for _ in range(3)]
        warm = min(runs, key=lambda r: r["report_s"])
        tracemalloc.start()
        selectors.cohort_report_for_user(user=researcher, filters=filters, today=today)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        # One new (dry) calendar day, yesterday, for every hundredth patient.
        staff_id = UseDay.objects.values_list("entered_by_id", flat=True).first()
        now = timezone.now()
        patients = list(UseDay.objects.values_list("patient_id", flat=True).distinct().order_by("patient_id"))
        UseDay.objects.bulk_create(
            [
                UseDay(
                    patient_id=patient_id,
                    substance="alcohol",
                    day=today - timedelta(days=1),
                    used=False,
                    standard_drinks=Decimal(0),
                    entered_by_id=staff_id,
                    entered_at=now,
                )
                for patient_id in patients[::100]
            ],
            batch_size=5000,
        )
        changed = once()
    finally:
        selectors.cohort_assemble = assemble
    result = {f"cold_{k}": v for k, v in cold.items()}
    result |= {f"warm_{k}": v for k, v in warm.items()}
    result |= {f"changed_{k}": v for k, v in changed.items()}
    result["warm_peak_python_mib"] = peak / 2**20
    return result


def _reused(n: int) -> dict | None:
    """A database kept by an earlier ``--keep`` run with ``n`` patients, to measure again."""
    from django.utils import timezone

    from kapstone.accounts.models import User
    from kapstone.outcomes.models import ToxicologyTest, UseDay
    from kapstone.patients.models import Patient

    researcher = User.objects.filter(username="bench-researcher").first()
    if researcher is None or Patient.objects.count() != n:
        return None
    return {
        "researcher": researcher,
        "today": timezone.localdate(),
        "use_days": UseDay.objects.count(),
        "tests": ToxicologyTest.objects.count(),
    }


def run_backend(backend: str, n: int, keep: bool, reuse: bool = False) -> dict:
    if backend == "sqlite":
        SQLITE_PATH.parent.mkdir(exist_ok=True)
        if not reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(str(SQLITE_PATH) + suffix).unlink(missing_ok=True)
        url = f"sqlite:///{SQLITE_PATH.relative_to(ROOT)}"
    else:
        import psycopg

        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PG_NAME]).fetchone()
            if not (reuse and exists):
                conn.execute(f"DROP DATABASE IF EXISTS {PG_NAME}")
                conn.execute(f"CREATE DATABASE {PG_NAME}")
        url = f"{PG_SERVER}/{PG_NAME}"
    try:
        _setup(url)
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0)
        start = time.perf_counter()
        built = _reused(n) if reuse else None
        if built is None:
            built = build(n)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            build_s = time.perf_counter() - start
        else:
            build_s = float("nan")  # reused: not built in this run
        result = measure(built["researcher"], built["today"])
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        connection.close()
        return {
            "backend": backend,
            "patients": n,
            "use_day_rows": built["use_days"],
            "toxicology_rows": built["tests"],
            "build_s": round(build_s, 1),
            **{k: round(v, 3) for k, v in result.items()},
            "peak_rss_mib": round(rss, 1),
        }
    finally:
        if not keep:
            if backend == "sqlite":
                for suffix in ("", "-wal", "-shm"):
                    Path(str(SQLITE_PATH) + suffix).unlink(missing_ok=True)
            else:
                import psycopg

                with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
                    conn.execute(f"DROP DATABASE IF EXISTS {PG_NAME} WITH (FORCE)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure a database kept by --keep")
    parser.add_argument("--one", choices=("sqlite", "postgresql"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_backend(args.one, args.patients, args.keep or args.reuse, args.reuse)))
        return 0
    failed = 0
    for backend in args.backends.split(","):
        command = [sys.executable, __file__, "--one", backend, "--patients", str(args.patients)]
        command += ["--keep"] * args.keep + ["--reuse"] * args.reuse
        result = subprocess.run(command, check=False, capture_output=True, text=True)
        if result.returncode:
            failed += 1
            print(result.stderr, file=sys.stderr)
            continue
        print(json.dumps(json.loads(result.stdout.strip().splitlines()[-1]), indent=1), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
