"""Stored course-outcome summaries: a cache of ``calendar_aggregates`` per course, keyed by the
windows and rules it was computed with (``summary_key``), never the source of truth
(kapstone/research/models.py says when one is used).
"""

from __future__ import annotations

import hashlib
from operator import itemgetter

from django.db import router, transaction
from django.utils import timezone

#: Who may open the cohort report and download de-identified exports. Researchers see only
#: aggregates (small cells suppressed) and de-identified rows; prescribers and clinic admins see
#: the same report without suppression (they may read the records anyway). Nurses and
#: therapists have no research function: 403.
from kapstone.research.calendar_aggregates import CalendarAggregate, CalendarBounds, relapse_of
from kapstone.research.models import CourseOutcomeSummary

#: Part of every summary's ``bounds_key``: change it whenever what ``_AGGREGATE_SQL`` computes or
#: how a summary stores it changes, and every stored summary becomes stale on upgrade.
SUMMARY_RULES = "calendar-aggregate-2"


def summary_key(bounds: CalendarBounds, require_confirmation: bool) -> str:
    """The key of what a course's summary was computed for: every input of the aggregate other
    than the calendar rows themselves (the dates, the threshold, the substance, the test rule)."""
    threshold = bounds.heavy_threshold
    parts = [
        SUMMARY_RULES,
        bounds.substance,
        bounds.window_start.isoformat(),
        bounds.window_end.isoformat(),
        bounds.acute_end.isoformat(),
        "" if threshold is None else format(threshold.normalize(), "f"),
        "confirmed" if require_confirmation else "any",
        "" if bounds.horizon_end is None else f"until {bounds.horizon_end.isoformat()}",
        *(f"{first.isoformat()}/{last.isoformat()}" for first, last in bounds.follow_up_windows),
    ]
    return hashlib.blake2b("|".join(parts).encode(), digest_size=16).hexdigest()


def _follow_up_text(counts: tuple[tuple[int, bool], ...]) -> str:
    return ",".join(f"{reported}:{int(used)}" for reported, used in counts)


def follow_up_counts(text: str) -> tuple[tuple[int, bool], ...]:
    if not text:
        return ()
    return tuple(
        (int(reported), used == "1") for reported, used in (pair.split(":") for pair in text.split(","))
    )


def summary_row(bounds: CalendarBounds, aggregate: CalendarAggregate) -> tuple:
    """What a course's outcome summary stores of its aggregate, in ``_COURSE_COLUMNS`` order from
    ``_SUMMARY``: days reported in the window, use in it, the relapse (``relapse_of``: time, event,
    has follow-up), the follow-up windows' counts as text and the days with use in the window."""
    return (
        aggregate.window_days_reported,
        aggregate.window_use,
        *relapse_of(bounds.acute_end, aggregate.relapse_day, aggregate.last_day),
        _follow_up_text(aggregate.follow_up[: len(bounds.follow_up_windows)]),
        aggregate.window_use_days,
    )


_SUMMARY_FIELDS = (
    "window_days_reported",
    "window_use",
    "relapse_time_days",
    "relapse_event",
    "relapse_has_follow_up",
    "follow_up",
    "window_use_days",
)


def store_summaries(computed: list[tuple[int, int, str, tuple]]) -> None:
    """Insert or replace outcome summaries: (course id, the calendar version they were computed
    from, bounds key, ``summary_row``) each, in course order so that two concurrent reports lock
    rows in the same order. A summary computed from a calendar that changed meanwhile carries
    the older version and is recomputed by the next report."""
    if not computed:
        return
    now = timezone.now()
    rows = [
        CourseOutcomeSummary(
            course_id=course_id,
            calendar_version=version,
            bounds_key=key,
            computed_at=now,
            **dict(zip(_SUMMARY_FIELDS, summary, strict=True)),
        )
        for course_id, version, key, summary in sorted(computed, key=itemgetter(0))
    ]
    # The database summaries are written to, even when the report reads from a replica
    # (``kapstone.replica``): ``objects.db`` would name the read database there.
    with transaction.atomic(using=router.db_for_write(CourseOutcomeSummary)):
        CourseOutcomeSummary.objects.bulk_create(
            rows,
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["course"],
            update_fields=["calendar_version", "bounds_key", *_SUMMARY_FIELDS, "computed_at"],
        )
