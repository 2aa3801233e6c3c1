"""Demo screenings: most patients eligible, some approved after review, a few waiting for a
prescriber, a few deferred for blood pressure, a couple ineligible, a few not screened yet.

Every screening goes through ``services.screening_record`` (so the decision is the rules' own)
and every sign-off through ``services.screening_sign_off``. Idempotent: a patient who already has
a screening is left alone, and who stays unscreened depends only on the patient's MRN.

The stories hold together: a prescriber's reason speaks to the rule the answers triggered and
names a substance only for a patient whose primary diagnosis it is; screenings and sign-offs
happen in the clinic's working days before anything that depends on them (the care demo places
them before each enrolment with :func:`screenings_place_before`).
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from kapstone.accounts.models import User
from kapstone.domain.patients import age_in_years
from kapstone.domain.screening import BOOLEAN_ANSWERS
from kapstone.patients.models import Patient
from kapstone.screening import services
from kapstone.screening.models import Screening, ScreeningSignOff
from kapstone.screening.selectors import LATEST_FIRST, sign_off_of


@dataclass(frozen=True)
class ReviewCase:
    """Answers that need a prescriber's review, and the reason a prescriber approves with.

    ``diagnoses``: the ICD-10-CM prefixes of the primary diagnosis the story fits (a reason that
    names the substance treated fits only that diagnosis); empty for a story that fits anyone.
    """

    answers: dict[str, Any]
    reason: str
    diagnoses: tuple[str, ...] = ()


# Reasons a prescriber might write; invented, and naming no one. Each speaks to the rule the
# answers trigger, and names a substance only for a patient whose primary diagnosis it is.
_REVIEW_CASES = (
    ReviewCase(
        {"stimulant_use": True},
        "Cocaine use is what we are treating; no cocaine for 7 days by urine test, blood pressure "
        "checked before each dose.",
        ("F14",),
    ),
    ReviewCase(
        {"stimulant_use": True},
        "Methamphetamine use is what we are treating; no use for 10 days by urine test, blood "
        "pressure checked before each dose.",
        ("F15",),
    ),
    ReviewCase(
        {"stimulant_use": True},
        "Methylphenidate for ADHD, held on dosing days; blood pressure checked before each dose.",
    ),
    ReviewCase(
        {"cns_depressant_use": True},
        "Chlordiazepoxide course for alcohol withdrawal finished; no sedatives on dosing days, "
        "recovery observed.",
        ("F10",),
    ),
    ReviewCase(
        {"cns_depressant_use": True},
        "Diazepam taper for sedative dependence ends before the first dose; no sedatives on dosing "
        "days, longer observation.",
        ("F13",),
    ),
    ReviewCase(
        {"cns_depressant_use": True},
        "Opioid detoxification completed before the first dose; naloxone at hand, longer observation.",
        ("F11",),
    ),
    ReviewCase(
        {"cns_depressant_use": True},
        "Zopiclone at night for insomnia, not taken the night before dosing; recovery observed.",
    ),
    ReviewCase(
        {"systolic_bp": 146, "diastolic_bp": 88},
        "Treated hypertension, repeat reading 136/84; blood pressure monitored during dosing.",
    ),
    ReviewCase(
        {"systolic_bp": 138, "diastolic_bp": 94},
        "Diastolic pressure borderline on one reading; home readings normal.",
    ),
    ReviewCase(
        {"maoi_use": True},
        "Discussed with psychiatry: the MAOI is stopped and the washout is complete before the first dose.",
    ),
)
_WAITING_CASES = (
    {"cns_depressant_use": True},
    {"stimulant_use": True},
    {"systolic_bp": 152, "diastolic_bp": 92},
    {"current_mania": True},
    {"raised_intracranial_or_intraocular_pressure": True},
    {"active_ketamine_misuse": True},
)
# Absolute contraindications, with the reason the prescriber declines with.
_INELIGIBLE_CASES = (
    (
        {"psychotic_disorder": True},
        "History of psychosis confirmed with psychiatry: ketamine could bring it back; referred "
        "for other treatment options.",
    ),
    (
        {"uncontrolled_cardiovascular_disease": True},
        "Heart failure not controlled on current treatment: the rise in blood pressure and heart "
        "rate under ketamine is unsafe; referred to cardiology and for other treatment options.",
    ),
    (
        {"aneurysmal_vascular_disease": True},
        "Known aortic aneurysm: a rise in blood pressure could rupture it; referred for other "
        "treatment options.",
    ),
)


def _primary_code(patient: Patient) -> str:
    primary = patient.diagnoses.filter(is_primary=True, voided_at__isnull=True).first()
    return primary.code if primary is not None else ""


def review_cases_for(patient: Patient) -> list[ReviewCase]:
    """The review stories that fit the patient's primary diagnosis."""
    code = _primary_code(patient)
    return [c for c in _REVIEW_CASES if not c.diagnoses or code.startswith(c.diagnoses)]


def _left_unscreened(patient: Patient) -> bool:
    # A stable choice (not the random stream), so a second run does not screen them after all.
    return zlib.crc32(patient.mrn.encode()) % 12 == 0


def _answers(patient: Patient, rng: random.Random, today: date, **overrides: Any) -> dict[str, Any]:
    answers: dict[str, Any] = dict.fromkeys(BOOLEAN_ANSWERS, False)
    answers["systolic_bp"] = rng.randint(108, 136)
    answers["diastolic_bp"] = rng.randint(66, min(answers["systolic_bp"] - 30, 86))
    answers["age_years"] = age_in_years(patient.birth_date, on=today)
    answers.update(demo_protocol_inputs(patient.mrn))
    answers.update(overrides)
    return answers


def demo_protocol_inputs(mrn: str) -> dict[str, Any]:
    """The inputs of protocols with their own criteria (KARE), from the patient's MRN (a stream of
    its own, so the other demo choices stay as they were), all within KARE's criteria (a patient
    over 60 is offered another protocol for alcohol: care.demo)."""
    own = random.Random(zlib.crc32(f"protocol-inputs:{mrn}".encode()))
    return {
        "psychosis_family_history": False,
        "suicidal_ideation_current": False,
        "antidepressant_use": False,
        "detoxifications_count": own.choice((0, 1, 2, 3, 5, 8)),
        "bdi_ii_total": own.randint(15, 34),
        "bmi_kg_m2": f"{own.randint(190, 320) / 10:.1f}",
        "liver_tests_within_3x_uln": "yes",
        "urine_drug_screen": "negative",
    }


def _record(actor: User, patient: Patient, rng: random.Random, today: date, **overrides: Any) -> Screening:
    return services.screening_record(
        actor=actor, patient=patient, answers=_answers(patient, rng, today, **overrides)
    )


def _plan(count: int) -> list[str]:
    """How many of each kind, for ``count`` patients: the rarer kinds first, the rest eligible."""
    kinds = (
        ("ineligible", max(1, round(count * 0.05))),
        ("deferred", max(1, round(count * 0.07))),
        ("waiting", max(1, round(count * 0.08))),
        ("approved", max(1, round(count * 0.15))),
        ("rescreened", round(count * 0.04)),
    )
    plan = [kind for kind, n in kinds for _ in range(n)][:count]
    return plan + ["eligible"] * (count - len(plan))


def seed_screenings(
    *, patients: Iterable[Patient], clinicians: dict[str, User], rng: random.Random, today: date
) -> None:
    """Screen the demo ``patients`` (all of the clinic where ``clinicians`` work).

    ``clinicians`` has the keys ``prescriber``, ``nurse`` and ``therapist``; ``today`` is the
    clinic's date (for the patients' ages).
    """
    prescriber, nurse, therapist = clinicians["prescriber"], clinicians["nurse"], clinicians["therapist"]
    now = timezone.now()
    patients = list(patients)
    screened = set(Screening.objects.filter(patient__in=patients).values_list("patient_id", flat=True))
    todo = [p for p in patients if p.pk not in screened and not _left_unscreened(p)]
    plan = _plan(len(todo))
    rng.shuffle(plan)
    for patient, kind in zip(todo, plan, strict=True):
        screener = rng.choice((nurse, nurse, therapist))
        if kind == "eligible":
            _record(screener, patient, rng, today)
        elif kind == "approved":
            case = rng.choice(review_cases_for(patient))
            screening = _record(screener, patient, rng, today, **case.answers)
            services.screening_sign_off(
                actor=prescriber, screening=screening, approve=True, reason=case.reason
            )
        elif kind == "waiting":
            _record(screener, patient, rng, today, **rng.choice(_WAITING_CASES))
        elif kind == "deferred":
            _record(
                screener,
                patient,
                rng,
                today,
                systolic_bp=rng.randint(180, 196),
                diastolic_bp=rng.randint(100, 114),
            )
        elif kind == "rescreened":
            # Deferred for blood pressure, treated, then screened again: the history shows both.
            _record(
                screener,
                patient,
                rng,
                today,
                systolic_bp=rng.randint(182, 190),
                diastolic_bp=rng.randint(104, 112),
            )
            _record(screener, patient, rng, today)
        else:
            overrides, reason = rng.choice(_INELIGIBLE_CASES)
            screening = _record(screener, patient, rng, today, **overrides)
            services.screening_sign_off(actor=prescriber, screening=screening, approve=False, reason=reason)
        # Screened in the last days, not at the moment of seeding; an enrolment moves it earlier.
        screenings_place_before(patient=patient, before=now, rng=random.Random(f"screened-{patient.mrn}"))


# --- When it happened ---------------------------------------------------------------------------
#
# The services stamp a screening and a sign-off with the moment they are called, which in the demo
# is the moment of seeding. The demo writes history after the fact, as the course demos do for
# session dates, so it then moves these times to when the story says they happened (the audit
# events keep the seed's own time).


def clinic_daytime_before(
    limit: datetime, zone: tzinfo, rng: random.Random, *, days_back: int, gap: timedelta = timedelta(0)
) -> datetime:
    """A moment in the clinic's working day (09:00–16:50 on its clock), at least ``gap`` and at
    most about ``days_back`` days before ``limit``; in UTC."""
    latest = limit - gap
    day = latest.astimezone(zone).date() - timedelta(days=rng.randint(0, days_back))
    while True:
        moment = datetime.combine(
            day, time(rng.randint(9, 16), rng.choice((0, 10, 20, 30, 40, 50))), tzinfo=zone
        )
        if moment <= latest:
            return moment.astimezone(UTC)
        day -= timedelta(days=1)


def screenings_place_before(*, patient: Patient, before: datetime, rng: random.Random) -> None:
    """Put the patient's screenings and their sign-offs in the clinic's working days before
    ``before``, keeping their order: the current screening in the days before, its sign-off
    after it, and each earlier screening three to eight weeks before the next."""
    zone = ZoneInfo(patient.clinic.timezone)
    limit, days_back = before, 3
    screenings = Screening.objects.filter(patient=patient).select_related("sign_off").order_by(*LATEST_FIRST)
    for screening in list(screenings):
        sign_off = sign_off_of(screening)
        if sign_off is not None:
            signed_at = clinic_daytime_before(limit, zone, rng, days_back=1, gap=timedelta(minutes=30))
            ScreeningSignOff.objects.filter(pk=sign_off.pk).update(signed_at=signed_at)
            limit = signed_at
        entered_at = clinic_daytime_before(limit, zone, rng, days_back=days_back, gap=timedelta(hours=1))
        Screening.objects.filter(pk=screening.pk).update(entered_at=entered_at)
        limit, days_back = entered_at - timedelta(days=21), 35
