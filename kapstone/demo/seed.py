"""Demo data: two clinics, staff of every role, fictional patients at every stage.

Deterministic (a fixed random seed) and idempotent: running it twice changes nothing. Every
write goes through the services, so the demo's audit trail is a real one. Later issues extend
``seed_demo`` with care, dosing, monitoring and outcome data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from kapstone.accounts.models import Clinic, Role, User
from kapstone.accounts.services import clinic_get_or_create, membership_set
from kapstone.care.demo import seed_courses
from kapstone.care.models import CareSession, TreatmentCourse
from kapstone.care.notes_demo import seed_notes_and_groups
from kapstone.dosing.demo import archive_lot
from kapstone.inventory.demo import seed_inventory, seed_inventory_counts
from kapstone.monitoring.demo import monitored_dose_giver, seed_monitoring
from kapstone.monitoring.demo_dissociation import seed_discharge_waiting_on_dissociation
from kapstone.outcomes.demo import FOLLOW_UP_COHORT, seed_follow_up_cohort, seed_outcomes
from kapstone.patients import services as patient_services
from kapstone.patients.models import Patient
from kapstone.portal.demo import seed_portal
from kapstone.safety.demo import seed_safety
from kapstone.screening.demo import seed_screenings

DEMO_PASSWORD = "kapstone-demo-2026"  # noqa: S105 - printed by the command; demo only

CLINICS = (
    ("Northside Clinic", "north", "America/New_York", "N"),
    ("Riverside Clinic", "river", "America/Chicago", "R"),
)

STAFF = (
    (Role.ADMIN, "admin", "Alex", "Admin"),
    (Role.PRESCRIBER, "prescriber", "Priya", "Prescriber"),
    (Role.NURSE, "nurse", "Noor", "Nurse"),
    (Role.THERAPIST, "therapist", "Theo", "Therapist"),
    (Role.RESEARCHER, "researcher", "Rosa", "Researcher"),
    # The bedside monitors' HL7 feed (docs/interop.md): a device account, no password.
    (Role.MONITOR, "monitor", "Bedside", "Monitor"),
)

# Invented names: no real person is meant.
GIVEN = (
    "Avery",
    "Blake",
    "Casey",
    "Dana",
    "Elliot",
    "Frankie",
    "Gray",
    "Harper",
    "Indigo",
    "Jules",
    "Kai",
    "Lane",
    "Morgan",
    "Noel",
    "Oakley",
    "Parker",
    "Quinn",
    "Reese",
    "Sage",
    "Tatum",
    "Umber",
    "Vale",
    "Wren",
    "Xen",
    "Yael",
    "Zion",
    "Arden",
    "Briar",
    "Cove",
    "Dell",
)
FAMILY = (
    "Ashgrove",
    "Bellwether",
    "Cinderfield",
    "Dunmore",
    "Eastwick",
    "Fallowmere",
    "Glenrock",
    "Hollowell",
    "Ironbark",
    "Juniperhill",
    "Kestrelby",
    "Larkspur",
    "Marrowdale",
    "Northcote",
    "Oakenshaw",
    "Pennywhistle",
    "Quillfeather",
    "Rookwood",
    "Saltmarsh",
    "Thistledown",
    "Underhill",
    "Vexley",
    "Willowmere",
    "Yarrowby",
)
# (code, primary share): alcohol dominates, as in the trials this platform serves.
DIAGNOSES = (
    ("F10.20", 40),
    ("F11.20", 15),
    ("F14.20", 15),
    ("F10.10", 8),
    ("F15.20", 6),
    ("F12.20", 6),
    ("F13.20", 5),
    ("F19.20", 5),
)
SECONDARY = ("F17.210", "F12.20", "F14.10", "F10.21")


def _seed_care(
    clinic: Clinic, staff: dict[str, User], rng: random.Random, follow_up_per_protocol: int = FOLLOW_UP_COHORT
) -> None:
    """The register's stock, screenings, courses at every stage with their doses given through
    the dosing workflow, and therapy notes and groups."""
    today = patient_services.clinic_today(clinic)
    patients = list(Patient.objects.filter(clinic=clinic).order_by("mrn"))
    first_run = not TreatmentCourse.objects.filter(clinic=clinic).exists()
    inventory_later = seed_inventory(
        clinic=clinic,
        admin=staff["admin"],
        nurse=staff["nurse"],
        prescriber=staff["prescriber"],
        today=today,
        rng=rng,
    )
    archive_lot(clinic=clinic, admin=staff["admin"], received_on=today - timedelta(days=366), today=today)
    seed_screenings(patients=patients, clinicians=staff, rng=rng, today=today)
    courses = seed_courses(
        timeline=inventory_later,
        patients=patients,
        prescriber=staff["prescriber"],
        nurse=staff["nurse"],
        therapist=staff["therapist"],
        rng=rng,
        today=today,
        give_dose=monitored_dose_giver(
            prescriber=staff["prescriber"],
            nurse=staff["nurse"],
            rng=rng,
            vitals_rng=random.Random(f"vitals-{clinic.slug}"),
        ),
    )
    if first_run:
        seed_notes_and_groups(
            clinic=clinic,
            therapist=staff["therapist"],
            patients_with_courses=[(c.patient, c) for c in courses],
            rng=rng,
            today=today,
        )
    seed_monitoring(clinic=clinic, nurse=staff["nurse"], prescriber=staff["prescriber"], today=today)
    seed_discharge_waiting_on_dissociation(
        clinic=clinic, nurse=staff["nurse"], prescriber=staff["prescriber"], today=today
    )
    seed_outcomes(clinic=clinic, therapist=staff["therapist"], nurse=staff["nurse"], rng=rng, today=today)
    seed_safety(clinic=clinic, nurse=staff["nurse"], prescriber=staff["prescriber"], rng=rng, today=today)
    # Earlier patients with their whole follow-up, for the cohort report (its own random stream,
    # so the rest of the demo stays as it was).
    seed_follow_up_cohort(
        clinic=clinic,
        admin=staff["admin"],
        prescriber=staff["prescriber"],
        nurse=staff["nurse"],
        therapist=staff["therapist"],
        rng=random.Random(f"follow-up-{clinic.slug}"),
        today=today,
        per_protocol=follow_up_per_protocol,
    )
    # Shift counts last: they count what the register held at their time, all doses included.
    seed_inventory_counts(
        clinic=clinic, admin=staff["admin"], nurse=staff["nurse"], prescriber=staff["prescriber"], today=today
    )


#: The MRN number of the patient in the chair today (dosing in progress) in each clinic: N-1004
#: and R-1004, the examples of docs/interop.md and ``kapstone hl7 simulate --mrn N-1004``.
CHAIR_MRN_NUMBER = 1004


def _chair_patient_takes_mrn(clinic: Clinic, mrn: str) -> None:
    """Give the patient whose dosing session is in progress today the MRN ``mrn``, swapping it
    with the patient who had it (the demo's MRNs are only labels given at creation; which patient
    the courses put in the chair is the care seed's choice). Nothing to do when already so."""
    session = (
        CareSession.objects.filter(clinic=clinic, kind="dosing", status="in_progress")
        .select_related("patient")
        .order_by("id")
        .first()
    )
    if session is None or session.patient.mrn == mrn:
        return
    chair = session.patient
    holder = Patient.objects.filter(clinic=clinic, mrn=mrn).first()
    with transaction.atomic():
        if holder is not None:
            Patient.objects.filter(pk=holder.pk).update(mrn=f"{mrn}-swap")
        Patient.objects.filter(pk=chair.pk).update(mrn=mrn)
        if holder is not None:
            Patient.objects.filter(pk=holder.pk).update(mrn=chair.mrn)


@dataclass(frozen=True)
class SeedSummary:
    clinics: int
    staff: int
    patients_created: int
    patients_total: int


def _staff(clinic: Clinic, short: str) -> dict[str, User]:
    people = {}
    for role, prefix, given, family in STAFF:
        username = f"{prefix}.{short}"
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_user(
                username=username,
                # A device account never signs in (None: an unusable password).
                password=None if role == Role.MONITOR else DEMO_PASSWORD,
                first_name=given,
                last_name=f"{family} ({short.capitalize()})",
                email=f"{username}@example.org",
            )
        membership_set(actor=None, user=user, clinic=clinic, role=role)
        people[prefix] = user
    return people


def _weighted_code(rng: random.Random) -> str:
    codes, weights = zip(*DIAGNOSES, strict=True)
    return rng.choices(codes, weights=weights, k=1)[0]


def _seed_patients(
    clinic: Clinic, mrn_prefix: str, staff: dict[str, User], rng: random.Random, count: int
) -> int:
    created = 0
    nurse, admin = staff["nurse"], staff["admin"]
    today = patient_services.clinic_today(clinic)
    for index in range(count):
        mrn = f"{mrn_prefix}-{1001 + index}"
        given = GIVEN[(index * 7 + (3 if mrn_prefix == "R" else 0)) % len(GIVEN)]
        family = FAMILY[(index * 5 + (11 if mrn_prefix == "R" else 0)) % len(FAMILY)]
        sex = rng.choices(("male", "female", "intersex"), weights=(56, 43, 1), k=1)[0]
        birth = date(today.year - rng.randint(21, 68), rng.randint(1, 12), rng.randint(1, 28))
        height = Decimal(rng.randint(152, 192) if sex == "male" else rng.randint(148, 180))
        weight = Decimal(rng.randint(52, 118)) + Decimal(rng.randint(0, 9)) / 10
        if Patient.objects.filter(clinic=clinic, mrn=mrn).exists():
            continue
        with transaction.atomic():
            patient = patient_services.patient_create(
                actor=admin,
                clinic_id=clinic.pk,
                mrn=mrn,
                given_name=given,
                family_name=family,
                birth_date=birth,
                sex_at_birth=sex,
                weight_kg=weight,
                height_cm=height,
                measured_at=timezone.now() - timedelta(days=rng.randint(0, 60)),
                phone=f"555-01{index:02d}",
                email=f"{given.lower()}.{family.lower()}@example.org",
                emergency_contact_name=f"{GIVEN[(index + 9) % len(GIVEN)]} {family}",
                emergency_contact_phone=f"555-02{index:02d}",
                emergency_contact_relationship=rng.choice(("partner", "sibling", "parent", "friend")),
            )
            primary = _weighted_code(rng)
            patient_services.diagnosis_add(actor=nurse, patient=patient, code=primary, is_primary=True)
            if rng.random() < 0.35:
                secondary = rng.choice([c for c in SECONDARY if c != primary])
                patient_services.diagnosis_add(actor=nurse, patient=patient, code=secondary, is_primary=False)
            consent_day = today - timedelta(days=rng.randint(10, 300))
            patient_services.consent_record(
                actor=nurse,
                patient=patient,
                kind="treatment",
                status="granted",
                effective_on=consent_day,
                document_version="2026-01",
            )
            if rng.random() < 0.7:
                patient_services.consent_record(
                    actor=nurse,
                    patient=patient,
                    kind="research",
                    status="granted",
                    effective_on=consent_day,
                    document_version="2026-01",
                )
            if index % 13 == 5:
                patient_services.consent_record(
                    actor=nurse,
                    patient=patient,
                    kind="research",
                    status="withdrawn",
                    effective_on=today,
                    document_version="2026-01",
                    note="Patient asked to leave the research register.",
                )
            if index % 9 == 4:
                patient_services.patient_amend(
                    actor=admin,
                    patient=patient,
                    expected_version=1,
                    changes={"phone": f"555-03{index:02d}"},
                    reason="Patient gave a new phone number at check-in.",
                )
        created += 1
    return created


def seed_demo(
    *, patients_per_clinic: int = 40, follow_up_per_protocol: int = FOLLOW_UP_COHORT
) -> SeedSummary:
    """The whole demo, idempotent. ``follow_up_per_protocol``: earlier patients per shipped
    protocol with their whole follow-up, for the cohort report (tests that do not look at the
    report seed fewer; each takes about a second through the services)."""
    rng = random.Random(20261128)  # fixed: the same demo every time
    created = 0
    staff_count = 0
    for name, short, tz, mrn_prefix in CLINICS:
        clinic = clinic_get_or_create(actor=None, name=name, slug=short, timezone_name=tz)
        staff = _staff(clinic, short)
        staff_count += len(staff)
        created += _seed_patients(clinic, mrn_prefix, staff, rng, patients_per_clinic)
        _seed_care(clinic, staff, rng, follow_up_per_protocol)
        _chair_patient_takes_mrn(clinic, f"{mrn_prefix}-{CHAIR_MRN_NUMBER}")
        seed_portal(clinic=clinic, admin=staff["admin"], staff=staff["nurse"], patient_password=DEMO_PASSWORD)
    return SeedSummary(
        clinics=len(CLINICS),
        staff=staff_count,
        patients_created=created,
        patients_total=Patient.objects.count(),
    )
