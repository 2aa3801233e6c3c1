"""``kapstone backup create|restore PATH``: a whole-database backup, and its restore into an empty
database (kapstone/audit/backup.py; docs/cli.md, docs/deployment.md, "Backup and recovery").

Exit 0 done; 2 refused, nothing written (``backup_exists``, ``backup_path_invalid``,
``backup_file_missing``, ``backup_file_unreadable``, ``backup_file_invalid``,
``backup_wrong_engine``, ``database_not_empty``, ``pg_dump_missing``, ``pg_restore_missing``,
``audit_key_missing``); 1 when the copy itself failed (``backup_failed``, ``restore_failed``) or
the database cannot be used (``database_error``: unreachable, or never migrated).
With ``--json`` each prints one JSON object; a refusal or failure is
``{"error": {"code", "message", "field"}}``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError

from kapstone.audit.backup import (
    BackupCreated,
    BackupRestored,
    BackupToolFailed,
    backup_create,
    backup_restore,
)
from kapstone.audit.keys import AuditKeyMissing
from kapstone.domain.errors import DomainError

EXIT_FAILED = 1
EXIT_REFUSED = 2


class Command(BaseCommand):
    help = (
        "Back up the whole database to a file (SQLite: online backup API; PostgreSQL: pg_dump "
        "custom format), or restore such a file into a new, empty database. Both are audited."
    )
    # A restore runs against a database with no tables yet: checks that read it must not run first.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        create = sub.add_parser("create", help="write a backup of the configured database to PATH")
        create.add_argument("path", metavar="PATH")
        create.add_argument("--force", action="store_true", help="replace PATH if it exists")
        create.add_argument("--json", action="store_true")
        restore = sub.add_parser("restore", help="restore PATH into the configured, empty database")
        restore.add_argument("path", metavar="PATH")
        restore.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        self.as_json = bool(options.get("json"))
        try:
            if options["subcommand"] == "create":
                self._created(backup_create(options["path"], force=options["force"]))
            else:
                self._restored(backup_restore(options["path"]))
        except AuditKeyMissing as error:
            self._refuse(error.code, str(error), None, EXIT_REFUSED)
        except BackupToolFailed as error:
            self._refuse(error.code, error.message, error.field, EXIT_FAILED)
        except DomainError as error:
            self._refuse(error.code, error.message, error.field, EXIT_REFUSED)
        except DatabaseError as error:  # unreachable, or not a Kapstone database (never migrated)
            self._refuse("database_error", f"The database cannot be used: {error}.", None, EXIT_FAILED)

    def _refuse(self, code: str, message: str, field: str | None, exit_code: int) -> None:
        if self.as_json:
            self.stdout.write(json.dumps({"error": {"code": code, "message": message, "field": field}}))
        else:
            self.stderr.write(f"error [{code}]: {message}")
        raise SystemExit(exit_code)

    def _created(self, created: BackupCreated) -> None:
        if self.as_json:
            self.stdout.write(json.dumps(asdict(created)))
            return
        self.stdout.write(
            f"backup written: {created.path} ({created.engine}, {created.size} bytes, mode 0600); "
            f"audit event #{created.audit_event_id} records it"
        )
        if not created.checkpoint_written:
            self.stderr.write("warning: the audit checkpoint of the backup's last event could not be written")

    def _restored(self, restored: BackupRestored) -> None:
        if self.as_json:
            self.stdout.write(json.dumps(asdict(restored)))
        else:
            self.stdout.write(
                f"backup restored: {restored.path} ({restored.engine}, {restored.tables} tables, "
                f"audit events up to #{restored.restored_last_event_id}); "
                f"audit event #{restored.audit_event_id} records the restore"
            )
        if restored.checkpoints_after_backup:
            self.stderr.write(
                f"warning: {restored.checkpoints_after_backup} line(s) of the audit checkpoint file "
                f"name events after #{restored.restored_last_event_id} (up to "
                f"#{restored.checkpoints_after_backup_last_id}), which this backup does not hold: "
                "`kapstone audit verify` reports them missing until those lines are archived "
                "(docs/deployment.md, Backup and recovery)"
            )
