"""Key the audit chain: each new row records its key id and its place in the chain.

Existing rows are left exactly as they are (key id "", no place): they stay the unkeyed first
segment, checked with plain SHA-256, and the first row written afterwards starts the keyed chain
(``audit/services.py``). History is not rewritten.

On SQLite, adding these columns rebuilds the table, which drops its triggers: they are installed
again afterwards (and again after a reversal). Reversing is refused once keyed rows exist: without
their key id they would no longer verify.
"""

from django.db import migrations, models


def install_triggers(apps, schema_editor):
    from kapstone.audit import triggers

    triggers.install(schema_editor.connection)


def refuse_reversal_with_keyed_rows(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    keyed = AuditEvent.objects.exclude(key_id="").count()
    if keyed:
        raise RuntimeError(
            f"{keyed} audit events are keyed: reversing audit 0004 would drop their key id and make "
            "them fail `kapstone audit verify`."
        )


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_disclosures")]

    operations = [
        # Reversed last: the SQLite table rebuilt by removing the columns gets its triggers back.
        migrations.RunPython(migrations.RunPython.noop, install_triggers),
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(blank=True, default="", max_length=16),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="seq",
            field=models.PositiveBigIntegerField(blank=True, null=True, unique=True),
        ),
        migrations.RunPython(install_triggers, refuse_reversal_with_keyed_rows),
    ]
