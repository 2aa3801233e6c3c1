"""The real ``kapstone worker``, as a process of its own against a file database: the overdue
alert is raised by the scheduled job, not by calling the function; SIGTERM stops it cleanly; and
(PostgreSQL) a worker killed with SIGKILL in the middle of the sweep leaves nothing of it, the
sweep runs again, and nothing is raised twice."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from django.utils import timezone
from django_q.models import Schedule

from kapstone.care.services import course_enrol, day_of_checks_record, session_transition
from kapstone.operations.services import SCHEDULE_PREFIX, schedules_ensure
from kapstone.patients.services import clinic_today, consent_record
from tests.care.conftest import first_dosing, screen
from tests.care.test_sessions import SERVICE_INPUTS
from tests.conftest import new_patient, record_liver_panel
from tests.monitoring.conftest import start_dosing

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
#: The bound of every wait on the worker (it polls the queue every second).
WAIT_S = 90


class WorkerDatabase:
    """The database the worker process uses, and counts read from it. SQLite: a file copy of
    the test database (which lives in memory); PostgreSQL: the test database itself."""

    def __init__(self, tmp_path: Path) -> None:
        self.file: Path | None = None
        if connection.vendor == "sqlite":
            self.file = tmp_path / "worker.sqlite3"
            connection.ensure_connection()
            target = sqlite3.connect(self.file)
            connection.connection.backup(target)
            target.close()
            self.url = f"sqlite:///{self.file}"
        else:
            s = connection.settings_dict
            password = f":{s['PASSWORD']}" if s["PASSWORD"] else ""
            self.url = (
                f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
            )

    def value(self, sql: str, params: tuple = ()) -> object:
        if self.file is not None:
            with sqlite3.connect(self.file, timeout=20) as db:
                return db.execute(sql.replace("%s", "?"), params).fetchone()[0]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]

    def overdue_alerts(self) -> int:
        return self.value("SELECT COUNT(*) FROM monitoring_alert WHERE code = 'vitals_overdue'")


def start_worker(database: WorkerDatabase, tmp_path: Path, name: str, **env: str) -> subprocess.Popen:
    log = (tmp_path / f"{name}.log").open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "kapstone", "worker"],
        cwd=ROOT,
        env={
            **os.environ,
            "KAPSTONE_DEV": "1",
            "KAPSTONE_DATABASE_URL": database.url,
            "KAPSTONE_AUDIT_CHECKPOINT_FILE": str(tmp_path / "checkpoints.log"),
            "KAPSTONE_LOG_LEVEL": "WARNING",
            **env,
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def descendants(pid: int) -> list[int]:
    """The processes ``pid`` started, and theirs (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def kill_all(worker: subprocess.Popen) -> None:
    """SIGKILL the worker and every process of its cluster, as a machine that loses power."""
    for pid in [worker.pid, *descendants(worker.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.wait(timeout=10)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def stop(worker: subprocess.Popen, tmp_path: Path, name: str) -> int:
    """SIGTERM the worker alone; it must stop its whole cluster and exit."""
    cluster = descendants(worker.pid)
    assert cluster, "the worker runs its cluster in processes of its own"
    worker.send_signal(signal.SIGTERM)
    try:
        code = worker.wait(timeout=60)
    except subprocess.TimeoutExpired:
        kill_all(worker)
        pytest.fail(f"the worker did not stop on SIGTERM:\n{(tmp_path / f'{name}.log').read_text()[-3000:]}")
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in cluster) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in cluster if alive(pid)], "a process of the cluster outlived the worker"
    return code


def wait_for(condition, what: str, worker: subprocess.Popen, tmp_path: Path, name: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if condition():
            return
        if worker.poll() is not None:
            break
        time.sleep(0.5)
    log = (tmp_path / f"{name}.log").read_text()[-3000:]
    if worker.poll() is None:
        kill_all(worker)
    pytest.fail(f"{what} did not happen within {WAIT_S} s; the worker's log:\n{log}")


def sweep_due_now() -> None:
    schedules_ensure()
    Schedule.objects.filter(name=SCHEDULE_PREFIX + "vitals_overdue_sweep").update(
        next_run=timezone.now() - timedelta(minutes=1)
    )


def test_the_scheduled_job_raises_the_overdue_alert_by_itself(alice, nina, cleared_session, lot_50, tmp_path):
    # Dosing began 30 min ago with only a baseline set: the T+10 and later checks are missed.
    start_dosing(prescriber=alice, nurse=nina, session=cleared_session, lot=lot_50, minutes_ago=30)
    sweep_due_now()
    database = WorkerDatabase(tmp_path)
    assert database.overdue_alerts() == 0
    worker = start_worker(database, tmp_path, "worker")
    try:
        wait_for(
            lambda: database.overdue_alerts() == 1, "the vitals_overdue alert", worker, tmp_path, "worker"
        )
    finally:
        code = stop(worker, tmp_path, "worker")
    assert code == 0, (tmp_path / "worker.log").read_text()[-3000:]
    assert "stopped" in (tmp_path / "worker.log").read_text()
    assert (
        database.value("SELECT status FROM operations_jobrun WHERE job = 'vitals_overdue_sweep'")
        == "succeeded"
    )
    assert database.value("SELECT COUNT(*) FROM operations_workerheartbeat") >= 1
    assert database.overdue_alerts() == 1


def another_cleared_session(alice, nina, clinic):
    """A second patient's session, cleared for dosing today (as the ``cleared_session`` fixture)."""
    patient = new_patient(alice, clinic, mrn="A-2")
    consent_record(
        actor=alice,
        patient=patient,
        kind="treatment",
        status="granted",
        effective_on=date(2026, 1, 5),
        document_version="2026-01",
    )
    screen(alice, patient)
    course = course_enrol(
        actor=alice,
        patient=patient,
        protocol_slug="kare-alcohol-grabski-2022",
        start_date=clinic_today(clinic),
    )
    session = first_dosing(course)
    record_liver_panel(nina, patient)
    session.scheduled_date = clinic_today(clinic)
    session.save(update_fields=["scheduled_date"])
    arrived = timezone.now() - timedelta(hours=4)
    session = session_transition(actor=nina, session=session, to="checked_in", at=arrived)
    day_of_checks_record(
        actor=nina, session=session, inputs=SERVICE_INPUTS, at=arrived + timedelta(minutes=5)
    )
    session.refresh_from_db()
    assert session.status == "cleared"
    return session


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and a killed backend: PostgreSQL")
def test_a_worker_killed_mid_sweep_leaves_no_partial_batch_and_the_sweep_runs_again_once(
    alice, nina, clinic_a, cleared_session, lot_50, tmp_path
):
    first = cleared_session
    second = another_cleared_session(alice, nina, clinic_a)
    start_dosing(prescriber=alice, nurse=nina, session=first, lot=lot_50, minutes_ago=30)
    start_dosing(prescriber=alice, nurse=nina, session=second, lot=lot_50, minutes_ago=30)
    assert first.pk < second.pk  # the sweep takes the sessions in this order
    sweep_due_now()
    database = WorkerDatabase(tmp_path)
    timeout = {"KAPSTONE_JOB_TIMEOUT_SECONDS": "20"}  # a dead worker's task comes back after 25 s

    # Hold the second session's row lock, so that the sweep stops half-way: the first session's
    # alert written (not committed), the second one waited for.
    s = connection.settings_dict
    holder = psycopg.connect(
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        user=s["USER"],
        password=s["PASSWORD"],
        dbname=s["NAME"],
    )
    holder.execute("SELECT id FROM care_caresession WHERE id = %s FOR UPDATE", (second.pk,))
    worker = start_worker(database, tmp_path, "killed", **timeout)
    try:
        wait_for(
            lambda: (
                database.value(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                >= 1
            ),
            "the sweep waiting on the second session",
            worker,
            tmp_path,
            "killed",
        )
        slot = database.value("SELECT slot FROM operations_jobrun WHERE job = 'vitals_overdue_sweep'")
        kill_all(worker)
    finally:
        holder.rollback()
        holder.close()
    assert worker.returncode == -signal.SIGKILL
    assert database.overdue_alerts() == 0  # the first session's alert died with the transaction
    assert (
        database.value("SELECT status FROM operations_jobrun WHERE job = 'vitals_overdue_sweep'") == "running"
    )

    again = start_worker(database, tmp_path, "again", **timeout)
    try:
        wait_for(
            lambda: (
                database.value(
                    "SELECT COUNT(*) FROM operations_jobrun WHERE job = 'vitals_overdue_sweep' AND slot = %s "
                    "AND status = 'succeeded' AND attempts = 2",
                    (slot,),
                )
                == 1
            ),
            "the killed sweep taken over",
            again,
            tmp_path,
            "again",
        )
    finally:
        code = stop(again, tmp_path, "again")
    assert code == 0
    # Each session's missed check raised once: nothing twice.
    for session in (first, second):
        assert (
            database.value(
                "SELECT COUNT(*) FROM monitoring_alert WHERE code = 'vitals_overdue' AND session_id = %s",
                (session.pk,),
            )
            == 1
        )
    assert (
        database.value(
            "SELECT COUNT(*) FROM operations_jobrun WHERE job = 'vitals_overdue_sweep' AND slot = %s", (slot,)
        )
        == 1
    )
