"""When each demo enrolment happened, and the screening before it.

The services stamp an enrolment, a screening and a sign-off with the moment they are called,
which in the demo is the moment of seeding, while the demo's courses start months in the past.
The demo writes this history after the fact (as it does for session dates), so it then moves
these times to when the story says they happened; the audit events keep the seed's own time.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from kapstone.care.models import CourseEvent, TreatmentCourse
from kapstone.screening.demo import clinic_daytime_before, screenings_place_before


def enrolment_place_before_first_session(course: TreatmentCourse) -> None:
    """Enrolment as it happened: on a working day two to ten days before the course's first
    session (never after the seed's own time), with the screening that cleared the patient and
    its sign-off before it."""
    rng = random.Random(f"enrolled-{course.patient.mrn}-{course.pk}")
    zone = ZoneInfo(course.clinic.timezone)
    first_on = course.sessions.order_by("scheduled_date").values_list("scheduled_date", flat=True).first()
    limit = min(
        datetime.combine(first_on - timedelta(days=1), time.min, tzinfo=zone),
        timezone.now() - timedelta(hours=1),
    )
    enrolled_at = clinic_daytime_before(limit, zone, rng, days_back=8)
    TreatmentCourse.objects.filter(pk=course.pk).update(enrolled_at=enrolled_at)
    CourseEvent.objects.filter(course=course, kind="enrolled").update(at=enrolled_at)
    course.refresh_from_db(fields=["enrolled_at"])
    screenings_place_before(patient=course.patient, before=enrolled_at, rng=rng)
