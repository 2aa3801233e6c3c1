"""What the audit tests share: running `kapstone audit …`, and tampering as a database owner."""

from __future__ import annotations

import json
from contextlib import contextmanager
from io import StringIO

from django.core.management import call_command
from django.db import connection

from kapstone.audit import triggers
from kapstone.audit.models import AuditEvent
from kapstone.audit.services import audit_record


def run_audit(*args: str) -> tuple[int, str, str]:
    """``kapstone audit ARGS``: (exit status, stdout, stderr)."""
    out, err = StringIO(), StringIO()
    try:
        call_command("audit", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


def run_verify() -> tuple[int, dict]:
    """``kapstone audit verify --json``: (exit status, the JSON answer)."""
    code, out, _err = run_audit("verify", "--json")
    return code, json.loads(out)


@contextmanager
def triggers_dropped():
    """What a database owner can do: take the append-only triggers away, then put them back."""
    triggers.remove(connection)
    try:
        yield
    finally:
        triggers.install(connection)


def sql(statement: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def record_events(actor, count: int, capture) -> list[AuditEvent]:
    """``count`` events, with the after-commit work run as a commit would run it."""
    with capture(execute=True):
        return [audit_record(actor=actor, action="read", object_type="x", object_id=n) for n in range(count)]
