"""``kapstone outcome_summaries [--check] [--rebuild] [--json]``: the cohort report's per-course
outcome summaries (research.models.CourseOutcomeSummary).

Without options: recompute every missing or stale summary in every clinic (after a bulk load, so
that the first cohort report does not pay for it). ``--rebuild``: delete them all and recompute.
``--check``: recompute every course's outcome from the calendar and compare it with the stored
summaries; exits 1 when any differs (they never should: the database keeps them honest).

Prints ``{"courses", "recomputed", "deleted"}`` or, with ``--check``, ``{"courses",
"recomputed", "differing": [course ids]}``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from kapstone.cli import JsonCommand
from kapstone.research.cohorts import summaries_check, summaries_refresh

EXIT_DIFFERING = 1


class Command(JsonCommand):
    help = "Refresh, rebuild or check the cohort report's per-course outcome summaries."

    def add_command_arguments(self, parser: CommandParser) -> None:
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--check", action="store_true", help="compare every summary with the calendar")
        action.add_argument("--rebuild", action="store_true", help="delete every summary and recompute")

    def compute(self, **options: Any) -> dict[str, Any]:
        today = timezone.localdate()
        if options["check"]:
            result = summaries_check(today=today)
            self.differing = result["differing"]
            return result
        return summaries_refresh(today=today, rebuild=options["rebuild"])

    def render_text(self, result: dict[str, Any]) -> str:
        if "differing" in result:
            differing = result["differing"]
            verdict = (
                "every summary agrees with the calendar"
                if not differing
                else f"{len(differing)} differ from the calendar (courses {', '.join(map(str, differing))}); "
                "run with --rebuild"
            )
            return f"{result['courses']} courses, {result['recomputed']} summaries were stale: {verdict}"
        return f"{result['courses']} courses: {result['recomputed']} summaries recomputed" + (
            f" after deleting {result['deleted']}" if result["deleted"] else ""
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.differing: list[int] = []
        super().handle(*args, **options)
        if self.differing:
            raise CommandError("outcome summaries differ from the calendar", returncode=EXIT_DIFFERING)
