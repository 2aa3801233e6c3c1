"""Moving the test database between migrations, and always back to the newest of every app.

Unapplying one app's migration unapplies every migration in other apps that depends on it
(the portal's tables depend on the patients app, for one). A test that went back must end at
the newest migration of *every* app, or the tests that run after it on the same database find
tables missing; on PostgreSQL the transactional race tests did.
"""

from __future__ import annotations

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate(target):
    """Migrate to ``target`` (app, name); return the historical apps at that state."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])
    return executor.loader.project_state([target]).apps


def migrate_to_newest():
    """Apply every app's newest migration: the state every other test expects."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
