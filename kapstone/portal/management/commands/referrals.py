"""``kapstone referrals purge [--dry-run] [--json]`` and ``kapstone referrals notify [--base-url URL] [--json]``.

``purge`` anonymises the referrals that never became patients once their clinic's retention
period (default 180 days) has passed, and removes old rate counters: prints
``{"dry_run", "anonymised", "rate_counters"}``. ``notify`` e-mails each clinic's staff how many
new referrals wait (a count, no personal details): prints ``{"clinics": {slug: count}}``. Both
are audited and safe to run again; run them from a daily timer (``notify`` also runs after each
referral).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from kapstone.accounts.models import Clinic
from kapstone.cli import JsonCommand
from kapstone.portal.services import referral_notifications_send, referrals_purge


class Command(JsonCommand):
    help = "Referral maintenance: 'purge' anonymises referrals past their retention period; 'notify' tells staff of new ones."

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["purge", "notify"], help="purge or notify")
        parser.add_argument("--dry-run", action="store_true", help="purge: count only, change nothing")
        parser.add_argument("--base-url", default="", help="notify: the address staff open Kapstone at")

    def compute(self, **options: Any) -> dict[str, Any]:
        if options["action"] == "purge":
            result = referrals_purge(dry_run=options["dry_run"])
            return {"dry_run": options["dry_run"], **result}
        told = referral_notifications_send(base_url=options["base_url"])
        slugs = dict(Clinic.objects.filter(pk__in=told).values_list("pk", "slug"))
        return {"clinics": {slugs[pk]: count for pk, count in told.items()}}

    def render_text(self, result: dict[str, Any]) -> str:
        if "anonymised" in result:
            verb = "would anonymise" if result["dry_run"] else "anonymised"
            return f"{verb} {result['anonymised']} referral(s); removed {result['rate_counters']} old rate counter(s)"
        if not result["clinics"]:
            return "no new referrals to tell anyone about"
        return "\n".join(
            f"{slug}: told of {count} new referral(s)" for slug, count in result["clinics"].items()
        )
