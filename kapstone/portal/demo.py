"""Demo data of the public door: each clinic's public profile, and referrals at every status
(one overdue), made through the same services a visitor and the staff use."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from kapstone.accounts.models import Clinic, User
from kapstone.domain.protocols import protocol_library
from kapstone.portal.models import Referral
from kapstone.portal.selectors import service_profile_current
from kapstone.portal.services import (
    referral_convert,
    referral_status_change,
    referral_submit,
    service_profile_update,
)

PROFILES = {
    # slug: regions, languages, indications offered, wait (weeks), contact line
    "north": (["NY"], ["en", "es"], None, 4, "(212) 555-0148, weekdays 9:00–17:00"),
    "river": (["NJ"], ["en"], {"alcohol"}, 3, "(201) 555-0172, weekdays 8:30–16:30"),
}

# Invented people: (name, e-mail, phone, answers that differ from the defaults, status, days ago).
REFERRALS = {
    "north": (
        ("Marlo Quennell", "marlo.q@example.org", "", {"language": "es"}, "new", 0),
        ("Tobin Ashcroft", "", "212-555-0190", {"withdrawal_risk": True}, "new", 6),
        ("Ines Varga", "ines.v@example.org", "212-555-0191", {"substances": ["cocaine"]}, "contacted", 4),
        (
            "Rory Delacroix",
            "rory.d@example.org",
            "",
            {"substances": ["opioids"], "self_harm": "past"},
            "intake_booked",
            9,
        ),
        ("Priya Halloran", "priya.h@example.org", "", {}, "declined", 14),
        ("Lennox Farrow", "lennox.f@example.org", "212-555-0192", {"age_years": 52}, "converted", 20),
    ),
    "river": (
        ("Wes Okafor", "wes.o@example.org", "", {}, "new", 1),
        ("Dana Kilbride", "", "201-555-0133", {"heart_or_bp_problem": True}, "contacted", 3),
        ("Sol Brennick", "sol.b@example.org", "201-555-0134", {}, "intake_booked", 8),
        ("Jun Abernathy", "jun.a@example.org", "", {"substances": ["alcohol", "cannabis"]}, "declined", 12),
        ("Mika Strand", "mika.s@example.org", "", {"age_years": 36}, "converted", 18),
    ),
}
DECLINE_REASONS = {
    "north": "Chose an outpatient programme closer to home after the first call.",
    "river": "Prefers to start with naltrexone and counselling; will call again if needed.",
}


def _answers(region: str, **overrides: Any) -> dict[str, Any]:
    answers: dict[str, Any] = {
        "age_years": 41,
        "substances": ["alcohol"],
        "pregnant_or_breastfeeding": False,
        "psychosis_history": False,
        "ketamine_allergy": False,
        "heart_or_bp_problem": False,
        "ketamine_misuse_history": False,
        "withdrawal_risk": False,
        "self_harm": "no",
        "region": region,
        "language": "en",
        "modality": "any",
    }
    answers.update(overrides)
    return answers


def seed_portal(*, clinic: Clinic, admin: User, staff: User, now: datetime | None = None) -> None:
    """The clinic's public profile and its demo referrals; idempotent."""
    now = now or timezone.now()
    regions, languages, offered, wait, line = PROFILES[clinic.slug]
    if service_profile_current(clinic_id=clinic.pk) is None:
        slugs = [p.slug for p in protocol_library() if offered is None or p.indication in offered]
        service_profile_update(
            actor=admin,
            clinic=clinic,
            display_name=clinic.name,
            regions=regions,
            languages=languages,
            modalities=["in_person", "hybrid_follow_up"],
            protocol_slugs=slugs,
            accepting_referrals=True,
            wait_weeks=wait,
            contact_line=line,
        )
    if Referral.objects.filter(clinic=clinic).exists():
        return
    for index, (name, email, phone, overrides, status, days_ago) in enumerate(REFERRALS[clinic.slug]):
        referral = referral_submit(
            clinic_id=clinic.pk,
            answers=_answers(regions[0], **overrides),
            contact={"name": name, "email": email, "phone": phone, "preferred_time": "weekday mornings"},
            consent_to_contact=True,
            language=overrides.get("language", "en"),
            address=f"demo-{clinic.slug}-{index}",
            now=now - timedelta(days=days_ago, hours=3),
        )
        if status in ("contacted", "intake_booked", "declined", "converted"):
            referral = referral_status_change(actor=staff, referral=referral, to="contacted")
        if status in ("intake_booked", "converted"):
            referral = referral_status_change(actor=staff, referral=referral, to="intake_booked")
        if status == "converted":
            # Opened at intake; an MRN series of its own, apart from the demo's registered patients.
            referral_convert(actor=staff, referral=referral, mrn=f"{clinic.slug[0].upper()}-5{index:03d}")
        if status == "declined":
            referral_status_change(
                actor=staff, referral=referral, to="declined", reason=DECLINE_REASONS[clinic.slug]
            )
