"""``kapstone backup create|restore`` on SQLite, as real processes: the restore drill on the seeded
demo (every table's row count, then ``audit verify``: intact), and every refusal, with nothing
written. The PostgreSQL drill is in test_backup_postgres.py."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import stat
from contextlib import closing
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest

from kapstone.audit.backup import PG_CUSTOM_HEADER, SQLITE_HEADER
from tests.audit.backup_kit import (
    checkpoint_lines,
    kapstone,
    ok_json,
    refusal,
    sqlite_row_counts,
    sqlite_url,
)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def audit_rows(path: Path) -> list[tuple]:
    with closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)) as db:
        return db.execute(
            "SELECT id, action, object_type, outcome, actor_label, detail FROM audit_auditevent ORDER BY id"
        ).fetchall()


def assert_private_backup(path: Path, header: bytes) -> None:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes()[: len(header)] == header
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".partial")] == []


@pytest.mark.full_demo
def test_restore_drill_the_seeded_demo_comes_back_whole_and_its_audit_chain_intact(tmp_path):
    source, restored = tmp_path / "clinic.sqlite3", tmp_path / "restored.sqlite3"
    live_checkpoints = tmp_path / "live-checkpoints.log"
    live = partial(kapstone, sqlite_url(source), live_checkpoints)
    assert live("migrate", "--noinput", "-v0").returncode == 0
    seeded = live("seed_demo", "--patients-per-clinic", "1")
    assert seeded.returncode == 0, seeded.stderr
    (tmp_path / "backups").mkdir()
    backup = tmp_path / "backups" / "clinic.backup"

    created = ok_json(live("backup", "create", str(backup), "--json"))

    assert created["engine"] == "sqlite" and created["size"] == backup.stat().st_size
    assert_private_backup(backup, SQLITE_HEADER)
    assert sorted(p.name for p in backup.parent.iterdir()) == ["clinic.backup"]
    before = sqlite_row_counts(source)
    # The drill restores with the checkpoint file as it was at the moment of the backup.
    drill_checkpoints = tmp_path / "drill-checkpoints.log"
    shutil.copy(live_checkpoints, drill_checkpoints)
    drill = partial(kapstone, sqlite_url(restored), drill_checkpoints)

    done = ok_json(drill("backup", "restore", str(backup), "--json"))

    assert done["restored_last_event_id"] == created["audit_event_id"]
    assert done["checkpoints_after_backup"] == 0
    after = sqlite_row_counts(restored)
    assert set(after) == set(before) and len(before) >= 80
    assert done["tables"] == len([t for t in after if t != "sqlite_sequence"])
    for table in ("patients_patient", "care_caresession", "monitoring_observation", "dosing_administration"):
        assert before[table] > 0, table
    differing = {table: (before[table], after[table]) for table in before if before[table] != after[table]}
    events = before["audit_auditevent"]
    assert differing == {"audit_auditevent": (events, events + 1)}
    # The backup holds the record of its own making; the restore is recorded after it.
    *_, made, restore = audit_rows(restored)
    assert made[:5] == (created["audit_event_id"], "export", "backup", "success", "kapstone backup create")
    assert json.loads(made[5]) == {"engine": "sqlite", "file": "clinic.backup"}
    assert restore[:5] == (
        done["audit_event_id"],
        "create",
        "backup_restore",
        "success",
        "kapstone backup restore",
    )
    assert json.loads(restore[5])["restored_last_event_id"] == created["audit_event_id"]

    verified = ok_json(drill("audit", "verify", "--json"))

    assert verified["ok"] is True and verified["checked"] == events + 1
    assert verified["checkpoints"]["lines"] >= 2
    assert verified["checkpoints"]["matched"] == verified["checkpoints"]["lines"]
    # The last checkpoint line pins the backup's last event.
    assert checkpoint_lines(drill_checkpoints)[-1]["last_id"] == created["audit_event_id"]


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    """A migrated SQLite database with one backup of it (its first audit event)."""
    folder = tmp_path_factory.mktemp("backup")
    database, checkpoints = folder / "clinic.sqlite3", folder / "checkpoints.log"
    run = partial(kapstone, sqlite_url(database), checkpoints)
    assert run("migrate", "--noinput", "-v0").returncode == 0
    backup = folder / "clinic.backup"
    created = ok_json(run("backup", "create", str(backup), "--json"))
    return SimpleNamespace(
        database=database, checkpoints=checkpoints, backup=backup, created=created, run=run
    )


@pytest.mark.cli
def test_create_refuses_to_replace_a_file_unless_forced(clinic, tmp_path):
    existing = tmp_path / "old.backup"
    existing.write_bytes(b"last week's backup")
    events = len(audit_rows(clinic.database))

    message = refusal(clinic.run("backup", "create", str(existing), "--json"), "backup_exists")

    assert "--force" in message
    assert existing.read_bytes() == b"last week's backup"
    assert len(audit_rows(clinic.database)) == events
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.backup"]

    text = clinic.run("backup", "create", str(existing), "--force")

    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith(f"backup written: {existing} (sqlite,")
    assert_private_backup(existing, SQLITE_HEADER)
    assert len(audit_rows(clinic.database)) == events + 1


@pytest.mark.cli
def test_create_refuses_a_folder_that_does_not_exist(clinic, tmp_path):
    events = len(audit_rows(clinic.database))
    target = tmp_path / "no-such-folder" / "clinic.backup"

    refusal(clinic.run("backup", "create", str(target), "--json"), "backup_path_invalid")
    refusal(clinic.run("backup", "create", str(tmp_path), "--json"), "backup_path_invalid")

    assert not target.parent.exists() and list(tmp_path.iterdir()) == []
    assert len(audit_rows(clinic.database)) == events


@pytest.mark.cli
def test_restore_refuses_a_database_that_is_not_empty(clinic, tmp_path):
    foreign = tmp_path / "other.sqlite3"
    with closing(sqlite3.connect(foreign)) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
        db.commit()
    for target in (clinic.database, foreign):
        before = digest(target)
        run = partial(kapstone, sqlite_url(target), clinic.checkpoints)

        message = refusal(run("backup", "restore", str(clinic.backup), "--json"), "database_not_empty")

        assert "nothing was restored" in message
        assert digest(target) == before
    text = kapstone(sqlite_url(clinic.database), clinic.checkpoints, "backup", "restore", str(clinic.backup))
    assert text.returncode == 2 and text.stdout == ""
    assert text.stderr.startswith("error [database_not_empty]: The database ")
    assert "applied migrations" in text.stderr


def _not_a_backup(folder: Path) -> Path:
    path = folder / "notes.txt"
    path.write_text("not a backup at all\n")
    return path


def _someone_elses_sqlite(folder: Path) -> Path:
    path = folder / "other.sqlite3"
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
        db.commit()
    return path


def _cut_short(folder: Path, backup: Path) -> Path:
    path = folder / "cut.backup"
    path.write_bytes(backup.read_bytes()[:4096])
    return path


@pytest.mark.cli
@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda folder, backup: folder / "missing.backup", "backup_file_missing"),
        (lambda folder, backup: folder, "backup_file_unreadable"),
        (lambda folder, backup: _not_a_backup(folder), "backup_file_invalid"),
        (lambda folder, backup: _someone_elses_sqlite(folder), "backup_file_invalid"),
        (lambda folder, backup: _cut_short(folder, backup), "backup_file_invalid"),
    ],
    ids=["missing", "a-folder", "not-a-backup", "not-kapstone", "cut-short"],
)
def test_restore_refuses_a_file_that_is_not_a_backup(clinic, tmp_path, make, code):
    folder = tmp_path / "files"
    folder.mkdir()
    source = make(folder, clinic.backup)
    target = tmp_path / "restored.sqlite3"

    message = refusal(
        kapstone(sqlite_url(target), tmp_path / "cp.log", "backup", "restore", str(source), "--json"), code
    )

    assert str(source) in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["files"]  # no database, no checkpoint file


@pytest.mark.cli
def test_restore_refuses_a_postgresql_archive_on_sqlite(clinic, tmp_path):
    archive = tmp_path / "clinic.dump"
    archive.write_bytes(PG_CUSTOM_HEADER + b"\x01\x0e\x00" + b"\x00" * 64)
    target = tmp_path / "restored.sqlite3"

    message = refusal(
        kapstone(sqlite_url(target), tmp_path / "cp.log", "backup", "restore", str(archive), "--json"),
        "backup_wrong_engine",
    )

    assert message == (
        f"{archive} is a PostgreSQL backup, but the configured database is SQLite: "
        "restore it into a PostgreSQL database."
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clinic.dump"]


@pytest.mark.cli
def test_an_old_backup_restored_under_newer_checkpoints_is_not_passed_as_intact(clinic, tmp_path):
    """The checkpoint file names events the backup does not hold: the restore says so, and
    ``audit verify`` reports them missing until the operator archives those lines."""
    clinic.run("backup", "create", str(tmp_path / "later.backup"), "--json")
    checkpoints = tmp_path / "checkpoints.log"
    shutil.copy(clinic.checkpoints, checkpoints)
    newest = checkpoint_lines(checkpoints)[-1]["last_id"]
    backup_head = clinic.created["audit_event_id"]
    assert newest > backup_head
    restored = partial(kapstone, sqlite_url(tmp_path / "restored.sqlite3"), checkpoints)

    result = restored("backup", "restore", str(clinic.backup), "--json")

    done = ok_json(result)
    assert done["restored_last_event_id"] == backup_head
    assert done["checkpoints_after_backup"] >= 1 and done["checkpoints_after_backup_last_id"] == newest
    assert f"name events after #{backup_head}" in result.stderr

    broken = restored("audit", "verify", "--json")

    assert broken.returncode == 1
    verdict = json.loads(broken.stdout)
    assert verdict["ok"] is False and verdict["broken_event_id"] == newest

    # docs/deployment.md, "Backup and recovery": archive the lines after the backup, keep the others.
    shutil.move(checkpoints, tmp_path / "checkpoints.before-restore.log")
    kept = [
        line
        for line in (tmp_path / "checkpoints.before-restore.log").read_text().splitlines()
        if json.loads(line)["last_id"] <= backup_head
    ]
    checkpoints.write_text("".join(f"{line}\n" for line in kept))

    verified = ok_json(restored("audit", "verify", "--json"))

    assert verified["ok"] is True and verified["checkpoints"]["matched"] == len(kept) >= 1
