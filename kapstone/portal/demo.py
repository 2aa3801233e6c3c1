"""Demo data of the public door and the patient portal: each clinic's public profile, referrals at
every status (one overdue), the clinic's consent documents, and one patient with a portal account
(``patient.north``, ``patient.river``), all made through the same services a visitor, the staff
and the patient use."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from kapstone.accounts.models import Clinic, User
from kapstone.care.models import CareSession, TreatmentCourse
from kapstone.domain.protocols import DOSING, protocol_library
from kapstone.patients.models import ConsentDocument
from kapstone.patients.services import clinic_today, consent_document_publish
from kapstone.portal.consent import consent_sign
from kapstone.portal.models import PatientAccount, Referral
from kapstone.portal.outcome_selectors import due_for_patient
from kapstone.portal.patient_services import invitation_accept, portal_invite
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


def seed_portal(
    *,
    clinic: Clinic,
    admin: User,
    staff: User,
    now: datetime | None = None,
    patient_password: str | None = None,
) -> None:
    """The clinic's public profile, its demo referrals and consent documents, and (given the
    demo's ``patient_password``) its demo portal patient; idempotent."""
    now = now or timezone.now()
    seed_consent_documents(clinic=clinic, admin=admin)
    if patient_password is not None:
        seed_patient_account(clinic=clinic, staff=staff, password=patient_password)
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


# --- The portal: consent documents and a demo patient -------------------------------------------

_DEMO_NOTE = (
    "DEMO TEXT. This is a made-up example for trying out Kapstone. It is not a real consent form "
    "and no clinic uses it."
)
CONSENT_DOCUMENTS = {
    "treatment": (
        "Consent to ketamine-assisted therapy",
        _DEMO_NOTE
        + "\n\n"
        + "What the treatment is: preparation sessions with a therapist, one or more sessions in which "
        "you are given ketamine by a nurse under a prescriber's orders, and sessions afterwards to talk "
        "about the experience.\n\n"
        "What to expect: ketamine changes how you feel and perceive things for about an hour. It can "
        "raise your blood pressure, make you feel sick, drowsy or confused, and some people find the "
        "experience frightening. A nurse watches you and measures your blood pressure, pulse and oxygen "
        "throughout, and you stay at the clinic for at least two hours afterwards.\n\n"
        "Your part: follow the preparation instructions (no food for some hours before, an adult to "
        "take you home, no driving until the next day), and tell the clinic about every medicine you "
        "take and any alcohol or drugs you have used.\n\n"
        "Your choice: taking part is voluntary. You can stop at any time by speaking to the clinic; "
        "your other care does not depend on it.",
    ),
    "research": (
        "Use of your data for research",
        _DEMO_NOTE
        + "\n\n"
        + "The clinic would like to use the information in your record (your questionnaire answers, "
        "your calendar, your test results and your treatment) for research into how well this "
        "treatment works.\n\n"
        "Researchers see it without your name, address, record number or exact dates. Small groups "
        "are never shown, so that no one can be picked out.\n\n"
        "Saying no does not change your treatment in any way. You can withdraw this consent at any "
        "time in the portal; data already used in a finished analysis cannot be taken back out of it.",
    ),
    "data_sharing": (
        "Sharing your substance use treatment records (42 CFR Part 2)",
        _DEMO_NOTE
        + "\n\n"
        + "Records of treatment for substance use are specially protected by US federal law (42 CFR "
        "Part 2). The clinic may share them only with your written consent, except in the few cases "
        "the law allows (a medical emergency, for example).\n\n"
        "With this consent you allow the clinic to share your treatment records with your own doctor "
        "and your pharmacy, to keep your care safe and joined up. The clinic records each time "
        "something is shared: for whom, what and why.\n\n"
        "Whoever receives your records may not use them against you in a criminal case, and may not "
        "pass them on without your consent. You can withdraw this consent at any time in the portal; "
        "what was shared before stays shared.",
    ),
}


def seed_consent_documents(*, clinic: Clinic, admin: User) -> None:
    """Version 1 of each kind of consent document (demo texts, saying so); idempotent."""
    for kind, (title, body) in CONSENT_DOCUMENTS.items():
        if not ConsentDocument.objects.filter(clinic=clinic, kind=kind).exists():
            consent_document_publish(actor=admin, clinic=clinic, kind=kind, title=title, body=body)


def _demo_patient(clinic: Clinic):
    """The clinic's first patient (by MRN) in an active course, without a portal account, with a
    ketamine session still booked ahead and a questionnaire to fill in now (what the demo's
    patient should see); failing that, the first with a ketamine session ahead, then with any
    session ahead."""
    today = clinic_today(clinic)
    courses = list(
        TreatmentCourse.objects.filter(clinic=clinic, status="active", patient__portal_account__isnull=True)
        .select_related("patient")
        .order_by("patient__mrn")
    )
    for dosing_only, needs_due in ((True, True), (True, False), (False, False)):
        for course in courses:
            ahead = CareSession.objects.filter(course=course, status="scheduled", scheduled_date__gt=today)
            if dosing_only:
                ahead = ahead.filter(kind=DOSING)
            if ahead.exists() and (not needs_due or due_for_patient(course.patient, today)):
                return course.patient
    return None


def seed_patient_account(*, clinic: Clinic, staff: User, password: str) -> User | None:
    """``patient.<clinic slug>``: invited by ``staff`` from the chart and accepted with the demo
    password, like any patient; they have signed the consent to treatment in the portal, and the
    research and data-sharing consents wait for them. Idempotent; None when no patient of the
    clinic is in a course with sessions ahead."""
    username = f"patient.{clinic.slug}"
    existing = PatientAccount.objects.filter(user__username=username).select_related("user").first()
    if existing is not None:
        return existing.user
    patient = _demo_patient(clinic)
    if patient is None:
        return None
    _, token = portal_invite(
        actor=staff,
        patient=patient,
        email=f"{username}@example.org",
        link_base="http://127.0.0.1:8000/portal/invitation/",
        username=username,
    )
    account = invitation_accept(token=token, password=password, password_again=password)
    document = ConsentDocument.objects.filter(clinic=clinic, kind="treatment").order_by("-version").first()
    if document is not None:
        consent_sign(
            actor=account.user,
            document_id=document.pk,
            text_sha256=document.text_sha256,
            typed_name=f"{patient.given_name} {patient.family_name}",
            agreed=True,
        )
    return account.user
