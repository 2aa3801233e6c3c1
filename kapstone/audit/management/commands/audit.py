"""``kapstone audit verify|checkpoint|rotate``: the audit trail's tamper evidence.

``verify`` checks the keyed hash chain and compares the table with the checkpoints: exit 0 when
intact, 1 naming what is wrong, 2 when it cannot check (no key, an unreadable checkpoint file).
``checkpoint`` writes the chain's head to the checkpoint file (run hourly by a timer).
``rotate`` starts the configured key's segment after a key change. With ``--json`` each prints
one JSON object; a refusal is ``{"error": {"code", "message", "field"}}`` with exit 2.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from kapstone.audit.checkpoints import audit_checkpoint_write
from kapstone.audit.keys import AuditKeyMissing
from kapstone.audit.services import audit_key_rotate
from kapstone.audit.verify import AuditVerification, audit_trail_verify
from kapstone.domain.errors import DomainError

EXIT_BROKEN = 1
EXIT_CANNOT = 2
SHOWN_PROBLEMS = 20


class Command(BaseCommand):
    help = (
        "Audit trail tools. 'verify' checks the keyed hash chain and the checkpoints and names what "
        "is wrong; 'checkpoint' writes the chain's head outside the database (hourly); 'rotate' "
        "starts the new key's segment after a key change."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        for name, text in (
            ("verify", "check the hash chain and compare the table with the checkpoints"),
            ("checkpoint", "write a checkpoint of the chain's head (run hourly)"),
            ("rotate", "start the configured key's segment of the chain (after a key change)"),
        ):
            sub.add_parser(name, help=text).add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        self.as_json = bool(options.get("json"))
        action = {"verify": self._verify, "checkpoint": self._checkpoint, "rotate": self._rotate}
        try:
            action[options["subcommand"]]()
        except AuditKeyMissing as error:
            self._refuse(error.code, str(error))
        except DomainError as error:
            self._refuse(error.code, error.message)

    def _refuse(self, code: str, message: str, exit_code: int = EXIT_CANNOT) -> None:
        if self.as_json:
            self.stdout.write(json.dumps({"error": {"code": code, "message": message, "field": None}}))
        else:
            self.stderr.write(message)
        raise SystemExit(exit_code)

    def _verify(self) -> None:
        try:
            result = audit_trail_verify()
        except OSError as error:
            self._refuse("checkpoint_file_unreadable", f"The audit checkpoint file cannot be read: {error}")
        if self.as_json:
            self.stdout.write(json.dumps(_verification_json(result)))
        else:
            self._verify_text(result)
        if not result.ok:
            raise SystemExit(EXIT_BROKEN)

    def _verify_text(self, result: AuditVerification) -> None:
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
        if result.ok:
            self.stdout.write(
                f"audit chain intact: {result.checked} events checked; "
                f"{result.checkpoints_matched} of {result.checkpoint_lines} checkpoints match "
                f"({result.checkpoint_file}); {len(result.segments)} key segment(s)"
            )
            return
        if result.broken is not None:
            self.stderr.write(
                f"audit chain broken at event #{result.broken.event_id}: {result.broken.reason}"
            )
        problems = result.checkpoint_problems
        for problem in problems[:SHOWN_PROBLEMS]:
            self.stderr.write(f"audit trail does not match its checkpoints: {problem.reason}")
        if len(problems) > SHOWN_PROBLEMS:
            self.stderr.write(
                f"… and {len(problems) - SHOWN_PROBLEMS} more checkpoint lines that do not match"
            )

    def _checkpoint(self) -> None:
        try:
            written = audit_checkpoint_write()
        except OSError as error:
            self._refuse(
                "checkpoint_file_unwritable",
                f"The audit checkpoint could not be written: {error}",
                EXIT_BROKEN,
            )
        checkpoint = written.checkpoint
        if self.as_json:
            self.stdout.write(
                json.dumps(
                    {
                        "last_id": checkpoint.last_id,
                        "count": checkpoint.count,
                        "head": checkpoint.head,
                        "at": json.loads(written.line)["at"],
                        "key_id": checkpoint.key_id,
                        "syslog_sent": written.syslog_sent,
                    }
                )
            )
        else:
            self.stdout.write(
                f"audit checkpoint written: {checkpoint.count} events up to event #{checkpoint.last_id}, "
                f"head {checkpoint.head[:16]}…, key id {checkpoint.key_id}"
            )
        if written.syslog_sent is False:
            self.stderr.write("the checkpoint was written to the file but could not be sent to syslog")
            raise SystemExit(EXIT_BROKEN)

    def _rotate(self) -> None:
        event = audit_key_rotate(actor=None)
        if self.as_json:
            payload = {
                "rotated": event is not None,
                "event_id": None,
                "key_id": None,
                "previous_key_id": None,
            }
            if event is not None:
                payload.update(
                    event_id=event.pk, key_id=event.key_id, previous_key_id=event.detail["previous_key_id"]
                )
            self.stdout.write(json.dumps(payload))
        elif event is None:
            self.stdout.write(
                "the audit chain already uses the configured key (or is empty): nothing to rotate"
            )
        else:
            self.stdout.write(
                f"audit key rotated: events from #{event.pk} are signed with key id {event.key_id} "
                f"(previous: {event.detail['previous_key_id'] or 'unkeyed'})"
            )


def _verification_json(result: AuditVerification) -> dict:
    problems = [
        {"checkpoint_line": p.line_number, "event_id": p.event_id, "reason": p.reason}
        for p in result.checkpoint_problems
    ]
    if result.broken is not None:
        broken_event_id, reason = result.broken.event_id, result.broken.reason
    elif problems:
        broken_event_id, reason = problems[0]["event_id"], problems[0]["reason"]
    else:
        broken_event_id, reason = None, None
    return {
        "ok": result.ok,
        "checked": result.checked,
        "broken_event_id": broken_event_id,
        "reason": reason,
        "segments": [
            {"key_id": s.key_id or None, "first_id": s.first_id, "last_id": s.last_id, "events": s.events}
            for s in result.segments
        ],
        "checkpoints": {
            "file": result.checkpoint_file,
            "lines": result.checkpoint_lines,
            "matched": result.checkpoints_matched,
        },
        "problems": problems,
        "warnings": list(result.warnings),
    }
