"""``kapstone screen FILE.json [--json]``: the eligibility decision for one answer set.

FILE holds ``{"answers": {...}}``; the answers are those of
:data:`kapstone.domain.screening.ANSWER_NAMES`. Output is ``{"decision", "reasons": [...]}``;
invalid input exits 2 with ``{"error": {"code", "message", "field"}}``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from kapstone.cli import JsonCommand, read_answers
from kapstone.domain.screening import check_eligibility


class Command(JsonCommand):
    help = 'Eligibility decision with reasons for the answers in FILE.json ({"answers": {...}}).'

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE.json", help='JSON file holding {"answers": {...}}')

    def compute(self, **options: Any) -> dict[str, Any]:
        return check_eligibility(read_answers(options["file"])).as_dict()

    def render_text(self, result: dict[str, Any]) -> str:
        lines = [f"decision: {result['decision']}"]
        for reason in result["reasons"]:
            lines.append(
                f"- {reason['code']} ({reason['severity']}): {reason['message']} [{reason['source']}]"
            )
        if not result["reasons"]:
            lines.append("no rule matched")
        return "\n".join(lines)
