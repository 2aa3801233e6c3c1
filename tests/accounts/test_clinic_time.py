"""Times as the clinic reads them (kapstone/accounts/clinic_time.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.utils import timezone

from kapstone.accounts.clinic_time import clinic_time

NEW_YORK = ZoneInfo("America/New_York")
CHICAGO = ZoneInfo("America/Chicago")
WINTER = datetime(2026, 12, 6, 19, 3, 59, tzinfo=UTC)
SUMMER = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "zone", "shown"),
    [
        (WINTER, NEW_YORK, "6 Dec 2026 14:03 EST"),
        (WINTER, CHICAGO, "6 Dec 2026 13:03 CST"),
        (SUMMER, NEW_YORK, "1 Jul 2026 08:00 EDT"),
        (datetime(2027, 1, 1, 2, 0, tzinfo=UTC), NEW_YORK, "31 Dec 2026 21:00 EST"),
    ],
)
def test_a_moment_on_the_clinics_clock_with_its_zone(moment, zone, shown):
    assert clinic_time(moment, zone) == shown


def test_the_year_is_left_out_only_for_this_year_on_the_clinics_clock():
    assert clinic_time(WINTER, NEW_YORK, today=date(2026, 12, 7)) == "6 Dec 14:03 EST"
    assert clinic_time(WINTER, NEW_YORK, today=date(2027, 1, 2)) == "6 Dec 2026 14:03 EST"
    # 1 Jan 02:00 UTC is still New Year's Eve in New York: "this year" is the clinic's year.
    eve = datetime(2027, 1, 1, 2, 0, tzinfo=UTC)
    assert clinic_time(eve, NEW_YORK, today=date(2026, 12, 31)) == "31 Dec 21:00 EST"


def test_the_template_filter_uses_the_clinics_zone_not_the_pages():
    class Clinic:
        timezone = "America/Chicago"

    template = Template("{% load clinic_time %}{{ moment|clinic_time:clinic }}")
    with timezone.override(NEW_YORK):
        shown = template.render(Context({"moment": WINTER, "clinic": Clinic()}))
    assert shown in ("6 Dec 2026 13:03 CST", "6 Dec 13:03 CST")
