"""``kapstone screen FILE.json [--json]``: the eligibility decision for one answer set.

FILE holds ``{"answers": {...}}``; the answers are those of
:data:`kapstone.domain.screening.ANSWER_NAMES`. Output is ``{"decision", "reasons": [...]}``;
invalid input exits 2 with ``{"error": {"code", "message", "field"}}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from kapstone.cli import JsonCommand
from kapstone.domain.errors import DomainError
from kapstone.domain.screening import check_eligibility


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; Python's parser would otherwise accept them.
    raise ValueError(f"{name} is not valid JSON")


def read_answers(path: str) -> Mapping[str, Any]:
    """The ``answers`` object of the JSON file at ``path``, or DomainError.

    Codes: ``file_unreadable`` (missing, a directory, no permission, not UTF-8),
    ``invalid_json``, ``missing_answers`` (no top-level object with an ``answers`` key).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else "not UTF-8 text"
        raise DomainError("file_unreadable", f"Cannot read {path}: {reason}.", field="file") from None
    try:
        payload = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as error:
        raise DomainError("invalid_json", f"{path} is not valid JSON: {error}.", field="file") from None
    if not isinstance(payload, dict) or "answers" not in payload:
        raise DomainError(
            "missing_answers", f'{path} must hold an object with an "answers" key.', field="answers"
        )
    return payload["answers"]


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
