"""``kapstone monitoring_overdue [--json]``: raise (and end) the ``vitals_overdue`` alert of every
session being monitored. Run it every minute from a timer; what is overdue is computed at run time.

Prints ``{"raised": n}``. No patient details.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from kapstone.cli import JsonCommand
from kapstone.monitoring.services import vitals_overdue_sweep


class Command(JsonCommand):
    help = "Raise vitals_overdue alerts for sessions whose scheduled checks were missed."

    def add_command_arguments(self, parser: CommandParser) -> None:
        pass

    def compute(self, **options: Any) -> dict[str, Any]:
        return {"raised": len(vitals_overdue_sweep())}

    def render_text(self, result: dict[str, Any]) -> str:
        return f"{result['raised']} vitals_overdue alert(s) raised."
