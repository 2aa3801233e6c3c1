"""Every administration written before lot lines existed used one lot: copy it, with the amounts
dispensed, given and wasted, into its single line. Reversible: the first line's lot goes back."""

from django.db import migrations


def forwards(apps, schema_editor):
    Administration = apps.get_model("dosing", "Administration")
    AdministrationLot = apps.get_model("dosing", "AdministrationLot")
    lines = [
        AdministrationLot(
            administration_id=row.pk,
            lot_id=row.lot_id,
            position=1,
            dispensed_mg=row.dispensed_mg,
            given_mg=row.given_mg,
            wasted_mg=row.wasted_mg,
        )
        for row in Administration.objects.filter(lot__isnull=False, lots__isnull=True).iterator()
    ]
    AdministrationLot.objects.bulk_create(lines, batch_size=1000)


def backwards(apps, schema_editor):
    Administration = apps.get_model("dosing", "Administration")
    AdministrationLot = apps.get_model("dosing", "AdministrationLot")
    for line in AdministrationLot.objects.filter(position=1).iterator():
        Administration.objects.filter(pk=line.administration_id).update(lot_id=line.lot_id)
    AdministrationLot.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("dosing", "0002_administration_lots_and_amendments")]

    operations = [migrations.RunPython(forwards, backwards)]
