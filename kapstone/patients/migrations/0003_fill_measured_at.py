"""Give every existing measurement the moment it was taken, from its day and its entry time.

Only the day was recorded. A measurement entered on the day it was taken (in the clinic's time
zone) gets the minute it was entered: it cannot have been taken later, and same-day entries keep
the order in which they were made (within a minute, by entry). A measurement entered on a later day (back-dated) gets noon
of its day in the clinic's time zone: its time was never recorded, and same-day back-dated
entries then tie and are ordered by entry (their id), as the weight-in-force rule does.

Reversible: the day is the local date of ``measured_at``. A void cannot be expressed in the
old schema (a voided weight would silently become a weight in force again), so the reversal
refuses while any measurement is voided.
"""

from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.db import migrations

NOON = time(12, 0)


def forwards(apps, schema_editor):
    BodyMeasurement = apps.get_model("patients", "BodyMeasurement")
    rows = BodyMeasurement.objects.filter(measured_at__isnull=True).select_related("patient__clinic")
    batch = []
    for row in rows.iterator(chunk_size=1000):
        zone = ZoneInfo(row.patient.clinic.timezone)
        if row.recorded_at.astimezone(zone).date() == row.measured_on:
            # To the minute, as measurements are recorded from now on.
            row.measured_at = row.recorded_at.replace(second=0, microsecond=0)
        else:
            row.measured_at = datetime.combine(row.measured_on, NOON, tzinfo=zone)
        batch.append(row)
        if len(batch) >= 1000:
            BodyMeasurement.objects.bulk_update(batch, ["measured_at"])
            batch = []
    BodyMeasurement.objects.bulk_update(batch, ["measured_at"])


def backwards(apps, schema_editor):
    BodyMeasurement = apps.get_model("patients", "BodyMeasurement")
    voided = BodyMeasurement.objects.filter(voided_at__isnull=False).count()
    if voided:
        raise RuntimeError(
            f"{voided} body measurement(s) are voided; the earlier schema cannot mark a void, so "
            "reversing would make voided weights count again. Not reversed."
        )
    rows = BodyMeasurement.objects.select_related("patient__clinic")
    batch = []
    for row in rows.iterator(chunk_size=1000):
        row.measured_on = row.measured_at.astimezone(ZoneInfo(row.patient.clinic.timezone)).date()
        batch.append(row)
        if len(batch) >= 1000:
            BodyMeasurement.objects.bulk_update(batch, ["measured_on"])
            batch = []
    BodyMeasurement.objects.bulk_update(batch, ["measured_on"])


class Migration(migrations.Migration):
    dependencies = [("patients", "0002_measurement_time_and_void")]

    operations = [migrations.RunPython(forwards, backwards)]
