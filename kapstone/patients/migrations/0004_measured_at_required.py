"""Step 3 of 3: ``measured_at`` is required, ``measured_on`` is gone, a void is complete."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("patients", "0003_fill_measured_at")]

    operations = [
        migrations.AlterField(
            model_name="bodymeasurement",
            name="measured_at",
            field=models.DateTimeField(),
        ),
        migrations.RemoveField(
            model_name="bodymeasurement",
            name="measured_on",
        ),
        migrations.AlterModelOptions(
            name="bodymeasurement",
            options={"ordering": ["patient", "-measured_at", "-id"]},
        ),
        migrations.AddIndex(
            model_name="bodymeasurement",
            index=models.Index(fields=["patient", "measured_at"], name="measurement_patient_time"),
        ),
        migrations.AddConstraint(
            model_name="bodymeasurement",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("void_reason", ""), ("voided_at__isnull", True), ("voided_by__isnull", True)),
                    models.Q(
                        ("voided_at__isnull", False),
                        ("voided_by__isnull", False),
                        models.Q(("void_reason", ""), _negated=True),
                    ),
                    _connector="OR",
                ),
                name="measurement_void_complete",
            ),
        ),
    ]
