"""Backup and restore of the whole database (``kapstone backup create|restore``).

- SQLite: Python's ``sqlite3`` online backup API copies the live database page by page under one
  read lock, so the copy is consistent while the server keeps running (WAL mode: writers are not
  blocked). The copy is a plain SQLite file (rollback journal, no ``-wal`` beside it).
- PostgreSQL: ``pg_dump --format=custom`` (found on PATH), one consistent snapshot; restored with
  ``pg_restore --no-owner --no-privileges --exit-on-error --single-transaction``. The connection
  comes from the configured database through libpq's environment (``PGHOST``, ``PGPASSWORD``, …):
  the password never appears on a command line.

A backup is written to a temporary file (mode 0600: it holds PHI) in the target's folder and
renamed over the target only once complete, so a PATH holds a whole backup or nothing new. An
existing PATH is refused (``backup_exists``) unless ``force``.

A restore goes only into an empty database (no tables at all: a new ``createdb``, or a SQLite path
with no file or an empty one), never over data (``database_not_empty``). The file is checked
before the database is touched: missing, unreadable, not a backup, or of the other engine.

Both are audited. ``create`` records its ``export`` event *before* the dump and writes a checkpoint
of the chain's head, so the backup holds the record of its own making, and the checkpoint file
pins exactly the last event the backup holds. ``restore`` records its event in the restored
database, after the restore, linked to the restored chain's head: ``kapstone audit verify`` on the
restored database is intact. Checkpoint lines naming events newer than the backup are not hidden:
``restore`` counts them, and ``verify`` reports those events missing (they are lost with the
backup's age) until the operator archives the lines, as docs/deployment.md, "Backup and recovery" describes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection

from kapstone.audit.checkpoints import audit_checkpoint_write, checkpoint_file_read
from kapstone.audit.keys import audit_keys_known
from kapstone.audit.models import AuditAction, AuditEvent, AuditOutcome
from kapstone.audit.services import audit_record
from kapstone.domain.errors import DomainError

SQLITE_HEADER = b"SQLite format 3\x00"
PG_CUSTOM_HEADER = b"PGDMP"
ENGINE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}

# libpq's environment variables for the connection options Django passes through.
_LIBPQ_OPTIONS = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "passfile": "PGPASSFILE",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}


@dataclass(frozen=True)
class BackupCreated:
    path: str
    engine: str
    size: int
    audit_event_id: int
    checkpoint_written: bool


@dataclass(frozen=True)
class BackupRestored:
    path: str
    engine: str
    tables: int
    restored_last_event_id: int | None
    audit_event_id: int
    # Checkpoint lines that name events after the backup's last one (lost with the backup's age).
    checkpoints_after_backup: int
    checkpoints_after_backup_last_id: int | None


class BackupToolFailed(DomainError):
    """``pg_dump`` or ``pg_restore`` (or SQLite) failed while working: exit 1, not a refusal."""


def backup_kind(path: Path) -> str:
    """``"sqlite"`` or ``"postgresql"`` from the file's first bytes, or a DomainError:
    ``backup_file_missing``, ``backup_file_unreadable``, ``backup_file_invalid``."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        raise DomainError("backup_file_missing", f"No backup file at {path}.", field="path") from None
    except IsADirectoryError:
        raise DomainError(
            "backup_file_unreadable", f"{path} is a folder, not a backup file.", field="path"
        ) from None
    except OSError as error:
        raise DomainError(
            "backup_file_unreadable", f"Cannot read {path}: {error.strerror or error}.", field="path"
        ) from None
    if head == SQLITE_HEADER:
        return "sqlite"
    if head.startswith(PG_CUSTOM_HEADER):
        return "postgresql"
    raise DomainError(
        "backup_file_invalid",
        f"{path} is not a Kapstone backup: neither a SQLite database nor a pg_dump custom-format archive.",
        field="path",
    )


def _engine() -> str:
    vendor = connection.vendor
    if vendor not in ENGINE_NAMES:  # pragma: no cover - settings accept only these two
        raise DomainError("backup_engine_unsupported", f"No backup for database engine {vendor!r}.")
    return vendor


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise DomainError(
            f"{name}_missing",
            f"{name} was not found on PATH; install the PostgreSQL client tools of the server's "
            f"major version or later (Debian: apt-get install postgresql-client).",
        )
    return found


def _libpq_environment() -> dict[str, str]:
    """The process environment with the configured database's connection as libpq variables."""
    db = connection.settings_dict
    env = dict(os.environ)
    for variable, value in (
        ("PGHOST", db.get("HOST")),
        ("PGPORT", db.get("PORT")),
        ("PGUSER", db.get("USER")),
        ("PGDATABASE", db.get("NAME")),
        ("PGPASSWORD", db.get("PASSWORD")),
    ):
        if value:
            env[variable] = str(value)
    for option, variable in _LIBPQ_OPTIONS.items():
        value = (db.get("OPTIONS") or {}).get(option)
        if value:
            env[variable] = str(value)
    return env


def _fsync_directory(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _sqlite_dump(destination: Path) -> None:
    connection.ensure_connection()
    target = sqlite3.connect(destination)
    try:
        connection.connection.backup(target)  # every page in one step: one consistent snapshot
        # A self-contained file: the live database's WAL mode would leave -wal/-shm beside it.
        target.execute("PRAGMA journal_mode=DELETE")
        (check,) = target.execute("PRAGMA quick_check").fetchone()
    finally:
        target.close()
    if check != "ok":
        raise BackupToolFailed("backup_failed", f"The SQLite copy failed its integrity check: {check}.")


def _pg_dump(destination: Path) -> None:
    pg_dump = _tool("pg_dump")
    result = subprocess.run(  # noqa: S603 - a tool found on PATH, our own arguments, no shell
        [pg_dump, "--format=custom", "--no-password", f"--file={destination}"],
        env=_libpq_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BackupToolFailed("backup_failed", f"pg_dump failed: {_last_line(result.stderr)}")


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def backup_create(path: Path | str, *, force: bool = False) -> BackupCreated:
    """Write a backup of the configured database to ``path``.

    Refusals (nothing written): ``backup_exists`` (``path`` exists and not ``force``),
    ``backup_path_invalid`` (a folder, or its folder is missing or not writable), ``pg_dump_missing``.
    A failing dump raises ``BackupToolFailed`` (``backup_failed``) after recording the failure.
    """
    engine = _engine()
    target = Path(path).expanduser().absolute()
    if target.is_dir():
        raise DomainError("backup_path_invalid", f"{target} is a folder; give a file name.", field="path")
    if not target.parent.is_dir():
        raise DomainError("backup_path_invalid", f"The folder {target.parent} does not exist.", field="path")
    if (target.exists() or target.is_symlink()) and not force:
        raise DomainError(
            "backup_exists",
            f"{target} already exists; choose a new name, or pass --force to replace it.",
            field="path",
        )
    if engine == "postgresql":
        _tool("pg_dump")
    try:
        descriptor, temporary_name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".partial"
        )
    except OSError as error:
        raise DomainError(
            "backup_path_invalid",
            f"Cannot write in {target.parent}: {error.strerror or error}.",
            field="path",
        ) from None
    os.close(descriptor)  # mkstemp created it with mode 0600
    temporary = Path(temporary_name)
    detail = {"engine": engine, "file": target.name}
    label = "kapstone backup create"
    try:
        # Recorded (and committed) before the dump: the backup holds the record of its own making.
        event = audit_record(
            actor=None, action=AuditAction.EXPORT, object_type="backup", detail=detail, actor_label=label
        )
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    try:
        audit_checkpoint_write()  # pins the last event the backup holds, outside the database
        checkpoint_written = True
    except OSError:
        checkpoint_written = False
    try:
        if engine == "sqlite":
            _sqlite_dump(temporary)
        else:
            _pg_dump(temporary)
        os.chmod(temporary, 0o600)
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        _fsync_directory(target.parent)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        code = error.code if isinstance(error, DomainError) else type(error).__name__
        audit_record(
            actor=None,
            action=AuditAction.EXPORT,
            object_type="backup",
            object_id=event.pk,
            outcome=AuditOutcome.FAILURE,
            detail={**detail, "error": code},
            actor_label=label,
        )
        if isinstance(error, OSError):  # the disk full, the folder gone
            raise BackupToolFailed("backup_failed", f"Writing the backup failed: {error}.") from error
        raise
    return BackupCreated(str(target), engine, target.stat().st_size, event.pk, checkpoint_written)


def _table_names() -> list[str]:
    connection.ensure_connection()
    with connection.cursor() as cursor:
        return connection.introspection.table_names(cursor, include_views=True)


def _require_empty() -> None:
    """Refuse (``database_not_empty``) a database holding any table, ours or another's."""
    if connection.vendor == "sqlite":
        tables, applied = _sqlite_target_contents(Path(connection.settings_dict["NAME"]))
    else:
        tables = _table_names()
        applied = 0
        if "django_migrations" in tables:
            with connection.cursor() as cursor:
                cursor.execute("SELECT COUNT(*) FROM django_migrations")
                (applied,) = cursor.fetchone()
    if not tables:
        return
    raise DomainError(
        "database_not_empty",
        f"The database {_database_label()} is not empty: it holds {len(tables)} tables and "
        f"{applied} applied migrations. A backup is restored only into a new, empty database "
        "(createdb; or, for SQLite, a path with no file); nothing was restored.",
    )


def _sqlite_target_contents(path: Path) -> tuple[list[str], int]:
    """The tables of the SQLite file and its applied migrations, read without writing a byte
    (Django's connection would switch the file to WAL mode)."""
    if not path.exists() or path.stat().st_size == 0:
        return [], 0
    try:
        with contextlib.closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)) as db:
            tables = [
                name
                for (name,) in db.execute(
                    "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                    "AND name != 'sqlite_sequence'"
                )
            ]
            applied = 0
            if "django_migrations" in tables:
                (applied,) = db.execute("SELECT COUNT(*) FROM django_migrations").fetchone()
    except sqlite3.DatabaseError:
        return ["(not a SQLite database)"], 0
    return tables, applied


def _database_label() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return str(db["NAME"])
    return f"{db.get('NAME')} on {db.get('HOST') or 'the local socket'}"


def _check_sqlite_backup(source: Path) -> None:
    try:
        backup = sqlite3.connect(f"{source.absolute().as_uri()}?mode=ro", uri=True)
        try:
            (check,) = backup.execute("PRAGMA quick_check").fetchone()
            has_migrations = backup.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='django_migrations'"
            ).fetchone()
        finally:
            backup.close()
    except sqlite3.DatabaseError as error:
        check, has_migrations = str(error), None
    if check != "ok" or not has_migrations:
        reason = "it fails SQLite's integrity check" if check != "ok" else "it holds no Kapstone tables"
        raise DomainError(
            "backup_file_invalid", f"{source} is not a usable Kapstone backup: {reason}.", field="path"
        )


def _check_pg_archive(source: Path, pg_restore: str) -> None:
    result = subprocess.run(  # noqa: S603 - a tool found on PATH, our own arguments, no shell
        [pg_restore, "--list", str(source)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0 or "django_migrations" not in result.stdout:
        reason = _last_line(result.stderr) if result.returncode != 0 else "it holds no Kapstone tables"
        raise DomainError(
            "backup_file_invalid", f"{source} is not a usable Kapstone backup: {reason}.", field="path"
        )


def _sqlite_restore(source: Path) -> None:
    backup = sqlite3.connect(f"{source.absolute().as_uri()}?mode=ro", uri=True)
    try:
        connection.ensure_connection()
        backup.backup(connection.connection)
    except sqlite3.Error as error:
        raise BackupToolFailed("restore_failed", f"The SQLite restore failed: {error}.") from None
    finally:
        backup.close()
    # Reconnect so that the connection's settings (WAL mode, foreign keys) apply to the new pages.
    connection.close()
    connection.ensure_connection()


def _pg_restore(source: Path, pg_restore: str) -> None:
    result = subprocess.run(  # noqa: S603 - a tool found on PATH, our own arguments, no shell
        [
            pg_restore,
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            "--no-password",
            f"--dbname={connection.settings_dict['NAME']}",
            str(source),
        ],
        env=_libpq_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BackupToolFailed("restore_failed", f"pg_restore failed: {_last_line(result.stderr)}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # pg_restore leaves the planner without statistics


def backup_restore(path: Path | str) -> BackupRestored:
    """Restore the backup at ``path`` into the configured, empty database, then audit it.

    Refusals (nothing written): ``backup_file_missing``, ``backup_file_unreadable``,
    ``backup_file_invalid``, ``backup_wrong_engine``, ``pg_restore_missing``, ``database_not_empty``.
    """
    source = Path(path).expanduser().absolute()
    kind = backup_kind(source)
    engine = _engine()
    if kind != engine:
        raise DomainError(
            "backup_wrong_engine",
            f"{source} is a {ENGINE_NAMES[kind]} backup, but the configured database is "
            f"{ENGINE_NAMES[engine]}: restore it into a {ENGINE_NAMES[kind]} database.",
            field="path",
        )
    if engine == "postgresql":
        pg_restore = _tool("pg_restore")
        _check_pg_archive(source, pg_restore)
    else:
        _check_sqlite_backup(source)
    _require_empty()
    if engine == "sqlite":
        _sqlite_restore(source)
    else:
        _pg_restore(source, pg_restore)
    head = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    later = _checkpoints_after(head or 0)
    event = audit_record(
        actor=None,
        action=AuditAction.CREATE,
        object_type="backup_restore",
        detail={"engine": engine, "file": source.name, "restored_last_event_id": head},
        actor_label="kapstone backup restore",
    )
    return BackupRestored(
        path=str(source),
        engine=engine,
        tables=len(_table_names()),
        restored_last_event_id=head,
        audit_event_id=event.pk,
        checkpoints_after_backup=len(later),
        checkpoints_after_backup_last_id=max(later) if later else None,
    )


def _checkpoints_after(last_id: int) -> list[int]:
    """The events named by checkpoint lines after ``last_id`` (lines that cannot be read are left
    to ``audit verify``)."""
    try:
        lines = checkpoint_file_read(Path(settings.AUDIT_CHECKPOINT_FILE), keys=audit_keys_known())
    except OSError:
        return []
    return [
        line.checkpoint.last_id
        for line in lines or []
        if line.checkpoint is not None and line.checkpoint.last_id > last_id
    ]
