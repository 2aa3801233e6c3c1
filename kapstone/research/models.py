"""Derived data of the research analytics: one outcome summary per treatment course.

A summary is a cache of what ``calendar_aggregates.calendar_aggregates`` computes from a course's use
calendar and toxicology results, so that a cohort report over 100,000 patients reads 100,000
small rows rather than millions of calendar days (docs/benchmarks.md). It is never the source
of truth and never edited by hand: a report uses it only when

- ``calendar_version`` equals the patient's current ``outcomes.CalendarVersion`` (raised by a
  database trigger on every calendar or test change, read in the same statement as the rows the
  summary was computed from), and
- ``bounds_key`` equals the key of the dates and rules the report would compute it for now
  (outcome window, acute phase, follow-up windows, heavy-day threshold by sex, substance,
  confirmation rule), so a moved dosing date, a corrected sex or another protocol version makes
  it stale by itself;

otherwise the report recomputes it from the calendar and stores the new one. ``kapstone
outcome_summaries --check`` recomputes every summary and reports any that differ.
"""

from __future__ import annotations

from django.db import models

from kapstone.care.models import TreatmentCourse


class CourseOutcomeSummary(models.Model):
    course = models.OneToOneField(
        TreatmentCourse, primary_key=True, on_delete=models.CASCADE, related_name="outcome_summary"
    )
    calendar_version = models.BigIntegerField()
    bounds_key = models.CharField(max_length=32)
    window_days_reported = models.IntegerField()
    window_use = models.BooleanField()
    #: Days with use in the outcome window (distinct days; a positive test counts as use), for
    #: percent days abstinent = (days reported - days with use) / days reported.
    window_use_days = models.IntegerField(default=0)
    #: The relapse outcome, counted from the end of the acute phase that ``bounds_key`` pins:
    #: days to the first relapse day, or to the last day reported after the acute phase.
    relapse_time_days = models.IntegerField()
    relapse_event = models.BooleanField()
    relapse_has_follow_up = models.BooleanField()
    #: "reported:used" per follow-up window, comma-separated ("30:0,28:1"); "" for none.
    follow_up = models.CharField(max_length=200, blank=True)
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"outcome summary of course {self.course_id}"
