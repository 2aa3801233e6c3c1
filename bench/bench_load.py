"""One app node under a clinic's load: 50 chairs sending vitals and 30 staff browsing, over HTTP.

Budget (DESIGN.md): one node on 2 cores, 50 chairs sending vitals every 5 s + 30 staff browsing:
p95 < 200 ms for pages, < 100 ms for vitals posts, 0 errors.

Method. A PostgreSQL database of its own (``kap_load`` on ``KAPSTONE_BENCH_PG``, default
``postgres://postgres@127.0.0.1:5432``; dropped afterwards unless ``--keep``), migrated and seeded
with a bounded dataset through the services (``--seed`` below): two clinics, ``--chairs`` dosing
sessions in progress (each patient screened, enrolled on KARE, checked in, day-of checks passed, a
dose ordered, verified and started 10 minutes before, a baseline set recorded), ``--patients``
more patients per clinic for the list and search, one nurse with an API token per 5 chairs and
``--staff`` nurses and prescribers with passwords. Then gunicorn serves it on loopback (plain
``gunicorn kapstone.wsgi``: ``kapstone serve`` is being added beside this; the flags here are its
documented defaults for 2 cores: ``--workers 2 --threads 4``). The staff sign in through the login
form (not timed), and for ``--duration`` seconds (default 60):

- each chair POSTs a set of 7 vital signs (``/api/v1/sessions/{id}/vitals``, a bearer token) every
  ``--interval`` s (default 5), starting at a random offset so that they do not march in step;
- each staff member opens a page, waits 1–3 s (reading), opens the next: the monitoring board,
  its htmx poll (``/monitoring/changes/?since=`` the token of the board last shown: 204 when
  nothing changed, else the re-rendered board), a patient's chart, the patient list, a search
  by family name — chosen at random with weights 2:3:2:1:1;
- one probe requests the trivial view ``/health`` twice a second: the same stack (gunicorn,
  middleware, one query) with no work, so that ``ratio`` shows what the pages cost beyond it.

The load generator is this script (threads and ``http.client``, no dependency) on the same 2
cores as the server and PostgreSQL: its own CPU is part of the machine's load, as a load
balancer's would not be. Reported per kind of request: count, throughput, p50/p95/p99 (ms) and
errors (any status other than the expected one, or a connection failure); ``/health`` measured
alone before the load as well.

Run: ``.venv/bin/python bench/bench_load.py [--duration 60] [--chairs 50] [--staff 30]
[--workers 2] [--threads 4]``; ``bench/run.py`` runs it with ``--duration 20``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from _common import bench_env, database, db_name, run_checked, start_server, stop_server

DB_NAME = db_name("kap_load")
PAGE_KINDS = ("board", "board_poll", "chart", "patient_list", "search")
PAGE_WEIGHTS = (2, 3, 2, 1, 1)
REQUEST_TIMEOUT_S = 30
START_TIMEOUT_S = 90


# --- seeding (runs inside Django: ``bench_load.py --seed``) ------------------------------------


def seed(chairs: int, staff: int, patients: int) -> dict:
    """The bounded dataset, through the services (the tests' helpers build each step)."""
    import django

    django.setup()
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from kapstone.accounts.models import Role
    from kapstone.accounts.services import api_token_create, clinic_get_or_create
    from kapstone.care.services import course_enrol, day_of_checks_record, session_transition
    from kapstone.inventory.services import location_create, lot_receive, product_create
    from kapstone.patients.services import clinic_today, consent_record
    from tests.care.conftest import first_dosing, screen
    from tests.care.test_sessions import SERVICE_INPUTS
    from tests.conftest import make_user, new_patient, record_liver_panel
    from tests.factories import TEST_PASSWORD
    from tests.monitoring.conftest import start_dosing

    clinics = [
        clinic_get_or_create(
            actor=None, name=f"Load Clinic {n}", slug=f"load-{n}", timezone_name="America/New_York"
        )
        for n in (1, 2)
    ]
    result: dict = {"chairs": [], "staff": [], "patients": {}, "families": {}, "password": TEST_PASSWORD}
    for n, clinic in enumerate(clinics, start=1):
        admin = make_user(f"load-admin-{n}", clinic, Role.ADMIN)
        prescriber = make_user(f"load-prescriber-{n}", clinic, Role.PRESCRIBER)
        location = location_create(actor=admin, clinic=clinic, name="Main safe")
        product = product_create(
            actor=admin,
            name=f"Ketamine HCl {n}",
            ndc=f"00000-00{n}0-10",
            strength_mg_per_ml="50",
            vial_volume_ml="10",
        )
        lot = lot_receive(
            actor=admin,
            clinic=clinic,
            location=location,
            product=product,
            lot_number=f"LOAD-{n}",
            expiry=clinic_today(clinic) + timedelta(days=200),
            amount_mg=Decimal(100 * chairs),
            received_at=timezone.now() - timedelta(days=1),
        )
        share = [c for c in range(chairs) if c % 2 == n - 1]
        nurses = []
        for i, chair in enumerate(share):
            if i % 5 == 0:
                nurse = make_user(f"load-nurse-{n}-{i // 5}", clinic, Role.NURSE)
                nurses.append((nurse, api_token_create(actor=None, user=nurse, name="load bench")[1]))
            nurse, token = nurses[-1]
            person = new_patient(
                prescriber, clinic, mrn=f"L{n}-{chair:04d}", family_name=f"Chairside{chair:03d}"
            )
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
            result["chairs"].append({"session": session.pk, "token": token})
        ids, families = [], []
        for i in range(patients):
            person = new_patient(
                prescriber, clinic, mrn=f"P{n}-{i:05d}", family_name=f"Browsefield{i:04d}", given_name="Robin"
            )
            ids.append(person.pk)
            families.append(f"Browsefield{i:04d}")
        result["patients"][n] = ids
        result["families"][n] = families
        for i in range(staff // 2 + (staff % 2 if n == 1 else 0)):
            role = Role.NURSE if i % 2 == 0 else Role.PRESCRIBER
            username = f"load-staff-{n}-{i}"
            make_user(username, clinic, role)
            result["staff"].append({"username": username, "clinic": n})
    return result


# --- HTTP -----------------------------------------------------------------------------------


class Results:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency_ms: dict[str, list[float]] = {}
        self.errors: dict[str, list[str]] = {}

    def add(self, kind: str, started: float, error: str | None) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        with self.lock:
            self.latency_ms.setdefault(kind, []).append(elapsed)
            if error:
                self.errors.setdefault(kind, []).append(error)


def send(port: int, method: str, path: str, *, headers: dict, body: bytes | None = None):
    """One request on a connection of its own. gunicorn closes idle keep-alive connections after
    2 s, and a chair posts every 5 s: reusing them would measure reconnection races, not Kapstone
    (a load balancer in front manages its own pool); a loopback connect costs ~0.1 ms."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    try:
        conn.request(method, path, body=body, headers={"Host": f"127.0.0.1:{port}", **headers})
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


class Browser:
    """A signed-in staff member: the session cookie."""

    def __init__(self, port: int, username: str, password: str) -> None:
        self.port, self.cookies, self.board_token = port, {}, ""
        response, body = self.request("GET", "/accounts/login/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1).decode()
        form = urlencode({"csrfmiddlewaretoken": token, "username": username, "password": password}).encode()
        response, _ = self.request(
            "POST", "/accounts/login/", body=form, content_type="application/x-www-form-urlencoded"
        )
        if response.status != 302:
            raise RuntimeError(f"login of {username} answered {response.status}")

    def request(self, method: str, path: str, *, body: bytes | None = None, content_type: str | None = None):
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if content_type:
            headers["Content-Type"] = content_type
            headers["Origin"] = f"http://127.0.0.1:{self.port}"
            headers["Referer"] = f"http://127.0.0.1:{self.port}/accounts/login/"
        response, data = send(self.port, method, path, headers=headers, body=body)
        # The board's poller carries the token of what it shows: polls send it back (?since=)
        # and are answered 204 while nothing changed, as the htmx poller of a real board is.
        token = re.search(rb"monitoring/changes/\?since=([^\"&]+)", data)
        if token:
            self.board_token = token.group(1).decode()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        return response, data


def vitals_body(rng: random.Random) -> bytes:
    now = datetime.now(UTC).isoformat()
    values = {
        "systolic_bp": 118 + rng.randrange(12),
        "diastolic_bp": 74 + rng.randrange(8),
        "heart_rate": 68 + rng.randrange(12),
        "spo2": 96 + rng.randrange(4),
        "respiratory_rate": 13 + rng.randrange(3),
        "temperature": "36.8",
        "moaas": 4,
    }
    return json.dumps(
        {
            "observations": [{"code": k, "value": v, "observed_at": now} for k, v in values.items()],
            "source": "load-bench",
        }
    ).encode()


def chair_loop(port, chair, interval_s, stop_at, results, seed_value):
    rng = random.Random(seed_value)
    next_at = time.monotonic() + rng.uniform(0, interval_s)
    path = f"/api/v1/sessions/{chair['session']}/vitals"
    headers = {"Authorization": f"Bearer {chair['token']}", "Content-Type": "application/json"}
    while True:
        time.sleep(max(0.0, next_at - time.monotonic()))
        if time.monotonic() >= stop_at:
            break
        started, error = time.perf_counter(), None
        try:
            response, _ = send(port, "POST", path, headers=headers, body=vitals_body(rng))
            if response.status != 201:
                error = str(response.status)
        except (OSError, http.client.HTTPException) as exc:
            error = type(exc).__name__
        results.add("vitals_post", started, error)
        next_at += interval_s


def staff_loop(browser, clinic_data, stop_at, results, seed_value):
    rng = random.Random(seed_value)
    patients, families = clinic_data
    while time.monotonic() < stop_at:
        kind = rng.choices(PAGE_KINDS, weights=PAGE_WEIGHTS)[0]
        path = {
            "board": "/monitoring/",
            "board_poll": "/monitoring/changes/?" + urlencode({"since": browser.board_token}),
            "chart": f"/patients/{rng.choice(patients)}/",
            "patient_list": "/patients/",
            "search": "/patients/?" + urlencode({"q": rng.choice(families)}),
        }[kind]
        started, error = time.perf_counter(), None
        try:
            response, _ = browser.request("GET", path)
            if response.status not in ((200, 204) if kind == "board_poll" else (200,)):
                error = str(response.status)
        except (OSError, http.client.HTTPException) as exc:
            error = type(exc).__name__
        results.add(kind, started, error)
        time.sleep(rng.uniform(1.0, 3.0))


def health_loop(port, stop_at, results, kind="health", period_s=0.5):
    while time.monotonic() < stop_at:
        started, error = time.perf_counter(), None
        try:
            response, _ = send(port, "GET", "/health", headers={})
            if response.status != 200:
                error = str(response.status)
        except (OSError, http.client.HTTPException) as exc:
            error = type(exc).__name__
        results.add(kind, started, error)
        time.sleep(period_s)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summarise(results: Results, duration_s: float) -> dict:
    rows = {}
    for kind, values in sorted(results.latency_ms.items()):
        rows[kind] = {
            "count": len(values),
            "per_s": round(len(values) / duration_s, 1),
            "p50_ms": round(percentile(values, 50), 1),
            "p95_ms": round(percentile(values, 95), 1),
            "p99_ms": round(percentile(values, 99), 1),
            "max_ms": round(max(values), 1),
            "errors": len(results.errors.get(kind, [])),
        }
        if results.errors.get(kind):
            rows[kind]["error_kinds"] = sorted(set(results.errors[kind]))
    return rows


def run_level(port, data, browsers, idle, args, *, chairs: int, staff: int) -> dict:
    """``chairs`` chairs and ``staff`` staff (the first of each seeded) for ``--duration`` s."""
    results = Results()
    stop_at = time.monotonic() + args.duration
    threads = [
        threading.Thread(target=chair_loop, args=(port, chair, args.interval, stop_at, results, i))
        for i, chair in enumerate(data["chairs"][:chairs])
    ]
    threads += [
        threading.Thread(
            target=staff_loop,
            args=(
                browser,
                (data["patients"][str(s["clinic"])], data["families"][str(s["clinic"])]),
                stop_at,
                results,
                1000 + i,
            ),
        )
        for i, (browser, s) in enumerate(zip(browsers[:staff], data["staff"][:staff], strict=True))
    ]
    threads.append(threading.Thread(target=health_loop, args=(port, stop_at, results)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=args.duration + 2 * REQUEST_TIMEOUT_S)
    # Rates over the load window itself (the threads end up to a think time after it).
    rows = summarise(results, args.duration)
    rows.update(summarise(idle, 5.0))
    pages = [v for k in PAGE_KINDS for v in results.latency_ms.get(k, [])]
    health_p95 = rows["health"]["p95_ms"] if "health" in rows else None
    return {
        "duration_s": args.duration,
        "chairs": chairs,
        "staff": staff,
        "workers": args.workers,
        "threads": args.threads,
        "requests_per_s": round(sum(len(v) for v in results.latency_ms.values()) / args.duration, 1),
        # The machine is shared: its load (1-min average, all processes) says how much of it was ours.
        "load_average_1min_after": round(os.getloadavg()[0], 2),
        "pages_p95_ms": round(percentile(pages, 95), 1) if pages else None,
        "pages_p50_ms": round(statistics.median(pages), 1) if pages else None,
        "vitals_p95_ms": rows.get("vitals_post", {}).get("p95_ms"),
        "errors": sum(len(v) for v in results.errors.values()),
        "ratio_pages_p95_to_health_p95": round(percentile(pages, 95) / health_p95, 1)
        if pages and health_p95
        else None,
        "by_kind": rows,
    }


def print_summary(summary: dict) -> None:
    print(f"-- {summary['chairs']} chairs, {summary['staff']} staff, {summary['duration_s']} s --")
    print(f"{'kind':<14}{'count':>7}{'per s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for kind, row in summary["by_kind"].items():
        print(
            f"{kind:<14}{row['count']:>7}{row['per_s']:>8}{row['p50_ms']:>9}{row['p95_ms']:>9}"
            f"{row['p99_ms']:>9}{row['errors']:>8}"
        )
    print(json.dumps(summary), flush=True)


# --- orchestration --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited")
        try:
            response, _ = send(port, "GET", "/health", headers={})
            if response.status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer /health")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--chairs", type=int, default=50)
    parser.add_argument("--staff", type=int, default=30)
    parser.add_argument("--patients", type=int, default=100, help="more patients per clinic")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between a chair's posts")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--levels", default="", help="loads to run in turn, as chairs:staff,… (default: --chairs:--staff)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the kap_load database")
    parser.add_argument("--seed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed:
        print(json.dumps(seed(args.chairs, args.staff, args.patients)))
        return 0
    args.levels = args.levels or f"{args.chairs}:{args.staff}"

    workdir = Path(tempfile.mkdtemp(prefix="kapstone-load-"))
    server = None
    with database(
        "postgres", sqlite_path=workdir / "unused.sqlite3", pg_name=DB_NAME, keep=args.keep, force=True
    ) as url:
        env = bench_env(
            clean=True,
            KAPSTONE_MFA_REQUIRED="0",  # and KAPSTONE_DEV: no collectstatic, plain cookie names; DEBUG stays off
            KAPSTONE_LOG_LEVEL="ERROR",
            KAPSTONE_DATABASE_URL=url,
            KAPSTONE_AUDIT_CHECKPOINT_FILE=str(workdir / "audit-checkpoints.log"),
        )
        try:
            t0 = time.monotonic()
            run_checked([sys.executable, "-m", "kapstone", "migrate", "--noinput", "-v", "0"], env, 900)
            data = json.loads(
                run_checked(
                    [sys.executable, __file__, "--seed", f"--chairs={args.chairs}", f"--staff={args.staff}",
                     f"--patients={args.patients}"],
                    env, 1800,
                ).strip().splitlines()[-1]
            )  # fmt: skip
            build_s = time.monotonic() - t0
            port = free_port()
            # Plain gunicorn; `kapstone serve` (issue 17, another branch) wraps the same server.
            server = start_server(
                ["-m", "gunicorn", "kapstone.wsgi", "--bind", f"127.0.0.1:{port}",
                 "--workers", str(args.workers), "--threads", str(args.threads), "--timeout", "30"],
                env, workdir / "gunicorn.log",
            )  # fmt: skip
            wait_healthy(port, server)

            browsers = [Browser(port, s["username"], data["password"]) for s in data["staff"]]
            # Warm-up (not measured): every worker imports its views and fills its caches on first use.
            for browser, staff in zip(browsers, data["staff"], strict=True):
                for path in (
                    "/monitoring/",
                    "/monitoring/changes/",
                    "/patients/",
                    f"/patients/{data['patients'][str(staff['clinic'])][0]}/",
                ):
                    browser.request("GET", path)
            idle = Results()
            health_loop(port, time.monotonic() + 5, idle, kind="health_idle", period_s=0.05)
            for level in args.levels.split(","):
                chairs, staff = (int(part) for part in level.split(":"))
                summary = run_level(port, data, browsers, idle, args, chairs=chairs, staff=staff)
                summary["build_s"] = round(build_s, 1)
                print_summary(summary)
            return 0
        finally:
            if server is not None:
                stop_server(server, timeout=20)
            if not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
