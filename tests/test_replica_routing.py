"""The research replica's settings and routing (kapstone/replica.py), without a replica: which
reads it would take, and which it never may. tests/scale/test_replica.py runs a real one."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import router as django_router

from kapstone import env
from kapstone.accounts.models import ApiToken, Membership, User
from kapstone.audit.models import AuditEvent, Disclosure
from kapstone.care.models import TreatmentCourse
from kapstone.outcomes.models import UseDay
from kapstone.replica import (
    DataAsOf,
    ResearchReplicaRouter,
    ResearchSource,
    reading_from_replica,
    reading_research_from,
    replica_data_as_of,
    research_source,
)
from kapstone.research.models import CourseOutcomeSummary

ROOT = Path(__file__).resolve().parent.parent
router = ResearchReplicaRouter()


@pytest.fixture
def with_replica(monkeypatch):
    # As if KAPSTONE_REPLICA_DATABASE_URL were set: the router asks only whether the alias exists.
    monkeypatch.setattr("kapstone.replica.replica_configured", lambda: True)


def test_research_reads_go_to_the_replica_only_inside_the_context(with_replica):
    assert router.db_for_read(TreatmentCourse) is None
    with reading_from_replica():
        for model in (TreatmentCourse, UseDay, CourseOutcomeSummary):
            assert router.db_for_read(model) == "replica"
    assert router.db_for_read(UseDay) is None


def test_audit_rights_and_sessions_are_read_from_the_primary_even_inside(with_replica):
    with reading_from_replica():
        for model in (AuditEvent, Disclosure, User, Membership, ApiToken):
            assert router.db_for_read(model) is None


def test_writes_never_go_to_the_replica(with_replica):
    with reading_from_replica():
        assert django_router.db_for_write(CourseOutcomeSummary) == "default"
        assert django_router.db_for_write(AuditEvent) == "default"
        read_there = CourseOutcomeSummary()
        read_there._state.db = "replica"
        assert django_router.db_for_write(CourseOutcomeSummary, instance=read_there) == "default"


def test_migrations_run_on_the_primary_only():
    assert router.allow_migrate("replica", "care") is False
    assert router.allow_migrate("default", "care") is None


def test_without_a_replica_the_context_changes_nothing():
    with reading_from_replica():
        assert router.db_for_read(TreatmentCourse) is None
        assert replica_data_as_of() is None


def test_an_unavailable_replica_sends_research_reads_to_the_primary(with_replica):
    with reading_research_from(ResearchSource(configured=True, unavailable=True)):
        assert router.db_for_read(TreatmentCourse) is None
    with reading_research_from(ResearchSource(configured=True)):
        assert router.db_for_read(TreatmentCourse) == "replica"


def test_without_a_replica_the_source_is_the_primary():
    source = research_source()
    assert (source.configured, source.replica, source.as_of) == (False, False, None)


def test_another_thread_is_not_rerouted(with_replica):
    seen = []
    barrier = threading.Barrier(2)

    def other_request():
        barrier.wait(timeout=10)
        seen.append(router.db_for_read(TreatmentCourse))

    thread = threading.Thread(target=other_request)
    with reading_from_replica():
        thread.start()
        barrier.wait(timeout=10)
        thread.join(timeout=10)
        assert router.db_for_read(TreatmentCourse) == "replica"
    assert seen == [None]


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "less than a minute behind"),
        (59, "less than a minute behind"),
        (60, "1 minute behind"),
        (25 * 60 + 10, "25 minutes behind"),
        (3 * 3600 + 5, "3 hours behind"),
    ],
)
def test_lag_in_words(seconds, words):
    lag = DataAsOf(as_of=datetime(2026, 12, 7, 10, 0, tzinfo=UTC), behind=timedelta(seconds=seconds))
    assert lag.behind_words == words


def test_a_bad_replica_url_names_its_variable():
    with pytest.raises(ImproperlyConfigured, match="REPLICA_DATABASE_URL"):
        env.parse_database_url("postgres://host/", base_dir=Path("/"), variable="REPLICA_DATABASE_URL")


def test_database_urls_get_a_connect_timeout_unless_they_give_one():
    assert env.parse_database_url("postgres://h/db", base_dir=Path("/")).settings["OPTIONS"] == {
        "connect_timeout": "5"
    }
    given = env.parse_database_url("postgres://h/db?connect_timeout=2", base_dir=Path("/"))
    assert given.settings["OPTIONS"] == {"connect_timeout": "2"}


def _settings_with(**variables) -> subprocess.CompletedProcess:
    code = "import kapstone.settings as s; print(sorted(s.DATABASES), s.DATABASES.get('replica', {}).get('PORT'))"
    return subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "KAPSTONE_DEV": "1", **variables},
        capture_output=True,
        text=True,
        check=False,
    )


def test_replica_url_adds_the_replica_alias():
    result = _settings_with(
        KAPSTONE_DATABASE_URL="postgres://kap@db1:5432/kapstone",
        KAPSTONE_REPLICA_DATABASE_URL="postgres://kap@db2:5433/kapstone",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["['default',", "'replica']", "5433"]


def test_replica_of_another_engine_is_refused():
    result = _settings_with(
        KAPSTONE_DATABASE_URL="postgres://kap@db1:5432/kapstone",
        KAPSTONE_REPLICA_DATABASE_URL="sqlite:///var/replica.sqlite3",
    )
    assert result.returncode != 0
    assert "KAPSTONE_REPLICA_DATABASE_URL" in result.stderr
