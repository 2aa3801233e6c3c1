"""``kapstone send_reminders [--days N] [--dry-run] [--base-url URL] [--json]``: email each clinic's
nurses and therapists the number of follow-ups due within N days (default 7) and overdue, with
a link to the worklist; then the reminders registered by other apps (the portal's e-mails to
patients: :mod:`kapstone.outcomes.reminders`). No patient details in any email. Run it daily from
a timer; what is due is computed at run time.

Prints ``{"dry_run", "clinics": [{"clinic", "due", "overdue", "recipients", "sent"}], …}`` plus one
key per registered source (``"patients": {"accounts", "emailed", "reminders", "opted_out"}``).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from kapstone.cli import JsonCommand
from kapstone.domain.errors import DomainError
from kapstone.forms import RECORD_ID_MAX, parse_int
from kapstone.outcomes.reminders import reminder_sources_run
from kapstone.outcomes.services import follow_up_reminders_send

DEFAULT_DAYS = 7


class Command(JsonCommand):
    help = "Email each clinic's nurses and therapists how many follow-ups are due (no patient details)."

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", default=str(DEFAULT_DAYS), help="due within this many days (0–365)")
        parser.add_argument("--dry-run", action="store_true", help="count and print, send nothing")
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="the address staff open Kapstone at, for the link in the email",
        )

    def compute(self, **options: Any) -> dict[str, Any]:
        raw = str(options["days"]).strip()
        # The service refuses a number out of its range; this refuses what is not a number.
        days = parse_int(raw, low=-RECORD_ID_MAX, high=RECORD_ID_MAX)
        if days is None:
            raise DomainError(
                "invalid_days", f"--days must be a whole number, got {raw[:20]!r}.", field="days"
            )
        results = follow_up_reminders_send(
            within_days=days, base_url=options["base_url"], dry_run=options["dry_run"]
        )
        others = reminder_sources_run(base_url=options["base_url"], dry_run=options["dry_run"])
        return {
            **others,
            "dry_run": options["dry_run"],
            "clinics": [
                {
                    "clinic": r.clinic_slug,
                    "due": r.due,
                    "overdue": r.overdue,
                    "recipients": r.recipients,
                    "sent": r.sent,
                }
                for r in results
            ],
        }

    def render_text(self, result: dict[str, Any]) -> str:
        lines = [
            f"{c['clinic']}: {c['due']} due, {c['overdue']} overdue → "
            + (f"emailed {c['recipients']}" if c["sent"] else "not sent")
            for c in result["clinics"]
        ] or ["No clinics."]
        for key, summary in result.items():
            if key not in ("dry_run", "clinics"):
                lines.append(f"{key}: " + ", ".join(f"{name} {value}" for name, value in summary.items()))
        if result["dry_run"]:
            lines.append("(dry run: nothing sent)")
        return "\n".join(lines)
