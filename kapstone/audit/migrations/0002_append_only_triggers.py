"""Make the audit table append-only in the database itself (UPDATE and DELETE refused)."""

from django.db import migrations


def create_triggers(apps, schema_editor):
    from kapstone.audit import triggers

    triggers.install(schema_editor.connection)


def drop_triggers(apps, schema_editor):
    from kapstone.audit import triggers

    triggers.remove(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
