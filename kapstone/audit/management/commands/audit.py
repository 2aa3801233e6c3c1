"""``kapstone audit verify``: check the audit trail's hash chain (exit 1 on a break)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from kapstone.audit.verify import audit_chain_verify


class Command(BaseCommand):
    help = "Audit trail tools. 'verify' checks the hash chain and names the first broken row."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        verify = sub.add_parser("verify", help="check the hash chain")
        verify.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        checked, broken = audit_chain_verify()
        if options.get("json"):
            payload = {"ok": broken is None, "checked": checked, "broken_event_id": None, "reason": None}
            if broken:
                payload.update(broken_event_id=broken.event_id, reason=broken.reason)
            self.stdout.write(json.dumps(payload))
        elif broken is None:
            self.stdout.write(f"audit chain intact: {checked} events checked")
        else:
            self.stderr.write(f"audit chain broken at event #{broken.event_id}: {broken.reason}")
        if broken is not None:
            raise SystemExit(1)
