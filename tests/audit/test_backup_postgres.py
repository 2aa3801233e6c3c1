"""``kapstone backup create|restore`` on PostgreSQL, as real processes (pg_dump and pg_restore):
the restore drill on a clinic's data built by the services of several apps, into a database made
for the test and dropped after it, and every refusal, with nothing written."""

from __future__ import annotations

import shutil
import stat
import uuid
from datetime import timedelta
from functools import partial
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from kapstone.audit.backup import PG_CUSTOM_HEADER, SQLITE_HEADER
from kapstone.audit.keys import audit_key_current
from kapstone.monitoring.services import vitals_record
from tests.audit.backup_kit import checkpoint_lines, kapstone, ok_json, refusal
from tests.care.conftest import course_a, eligible_a  # noqa: F401 - pytest fixtures
from tests.dosing.conftest import cleared_session, lot_50  # noqa: F401 - pytest fixtures
from tests.monitoring.conftest import running, vitals_set  # noqa: F401 - pytest fixtures

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_dump and pg_restore: PostgreSQL only"),
    pytest.mark.django_db(transaction=True),
]


def _connect(dbname: str) -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        dbname=dbname,
        user=db["USER"] or None,
        password=db["PASSWORD"] or None,
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        autocommit=True,
    )


def pg_url(dbname: str) -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}@{db['HOST']}{port}/{dbname}"


def pg_row_counts(dbname: str) -> dict[str, int]:
    """Every table outside PostgreSQL's own schemas (Django's included) and its number of rows."""
    with _connect(dbname) as db:
        tables = db.execute(
            "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        return {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for (table,) in tables}


@pytest.fixture
def empty_database():
    """A new database with nothing in it (as `createdb` makes), dropped after the test."""
    name = f"kap_restore_{uuid.uuid4().hex[:12]}"
    with _connect(connection.settings_dict["NAME"]) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    yield name
    with _connect(connection.settings_dict["NAME"]) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def tools(settings):
    """``kapstone`` against the test database or another one, with this test's audit key and
    checkpoint file (the one the test's own writes append to)."""
    key = audit_key_current().secret.decode()
    return partial(kapstone, key=key), Path(settings.AUDIT_CHECKPOINT_FILE)


def test_restore_drill_a_clinic_comes_back_whole_and_its_audit_chain_intact(
    running,  # noqa: F811 - the imported fixture, requested by name
    nina,
    patient_b,
    tools,
    empty_database,
    tmp_path,
):
    run, live_checkpoints = tools
    now = timezone.now()
    for minutes_ago in (6, 4, 2):
        vitals_record(
            actor=nina, session=running, observations=vitals_set(now - timedelta(minutes=minutes_ago))
        )
    source = connection.settings_dict["NAME"]
    backup = tmp_path / "clinic.dump"

    created = ok_json(run(pg_url(source), live_checkpoints, "backup", "create", str(backup), "--json"))

    assert created["engine"] == "postgresql"
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert backup.read_bytes()[: len(PG_CUSTOM_HEADER)] == PG_CUSTOM_HEADER
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clinic.dump"]
    before = pg_row_counts(source)
    drill_checkpoints = tmp_path / "drill-checkpoints.log"
    shutil.copy(live_checkpoints, drill_checkpoints)
    drill = partial(run, pg_url(empty_database), drill_checkpoints)

    done = ok_json(drill("backup", "restore", str(backup), "--json"))

    assert done["restored_last_event_id"] == created["audit_event_id"]
    assert done["checkpoints_after_backup"] == 0
    after = pg_row_counts(empty_database)
    assert set(after) == set(before) and len(before) >= 80
    for table in (
        "public.accounts_clinic",
        "public.patients_patient",
        "public.screening_screening",
        "public.care_treatmentcourse",
        "public.dosing_doseorder",
        "public.inventory_lot",
        "public.monitoring_observation",
        "public.django_migrations",
    ):
        assert before[table] > 0, table
    differing = {table: (before[table], after[table]) for table in before if before[table] != after[table]}
    events = before["public.audit_auditevent"]
    assert differing == {"public.audit_auditevent": (events, events + 1)}
    with _connect(empty_database) as db:
        made, restore = db.execute(
            "SELECT id, action, object_type, outcome FROM audit_auditevent ORDER BY id DESC LIMIT 2"
        ).fetchall()[::-1]
    assert made == (created["audit_event_id"], "export", "backup", "success")
    assert restore == (done["audit_event_id"], "create", "backup_restore", "success")

    verified = ok_json(drill("audit", "verify", "--json"))

    assert verified["ok"] is True and verified["checked"] == events + 1
    assert verified["checkpoints"]["matched"] == verified["checkpoints"]["lines"] >= 2
    assert checkpoint_lines(drill_checkpoints)[-1]["last_id"] == created["audit_event_id"]


def test_restore_refuses_a_database_that_is_not_empty(patient_b, tools, empty_database, tmp_path):
    run, checkpoints = tools
    source = connection.settings_dict["NAME"]
    backup = tmp_path / "clinic.dump"
    ok_json(run(pg_url(source), checkpoints, "backup", "create", str(backup), "--json"))
    with _connect(empty_database) as db:
        db.execute("CREATE TABLE notes (body text)")
    for target in (source, empty_database):
        before = pg_row_counts(target)

        message = refusal(
            run(pg_url(target), checkpoints, "backup", "restore", str(backup), "--json"), "database_not_empty"
        )

        assert f"The database {target} on " in message and "nothing was restored" in message
        assert pg_row_counts(target) == before


def test_create_without_pg_dump_on_path_says_so_and_writes_nothing(patient_b, tools, tmp_path):
    run, checkpoints = tools
    source = connection.settings_dict["NAME"]
    before = pg_row_counts(source)
    no_tools = tmp_path / "bin"
    no_tools.mkdir()

    message = refusal(
        run(
            pg_url(source),
            checkpoints,
            "backup",
            "create",
            str(tmp_path / "c.dump"),
            "--json",
            path=str(no_tools),
        ),
        "pg_dump_missing",
    )

    assert message.startswith("pg_dump was not found on PATH")
    assert pg_row_counts(source) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]


def test_restore_refuses_a_file_of_the_wrong_kind_or_no_backup(patient_b, tools, empty_database, tmp_path):
    run, checkpoints = tools
    source = connection.settings_dict["NAME"]
    backup = tmp_path / "clinic.dump"
    ok_json(run(pg_url(source), checkpoints, "backup", "create", str(backup), "--json"))
    sqlite_file = tmp_path / "clinic.sqlite3"
    sqlite_file.write_bytes(SQLITE_HEADER + b"\x00" * 100)
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a backup\n")
    cut_short = tmp_path / "cut.dump"
    cut_short.write_bytes(backup.read_bytes()[:200])
    no_tools = tmp_path / "bin"
    no_tools.mkdir()
    restore = partial(run, pg_url(empty_database), checkpoints, "backup", "restore")

    message = refusal(restore(str(sqlite_file), "--json"), "backup_wrong_engine")
    assert message == (
        f"{sqlite_file} is a SQLite backup, but the configured database is PostgreSQL: "
        "restore it into a SQLite database."
    )
    refusal(restore(str(text_file), "--json"), "backup_file_invalid")
    refusal(restore(str(cut_short), "--json"), "backup_file_invalid")
    refusal(restore(str(tmp_path / "missing.dump"), "--json"), "backup_file_missing")
    refusal(restore(str(backup), "--json", path=str(no_tools)), "pg_restore_missing")

    assert pg_row_counts(empty_database) == {}


def test_a_failing_pg_dump_leaves_no_file_and_records_the_failure(patient_b, tools, tmp_path):
    run, checkpoints = tools
    source = connection.settings_dict["NAME"]
    fake_tools = tmp_path / "bin"
    fake_tools.mkdir()
    fake = fake_tools / "pg_dump"
    fake.write_text("#!/bin/sh\necho 'pg_dump: error: the server closed the connection' >&2\nexit 1\n")
    fake.chmod(0o755)
    folder = tmp_path / "backups"
    folder.mkdir()

    message = refusal(
        run(
            pg_url(source),
            checkpoints,
            "backup",
            "create",
            str(folder / "c.dump"),
            "--json",
            path=str(fake_tools),
        ),
        "backup_failed",
        exit_code=1,
    )

    assert message == "pg_dump failed: pg_dump: error: the server closed the connection"
    assert list(folder.iterdir()) == []  # the temporary file is gone too
    with _connect(source) as db:
        started, failed = db.execute(
            "SELECT id, object_type, object_id, outcome, detail FROM audit_auditevent ORDER BY id DESC LIMIT 2"
        ).fetchall()[::-1]
    assert started[1:4] == ("backup", "", "success")
    assert failed[1:4] == ("backup", str(started[0]), "failure")
    assert failed[4] == {"engine": "postgresql", "file": "c.dump", "error": "backup_failed"}
