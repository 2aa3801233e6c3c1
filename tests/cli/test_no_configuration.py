"""A fresh install with no configuration at all: the calculators work; a command that needs
configuration it lacks exits 2 with one line naming the missing variable, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.cli

ROOT = Path(__file__).resolve().parents[2]


def run_bare(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``kapstone ARGS`` with no KAPSTONE_* or DJANGO_* variable, from an empty folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAPSTONE_", "DJANGO_"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "kapstone", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def test_a_calculator_needs_no_configuration_and_writes_nothing(tmp_path):
    result = run_bare(tmp_path, "score", "c-ssrs", "--answers", "1,1,0,0,0,2", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "instrument": "c-ssrs",
        "total": 3,
        "band": "high",
        "flags": ["self-harm-risk", "suicide-risk-high"],
    }
    assert list(tmp_path.iterdir()) == []


def test_a_server_command_without_its_secret_key_says_so_in_one_line(tmp_path):
    result = run_bare(tmp_path, "migrate", "--noinput")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "kapstone: KAPSTONE_SECRET_KEY (or KAPSTONE_SECRET_KEY_FILE) is required unless KAPSTONE_DEV=1."
    ]
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_the_hl7_simulator_needs_no_configuration(tmp_path):
    """It sends to a listener and stores nothing: with none listening it says so (exit 2)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_bare(tmp_path, "hl7", "simulate", "--port", str(port), "--mrn", "N-1004", "--count", "1")
    assert result.returncode == 2, result.stderr
    assert "KAPSTONE_SECRET_KEY" not in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.strip()  # the one line naming the listener it could not reach
    assert list(tmp_path.iterdir()) == []
    # hl7 listen needs the database: refused for want of configuration, as every server command.
    assert run_bare(tmp_path, "hl7", "listen", "--clinic", "north").returncode == 2
