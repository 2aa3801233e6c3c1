"""Database triggers that raise a patient's ``CalendarVersion`` on every change to their use
calendar (``outcomes_useday``) or toxicology results (``outcomes_toxicologytest``), on SQLite
and PostgreSQL.

PostgreSQL: one statement-level trigger per table and operation, reading the transition table,
so a bulk insert of thousands of rows raises each patient's version once, in patient order (two
concurrent writers lock the version rows in the same order). SQLite has row-level triggers only:
one upsert per row.
"""

from __future__ import annotations

from kapstone.audit.triggers import execute_all

VERSION_TABLE = "outcomes_calendarversion"
TABLES = ("outcomes_useday", "outcomes_toxicologytest")
_OPERATIONS = {
    "insert": ("INSERT", ("NEW",)),
    "update": ("UPDATE", ("OLD", "NEW")),
    "delete": ("DELETE", ("OLD",)),
}


def _sqlite_create() -> list[str]:
    sqls = []
    for table in TABLES:
        for name, (event, rows) in _OPERATIONS.items():
            # Constant names only (this module's tables, NEW/OLD): no input reaches the SQL.
            upsert = "INSERT INTO {table} (patient_id, version) VALUES ({row}.patient_id, 1) "
            upsert += "ON CONFLICT (patient_id) DO UPDATE SET version = version + 1;"
            bumps = " ".join(upsert.format(table=VERSION_TABLE, row=row) for row in rows)
            sqls.append(
                f"CREATE TRIGGER IF NOT EXISTS {table}_version_{name} AFTER {event} ON {table} "
                f"BEGIN {bumps} END;"
            )
    return sqls


def _sqlite_drop() -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {table}_version_{name};" for table in TABLES for name in _OPERATIONS]


def _postgres_create() -> list[str]:
    sqls = []
    for name, (event, rows) in _OPERATIONS.items():
        # Constant names only (this module's tables and transition tables): no input reaches the SQL.
        source = " UNION ".join(f"SELECT patient_id FROM {row.lower()}_rows" for row in rows)  # noqa: S608
        sqls.append(
            f"""CREATE OR REPLACE FUNCTION kapstone_calendar_version_{name}() RETURNS trigger AS $$
               BEGIN
                 INSERT INTO {VERSION_TABLE} (patient_id, version)
                 SELECT DISTINCT patient_id, 1 FROM ({source}) AS changed ORDER BY patient_id
                 ON CONFLICT (patient_id) DO UPDATE SET version = {VERSION_TABLE}.version + 1;
                 RETURN NULL;
               END;
               $$ LANGUAGE plpgsql;"""  # noqa: S608
        )
        for table in TABLES:
            referencing = " ".join(f"{row} TABLE AS {row.lower()}_rows" for row in rows)
            sqls.append(f"DROP TRIGGER IF EXISTS {table}_version_{name} ON {table};")
            sqls.append(
                f"""CREATE TRIGGER {table}_version_{name} AFTER {event} ON {table}
                    REFERENCING {referencing}
                    FOR EACH STATEMENT EXECUTE FUNCTION kapstone_calendar_version_{name}();"""
            )
    return sqls


def _postgres_truncate() -> list[str]:
    """TRUNCATE removes rows without row or statement triggers of its own kind: every patient who
    has a version (that is, has ever had a row) gets a new one. (SQLite has no TRUNCATE; its
    DELETE without WHERE runs the row triggers.)"""
    sqls = [
        f"""CREATE OR REPLACE FUNCTION kapstone_calendar_version_truncate() RETURNS trigger AS $$
           BEGIN
             UPDATE {VERSION_TABLE} SET version = version + 1;
             RETURN NULL;
           END;
           $$ LANGUAGE plpgsql;"""  # noqa: S608 - constant names only
    ]
    for table in TABLES:
        sqls.append(f"DROP TRIGGER IF EXISTS {table}_version_truncate ON {table};")
        sqls.append(
            f"""CREATE TRIGGER {table}_version_truncate AFTER TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION kapstone_calendar_version_truncate();"""
        )
    return sqls


def _postgres_drop() -> list[str]:
    sqls = [
        f"DROP TRIGGER IF EXISTS {table}_version_{name} ON {table};"
        for table in TABLES
        for name in _OPERATIONS
    ]
    sqls += [f"DROP TRIGGER IF EXISTS {table}_version_truncate ON {table};" for table in TABLES]
    return sqls + [
        f"DROP FUNCTION IF EXISTS kapstone_calendar_version_{name}();" for name in (*_OPERATIONS, "truncate")
    ]


def statements(vendor: str, *, create: bool) -> list[str]:
    if vendor == "sqlite":
        return _sqlite_create() if create else _sqlite_drop()
    if vendor == "postgresql":
        return _postgres_create() + _postgres_truncate() if create else _postgres_drop()
    raise RuntimeError(f"no calendar version triggers for database vendor {vendor!r}")


def install(connection) -> None:
    execute_all(connection, statements(connection.vendor, create=True))


def remove(connection) -> None:
    execute_all(connection, statements(connection.vendor, create=False))
