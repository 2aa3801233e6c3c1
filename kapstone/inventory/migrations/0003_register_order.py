"""The register's one order: a posting number per lot and the time each entry was posted.

Existing entries are numbered per lot in id order — the order they were posted, since every
posting took the lot's row lock before inserting — and their posting time is the time of their
own ``create`` audit row, written in the same transaction (the time they happened where no
audit row is found). Filling the new columns updates entries, which the append-only triggers of
migration 0002 refuse, so they are lifted here and put back at the end of migration 0004, which
makes the columns required (a separate migration: PostgreSQL does not alter a table in the
transaction that updated its rows; on SQLite, altering the table rebuilds it, which drops its
triggers anyway).
"""

import importlib

from django.db import migrations, models

append_only = importlib.import_module("kapstone.inventory.migrations.0002_register_append_only")


def number_and_time_entries(apps, schema_editor):
    RegisterEntry = apps.get_model("inventory", "RegisterEntry")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    audited = dict(
        AuditEvent.objects.filter(object_type="register_entry", action="create").values_list(
            "object_id", "at"
        )
    )
    next_number: dict[int, int] = {}
    for entry in RegisterEntry.objects.order_by("lot_id", "id").only("id", "lot_id", "occurred_at"):
        number = next_number.get(entry.lot_id, 1)
        next_number[entry.lot_id] = number + 1
        RegisterEntry.objects.filter(pk=entry.pk).update(
            sequence=number, posted_at=audited.get(str(entry.pk), entry.occurred_at)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_disclosures"),
        ("inventory", "0002_register_append_only"),
    ]

    operations = [
        migrations.RunPython(append_only.drop_triggers, append_only.create_triggers),
        migrations.AlterModelOptions(
            name="registerentry",
            options={
                "ordering": ["occurred_at", "lot_id", "sequence"],
                "verbose_name_plural": "register entries",
            },
        ),
        migrations.RemoveIndex(model_name="registerentry", name="inventory_r_lot_id_a8fe8d_idx"),
        migrations.AddField(
            model_name="registerentry", name="posted_at", field=models.DateTimeField(null=True)
        ),
        migrations.AddField(
            model_name="registerentry", name="sequence", field=models.PositiveIntegerField(null=True)
        ),
        migrations.RunPython(number_and_time_entries, migrations.RunPython.noop),
    ]
