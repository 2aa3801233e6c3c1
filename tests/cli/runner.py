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


def run_kapstone_in_transaction(*args: str) -> subprocess.CompletedProcess[str]:
    """:func:`run_kapstone` for a command that reads the test database: through ``call_command``,
    which (unlike the console entry point) leaves the test's database connection open — on
    PostgreSQL, closing it would end the test's transaction. Argument errors still exit 2."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from kapstone.cli import EXIT_INVALID_INPUT, dumps
    from kapstone.domain.errors import DomainError

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with redirect_stdout(out), redirect_stderr(err):
        try:
            call_command(*args, stdout=out, stderr=err)
        except DomainError as error:  # an argument refused while parsing, as run_from_argv reports it
            code = EXIT_INVALID_INPUT
            (out if "--json" in args else err).write(
                dumps(error.as_dict()) if "--json" in args else error.message
            )
        except CommandError as error:
            code = getattr(error, "returncode", 1)
            err.write(str(error))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return subprocess.CompletedProcess(["kapstone", *args], code, out.getvalue(), err.getvalue())
