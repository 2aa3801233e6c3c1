"""Run a ``kapstone`` command the way the console script does, but in this process.

A subprocess per test costs 1–2 s of interpreter and library start-up; the command-line
behaviour (argument parsing, exit status, stdout/stderr) is the same in-process, because
``execute_from_command_line`` is exactly what the console script calls. Each CLI test module
keeps one test that starts a real process, so the console entry point itself stays covered.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout

from django.core.management import execute_from_command_line


def run_kapstone(*args: str) -> subprocess.CompletedProcess[str]:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with redirect_stdout(out), redirect_stderr(err):
        try:
            execute_from_command_line(["kapstone", *args])
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return subprocess.CompletedProcess(["kapstone", *args], code, out.getvalue(), err.getvalue())


def run_kapstone_process(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kapstone", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "KAPSTONE_DEV": "1"},
        timeout=120,
        check=False,
    )
