"""The clinic of adverseevent, extrasessionrequest, ketaminecravingscore, misusedocumentation, dependencedecision becomes a protected foreign key to accounts.Clinic.

Issue 15: the clinic was a plain integer here and a protected foreign key everywhere else. The
column keeps its name (``clinic_id``) and every row its value: the field is renamed in the
migration state only (with an explicit column in between), then altered into the foreign key,
which adds the constraint (on SQLite by copying the table). No trigger refers to these tables.
"""

from django.db import migrations, models
import django.db.models.deletion


def clinic_key(model: str) -> list:
    return [
        migrations.AlterField(
            model, "clinic_id", models.BigIntegerField(db_column="clinic_id", db_index=True)
        ),
        migrations.RenameField(model, "clinic_id", "clinic"),
        migrations.AlterField(
            model,
            "clinic",
            models.ForeignKey(
                db_column="clinic_id",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="accounts.clinic",
            ),
        ),
        migrations.AlterField(
            model,
            "clinic",
            models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="accounts.clinic"
            ),
        ),
    ]


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_user_is_patient"),
        ("safety", "0001_initial"),
    ]

    operations = [
        # The open-serious index names the field; it is rebuilt on the renamed one.
        migrations.RemoveIndex("adverseevent", "ae_clinic_open_serious"),
        *clinic_key("adverseevent"),
        migrations.AddIndex(
            "adverseevent", models.Index(fields=["clinic", "status", "serious"], name="ae_clinic_open_serious")
        ),
        *clinic_key("extrasessionrequest"),
        *clinic_key("ketaminecravingscore"),
        *clinic_key("misusedocumentation"),
        *clinic_key("dependencedecision"),
    ]
