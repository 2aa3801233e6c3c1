"""``kapstone prescreen FILE.json [--json]``: the public pre-screen's provisional result.

FILE holds ``{"answers": {...}}`` with the keys of :data:`kapstone.domain.prescreen.ANSWER_NAMES`.
Output is ``{"result", "crisis", "reasons": [{"code", "severity", "message"}]}``; invalid input
exits 2 with ``{"error": {"code", "message", "field"}}`` (``missing_answer``, ``unknown_answer``,
``invalid_answer``, and the file's own ``file_unreadable``, ``invalid_json``, ``missing_answers``).
Nothing is stored.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from kapstone.cli import JsonCommand, read_answers
from kapstone.domain.prescreen import assess_prescreen


class Command(JsonCommand):
    help = 'Provisional pre-screen result with reasons for the answers in FILE.json ({"answers": {...}}).'

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE.json", help='JSON file holding {"answers": {...}}')

    def compute(self, **options: Any) -> dict[str, Any]:
        return assess_prescreen(read_answers(options["file"])).as_dict()

    def render_text(self, result: dict[str, Any]) -> str:
        lines = [f"result: {result['result']}" + ("  (crisis: get help now)" if result["crisis"] else "")]
        lines.extend(f"- {r['code']} ({r['severity']}): {r['message']}" for r in result["reasons"])
        if not result["reasons"]:
            lines.append("no reason found in the answers")
        return "\n".join(lines)
