"""Demo screenings: most patients eligible, some approved after review, a few waiting for a
prescriber, a few deferred for blood pressure, a couple ineligible, a few not screened yet.

Every screening goes through ``services.screening_record`` (so the decision is the rules' own)
and every sign-off through ``services.screening_sign_off``. Idempotent: a patient who already has
a screening is left alone, and who stays unscreened depends only on the patient's MRN.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterable
from datetime import date
from typing import Any

from kapstone.accounts.models import User
from kapstone.domain.patients import age_in_years
from kapstone.domain.screening import BOOLEAN_ANSWERS
from kapstone.patients.models import Patient
from kapstone.screening import services
from kapstone.screening.models import Screening

# Reasons a prescriber might write; invented, and naming no one.
_REVIEW_CASES = (
    (
        {"cns_depressant_use": True},
        "Benzodiazepine taper finished; no sedatives on dosing days, observed recovery.",
    ),
    (
        {"stimulant_use": True},
        "Cocaine use is the treatment target; abstinent 7 days, BP checked before each dose.",
    ),
    (
        {"systolic_bp": 146, "diastolic_bp": 88},
        "Treated hypertension, repeat reading 136/84; BP monitored during dosing.",
    ),
    ({"systolic_bp": 138, "diastolic_bp": 94}, "Diastolic borderline on one reading; home readings normal."),
    ({"active_ketamine_misuse": True}, "Occasional past use only; supervised dosing and no take-home doses."),
    ({"maoi_use": True}, "Discussed with psychiatry; MAOI stopped, washout complete before first dose."),
)
_WAITING_CASES = (
    {"cns_depressant_use": True},
    {"stimulant_use": True},
    {"systolic_bp": 152, "diastolic_bp": 92},
    {"current_mania": True},
    {"raised_intracranial_or_intraocular_pressure": True},
)
_INELIGIBLE_CASES = (
    {"psychotic_disorder": True},
    {"uncontrolled_cardiovascular_disease": True},
    {"aneurysmal_vascular_disease": True},
)


def _left_unscreened(patient: Patient) -> bool:
    # A stable choice (not the random stream), so a second run does not screen them after all.
    return zlib.crc32(patient.mrn.encode()) % 12 == 0


def _answers(patient: Patient, rng: random.Random, today: date, **overrides: Any) -> dict[str, Any]:
    answers: dict[str, Any] = dict.fromkeys(BOOLEAN_ANSWERS, False)
    answers["systolic_bp"] = rng.randint(108, 136)
    answers["diastolic_bp"] = rng.randint(66, min(answers["systolic_bp"] - 30, 86))
    answers["age_years"] = age_in_years(patient.birth_date, on=today)
    answers.update(overrides)
    return answers


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
            overrides, reason = rng.choice(_REVIEW_CASES)
            screening = _record(screener, patient, rng, today, **overrides)
            services.screening_sign_off(actor=prescriber, screening=screening, approve=True, reason=reason)
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
            screening = _record(screener, patient, rng, today, **rng.choice(_INELIGIBLE_CASES))
            services.screening_sign_off(
                actor=prescriber,
                screening=screening,
                approve=False,
                reason="Absolute contraindication confirmed; referred for other treatment options.",
            )
