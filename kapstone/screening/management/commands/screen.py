"""``kapstone screen FILE.json [--protocol SLUG] [--json]``: the eligibility decision for one answer set.

FILE holds ``{"answers": {...}}``; the answers are those of
:data:`kapstone.domain.screening.ANSWER_NAMES`, plus the protocol inputs
(:data:`~kapstone.domain.screening.PROTOCOL_ANSWER_NAMES`) a protocol's own criteria need.
``--protocol SLUG``: also apply that shipped protocol's own criteria (e.g. KARE's). Output is
``{"decision", "reasons": [...]}``; invalid input (or an unknown protocol, ``unknown_protocol``)
exits 2 with ``{"error": {"code", "message", "field"}}``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from kapstone.cli import JsonCommand, read_answers
from kapstone.domain.protocols import get_protocol
from kapstone.domain.screening import check_eligibility


class Command(JsonCommand):
    help = 'Eligibility decision with reasons for the answers in FILE.json ({"answers": {...}}).'

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE.json", help='JSON file holding {"answers": {...}}')
        parser.add_argument(
            "--protocol", metavar="SLUG", help="also apply this shipped protocol's own eligibility criteria"
        )

    def compute(self, **options: Any) -> dict[str, Any]:
        answers = read_answers(options["file"])
        if not options.get("protocol"):
            return check_eligibility(answers).as_dict()
        protocol = get_protocol(options["protocol"])
        return check_eligibility(
            answers, criteria=protocol.eligibility, protocol_title=protocol.title
        ).as_dict()

    def render_text(self, result: dict[str, Any]) -> str:
        lines = [f"decision: {result['decision']}"]
        for reason in result["reasons"]:
            lines.append(
                f"- {reason['code']} ({reason['severity']}): {reason['message']} [{reason['source']}]"
            )
        if not result["reasons"]:
            lines.append("no rule matched")
        return "\n".join(lines)
