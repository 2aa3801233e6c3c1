"""A course that is paused, completed or withdrawn must not strand a patient in the chair, nor
leave sessions on the day's list that can never happen.

Found using the portal: a withdrawn course kept its future sessions "scheduled", and a course
paused while its patient was recovering left a dosed patient who could no longer be discharged
(every move but a stop was refused with ``course_not_active``).
"""

from __future__ import annotations

import pytest

from kapstone.audit.models import AuditEvent
from kapstone.care.models import CareSession, CourseEvent, SessionEvent
from kapstone.care.services import course_change_status
from kapstone.domain.errors import WorkflowConflict
from tests.care.conftest import course_a, eligible_a  # noqa: F401 - shared fixtures
from tests.dosing.conftest import cleared_session, lot_50  # noqa: F401 - shared fixtures
from tests.monitoring.conftest import running  # noqa: F401 - shared fixtures

pytestmark = pytest.mark.django_db


def counts(course):
    return (
        CourseEvent.objects.filter(course=course).count(),
        SessionEvent.objects.filter(session__course=course).count(),
        AuditEvent.objects.count(),
    )


@pytest.mark.parametrize("action", ["pause", "complete", "withdraw"])
def test_a_course_is_not_ended_while_its_patient_is_in_a_session(alice, running, action):  # noqa: F811 - the imported fixtures
    course = running.course
    before = counts(course)
    with pytest.raises(WorkflowConflict) as refused:
        course_change_status(actor=alice, course=course, action=action, reason="patient asked")
    assert refused.value.code == "course_session_under_way"
    assert "in progress" in refused.value.message and str(running.scheduled_date) in refused.value.message
    course.refresh_from_db()
    assert course.status == "active" and counts(course) == before


@pytest.mark.parametrize(("action", "words"), [("withdraw", "withdrawn"), ("complete", "completed")])
def test_ending_a_course_cancels_the_sessions_it_still_had_booked(alice, course_a, action, words):  # noqa: F811 - the imported fixtures
    booked = list(course_a.sessions.filter(status="scheduled").values_list("pk", flat=True))
    assert len(booked) > 1
    course_change_status(actor=alice, course=course_a, action=action, reason="moved away")
    assert set(CareSession.objects.filter(pk__in=booked).values_list("status", flat=True)) == {"cancelled"}
    events = SessionEvent.objects.filter(session_id__in=booked, to_state="cancelled")
    assert events.count() == len(booked)
    assert all(e.actor_id == alice.pk and f"The course was {words}" in e.reason for e in events)
    assert AuditEvent.objects.filter(
        object_type="session", object_id__in=[str(pk) for pk in booked]
    ).count() >= len(booked)


def test_pausing_a_course_keeps_its_sessions_booked(alice, course_a):  # noqa: F811 - the imported fixtures
    booked = course_a.sessions.filter(status="scheduled").count()
    course_change_status(actor=alice, course=course_a, action="pause", reason="unwell this month")
    assert course_a.sessions.filter(status="scheduled").count() == booked


def test_the_course_page_says_why_in_words_and_keeps_the_code_out_of_sight(alice, running):  # noqa: F811 - the imported fixtures
    from tests.conftest import verified_client

    course = running.course
    response = verified_client(alice).post(
        f"/courses/{course.pk}/status/", {"action": "withdraw", "reason": "patient asked"}, follow=True
    )
    text = response.content.decode()
    assert response.status_code == 200
    assert 'data-code="course_session_under_way"' in text
    assert "is in progress: finish it" in text and "(course_session_under_way)" not in text
    course.refresh_from_db()
    assert course.status == "active"
