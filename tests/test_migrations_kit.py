"""A migration test that went back leaves the database at every app's newest migration."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.migrations_kit import migrate, migrate_to_newest


def unapplied():
    executor = MigrationExecutor(connection)
    return [migration.app_label + "." + migration.name
            for migration, _ in executor.migration_plan(executor.loader.graph.leaf_nodes())]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_going_back_in_one_app_and_forward_again_reapplies_the_other_apps():
    migrate(("patients", "0001_initial"))
    gone = unapplied()
    # Other apps' migrations that depend on the patients app went back with it.
    assert any(not name.startswith("patients.") for name in gone), gone
    migrate_to_newest()
    assert unapplied() == []
