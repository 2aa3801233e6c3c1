"""Clinics with public service profiles, and pre-screen answers."""

from __future__ import annotations

from typing import Any

import pytest

from kapstone.accounts.models import Role
from kapstone.domain.protocols import protocol_library
from kapstone.portal.services import service_profile_update
from tests.conftest import make_user
from tests.portal.outcome_fixtures import pat, pat_course, quinn, quinn_patient, rhea  # noqa: F401 - fixtures

ALL_PROTOCOLS = [p.slug for p in protocol_library()]
ALCOHOL_PROTOCOLS = [p.slug for p in protocol_library() if p.indication == "alcohol"]


def answers(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "age_years": 38,
        "substances": ["alcohol"],
        "pregnant_or_breastfeeding": False,
        "psychosis_history": False,
        "ketamine_allergy": False,
        "heart_or_bp_problem": False,
        "ketamine_misuse_history": False,
        "withdrawal_risk": False,
        "self_harm": "no",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


CONTACT = {
    "name": "Robin Zzyzxfield",
    "email": "robin@example.org",
    "phone": "",
    "preferred_time": "mornings",
}


@pytest.fixture
def admin_b(clinic_b):
    return make_user("admin_b", clinic_b, Role.ADMIN)


@pytest.fixture
def profiles(adam, admin_b, clinic_a, clinic_b):
    """Clinic A serves NY in English and Spanish with every protocol; clinic B serves NJ in English
    with the alcohol protocols only (as the demo's Northside and Riverside)."""
    a = service_profile_update(
        actor=adam,
        clinic=clinic_a,
        display_name="Clinic A",
        regions=["NY"],
        languages=["en", "es"],
        modalities=["in_person", "hybrid_follow_up"],
        protocol_slugs=ALL_PROTOCOLS,
        accepting_referrals=True,
        wait_weeks=4,
        contact_line="555-0100, weekdays 9–5",
    )
    b = service_profile_update(
        actor=admin_b,
        clinic=clinic_b,
        display_name="Clinic B",
        regions=["NJ"],
        languages=["en"],
        modalities=["in_person"],
        protocol_slugs=ALCOHOL_PROTOCOLS,
        accepting_referrals=True,
        wait_weeks=2,
    )
    return a, b
