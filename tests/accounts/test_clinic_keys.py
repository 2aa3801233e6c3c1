"""Every record's clinic is one kind of column: a protected foreign key to the clinic.

Dosing, monitoring and safety kept the clinic as a plain integer: nothing stopped a row naming a
clinic that does not exist, and a clinic with records could be deleted from under them. The
audit log is the one exception, by design: it sits below the accounts app (it records events
about clinics and users that may be gone) and keeps plain ids.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection, models
from django.db.migrations.executor import MigrationExecutor

from kapstone.accounts.models import Clinic
from kapstone.demo.seed import seed_demo
from tests.migrations_kit import migrate_to_newest

#: The models that moved from an integer ``clinic_id`` to a foreign key, by app.
MOVED = {
    "dosing": ["DoseOrder"],
    "monitoring": ["Observation", "Alert", "ScaleScore", "Discharge"],
    "safety": [
        "AdverseEvent",
        "ExtraSessionRequest",
        "KetamineCravingScore",
        "MisuseDocumentation",
        "DependenceDecision",
    ],
}
BEFORE = [
    ("dosing", "0005_start_override"),
    ("monitoring", "0002_alert_event_system_actor"),
    ("safety", "0001_initial"),
]


def clinic_columns():
    for model in apps.get_models():
        if not model.__module__.startswith("kapstone.") or model._meta.app_label == "audit":
            continue
        for field in model._meta.concrete_fields:
            if field.column == "clinic_id" or field.name in ("clinic", "clinic_id"):
                yield model, field


def test_every_clinic_column_is_a_protected_foreign_key():
    columns = list(clinic_columns())
    assert len(columns) >= 20
    wrong = [
        f"{model._meta.label}.{field.name}"
        for model, field in columns
        if not (
            isinstance(field, models.ForeignKey)
            and field.related_model is Clinic
            and field.remote_field.on_delete is models.PROTECT
        )
    ]
    assert not wrong, f"a plain clinic id, not a protected foreign key: {wrong}"


@pytest.mark.django_db(transaction=True)
def test_the_move_to_foreign_keys_keeps_every_rows_clinic():
    seed_demo(patients_per_clinic=6, follow_up_per_protocol=1)
    rows = {
        (app, name): sorted(apps.get_model(app, name).objects.values_list("pk", "clinic_id"))
        for app, names in MOVED.items()
        for name in names
    }
    assert all(rows[key] for key in rows if key[1] in ("DoseOrder", "Observation", "Alert", "AdverseEvent"))
    assert {clinic for values in rows.values() for _, clinic in values} == set(
        Clinic.objects.values_list("pk", flat=True)
    )
    try:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(BEFORE)
        old = executor.loader.project_state(BEFORE).apps
        for (app, name), values in rows.items():
            assert sorted(old.get_model(app, name).objects.values_list("pk", "clinic_id")) == values, name
    finally:
        migrate_to_newest()
    for (app, name), values in rows.items():
        model = apps.get_model(app, name)
        assert sorted(model.objects.values_list("pk", "clinic_id")) == values, name
        assert isinstance(model._meta.get_field("clinic"), models.ForeignKey)
