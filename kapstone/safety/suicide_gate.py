"""High suicide risk as a hard stop on the next dose order (registered from SafetyConfig).

Rule ``suicide_risk_high``: when the patient's most recent C-SSRS screener is at the high triage
level (intent, a plan with intent, or suicidal behaviour within the past 3 months: Columbia
Lighthouse Project screener triage, cssrs.columbia.edu; reference clinical.md §8), no dose may be
ordered until a prescriber has documented a safety plan at or after that screener (Stanley &
Brown's safety planning intervention, Cogn Behav Pract 2012;19:256–264). A later screener below
high lifts it too. Not overridable: the plan is the way past it, and only a prescriber writes it.
The triage says what a high level needs (immediate evaluation by a clinician; Columbia); dosing a
dissociative drug before that is done has no source behind it (Kapstone's decision; KARE also
excluded current suicidal ideation, clinical.md §8).
"""

from __future__ import annotations

from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.outcomes.models import QuestionnaireResponse
from kapstone.outcomes.selectors import LATEST_FIRST
from kapstone.safety.models import SafetyPlan

GATE_KEY = "safety.suicide_risk_high"


def latest_cssrs(patient_id: int) -> QuestionnaireResponse | None:
    return (
        QuestionnaireResponse.objects.filter(patient_id=patient_id, instrument="c-ssrs")
        .order_by(*LATEST_FIRST)
        .first()
    )


def suicide_risk_refusal(patient_id: int) -> DomainError | None:
    """The hold the patient's latest C-SSRS places on dosing, or None."""
    screener = latest_cssrs(patient_id)
    if screener is None or screener.band != "high":
        return None
    if SafetyPlan.objects.filter(patient_id=patient_id, documented_at__gte=screener.entered_at).exists():
        return None
    return WorkflowConflict(
        "suicide_risk_high",
        f"The C-SSRS screener of {screener.administered_on:%Y-%m-%d} is at high risk. No dose may be "
        "ordered until a prescriber has seen the patient and documented a safety plan (on the "
        "patient's safety page).",
    )


def suicide_risk_order_gate(session) -> DomainError | None:
    return suicide_risk_refusal(session.patient_id)
