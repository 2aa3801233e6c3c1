"""The demo screenings: realistic variety, every write through the services, idempotent."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date

import pytest

from kapstone.screening.demo import seed_screenings
from kapstone.screening.models import Screening, ScreeningSignOff
from kapstone.screening.selectors import screening_current
from tests.conftest import audit_count, new_patient

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_patients(alice, clinic_a):
    return [
        new_patient(alice, clinic_a, mrn=f"N-{1001 + i}", weight_kg=None, height_cm=None) for i in range(30)
    ]


def test_it_seeds_a_realistic_mix_and_is_idempotent(alice, nina, terry, demo_patients):
    clinicians = {"prescriber": alice, "nurse": nina, "therapist": terry}
    seed_screenings(
        patients=demo_patients, clinicians=clinicians, rng=random.Random(7), today=date(2026, 3, 2)
    )

    current = [screening_current(p) for p in demo_patients]
    screened = [s for s in current if s is not None]
    assert len(screened) >= 0.8 * len(demo_patients)  # most, not all
    decisions = Counter(s.decision for s in screened)
    assert decisions["eligible"] > len(screened) / 2
    assert decisions["needs_review"] >= 2 and decisions["deferred"] >= 1 and decisions["ineligible"] >= 1
    reviewed = [s for s in screened if s.decision == "needs_review"]
    approved = [s for s in reviewed if getattr(s, "sign_off", None) is not None]
    assert approved and all(s.sign_off.approve and s.sign_off.reason for s in approved)
    assert any(getattr(s, "sign_off", None) is None for s in reviewed)  # some await a prescriber
    deferred = [s for s in screened if s.decision == "deferred"]
    assert all("blood_pressure_severely_elevated" in [r["code"] for r in s.reasons] for s in deferred)
    assert all(s.answers["age_years"] >= 18 for s in screened)
    # Through the services: one audit event per row.
    assert audit_count(action="create", object_type="screening") == Screening.objects.count()
    assert audit_count(action="create", object_type="screening_sign_off") == ScreeningSignOff.objects.count()

    counts = Screening.objects.count(), ScreeningSignOff.objects.count()
    seed_screenings(
        patients=demo_patients, clinicians=clinicians, rng=random.Random(8), today=date(2026, 3, 2)
    )
    assert (Screening.objects.count(), ScreeningSignOff.objects.count()) == counts
