"""A hand-built cohort for the research tests.

Two arms of 12 courses each on a clinic's version of the cocaine protocol that measures relapse
after the acute phase (``AFTER_ACUTE_PHASE``: the shipped Dakwar 2019 protocol counts relapse
from the infusion to day 35, the trial's rule; these tests are about the report's machinery, so
they keep a relapse window open after day 35): outcome window course days 22–35, acute phase
ends on day 35, relapse = first use after it, started 200 days ago so the window has
closed; no dosing session is discharged, so each course is anchored on its start date. For
patient ``i`` of an arm: i % 3 == 0 reports nothing in the window (missing), i % 3 == 1 reports
every window day without use (abstinent), i % 3 == 2 reports use on day 30 (not abstinent).
After the acute phase every patient reports ``follow`` days from day 36; relapse (use) on
``relapse`` when given. ``EXPECTED`` holds the (time, event) each course must get.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from kapstone.care.models import ProtocolClone
from kapstone.care.services import course_enrol, protocol_clone_create
from kapstone.outcomes.models import UseDay
from kapstone.patients.services import clinic_today, consent_record
from tests.care.conftest import screen
from tests.conftest import new_patient

PROTOCOL = "ketamine-mbrp-cocaine-dakwar-2019"
ACUTE_END_DAY = 35
WINDOW = range(22, 36)
START_DAYS_AGO = 200
#: The clinic version's change: relapse from the end of the acute phase, with no end, dropout
#: censored (the report's rule before the protocols named their trial's relapse window).
AFTER_ACUTE_PHASE = {
    "outcome.relapse_from_day": None,
    "outcome.relapse_until_day": None,
    "outcome.dropout_counts_as_relapse": False,
}


def after_acute_phase_version(actor, clinic) -> int:
    """The clinic's version of the cocaine protocol with ``AFTER_ACUTE_PHASE`` (made once)."""
    clone = ProtocolClone.objects.filter(clinic=clinic, slug=PROTOCOL).order_by("version").first()
    if clone is None:
        clone = protocol_clone_create(
            actor=actor,
            clinic_id=clinic.pk,
            slug=PROTOCOL,
            version=1,
            changes=AFTER_ACUTE_PHASE,
            note="Relapse measured after the acute phase (research tests).",
        )
    return clone.version


@dataclass(frozen=True)
class Spec:
    arm: str
    window: str  # missing, abstinent, used
    follow: int  # days reported after the acute phase (from day 36)
    relapse: int | None  # course day of relapse, within the follow-up


def specs() -> list[Spec]:
    result = []
    for arm, shift in (("ketamine", 0), ("control", 1)):
        for i in range(12):
            window = ("missing", "abstinent", "used")[i % 3]
            follow = 20 + 7 * i
            # Ketamine relapses less often and later than control.
            relapses = i % 4 == 0 if arm == "ketamine" else i % 2 == 0 or i == 11
            relapse = ACUTE_END_DAY + 3 + 2 * i + 5 * shift if relapses else None
            result.append(Spec(arm=arm, window=window, follow=follow, relapse=relapse))
    return result


def expected(spec: Spec) -> tuple[int, int]:
    if spec.relapse is not None:
        return spec.relapse - ACUTE_END_DAY, 1
    return spec.follow, 0  # the last reported day is day 35 + follow


def enrol(
    actor,
    clinic,
    *,
    index: int,
    spec: Spec,
    research_consent: str | None = "granted",
    start: date | None = None,
    protocol: str = PROTOCOL,
    substance: str = "cocaine",
    **patient,
):
    """Enrol one patient on ``protocol`` (default: started ``START_DAYS_AGO`` days ago) with the
    calendar of ``spec`` for ``substance``; days after today are not recorded."""
    patient_fields = {
        "mrn": f"{clinic.slug.upper()}-77{index:03d}",
        "given_name": f"Xanthe{chr(65 + index % 26)}q",
        "family_name": f"Vorpalindex{index:03d}",
        "birth_date": date(1971, 3, 9),
    } | patient
    person = new_patient(actor, clinic, **patient_fields)
    consent_record(
        actor=actor,
        patient=person,
        kind="treatment",
        status="granted",
        effective_on=date(2025, 1, 2),
        document_version="2025-01",
    )
    if research_consent:
        consent_record(
            actor=actor,
            patient=person,
            kind="research",
            status=research_consent,
            effective_on=date(2025, 1, 2),
            document_version="2025-01",
        )
    screen(actor, person)
    today = clinic_today(clinic)
    start = start or today - timedelta(days=START_DAYS_AGO)
    version = after_acute_phase_version(actor, clinic) if protocol == PROTOCOL else None
    course = course_enrol(
        actor=actor,
        patient=person,
        protocol_slug=protocol,
        start_date=start,
        arm=spec.arm,
        protocol_version=version,
    )
    now = timezone.now()
    rows = []

    def day(n: int, used: bool) -> None:
        if start + timedelta(days=n) > today:
            return
        rows.append(
            UseDay(
                patient=person,
                substance=substance,
                day=start + timedelta(days=n),
                used=used,
                # Alcohol: a day of use is a heavy day (8 drinks), the relapse of its protocols.
                standard_drinks=(Decimal(8) if used else Decimal(0)) if substance == "alcohol" else None,
                entered_by=actor,
                entered_at=now,
            )
        )

    if spec.window != "missing":
        for n in WINDOW:
            day(n, spec.window == "used" and n == 30)
    for n in range(ACUTE_END_DAY + 1, ACUTE_END_DAY + spec.follow + 1):
        day(n, n == spec.relapse)
    UseDay.objects.bulk_create(rows)
    return person, course


@pytest.fixture
def cohort_a(alice, clinic_a):
    """24 courses in clinic A; returns [(patient, course, spec)]."""
    built = []
    for index, spec in enumerate(specs()):
        person, course = enrol(alice, clinic_a, index=index, spec=spec)
        built.append((person, course, spec))
    return built


@pytest.fixture
def course_b(carol, clinic_b):
    """One course in clinic B, which clinic A's users must never count."""
    return enrol(carol, clinic_b, index=99, spec=Spec(arm="ketamine", window="used", follow=30, relapse=40))
