"""Dates and times as a clinic reads them (kapstone.display, a template builtin)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.utils import timezone

from kapstone.display import clock, day, moment, moment_zone

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def clinic_zone():
    with timezone.override(NEW_YORK):
        yield


def test_a_date_this_year_has_no_year_and_another_years_has_it(clinic_zone):
    this_year = timezone.localdate().year
    assert day(date(this_year, 11, 22)) == "22 Nov"
    assert day(date(2025, 11, 22)) == ("22 Nov" if this_year == 2025 else "22 Nov 2025")
    assert day(date(this_year - 1, 1, 3)) == f"3 Jan {this_year - 1}"


def test_times_are_shown_in_the_clinics_zone(clinic_zone):
    # 03:30 UTC on 1 March is 22:30 the evening before in New York (EST, UTC−5).
    at = datetime(2024, 3, 1, 3, 30, tzinfo=UTC)
    assert clock(at) == "22:30"
    assert moment(at) == "29 Feb 2024 22:30"
    assert moment_zone(at) == "29 Feb 2024 22:30 EST"
    assert day(at) == "29 Feb 2024"


def test_iso_text_is_read_and_empty_values_show_nothing(clinic_zone):
    assert moment("2024-07-04T16:00:00+00:00") == "4 Jul 2024 12:00"
    assert day("2024-07-04") == "4 Jul 2024"
    assert day(None) == day("") == day("not a date") == ""
    assert clock(date(2024, 7, 4)) == ""


def test_the_filters_need_no_load_in_a_template(clinic_zone):
    rendered = Template("{{ at|moment }} · {{ d|day }}").render(
        Context({"at": datetime(2024, 7, 4, 16, 0, tzinfo=UTC), "d": date(2024, 7, 5)})
    )
    assert rendered == "4 Jul 2024 12:00 · 5 Jul 2024"
