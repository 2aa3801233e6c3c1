"""Database triggers that make the disclosure accounting append-only (UPDATE and DELETE refused),
on SQLite and PostgreSQL, as ``triggers`` does for the audit table."""

from __future__ import annotations

from kapstone.audit.triggers import execute_all

TABLES = ("audit_disclosure", "audit_disclosurepatient")


def _sqlite_create(table: str) -> list[str]:
    return [
        f"""CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table}
            BEGIN SELECT RAISE(ABORT, 'disclosures are append-only: UPDATE refused'); END;""",
        f"""CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table}
            BEGIN SELECT RAISE(ABORT, 'disclosures are append-only: DELETE refused'); END;""",
    ]


POSTGRES_FUNCTION = """CREATE OR REPLACE FUNCTION kapstone_disclosure_append_only() RETURNS trigger AS $$
    BEGIN
      RAISE EXCEPTION 'disclosures are append-only: % refused', TG_OP;
    END;
    $$ LANGUAGE plpgsql;"""


def statements(vendor: str, *, create: bool) -> list[str]:
    if vendor == "sqlite":
        if create:
            return [sql for table in TABLES for sql in _sqlite_create(table)]
        return [f"DROP TRIGGER IF EXISTS {t}_no_{op};" for t in TABLES for op in ("update", "delete")]
    if vendor == "postgresql":
        if create:
            return [
                POSTGRES_FUNCTION,
                *(
                    f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
                        FOR EACH ROW EXECUTE FUNCTION kapstone_disclosure_append_only();"""
                    for table in TABLES
                ),
            ]
        return [
            *(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};" for table in TABLES),
            "DROP FUNCTION IF EXISTS kapstone_disclosure_append_only();",
        ]
    raise RuntimeError(f"no append-only triggers for database vendor {vendor!r}")


def install(connection) -> None:
    execute_all(connection, statements(connection.vendor, create=True))


def remove(connection) -> None:
    execute_all(connection, statements(connection.vendor, create=False))
