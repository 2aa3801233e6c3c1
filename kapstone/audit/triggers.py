"""Database triggers that make the audit table append-only, on SQLite and PostgreSQL.

Kept in one place so the migration and the test helpers (which must tamper with a row to prove
that ``audit verify`` notices) use the same statements.
"""

from __future__ import annotations

TABLE = "audit_auditevent"

SQLITE_CREATE = [
    f"""CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, 'audit events are append-only: UPDATE refused'); END;""",
    f"""CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, 'audit events are append-only: DELETE refused'); END;""",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS audit_no_update;", "DROP TRIGGER IF EXISTS audit_no_delete;"]

POSTGRES_CREATE = [
    """CREATE OR REPLACE FUNCTION kapstone_audit_append_only() RETURNS trigger AS $$
       BEGIN
         RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP;
       END;
       $$ LANGUAGE plpgsql;""",
    f"DROP TRIGGER IF EXISTS audit_append_only ON {TABLE};",
    f"""CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON {TABLE}
        FOR EACH ROW EXECUTE FUNCTION kapstone_audit_append_only();""",
]
POSTGRES_DROP = [
    f"DROP TRIGGER IF EXISTS audit_append_only ON {TABLE};",
    "DROP FUNCTION IF EXISTS kapstone_audit_append_only();",
]


def statements(vendor: str, *, create: bool) -> list[str]:
    if vendor == "sqlite":
        return SQLITE_CREATE if create else SQLITE_DROP
    if vendor == "postgresql":
        return POSTGRES_CREATE if create else POSTGRES_DROP
    raise RuntimeError(f"no append-only triggers for database vendor {vendor!r}")


def execute_all(connection, sqls: list[str]) -> None:
    """Run trigger DDL statements in order on ``connection`` (shared with disclosure_triggers)."""
    with connection.cursor() as cursor:
        for sql in sqls:
            cursor.execute(sql)


def install(connection) -> None:
    execute_all(connection, statements(connection.vendor, create=True))


def remove(connection) -> None:
    execute_all(connection, statements(connection.vendor, create=False))
