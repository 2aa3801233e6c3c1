"""``kapstone score INSTRUMENT --answers A1,A2,… [--sex male|female] [--json]``: questionnaire scoring.

Prints ``{"instrument", "total", "band", "flags"}`` (``band`` null where the instrument has
none; for ``c-ssrs`` ``total`` is the number of yes answers and ``band`` the triage level).
Invalid input exits 2 with ``unknown_instrument``, ``wrong_answer_count``,
``answer_out_of_range``, ``invalid_answer`` or ``sex_required``.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.management.base import CommandParser

from kapstone.cli import JsonCommand
from kapstone.domain.errors import DomainError
from kapstone.domain.instruments import SEXES, instrument_definitions, score_instrument

_INTEGER = re.compile(r"-?[0-9]+")


def _parse_answers(raw: str) -> list[int]:
    answers = []
    for index, token in enumerate(raw.split(",")):
        token = token.strip()
        # int() would also take "1_0", " +1" or Unicode digits; answers are plain integers.
        if not _INTEGER.fullmatch(token):
            raise DomainError(
                "invalid_answer",
                f"Answer {index + 1} must be a whole number, got {token!r}.",
                field=f"answers[{index}]",
            )
        answers.append(int(token))
    return answers


class Command(JsonCommand):
    help = "Score a questionnaire: " + ", ".join(d.code for d in instrument_definitions()) + "."

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("instrument", help="instrument code, e.g. phq-9")
        parser.add_argument("--answers", required=True, help="comma-separated item answers, in item order")
        parser.add_argument("--sex", choices=SEXES, help="needed where bands differ by sex (audit-c)")

    def compute(self, **options: Any) -> dict[str, Any]:
        result = score_instrument(
            options["instrument"], _parse_answers(options["answers"]), sex=options["sex"]
        )
        return {
            "instrument": result.instrument,
            "total": result.total,
            "band": result.band,
            "flags": list(result.flags),
        }

    def render_text(self, result: dict[str, Any]) -> str:
        band = result["band"] or "no band"
        flags = ", ".join(result["flags"]) or "none"
        return f"{result['instrument']}: total {result['total']} ({band}); flags: {flags}"
