"""/ready: 200 when the database answers, the migrations are applied and a worker beat lately;
else 503 naming the failed check, and nothing more."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from kapstone.operations.models import WorkerHeartbeat
from kapstone.operations.services import worker_heartbeat_beat
from kapstone.operations.status import worker_heartbeat_age_seconds

ALL_OK = {"database": "ok", "migrations": "ok", "worker": "ok"}


@pytest.mark.django_db
def test_ready_when_everything_answers(client):
    worker_heartbeat_beat(worker="host:1")
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": ALL_OK}


@pytest.mark.django_db
def test_not_ready_when_no_worker_ever_beat(client):
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.json() == {
        "status": "not_ready",
        "failed": ["worker"],
        "checks": ALL_OK | {"worker": "failed"},
    }


@pytest.mark.django_db
def test_not_ready_when_the_heartbeat_is_older_than_the_setting(client, settings):
    settings.READY_HEARTBEAT_S = 180
    worker_heartbeat_beat(worker="host:1", now=timezone.now() - timedelta(seconds=200))
    assert 199 < worker_heartbeat_age_seconds() < 260
    response = client.get("/ready")
    assert response.status_code == 503 and response.json()["failed"] == ["worker"]
    settings.READY_HEARTBEAT_S = 600
    assert client.get("/ready").status_code == 200


@pytest.mark.django_db
def test_ready_is_public_and_says_nothing_more(client):
    worker_heartbeat_beat(worker="secret-host-name:4242")
    body = client.get("/ready").content.decode()
    assert "secret-host-name" not in body and "4242" not in body


@pytest.mark.django_db(transaction=True)
def test_not_ready_while_a_migration_is_missing(client):
    WorkerHeartbeat.objects.create(worker="host:1", started_at=timezone.now(), seen_at=timezone.now())
    # Once all were found applied, the process only rereads the recorded list: still caught.
    assert client.get("/ready").status_code == 200
    call_command("migrate", "operations", "zero", verbosity=0)
    try:
        response = client.get("/ready")
        assert response.status_code == 503
        body = response.json()
        assert "migrations" in body["failed"] and body["checks"]["database"] == "ok"
    finally:
        call_command("migrate", "operations", verbosity=0)
    WorkerHeartbeat.objects.create(worker="host:1", started_at=timezone.now(), seen_at=timezone.now())
    assert client.get("/ready").status_code == 200


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="a real unreachable server: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_not_ready_when_the_database_does_not_answer(client):
    original = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = "1"  # nothing listens there
    try:
        response = client.get("/ready")
    finally:
        connection.close()
        connection.settings_dict["PORT"] = original
    assert response.status_code == 503
    assert response.json() == {
        "status": "not_ready",
        "failed": ["database"],
        "checks": {"database": "failed", "migrations": "not_checked", "worker": "not_checked"},
    }


@pytest.mark.django_db
def test_a_polled_node_that_is_not_ready_warns_once_per_change_not_an_error_per_poll(
    client, caplog, monkeypatch
):
    from kapstone.operations import views

    monkeypatch.setattr(views, "_last_failed", ())
    with caplog.at_level("INFO"):
        for _ in range(3):
            assert client.get("/ready").status_code == 503
        worker_heartbeat_beat(worker="host:1")
        assert client.get("/ready").status_code == 200
        assert client.get("/ready").status_code == 200
    records = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    assert records == [
        ("kapstone.operations", "WARNING", "not ready: worker failed"),
        ("kapstone.operations", "INFO", "ready again"),
    ]
