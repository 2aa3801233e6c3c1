"""Make register entries unchangeable in the database itself.

UPDATE is refused on SQLite and PostgreSQL; DELETE is refused on PostgreSQL (where PROTECT
already stops the ORM). On SQLite a DELETE trigger would also stop the test runner's flush of
transactional tests, which empties tables with DELETE; PostgreSQL flushes with TRUNCATE,
which row triggers do not see.
"""

from django.db import migrations

TABLE = "inventory_registerentry"

SQLITE_CREATE = [
    f"""CREATE TRIGGER IF NOT EXISTS register_no_update BEFORE UPDATE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, 'register entries are append-only: UPDATE refused'); END;""",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS register_no_update;"]

POSTGRES_CREATE = [
    """CREATE OR REPLACE FUNCTION kapstone_register_append_only() RETURNS trigger AS $$
       BEGIN
         RAISE EXCEPTION 'register entries are append-only: % refused', TG_OP;
       END;
       $$ LANGUAGE plpgsql;""",
    f"DROP TRIGGER IF EXISTS register_append_only ON {TABLE};",
    f"""CREATE TRIGGER register_append_only BEFORE UPDATE OR DELETE ON {TABLE}
        FOR EACH ROW EXECUTE FUNCTION kapstone_register_append_only();""",
]
POSTGRES_DROP = [
    f"DROP TRIGGER IF EXISTS register_append_only ON {TABLE};",
    "DROP FUNCTION IF EXISTS kapstone_register_append_only();",
]


def _run(schema_editor, *, create: bool) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        statements = SQLITE_CREATE if create else SQLITE_DROP
    elif vendor == "postgresql":
        statements = POSTGRES_CREATE if create else POSTGRES_DROP
    else:
        raise RuntimeError(f"no append-only triggers for database vendor {vendor!r}")
    with schema_editor.connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def create_triggers(apps, schema_editor):
    _run(schema_editor, create=True)


def drop_triggers(apps, schema_editor):
    _run(schema_editor, create=False)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0001_initial")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
