"""Referrals from the public pre-screen: matching a person to a clinic, and the referral queue.

Pure rules: which clinics match a person's answers and why, the queue's states, when a referral
is overdue, the public reference code, and which pre-screen answers may pre-fill the full
screening. No Django, no clock (``now`` is passed in).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.prescreen import PrescreenAnswers

# --- Matching ------------------------------------------------------------------------------------

DEFAULT_LANGUAGE = "en"
IN_PERSON = "in_person"
HYBRID_FOLLOW_UP = "hybrid_follow_up"
CLINIC_MODALITIES: tuple[str, ...] = (IN_PERSON, HYBRID_FOLLOW_UP)

LANGUAGE_NAMES: Mapping[str, str] = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "pt": "Portuguese",
    "zh": "Chinese",
    "vi": "Vietnamese",
    "ru": "Russian",
    "ar": "Arabic",
    "ht": "Haitian Creole",
    "ko": "Korean",
}
SUBSTANCE_WORDS: Mapping[str, str] = {
    "alcohol": "alcohol use",
    "opioids": "opioid use",
    "cocaine": "cocaine use",
    "methamphetamine": "methamphetamine use",
    "cannabis": "cannabis use",
    "other": "other substance use",
}


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


@dataclass(frozen=True)
class ClinicOffer:
    """What one clinic's public service profile offers (``substances`` from its protocols)."""

    clinic_id: int
    name: str
    regions: frozenset[str]
    languages: frozenset[str]
    modalities: frozenset[str]
    protocol_slugs: tuple[str, ...]
    protocol_substances: Mapping[str, str]  # slug → the substance the protocol treats
    accepting: bool
    wait_weeks: int

    @property
    def substances(self) -> frozenset[str]:
        return frozenset(self.protocol_substances[s] for s in self.protocol_slugs)


@dataclass(frozen=True)
class ClinicMatch:
    clinic_id: int
    clinic_name: str
    protocols: tuple[str, ...]
    why: tuple[str, ...]
    wait_weeks: int
    covered: tuple[str, ...]  # the person's substances this clinic treats

    def as_dict(self) -> dict[str, Any]:
        return {
            "clinic_id": self.clinic_id,
            "clinic_name": self.clinic_name,
            "protocols": list(self.protocols),
            "why": list(self.why),
            "wait_weeks": self.wait_weeks,
        }


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def match_clinics(answers: PrescreenAnswers, offers: Iterable[ClinicOffer]) -> tuple[ClinicMatch, ...]:
    """The clinics that may help this person, best first.

    A clinic matches when it accepts referrals, offers a protocol for at least one of the
    person's substances, serves their region (when given), speaks their language (when given;
    English when not) and, when they asked for in-person care, sees patients in person.
    Ranking: more of the person's substances covered, then the shorter typical wait, then the
    name. Each match says why it matched, in words.
    """
    language = answers.language or DEFAULT_LANGUAGE
    matches = []
    for offer in offers:
        if not offer.accepting:
            continue
        if answers.region is not None and answers.region not in offer.regions:
            continue
        if language not in offer.languages:
            continue
        if answers.modality == IN_PERSON and IN_PERSON not in offer.modalities:
            continue
        covered = [s for s in answers.substances if s in offer.substances]
        if not covered:
            continue
        protocols = tuple(slug for slug in offer.protocol_slugs if offer.protocol_substances[slug] in covered)
        why = [f"offers ketamine-assisted therapy for {_join([SUBSTANCE_WORDS[s] for s in covered])}"]
        if answers.region is not None:
            why.append(f"serves {answers.region}")
        if answers.language is not None:
            why.append(f"speaks {language_name(language)}")
        if answers.modality == IN_PERSON:
            why.append("sees patients in person")
        matches.append(
            ClinicMatch(
                clinic_id=offer.clinic_id,
                clinic_name=offer.name,
                protocols=protocols,
                why=tuple(why),
                wait_weeks=offer.wait_weeks,
                covered=tuple(covered),
            )
        )
    matches.sort(key=lambda m: (-len(m.covered), m.wait_weeks, m.clinic_name.casefold(), m.clinic_id))
    return tuple(matches)


# --- The referral queue --------------------------------------------------------------------------

NEW = "new"
CONTACTED = "contacted"
INTAKE_BOOKED = "intake_booked"
DECLINED = "declined"
CONVERTED = "converted"

REFERRAL_STATUSES: tuple[str, ...] = (NEW, CONTACTED, INTAKE_BOOKED, DECLINED, CONVERTED)
STATUS_LABELS: Mapping[str, str] = {
    NEW: "New",
    CONTACTED: "Contacted",
    INTAKE_BOOKED: "Intake booked",
    DECLINED: "Declined",
    CONVERTED: "Became a patient",
}

#: The moves staff make with a status change; ``converted`` is reached only by converting.
REFERRAL_TRANSITIONS: Mapping[str, frozenset[str]] = {
    NEW: frozenset({CONTACTED, INTAKE_BOOKED, DECLINED}),
    CONTACTED: frozenset({INTAKE_BOOKED, DECLINED}),
    INTAKE_BOOKED: frozenset({CONTACTED, DECLINED}),
    DECLINED: frozenset(),
    CONVERTED: frozenset(),
}
CONVERTIBLE: frozenset[str] = frozenset({NEW, CONTACTED, INTAKE_BOOKED})


def check_referral_transition(current: str, to: str, *, reason: str | None) -> str:
    """A staff status change of a referral: the legal moves, a reason to decline.

    Refusals: ``unknown_status`` (field ``to``), WorkflowConflict ``invalid_transition``
    naming both states in words, ``reason_required`` for a decline without a reason.
    """
    if to not in REFERRAL_STATUSES:
        raise DomainError("unknown_status", f"{str(to)[:40]!r} is not a referral status.", field="to")
    if to not in REFERRAL_TRANSITIONS.get(current, frozenset()):
        allowed = ", ".join(STATUS_LABELS[s].lower() for s in sorted(REFERRAL_TRANSITIONS.get(current, ())))
        hint = f"; from {STATUS_LABELS[current].lower()} it may move to: {allowed}" if allowed else ""
        raise WorkflowConflict(
            "invalid_transition",
            f"A referral cannot move from {STATUS_LABELS.get(current, current).lower()} to "
            f"{STATUS_LABELS[to].lower()}{hint}.",
            field="to",
        )
    if to == DECLINED and not (reason or "").strip():
        raise DomainError("reason_required", "Say why the referral is declined.", field="reason")
    return to


def add_working_days(start: datetime, days: int) -> datetime:
    """``start`` moved on by ``days`` working days (Monday to Friday), at the same clock time.

    A start on a Saturday or Sunday counts from the next Monday at 00:00. Public holidays are not
    known here (a clinic's target is a guide, not a rule).
    """
    if days < 0:
        raise DomainError("invalid_days", "Working days cannot be negative.", field="days")
    at = start
    if at.weekday() >= 5:
        at = (at + timedelta(days=7 - at.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    remaining = days
    while remaining:
        at += timedelta(days=1)
        if at.weekday() < 5:
            remaining -= 1
    return at


def referral_overdue(
    *, status: str, created_at_local: datetime, now_local: datetime, target_working_days: int
) -> bool:
    """A new referral not contacted within the clinic's target (in working days, clinic time)."""
    return status == NEW and now_local > add_working_days(created_at_local, target_working_days)


# --- Public reference ----------------------------------------------------------------------------

#: Letters and digits that cannot be mistaken for one another on the phone (no 0/O, 1/I/L).
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERENCE_LENGTH = 6


def new_reference(choose: Callable[[str], str]) -> str:
    """A short public code for a referral, such as ``R-7KQ2M9`` (``choose`` picks one character
    of a string: ``secrets.choice`` in the app, a seeded chooser in tests)."""
    return "R-" + "".join(choose(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


# --- From the pre-screen to the full screening ---------------------------------------------------


def screening_prefill(answers: PrescreenAnswers) -> dict[str, bool | int]:
    """The answers of the full screening that the person's pre-screen answers settle.

    Only what the person actually said is copied; a "yes" to a question that covers several
    screening questions settles none of them (which one is meant is not known):

    * ``age_years`` → ``age_years`` (as given; the clinician confirms it against the birth date);
    * "not pregnant or breastfeeding" → ``pregnant`` and ``breastfeeding`` both no;
    * ``psychosis_history`` → ``psychotic_disorder``; ``ketamine_allergy`` →
      ``ketamine_hypersensitivity`` (either answer);
    * "no heart or blood-pressure problem" (the question names uncontrolled high blood pressure,
      heart disease, an aneurysm, a stroke or bleeding in the brain) → ``uncontrolled_cardiovascular_disease``,
      ``aneurysmal_vascular_disease`` and ``intracerebral_hemorrhage_history`` no;
    * "never used ketamine other than as prescribed" → ``active_ketamine_misuse`` no.

    Withdrawal risk and self-harm have no counterpart in the full screening and are shown to the
    clinician with the referral instead.
    """
    prefill: dict[str, bool | int] = {
        "age_years": answers.age_years,
        "psychotic_disorder": answers.psychosis_history,
        "ketamine_hypersensitivity": answers.ketamine_allergy,
    }
    if not answers.pregnant_or_breastfeeding:
        prefill.update(pregnant=False, breastfeeding=False)
    if not answers.heart_or_bp_problem:
        prefill.update(
            uncontrolled_cardiovascular_disease=False,
            aneurysmal_vascular_disease=False,
            intracerebral_hemorrhage_history=False,
        )
    if not answers.ketamine_misuse_history:
        prefill["active_ketamine_misuse"] = False
    return prefill


# --- Converting a referral into a patient --------------------------------------------------------


def split_full_name(name: str) -> tuple[str, str] | None:
    """A name typed in one box as (given names, family name): the last word is the family name.
    None when there is only one word (the clinician must then say which it is)."""
    words = name.split()
    if len(words) < 2:
        return None
    return " ".join(words[:-1]), words[-1]


def estimated_birth_date(age_years: int, *, today: date) -> date:
    """The middle of the year of birth that an age on ``today`` allows: someone aged A today was
    born between A+1 years and A years ago, so half a year before their last birthday's date.

    Used only to open a record from a referral; the record says the date is estimated until the
    clinician confirms it with the patient.
    """
    if isinstance(age_years, bool) or not isinstance(age_years, int) or age_years < 0:
        raise DomainError("invalid_age", "The age must be a whole number of years.", field="age_years")
    try:
        last_birthday = today.replace(year=today.year - age_years)
    except ValueError:  # 29 February in a year that has none
        last_birthday = today.replace(year=today.year - age_years, day=28)
    return last_birthday - timedelta(days=182)
