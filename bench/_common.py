"""What the benchmark scripts share: the database each one builds for itself (a SQLite file or a
PostgreSQL database on ``KAPSTONE_BENCH_PG``), the environment of the processes they start, and
starting and stopping a server process. Not a benchmark (``bench/run.py`` runs ``bench_*.py``).

A script imports it as ``_common`` (its own directory is first on ``sys.path`` when it is run as
``python bench/bench_x.py``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The PostgreSQL server the benchmarks create their databases on (trust auth, user postgres).
PG_SERVER = os.environ.get("KAPSTONE_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
#: The backends a ``--backends`` list may name (``postgresql`` is ``postgres``).
BACKENDS = ("sqlite", "postgres")


def db_name(default: str) -> str:
    """A script's PostgreSQL database name: ``KAPSTONE_BENCH_DB`` when set (two people benchmarking
    on one server), else the script's own."""
    return os.environ.get("KAPSTONE_BENCH_DB") or default


def pg_admin(sql: str) -> None:
    """One statement on the server's ``postgres`` database, outside a transaction (CREATE/DROP
    DATABASE)."""
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def pg_drop(name: str, *, force: bool = False) -> None:
    """Drop the database ``name`` if it exists; ``force`` ends the connections still open to it."""
    pg_admin(f"DROP DATABASE IF EXISTS {name}" + (" WITH (FORCE)" if force else ""))


def pg_create(name: str, *, force: bool = False) -> None:
    """The database ``name``, empty: dropped first if it exists."""
    pg_drop(name, force=force)
    pg_admin(f"CREATE DATABASE {name}")


def sqlite_remove(path: Path) -> None:
    """A SQLite database file and its write-ahead log and shared-memory files."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def backends(text: str) -> list[str]:
    """A ``--backends`` value (``sqlite,postgres``) as backend names; raises ``SystemExit`` naming
    an unknown one."""
    names = ["postgres" if name.strip() == "postgresql" else name.strip() for name in text.split(",") if name]
    unknown = [name for name in names if name not in BACKENDS]
    if unknown:
        raise SystemExit(f"unknown backend {unknown[0]!r} (known: {', '.join(BACKENDS)})")
    return names


@contextmanager
def database(
    backend: str,
    *,
    sqlite_path: Path,
    pg_name: str,
    fresh: bool = True,
    keep: bool = False,
    force: bool = False,
) -> Iterator[str]:
    """The ``KAPSTONE_DATABASE_URL`` of a benchmark's own database on ``backend``: emptied first
    (``fresh``), removed afterwards unless ``keep``. ``force``: PostgreSQL drops end the
    connections still open (a listener killed mid-run)."""
    if backend == "sqlite":
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        if fresh:
            sqlite_remove(sqlite_path)
        url = f"sqlite:///{sqlite_path}"
    else:
        if fresh:
            pg_create(pg_name, force=force)
        url = f"{PG_SERVER}/{pg_name}"
    try:
        yield url
    finally:
        if not keep:
            if backend == "sqlite":
                sqlite_remove(sqlite_path)
            else:
                pg_drop(pg_name, force=force)


def bench_env(*, clean: bool = False, **settings: str) -> dict[str, str]:
    """The environment of a process a benchmark starts: development settings, the kapstone of
    this tree (``PYTHONPATH``, whatever the virtualenv has installed), then ``settings``.
    ``clean``: none of the caller's own ``KAPSTONE_*`` variables."""
    env = {k: v for k, v in os.environ.items() if not (clean and k.startswith("KAPSTONE_"))}
    env.update(KAPSTONE_DEV="1", DJANGO_SETTINGS_MODULE="kapstone.settings", PYTHONPATH=str(ROOT))
    env.update(settings)
    return env


def run_checked(command: list[str], env: dict, timeout: float) -> str:
    """Run ``command`` (a Python command line) in the tree; its stdout, or ``RuntimeError`` with
    the end of its stderr."""
    result = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[1:5])} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def start_server(command: list[str], env: dict, log: Path, *, stdout=subprocess.DEVNULL) -> subprocess.Popen:
    """A server process (``python -m …``) in the tree, its stderr in ``log``."""
    return subprocess.Popen(
        [sys.executable, *command], cwd=ROOT, env=env, stdout=stdout, stderr=log.open("wb"), text=True
    )


def stop_server(process: subprocess.Popen, *, timeout: float = 20, graceful=signal.SIGTERM) -> int | None:
    """Ask ``process`` to stop (``graceful``), kill it after ``timeout`` s; its exit status, None
    when it had to be killed."""
    process.send_signal(graceful)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)
        return None
