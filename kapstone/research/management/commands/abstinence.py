"""``kapstone abstinence FILE.csv --group COL --abstinent COL [--json]``: abstinence per group.

Abstinent 1/0; blank = missing, counted as not abstinent (intention to treat) and reported.
Prints ``{"groups": [{"group", "n", "abstinent", "missing", "proportion", "ci_lower",
"ci_upper"}], "comparison": {"risk_difference", "odds_ratio", "fisher_p", "chi2_p"} | null}``;
the comparison is the first group (in order of appearance) against the second, only for two groups.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from kapstone.cli import JsonCommand
from kapstone.domain.csvdata import parse_abstinence_csv
from kapstone.domain.stats import summarise_abstinence
from kapstone.research.management.commands.survival import read_csv_text


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


class Command(JsonCommand):
    help = "Abstinence proportion per group with Wilson 95% intervals; two groups are compared."

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV file with a header row")
        parser.add_argument("--group", required=True, help="column with the group (arm, cohort)")
        parser.add_argument(
            "--abstinent", required=True, help="column with 1 = abstinent, 0 = not, blank = missing"
        )

    def compute(self, **options: Any) -> dict[str, Any]:
        data = parse_abstinence_csv(
            read_csv_text(options["file"]),
            group_column=options["group"],
            abstinent_column=options["abstinent"],
        )
        return summarise_abstinence(data.groups, data.abstinent)

    def render_text(self, result: dict[str, Any]) -> str:
        lines = [
            f"group {g['group']}: {g['abstinent']}/{g['n']} abstinent = {_number(g['proportion'])} "
            f"(95% CI {_number(g['ci_lower'])}–{_number(g['ci_upper'])}); "
            f"{g['missing']} missing, counted as not abstinent"
            for g in result["groups"]
        ]
        comparison = result["comparison"]
        if comparison is not None:
            first, second = (g["group"] for g in result["groups"])
            odds = "undefined" if comparison["odds_ratio"] is None else _number(comparison["odds_ratio"])
            chi2 = "undefined" if comparison["chi2_p"] is None else _number(comparison["chi2_p"])
            lines.append(
                f"{first} vs {second}: risk difference {_number(comparison['risk_difference'])}, "
                f"odds ratio {odds}, Fisher p {_number(comparison['fisher_p'])}, chi-square p {chi2}"
            )
        return "\n".join(lines)
