"""A private primary + streaming replica (``pg_pair.PgPair``), migrated, shared by the tests of
this package in one pytest process. PostgreSQL stage only: the tests stop and restart it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.scale import pg_pair

ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT_S = 300


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/scale/" in str(item.fspath):
            item.add_marker(pytest.mark.postgres_only)
            if connection.vendor != "postgresql":
                item.add_marker(pytest.mark.skip(reason="a private PostgreSQL pair: PostgreSQL stage only"))


def kapstone_env(pair: pg_pair.PgPair, workdir: Path) -> dict[str, str]:
    """The environment of a Kapstone process on the private pair (development mode, no 2FA)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("KAPSTONE_")}
    env.update(
        KAPSTONE_DEV="1",
        KAPSTONE_MFA_REQUIRED="0",
        KAPSTONE_LOG_LEVEL="CRITICAL",
        KAPSTONE_DATABASE_URL=pair.primary.url,
        KAPSTONE_REPLICA_DATABASE_URL=pair.replica.url,
        KAPSTONE_AUDIT_CHECKPOINT_FILE=str(workdir / "audit-checkpoints.log"),
        PYTHONPATH=str(ROOT),
    )
    return env


def run_kapstone(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stderr[-3000:]}\n{result.stdout[-2000:]}"
    return result.stdout


@pytest.fixture(scope="session")
def pair(tmp_path_factory):
    why_not = pg_pair.available()
    if why_not:
        pytest.fail(f"private PostgreSQL pair unavailable: {why_not}")
    servers = pg_pair.PgPair()
    try:
        servers.start()
        workdir = tmp_path_factory.mktemp("kapstone-pair")
        servers.env = kapstone_env(servers, workdir)
        run_kapstone(servers.env, "kapstone", "migrate", "--noinput", "-v", "0")
        run_kapstone(servers.env, "tests.scale.replica_probe", "setup")
        yield servers
    finally:
        servers.stop()
