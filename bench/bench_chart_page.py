"""The patient chart page and the dosing session page, server-side, in a database of 100,000
patients and 10 million vital signs, on SQLite and PostgreSQL.

Budget (DESIGN.md): patient chart page p95 < 100 ms at 100k patients and 10M vitals.

Build (timed and reported apart, never counted in the page times):

1. ``migrate`` and the demo (``seed_demo(patients_per_clinic=6, follow_up_per_protocol=1)``): two
   clinics, their staff, protocols, lots, and patients at every stage with every row a chart or
   session page reads (measurements, diagnoses, consents, liver tests, screenings, courses,
   sessions and their events, day-of checks, notes, orders, administrations, rate events,
   observations, alerts, scales, discharges, adverse events, questionnaires, use calendars,
   toxicology, follow-ups).
2. Bulk clones of the demo's patients up to ``--patients``: a fraction ``--active-fraction``
   (default 10 %) cloned from the demo patients whose dosing sessions are all discharged (with
   their whole record: ~1,000 rows each, a use calendar of ~400 days among them), the rest from
   the demo patients not (yet) in treatment (referral, intake, screening: ~10 rows each). Every
   row of every app from ``patients`` to ``outcomes`` that hangs off the patient is copied with
   new ids and its foreign keys remapped (portal accounts, referrals, inventory and audit rows are
   not cloned: they are unique per person or belong to the clinic). Names and MRNs are synthetic.
3. Vital signs up to ``--vitals`` in all: the cloned sessions keep the demo's manual charting
   (a set every 5–15 min, ~60–100 values a session); the rest goes to one cloned dosing session
   in ten (``--heavy-fraction``) as a bedside monitor's feed (6 values per set, sets evenly spread
   from 10 min before dosing to the end of the session, one abnormal set (SpO2 88 %, systolic
   168) in 400) — at the full size about 5,000 values in each of those sessions.

Loading: PostgreSQL ``COPY … FROM STDIN`` through psycopg (one COPY per table and chunk, ids
given, sequences reset after); SQLite ``executemany`` in transactions of 200,000 rows with
``synchronous=OFF``, ``journal_mode=MEMORY``, a 1 GB page cache and foreign-key checks off while
loading (rows are written parents first). Then ``ANALYZE``.

Measured (in-process, Django's test ``Client`` through the whole middleware stack, signed in as
the clinic's nurse with the second factor verified, after a warm-up of 20 requests of each kind):
``GET /patients/<id>/`` for ``--samples`` patients (half with a course, half without), the session
page ``GET /sessions/<id>/`` for ``--samples`` dosing sessions (half charted by hand, half
monitor-fed), and ``GET /health`` (one ``SELECT 1``, the trivial view on the same stack) as many
times. p50/p95/p99 per kind (wall time, and this process's CPU time per page: less moved by other
work on a shared machine) and the ratio of each page's p50 and p95 to the trivial view's p50; the
queries per page (min and max over 20 pages of each kind, ``CaptureQueriesContext``).

Run: ``.venv/bin/python bench/bench_chart_page.py [--backends sqlite,postgres] [--patients 100000]
[--vitals 10000000] [--samples 200] [--keep] [--reuse]``. The full size is the default (a long
build: see docs/benchmarks.md); ``make bench`` runs it at 10,000 patients and 1 million vitals.
Databases: SQLite ``var/bench-chart-page.sqlite3``; PostgreSQL ``kap_chartbench`` on
``KAPSTONE_BENCH_PG`` (default ``postgres://postgres@127.0.0.1:5432``), created and dropped here.
``--keep`` keeps the database afterwards; ``--reuse`` measures a kept one again without building
(after ``migrate``, so a new index is applied).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal

from _common import ROOT, backends, bench_env, database, db_name

SQLITE_PATH = ROOT / "var" / "bench-chart-page.sqlite3"
PG_NAME = db_name("kap_chartbench")
SEED = 20261206
#: Apps whose patient rows are cloned (apps above ``portal`` and the clinic-wide ones are not).
CLONED_APPS = ("patients", "screening", "care", "dosing", "monitoring", "safety", "outcomes")
#: Rows not cloned: shared by a clinic, or kept by a database trigger (CalendarVersion).
NOT_CLONED = {
    "patients.ConsentDocument",
    "care.ProtocolClone",
    "care.GroupSession",
    "outcomes.CalendarVersion",
    "outcomes.CssrsTaskSetting",
}
CHUNK = 200_000
MONITOR_CODES = (
    ("systolic_bp", "118", "168"),
    ("diastolic_bp", "76", "96"),
    ("heart_rate", "72", "118"),
    ("spo2", "97", "88"),
    ("respiratory_rate", "14", "9"),
    ("temperature", "36.8", "36.9"),
)


def _setup() -> None:
    os.environ.setdefault("KAPSTONE_DEV", "1")  # a throwaway secret key; no real data here
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kapstone.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# --------------------------------------------------------------------------- loading


class Loader:
    """Writes rows (tuples of database-ready values) into one table, by engine."""

    def __init__(self, connection):
        self.connection = connection
        self.vendor = connection.vendor
        self.rows = 0

    def write(self, model, columns: list[str], rows) -> None:
        table = model._meta.db_table
        quoted = ", ".join(self.connection.ops.quote_name(c) for c in columns)
        if self.vendor == "postgresql":
            buffer = []
            for row in rows:
                buffer.append(row)
                if len(buffer) >= CHUNK:
                    self._copy(table, quoted, buffer)
                    buffer = []
            if buffer:
                self._copy(table, quoted, buffer)
        else:
            marks = ", ".join("?" * len(columns))
            # Names from the models' own metadata, values as parameters: no input reaches the SQL.
            sql = f"INSERT INTO {self.connection.ops.quote_name(table)} ({quoted}) VALUES ({marks})"  # noqa: S608
            buffer = []
            raw = self.connection.connection
            for row in rows:
                buffer.append(row)
                if len(buffer) >= CHUNK:
                    raw.executemany(sql, buffer)
                    raw.commit()
                    self.rows += len(buffer)
                    buffer = []
            if buffer:
                raw.executemany(sql, buffer)
                raw.commit()
                self.rows += len(buffer)

    def _copy(self, table: str, quoted: str, rows: list) -> None:
        raw = self.connection.connection
        with raw.cursor() as cursor, cursor.copy(f'COPY "{table}" ({quoted}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
        raw.commit()
        self.rows += len(rows)


def _prep(field, value, connection):
    """A template row's value ready for the engine's loader (done once per template row)."""
    from django.core.serializers.json import DjangoJSONEncoder
    from django.db.models import JSONField

    if value is None:
        return None
    if isinstance(field, JSONField):
        return json.dumps(value, cls=field.encoder or DjangoJSONEncoder)
    if connection.vendor == "postgresql":
        return value
    prepped = field.get_db_prep_save(value, connection)
    if isinstance(prepped, Decimal):
        return str(prepped)
    return prepped


def _cloned_models():
    from django.apps import apps

    models = [
        m
        for m in apps.get_models()
        if m._meta.app_label in CLONED_APPS and m._meta.label not in NOT_CLONED and not m._meta.proxy
    ]
    # Parents first (SQLite checks nothing while loading, but the order keeps the rows sound).
    ordered, seen = [], set()

    def visit(model, stack=()):
        if model in seen or model in stack:
            return
        for field in model._meta.concrete_fields:
            if field.is_relation and field.related_model in models and field.related_model is not model:
                visit(field.related_model, (*stack, model))
        seen.add(model)
        ordered.append(model)

    for model in models:
        visit(model)
    return ordered


def _template_rows(models, patient_id: int, connection) -> dict:
    """Every row of ``models`` that hangs off the patient (transitively), prepped, by model."""
    from kapstone.patients.models import Patient

    owned: dict = {Patient: [patient_id]}
    changed = True
    while changed:
        changed = False
        for model in models:
            if model is Patient:
                continue
            found = set(owned.get(model, []))
            for field in model._meta.concrete_fields:
                if field.is_relation and field.related_model in owned and owned[field.related_model]:
                    found |= set(
                        model.objects.filter(
                            **{f"{field.attname}__in": owned[field.related_model]}
                        ).values_list("pk", flat=True)
                    )
            if found != set(owned.get(model, [])):
                owned[model] = sorted(found)
                changed = True
    rows = {}
    for model in models:
        ids = owned.get(model) or []
        if not ids:
            continue
        fields = model._meta.concrete_fields
        values = model.objects.filter(pk__in=ids).order_by("pk").values_list(*[f.attname for f in fields])
        rows[model] = [
            tuple(_prep(f, v, connection) for f, v in zip(fields, row, strict=True)) for row in values
        ]
    return rows


def build(args) -> dict:
    from django.core.management import call_command
    from django.core.management.color import no_style
    from django.db import connection
    from django.utils import timezone

    from kapstone.care.models import CareSession
    from kapstone.demo.seed import seed_demo
    from kapstone.domain.monitoring import OBSERVATION_DEFINITIONS
    from kapstone.dosing.models import Administration
    from kapstone.monitoring.models import Observation
    from kapstone.patients.models import Patient

    timings = {}
    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    seed_demo(patients_per_clinic=6, follow_up_per_protocol=1)
    timings["demo_s"] = round(time.perf_counter() - t0, 1)

    t0 = time.perf_counter()
    today = timezone.localdate()
    live = ("checked_in", "cleared", "in_progress", "recovering")
    active, waiting = [], []
    for patient in Patient.objects.order_by("pk"):
        sessions = list(CareSession.objects.filter(patient=patient))
        if any(s.status in live or s.scheduled_date == today for s in sessions):
            continue  # a session in progress today would crowd the board: not a template
        if any(s.kind == "dosing" and s.status == "discharged" for s in sessions):
            active.append(patient.pk)
        elif not sessions:
            waiting.append(patient.pk)
    models = _cloned_models()
    templates = {pk: _template_rows(models, pk, connection) for pk in active + waiting}
    demo_patients = Patient.objects.count()
    to_clone = max(0, args.patients - demo_patients)
    n_active = round(to_clone * args.active_fraction)
    plan = [active[i % len(active)] for i in range(n_active)] + [
        waiting[i % len(waiting)] for i in range(to_clone - n_active)
    ]
    clones_of = {pk: [] for pk in templates}
    for index, pk in enumerate(plan):
        clones_of[pk].append(index)
    # Ids: per model, a block per template of (clones × template rows), in template order.
    base = {m: (m.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1 for m in models}
    offset, position = {}, {}
    for model in models:
        running = base[model]
        for pk, rows in templates.items():
            offset[(model, pk)] = running
            running += len(clones_of[pk]) * len(rows.get(model, []))
            position[(model, pk)] = {row[0]: i for i, row in enumerate(rows.get(model, []))}

    loader = Loader(connection)
    _loading(connection, on=True)
    heavy_sessions = []  # (session id, patient id, clinic id, nurse id, first set, last set)
    for model in models:
        fields = model._meta.concrete_fields
        columns = [f.column for f in fields]
        remap = [
            (i, f.related_model) for i, f in enumerate(fields) if f.is_relation and f.related_model in models
        ]
        is_patient = model is Patient
        mrn = [f.attname for f in fields].index("mrn") if is_patient else None
        names = (
            (
                [f.attname for f in fields].index("given_name"),
                [f.attname for f in fields].index("family_name"),
            )
            if is_patient
            else None
        )

        def rows_of(model=model, remap=remap, mrn=mrn, names=names):
            for pk, rows in templates.items():
                n = len(rows.get(model, []))
                if not n:
                    continue
                for j, clone in enumerate(clones_of[pk]):
                    for i, row in enumerate(rows[model]):
                        new = list(row)
                        new[0] = offset[(model, pk)] + j * n + i
                        for column, target in remap:
                            old = row[column]
                            where = position[(target, pk)].get(old) if old is not None else None
                            if where is not None:
                                new[column] = offset[(target, pk)] + j * len(templates[pk][target]) + where
                        if mrn is not None:
                            new[mrn] = f"BENCH-{clone:07d}"
                            new[names[0]] = "Bench"
                            new[names[1]] = f"Patient {clone}"
                        yield new

        loader.write(model, columns, rows_of())
    timings["clone_rows"] = loader.rows

    # The monitor-fed sessions: one cloned discharged dosing session in ``1 / heavy_fraction``.
    cloned_obs = Observation.objects.count()
    session_rows = {}
    for pk, rows in templates.items():
        if CareSession not in rows or not clones_of[pk]:
            continue
        fields = [f.attname for f in CareSession._meta.concrete_fields]
        kind, status = fields.index("kind"), fields.index("status")
        for i, row in enumerate(rows[CareSession]):
            if row[kind] != "dosing" or row[status] != "discharged":
                continue
            template_session = CareSession.objects.get(pk=row[0])
            administration = Administration.objects.filter(order__session=template_session).first()
            if administration is None or administration.ended_at is None:
                continue
            first = administration.started_at - timedelta(minutes=10)
            last = administration.ended_at + timedelta(minutes=60)
            nurse = administration.started_by_id
            n = len(rows[CareSession])
            for j in range(len(clones_of[pk])):
                session_rows[offset[(CareSession, pk)] + j * n + i] = (
                    offset[(Patient, pk)] + j,
                    template_session.clinic_id,
                    nurse,
                    first,
                    last,
                )
    ordered_sessions = sorted(session_rows)
    stride = max(1, round(1 / args.heavy_fraction)) if args.heavy_fraction > 0 else 0
    chosen = ordered_sessions[::stride] if stride else []
    remaining = max(0, args.vitals - cloned_obs)
    per_session_sets = (remaining // len(MONITOR_CODES) // len(chosen)) if chosen else 0
    obs_fields = Observation._meta.concrete_fields
    obs_columns = [f.column for f in obs_fields]
    next_id = (Observation.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    datetime_field = Observation._meta.get_field("observed_at")
    loinc = {code: OBSERVATION_DEFINITIONS[code].loinc or "" for code, _, _ in MONITOR_CODES}
    unit = {code: OBSERVATION_DEFINITIONS[code].unit_ucum for code, _, _ in MONITOR_CODES}

    def when(value):
        return (
            value if connection.vendor == "postgresql" else datetime_field.get_db_prep_save(value, connection)
        )

    def monitor_rows():
        nonlocal next_id
        for session_id in chosen:
            patient_id, clinic_id, nurse, first, last = session_rows[session_id]
            step = (last - first) / max(per_session_sets, 1)
            heavy_sessions.append(session_id)
            for s in range(per_session_sets):
                at = when(first + step * s + timedelta(microseconds=1))  # never on a manual set's time
                abnormal = s % 400 == 199
                for code, normal, high in MONITOR_CODES:
                    value = high if abnormal else normal
                    yield (
                        next_id, session_id, patient_id, clinic_id, code, loinc[code],
                        value,
                        unit[code], at, "bench-monitor", nurse, at, None, None, "",
                    )  # fmt: skip
                    next_id += 1

    assert [f.attname for f in obs_fields] == [
        "id", "session_id", "patient_id", "clinic_id", "code", "loinc", "value", "unit", "observed_at",
        "source", "entered_by_id", "entered_at", "voided_by_id", "voided_at", "void_reason",
    ]  # fmt: skip
    loader.write(Observation, obs_columns, monitor_rows())
    _loading(connection, on=False)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), [*models, Observation]):
                cursor.execute(sql)
    timings["load_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    timings["analyze_s"] = round(time.perf_counter() - t0, 1)
    timings["heavy_sessions"] = len(heavy_sessions)
    timings["values_per_heavy_session"] = per_session_sets * len(MONITOR_CODES)
    return timings


def _loading(connection, *, on: bool) -> None:
    if connection.vendor != "sqlite":
        return
    connection.ensure_connection()
    raw = connection.connection
    raw.commit()
    if on:
        raw.execute("PRAGMA foreign_keys=OFF")
        raw.execute("PRAGMA synchronous=OFF")
        raw.execute("PRAGMA journal_mode=MEMORY")
        raw.execute("PRAGMA cache_size=-1000000")
        raw.execute("PRAGMA temp_store=MEMORY")
    else:
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=NORMAL")
        raw.execute("PRAGMA foreign_keys=ON")


# --------------------------------------------------------------------------- measuring


def _percentiles(values: list[float]) -> dict:
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"n": len(ordered), "p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99)}


def measure(args) -> dict:
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from kapstone.accounts.models import Membership, Role
    from kapstone.care.models import CareSession
    from kapstone.monitoring.models import Observation
    from kapstone.patients.models import Patient

    rng = random.Random(SEED)
    clients = {}
    for membership in Membership.objects.filter(role=Role.NURSE, is_active=True).select_related("user"):
        if membership.clinic_id in clients:
            continue
        client = Client(HTTP_HOST="127.0.0.1")  # an allowed host of the development settings
        client.force_login(membership.user)
        device, _ = TOTPDevice.objects.get_or_create(
            user=membership.user, name="bench", defaults={"confirmed": True}
        )
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
        clients[membership.clinic_id] = client

    bench_patients = Patient.objects.filter(mrn__startswith="BENCH-")
    with_course = list(bench_patients.filter(courses__isnull=False).distinct().values_list("pk", "clinic_id"))
    without = list(bench_patients.filter(courses__isnull=True).values_list("pk", "clinic_id")[:50_000])
    dosing = CareSession.objects.filter(kind="dosing", status="discharged", patient__mrn__startswith="BENCH-")
    monitored = list(
        dosing.filter(observations__source="bench-monitor").distinct().values_list("pk", "clinic_id")
    )
    heavy_ids = {pk for pk, _ in monitored}
    manual = [row for row in dosing.values_list("pk", "clinic_id")[:50_000] if row[0] not in heavy_ids]
    half = args.samples // 2

    def pick(rows, n):
        return rng.sample(rows, min(n, len(rows)))

    kinds = {
        "chart (with a course)": ("/patients/{}/", pick(with_course, half + 10)),
        "chart (no course yet)": ("/patients/{}/", pick(without, half + 10)),
        "session (charted by hand)": ("/sessions/{}/", pick(manual, half + 10)),
        "session (monitor-fed)": ("/sessions/{}/", pick(monitored, half + 10)),
    }
    any_client = next(iter(clients.values()))
    errors = 0
    # Warm-up: 10 of each (not measured): connections, template and protocol caches.
    for _ in range(20):
        errors += any_client.get("/health").status_code != 200
    for url, rows in kinds.values():
        for pk, clinic_id in rows[:10]:
            errors += clients[clinic_id].get(url.format(pk)).status_code != 200
    results = {}
    queries = {}
    for name, (url, rows) in kinds.items():
        rows = rows[10:]
        times, cpu = [], []
        for pk, clinic_id in rows:
            t0, c0 = time.perf_counter(), time.process_time()
            response = clients[clinic_id].get(url.format(pk))
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            if response.status_code != 200:
                errors += 1
                print(f"{name} {pk}: {response.status_code}", file=sys.stderr)
        results[name] = _percentiles(times)
        # This process's CPU time per page (Django, the ORM, templates; not the database server's
        # work): a figure less moved than wall time by other work on a shared machine.
        results[name]["cpu_p50_ms"] = _percentiles(cpu)["p50_ms"]
        results[name]["cpu_p95_ms"] = _percentiles(cpu)["p95_ms"]
        counts = []
        for pk, clinic_id in rows[:20]:
            with CaptureQueriesContext(connection) as captured:
                clients[clinic_id].get(url.format(pk))
            counts.append(len(captured.captured_queries))
        queries[name] = [min(counts), max(counts)]
    health, health_cpu = [], []
    for _ in range(args.samples):
        t0, c0 = time.perf_counter(), time.process_time()
        errors += any_client.get("/health").status_code != 200
        health.append(time.perf_counter() - t0)
        health_cpu.append(time.process_time() - c0)
    results["/health (trivial view)"] = _percentiles(health)
    results["/health (trivial view)"]["cpu_p50_ms"] = _percentiles(health_cpu)["p50_ms"]
    trivial = results["/health (trivial view)"]["p50_ms"]
    for name in kinds:
        results[name]["p50_ratio"] = round(results[name]["p50_ms"] / trivial, 1)
        results[name]["p95_ratio"] = round(results[name]["p95_ms"] / trivial, 1)
        results[name]["queries_min_max"] = queries[name]
    largest = (
        Observation.objects.values("session_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("n", flat=True)
    ).first()
    return {
        "patients": Patient.objects.count(),
        "observations": Observation.objects.count(),
        "largest_session_values": largest,
        "errors": errors,
        "pages": results,
    }


def worker(args) -> dict:
    _setup()
    from django.core.management import call_command
    from django.db import connection

    out = {"backend": connection.vendor}
    if args.reuse:
        call_command("migrate", verbosity=0)
        out["build"] = "reused"
    else:
        t0 = time.perf_counter()
        out["build"] = build(args)
        out["build"]["total_s"] = round(time.perf_counter() - t0, 1)
    out.update(measure(args))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--vitals", type=int, default=10_000_000)
    parser.add_argument(
        "--samples",
        type=int,
        default=200,
        help="chart pages and session pages measured (half of each of their two kinds)",
    )
    parser.add_argument("--active-fraction", type=float, default=0.1, help="patients with a course")
    parser.add_argument("--heavy-fraction", type=float, default=0.1, help="dosing sessions monitor-fed")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure a kept database without building")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)), flush=True)
        return 0
    failed = 0
    for backend in backends(args.backends):
        command = [sys.executable, __file__, "--worker", *sys.argv[1:]]
        with database(
            backend, sqlite_path=SQLITE_PATH, pg_name=PG_NAME, fresh=not args.reuse, keep=args.keep
        ) as url:
            env = bench_env(KAPSTONE_DATABASE_URL=url)
            result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            failed += 1
            print(f"{backend}: failed\n{result.stderr[-3000:]}")
            continue
        print(json.dumps(json.loads(result.stdout.strip().splitlines()[-1]), indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
