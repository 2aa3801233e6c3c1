"""The demo's public profiles and referrals (made through the services)."""

from __future__ import annotations

import pytest

from kapstone.accounts.models import Role
from kapstone.domain.prescreen import validate_prescreen_answers
from kapstone.domain.referrals import match_clinics
from kapstone.portal.demo import seed_portal
from kapstone.portal.models import Referral, ServiceProfile
from kapstone.portal.selectors import clinic_offers, referral_queue_for_user
from tests.conftest import make_user
from tests.factories import ClinicFactory

pytestmark = pytest.mark.django_db


def test_profiles_referrals_at_every_status_and_one_overdue_per_clinic():
    north = ClinicFactory(name="Northside Clinic", slug="north", timezone="America/New_York")
    river = ClinicFactory(name="Riverside Clinic", slug="river", timezone="America/Chicago")
    for clinic in (north, river):
        admin = make_user(f"admin.{clinic.slug}", clinic, Role.ADMIN)
        nurse = make_user(f"nurse.{clinic.slug}", clinic, Role.NURSE)
        seed_portal(clinic=clinic, admin=admin, staff=nurse)
        seed_portal(clinic=clinic, admin=admin, staff=nurse)  # idempotent
        statuses = set(Referral.objects.filter(clinic=clinic).values_list("status", flat=True))
        assert statuses == {"new", "contacted", "intake_booked", "declined", "converted"}
        rows = referral_queue_for_user(user=nurse)
        assert sum(row.overdue for row in rows) == (1 if clinic.slug == "north" else 0)
    assert ServiceProfile.objects.count() == 2
    # The demo: a Spanish speaker in NY with alcohol → Northside; alcohol in NJ → Riverside;
    # cocaine in NJ → nobody (Riverside offers the alcohol protocols only).
    base = {
        "age_years": 30, "substances": ["alcohol"], "pregnant_or_breastfeeding": False, "psychosis_history": False,
        "ketamine_allergy": False, "heart_or_bp_problem": False, "ketamine_misuse_history": False,
        "withdrawal_risk": False, "self_harm": "no",
    }  # fmt: skip
    offers = clinic_offers()

    def names(**extra):
        return [m.clinic_name for m in match_clinics(validate_prescreen_answers({**base, **extra}), offers)]

    assert names(region="NY", language="es") == ["Northside Clinic"]
    assert names(region="NJ") == ["Riverside Clinic"]
    assert names(region="NJ", substances=["cocaine"]) == []
