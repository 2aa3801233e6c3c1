"""The demo's safety data: adverse events on past dosing sessions, one serious event closed after
review and one awaiting review, one extra-session request; idempotent."""

from __future__ import annotations

import random

import pytest

from kapstone.patients.services import clinic_today
from kapstone.safety.demo import seed_safety
from kapstone.safety.models import AdverseEvent, AdverseEventReview, ExtraSessionRequest
from tests.safety.conftest import give_doses, row_counts

pytestmark = pytest.mark.django_db


def test_demo_seeds_events_on_past_sessions_and_is_idempotent(alice, nina, clinic_a, course_a, lot_50):
    give_doses(course_a, alice, nina, lot_50, [(30, "58"), (23, "58"), (16, "58")])
    today = clinic_today(clinic_a)
    written = seed_safety(clinic=clinic_a, nurse=nina, prescriber=alice, rng=random.Random(5), today=today)
    assert written == 3
    serious = AdverseEvent.objects.filter(serious=True)
    assert serious.count() == 2
    assert serious.filter(status="closed").count() == 1
    closed = serious.get(status="closed")
    assert AdverseEventReview.objects.filter(event=closed).exists()
    awaiting = serious.get(status="open")
    assert not AdverseEventReview.objects.filter(event=awaiting).exists()
    mild = AdverseEvent.objects.get(serious=False)
    assert mild.grade in (1, 2) and mild.session is not None and mild.session.scheduled_date < today
    assert mild.status == "closed" and mild.outcome == "resolved"
    assert ExtraSessionRequest.objects.count() == 1
    before = row_counts()
    assert seed_safety(clinic=clinic_a, nurse=nina, prescriber=alice, rng=random.Random(5), today=today) == 0
    assert row_counts() == before


def test_demo_without_past_doses_writes_nothing(alice, nina, clinic_a):
    assert (
        seed_safety(
            clinic=clinic_a, nurse=nina, prescriber=alice, rng=random.Random(1), today=clinic_today(clinic_a)
        )
        == 0
    )
    assert AdverseEvent.objects.count() == 0
