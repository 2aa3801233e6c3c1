"""A session in its patient's words."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.domain.patient_sessions import (
    STATUS_WORDS,
    patient_session_status,
    session_kind_words,
)
from kapstone.domain.sessions import SESSION_STATES

TODAY = date(2026, 12, 6)


@pytest.mark.parametrize(
    ("state", "course", "day", "expected"),
    [
        ("scheduled", "active", TODAY, "booked"),
        ("scheduled", "active", date(2026, 12, 20), "booked"),
        ("scheduled", "active", date(2026, 12, 5), "awaiting_record"),
        ("scheduled", "paused", date(2026, 12, 20), "on_hold"),
        ("scheduled", "withdrawn", date(2026, 12, 20), "not_planned"),
        ("scheduled", "completed", date(2026, 12, 20), "not_planned"),
        ("checked_in", "active", TODAY, "under_way"),
        ("recovering", "active", TODAY, "under_way"),
        ("discharged", "completed", date(2026, 11, 1), "done"),
        ("stopped", "active", date(2026, 11, 1), "ended_early"),
        ("no_show", "active", date(2026, 11, 1), "missed"),
        ("cancelled", "active", date(2026, 12, 20), "cancelled"),
    ],
)
def test_status_in_the_patients_words(state, course, day, expected):
    assert (
        patient_session_status(state=state, course_status=course, scheduled_date=day, today=TODAY) == expected
    )


@given(
    state=st.sampled_from(SESSION_STATES),
    course=st.sampled_from(["active", "paused", "completed", "withdrawn"]),
    day=st.dates(),
)
def test_every_state_has_words(state, course, day):
    status = patient_session_status(state=state, course_status=course, scheduled_date=day, today=TODAY)
    assert STATUS_WORDS[status]


def test_kinds_in_words():
    assert session_kind_words("dosing") == "Ketamine session"
    assert session_kind_words("integration", group=True) == "Group integration session"
    assert session_kind_words("follow_up") == "Follow-up visit"
    assert session_kind_words("unknown") == "Session"
