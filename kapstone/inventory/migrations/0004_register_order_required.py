"""The posting number and time of every register entry are required; one number per lot; the
append-only triggers of migration 0002 are back (see 0003)."""

import importlib

from django.db import migrations, models

append_only = importlib.import_module("kapstone.inventory.migrations.0002_register_append_only")


class Migration(migrations.Migration):
    dependencies = [("inventory", "0003_register_order")]

    operations = [
        migrations.AlterField(model_name="registerentry", name="posted_at", field=models.DateTimeField()),
        migrations.AlterField(
            model_name="registerentry", name="sequence", field=models.PositiveIntegerField()
        ),
        migrations.AddIndex(
            model_name="registerentry",
            index=models.Index(
                fields=["lot", "occurred_at", "sequence"], name="inventory_r_lot_id_469778_idx"
            ),
        ),
        migrations.AddConstraint(
            model_name="registerentry",
            constraint=models.UniqueConstraint(
                fields=("lot", "sequence"), name="entry_sequence_unique_per_lot"
            ),
        ),
        migrations.AddConstraint(
            model_name="registerentry",
            constraint=models.CheckConstraint(
                condition=models.Q(("sequence__gte", 1)), name="entry_sequence_positive"
            ),
        ),
        migrations.RunPython(append_only.create_triggers, append_only.drop_triggers),
    ]
