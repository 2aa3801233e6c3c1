"""Times as the clinic reads them: a stored (UTC) moment on the clock of a clinic, its zone named.

One home for how a page writes a moment, so that every page says "6 Dec 14:03 EST" the same way.
Stored times stay UTC; exports and the API write UTC ISO 8601 and say so in the field name.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from zoneinfo import ZoneInfo

from django.utils import dateformat


def clinic_zone(clinic) -> tzinfo:
    """The clinic's time zone (``Clinic.timezone``, an IANA name)."""
    return ZoneInfo(clinic.timezone)


def clinic_time(moment: datetime, zone: tzinfo, *, today: date | None = None) -> str:
    """``moment`` on the clock of ``zone`` with the zone's abbreviation: "6 Dec 2026 14:03 EST".

    With ``today`` (the clinic's date), the year is left out for a moment of that same year:
    "6 Dec 14:03 EST". Records (the audit trail) always carry the year.
    """
    local = moment.astimezone(zone)
    same_year = today is not None and local.year == today.year
    return dateformat.format(local, "j M H:i T" if same_year else "j M Y H:i T")
