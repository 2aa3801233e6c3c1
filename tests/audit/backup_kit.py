"""Helpers of the backup tests: ``kapstone`` as a real process against a database of our choice,
and the row count of every table of a database (Django's own included)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
AUDIT_KEY = "backup-drill-audit-key-0123456789abcdef0123456789"


def kapstone(
    database_url: str,
    checkpoint_file: Path,
    *args: str,
    key: str = AUDIT_KEY,
    path: str | None = None,
    timeout: int = 900,
) -> subprocess.CompletedProcess[str]:
    """``python -m kapstone ARGS`` with the given database, audit key and checkpoint file, and no
    other KAPSTONE_* variable of the test run; ``path`` replaces PATH (to hide pg_dump)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAPSTONE_", "DJANGO_"))}
    env.update(
        KAPSTONE_DEV="1",
        KAPSTONE_DATABASE_URL=database_url,
        KAPSTONE_AUDIT_KEY=key,
        KAPSTONE_AUDIT_CHECKPOINT_FILE=str(checkpoint_file),
        KAPSTONE_LOG_LEVEL="CRITICAL",
        PYTHONPATH=str(ROOT),
    )
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "kapstone", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )


def ok_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout)


def refusal(result: subprocess.CompletedProcess[str], code: str, exit_code: int = 2) -> str:
    """The message of a ``--json`` refusal with ``code`` and ``exit_code``."""
    assert result.returncode == exit_code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    error = json.loads(result.stdout)["error"]
    assert error["code"] == code, error
    assert "Traceback" not in result.stderr
    return error["message"]


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.absolute()}"


def sqlite_row_counts(path: Path) -> dict[str, int]:
    """Every table of the SQLite file (sqlite_sequence included) and its number of rows."""
    with closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] for table in tables}


def checkpoint_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
