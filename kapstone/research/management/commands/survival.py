"""``kapstone survival FILE.csv --time COL --event COL [--group COL] [--json]``: Kaplan–Meier and log-rank.

Event 1 = relapse, 0 = censored. Prints ``{"groups": [{"group", "n", "events", "median",
"table": [...]}], "logrank": {"chi2", "df", "p"} | null}``. A malformed file exits 2 naming the
row and column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from kapstone.cli import JsonCommand
from kapstone.domain.csvdata import parse_survival_csv
from kapstone.domain.errors import DomainError
from kapstone.domain.stats import summarise_survival


def read_csv_text(path: str) -> str:
    """The file's text (UTF-8, with or without BOM); unreadable files become ``file_unreadable``."""
    try:
        return Path(path).read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise DomainError(
            "file_unreadable", f"Cannot read {path}: {error.strerror or error}.", field="file"
        ) from None
    except UnicodeDecodeError:
        raise DomainError("file_unreadable", f"{path} is not UTF-8 text.", field="file") from None


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


class Command(JsonCommand):
    help = "Kaplan–Meier time to relapse per group, with Greenwood SEs, log-log 95% intervals and log-rank."

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV file with a header row")
        parser.add_argument(
            "--time", required=True, help="column with the time to relapse or censoring (≥ 0)"
        )
        parser.add_argument("--event", required=True, help="column with 1 = relapse, 0 = censored")
        parser.add_argument("--group", help="column with the group (arm, cohort) to compare")

    def compute(self, **options: Any) -> dict[str, Any]:
        data = parse_survival_csv(
            read_csv_text(options["file"]),
            time_column=options["time"],
            event_column=options["event"],
            group_column=options["group"],
        )
        return summarise_survival(data.times, data.events, data.groups)

    def render_text(self, result: dict[str, Any]) -> str:
        lines = []
        for group in result["groups"]:
            name = "all patients" if group["group"] is None else f"group {group['group']}"
            median = "not reached" if group["median"] is None else f"{group['median']:g}"
            lines.append(f"{name}: n={group['n']}, events={group['events']}, median={median}")
            lines.append("  time  at_risk  events  censored  survival      se  95% CI")
            for row in group["table"]:
                lines.append(
                    f"  {row['time']:>4g}  {row['at_risk']:>7}  {row['events']:>6}  {row['censored']:>8}"
                    f"  {_number(row['survival'])}  {_number(row['se'])}"
                    f"  {_number(row['ci_lower'])}–{_number(row['ci_upper'])}"
                )
        test = result["logrank"]
        if test is not None:
            lines.append(f"log-rank: chi2={_number(test['chi2'])}, df={test['df']}, p={_number(test['p'])}")
        return "\n".join(lines)
