"""Body measurements record when they were taken (not only the day) and can be voided.

Step 1 of 3: the new columns, nullable; ``measured_on`` becomes nullable so that the reversal
can refill it (0003 fills ``measured_at``; 0004 makes it required and drops ``measured_on``).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="bodymeasurement",
            name="measured_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="bodymeasurement",
            name="voided_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="bodymeasurement",
            name="voided_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="bodymeasurement",
            name="void_reason",
            field=models.CharField(blank=True, max_length=500),
        ),
        migrations.AlterField(
            model_name="bodymeasurement",
            name="measured_on",
            field=models.DateField(null=True),
        ),
    ]
