"""The public pre-screen: "is ketamine-assisted therapy right for me?", answered honestly.

Self-reported answers in, a *provisional* result out: never a diagnosis and never an eligibility
decision, which stays the prescriber's after the full screening (:mod:`kapstone.domain.screening`).
Every reason that applies is reported, not only the decisive one. The result follows the most
severe reason, by precedence::

    urgent_help (severity ``urgent``: thoughts of ending one's life in the past month)
      > not_suitable (``exclusion``: a contraindication a clinic cannot work around)
      > needs_review (``review``: a clinician must look first; matching still runs)
      > may_be_suitable (no reason, or only ``info`` reasons)

Sources (each reason's ``source``; docs/clinical-rules.md lists them):

* Contraindications — the consolidated list of the clinical reference, drawing on the Spravato
  (esketamine) prescribing information (hypersensitivity, aneurysmal vascular disease,
  intracerebral haemorrhage; not advised in pregnancy or breastfeeding), the ASRA/AAPM/ASA
  consensus (Cohen SP et al., Reg Anesth Pain Med 2018;43:521-546, doi:10.1097/AAP.0000000000000808:
  poorly controlled cardiovascular disease and psychoses; no serial infusions in active substance
  misuse) and the APA consensus (Sanacora G et al., JAMA Psychiatry 2017;74:399-405: a full
  psychiatric assessment with attention to psychosis and substance use).
* Self-harm triage — the Columbia Suicide Severity Rating Scale screener (Columbia Lighthouse
  Project): ideation in the past month needs same-day help; a history needs a clinician's review.
* Withdrawal — the trials treated detoxified or abstinent patients (Krupitsky EM et al., J
  Psychoactive Drugs 2007;39:13-19; Dakwar E et al., Am J Psychiatry 2020;177:125-133), so risky
  withdrawal is managed medically first.
* Substances — the shipped protocols treat alcohol, opioid and cocaine use disorders
  (:func:`kapstone.domain.protocols.protocol_library`).
* Crisis lines (US) — 988 Suicide & Crisis Lifeline (call or text 988), 911 for emergencies,
  SAMHSA National Helpline 1-800-662-4357.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kapstone.domain.errors import DomainError
from kapstone.domain.protocols import protocol_library
from kapstone.domain.words import gettext_noop

# --- Results and severities ----------------------------------------------------------------------

MAY_BE_SUITABLE = "may_be_suitable"
NEEDS_REVIEW = "needs_review"
NOT_SUITABLE = "not_suitable"
URGENT_HELP = "urgent_help"

#: Results from the most permissive to the most restrictive; a later one always wins.
RESULTS: tuple[str, ...] = (MAY_BE_SUITABLE, NEEDS_REVIEW, NOT_SUITABLE, URGENT_HELP)

INFO = "info"
REVIEW = "review"
EXCLUSION = "exclusion"
URGENT = "urgent"

SEVERITY_RESULT: dict[str, str] = {
    INFO: MAY_BE_SUITABLE,
    REVIEW: NEEDS_REVIEW,
    EXCLUSION: NOT_SUITABLE,
    URGENT: URGENT_HELP,
}

# --- Answers -------------------------------------------------------------------------------------

SUBSTANCES: tuple[str, ...] = ("alcohol", "opioids", "cocaine", "methamphetamine", "cannabis", "other")
SELF_HARM_ANSWERS: tuple[str, ...] = ("no", "past", "now")
MODALITIES: tuple[str, ...] = ("in_person", "any")
AGE_RANGE_YEARS = (0, 120)
ADULT_AGE_YEARS = 18

BOOLEAN_ANSWERS: tuple[str, ...] = (
    "pregnant_or_breastfeeding",
    "psychosis_history",
    "ketamine_allergy",
    "heart_or_bp_problem",
    "ketamine_misuse_history",
    "withdrawal_risk",
)
REQUIRED_ANSWERS: tuple[str, ...] = ("age_years", "substances", *BOOLEAN_ANSWERS, "self_harm")
OPTIONAL_ANSWERS: tuple[str, ...] = ("region", "language", "modality")
ANSWER_NAMES: tuple[str, ...] = REQUIRED_ANSWERS + OPTIONAL_ANSWERS

_REGION = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")  # a US state code ("NY") or ISO 3166-2 ("US-NY")
_LANGUAGE = re.compile(r"^[a-z]{2}$")  # ISO 639-1

#: Region codes where the US crisis lines apply: the states, DC and the territories.
US_REGIONS = frozenset({
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM",
    "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA",
    "WV", "WI", "WY", "PR", "GU", "VI", "AS", "MP", "US",
})  # fmt: skip


def treated_substances() -> frozenset[str]:
    """The substances a shipped protocol treats (the protocols' indications)."""
    return frozenset(protocol.indication for protocol in protocol_library())


@dataclass(frozen=True)
class PrescreenAnswers:
    """Validated answers; ``region`` upper case, ``language`` lower case, or None when not given."""

    age_years: int
    substances: tuple[str, ...]
    pregnant_or_breastfeeding: bool
    psychosis_history: bool
    ketamine_allergy: bool
    heart_or_bp_problem: bool
    ketamine_misuse_history: bool
    withdrawal_risk: bool
    self_harm: str
    region: str | None = None
    language: str | None = None
    modality: str | None = None

    def as_dict(self) -> dict[str, Any]:
        answers = {name: getattr(self, name) for name in REQUIRED_ANSWERS}
        answers["substances"] = list(self.substances)
        answers.update({n: getattr(self, n) for n in OPTIONAL_ANSWERS if getattr(self, n) is not None})
        return answers


def _invalid(name: str, message: str) -> DomainError:
    return DomainError("invalid_answer", message, field=name)


def validate_prescreen_answers(answers: object) -> PrescreenAnswers:
    """Check the shape of every answer; the first problem is raised, naming its key.

    Codes: ``invalid_answer`` (answers not an object, or a value of the wrong type or outside its
    range), ``unknown_answer`` (a key the pre-screen does not ask), ``missing_answer`` (a required
    key absent or null). Optional keys may be absent, null or an empty string.
    """
    if not isinstance(answers, Mapping):
        raise _invalid("answers", "The answers must be an object of question keys and answers.")
    for name in answers:
        if name not in ANSWER_NAMES:
            raise DomainError(
                "unknown_answer", f"{str(name)[:60]!r} is not a question of the pre-screen.", field=str(name)
            )
    for name in REQUIRED_ANSWERS:
        if answers.get(name) is None:
            raise DomainError("missing_answer", f"Please answer {_QUESTION_WORDS[name]}.", field=name)

    age = answers["age_years"]
    if isinstance(age, bool) or not isinstance(age, int):
        raise _invalid("age_years", "Your age must be a whole number of years.")
    if not AGE_RANGE_YEARS[0] <= age <= AGE_RANGE_YEARS[1]:
        raise _invalid("age_years", f"An age of {age} years is not possible; enter your age in years.")

    substances = answers["substances"]
    if not isinstance(substances, list | tuple) or not substances:
        raise _invalid("substances", "Choose at least one substance.")
    for substance in substances:
        if substance not in SUBSTANCES:
            raise _invalid(
                "substances",
                f"{str(substance)[:40]!r} is not one of the substances: {', '.join(SUBSTANCES)}.",
            )
    chosen = tuple(s for s in SUBSTANCES if s in substances)  # the list's order, without repeats

    for name in BOOLEAN_ANSWERS:
        if not isinstance(answers[name], bool):
            raise _invalid(name, f"Answer yes or no to {_QUESTION_WORDS[name]}.")

    self_harm = answers["self_harm"]
    if self_harm not in SELF_HARM_ANSWERS:
        raise _invalid("self_harm", "Answer no, in the past, or in the past month.")

    region = _optional_text(answers, "region")
    if region is not None:
        region = region.upper()
        if not _REGION.match(region):
            raise _invalid("region", "The region must be a state code such as NY.")
    language = _optional_text(answers, "language")
    if language is not None:
        language = language.lower()
        if not _LANGUAGE.match(language):
            raise _invalid("language", "The language must be a two-letter code such as en or es.")
    modality = _optional_text(answers, "modality")
    if modality is not None and modality not in MODALITIES:
        raise _invalid("modality", "The way of receiving care must be in person or any.")

    return PrescreenAnswers(
        age_years=age,
        substances=chosen,
        pregnant_or_breastfeeding=answers["pregnant_or_breastfeeding"],
        psychosis_history=answers["psychosis_history"],
        ketamine_allergy=answers["ketamine_allergy"],
        heart_or_bp_problem=answers["heart_or_bp_problem"],
        ketamine_misuse_history=answers["ketamine_misuse_history"],
        withdrawal_risk=answers["withdrawal_risk"],
        self_harm=self_harm,
        region=region,
        language=language,
        modality=modality,
    )


def _optional_text(answers: Mapping[str, Any], name: str) -> str | None:
    value = answers.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _invalid(name, f"The {name} must be text.")
    return value.strip() or None


_QUESTION_WORDS = {
    "age_years": "how old you are",
    "substances": "which substances you want help with",
    "pregnant_or_breastfeeding": "whether you are pregnant or breastfeeding",
    "psychosis_history": "whether you have ever had psychosis",
    "ketamine_allergy": "whether you have reacted badly to ketamine before",
    "heart_or_bp_problem": "whether you have a heart or blood-pressure problem",
    "ketamine_misuse_history": "whether you have used ketamine other than as prescribed",
    "withdrawal_risk": "whether stopping brings on severe withdrawal",
    "self_harm": "whether you have had thoughts of ending your life",
}

# --- Reasons -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrescreenRule:
    """A reason's stable code, severity, plain-words message and source."""

    code: str
    severity: str
    message: str
    source: str


_SPRAVATO = "Spravato (esketamine) nasal spray prescribing information (FDA label)"
_ASRA = "Cohen SP et al. Reg Anesth Pain Med 2018;43:521-546 (ASRA/AAPM/ASA consensus)"
_APA = "Sanacora G et al. JAMA Psychiatry 2017;74:399-405 (APA consensus)"
_CSSRS = "Columbia Suicide Severity Rating Scale screener triage (Columbia Lighthouse Project)"

RULES: dict[str, PrescreenRule] = {
    rule.code: rule
    for rule in (
        PrescreenRule(
            "self_harm_now",
            URGENT,
            gettext_noop(
                "You told us you have had thoughts of ending your life in the past month. Please reach "
                "out for help now: you do not have to wait for a clinic."
            ),
            _CSSRS,
        ),
        PrescreenRule(
            "under_18",
            EXCLUSION,
            gettext_noop(
                "Ketamine-assisted therapy for addiction has only been studied in adults, so it is offered "
                "from age 18."
            ),
            "Every published trial of the shipped protocols enrolled adults only",
        ),
        PrescreenRule(
            "pregnant_or_breastfeeding",
            EXCLUSION,
            gettext_noop("Ketamine is not advised during pregnancy or breastfeeding."),
            f"{_SPRAVATO}: not advised in pregnancy or breastfeeding",
        ),
        PrescreenRule(
            "psychosis_history",
            EXCLUSION,
            gettext_noop(
                "Ketamine can bring back or worsen psychosis, so it is not offered to people who have "
                "had psychosis or a psychotic illness."
            ),
            f"{_ASRA}: avoid in poorly controlled psychoses; {_APA}: assess psychosis history",
        ),
        PrescreenRule(
            "ketamine_allergy",
            EXCLUSION,
            gettext_noop("You have reacted badly to ketamine before, so it should not be given again."),
            f"{_SPRAVATO}: contraindicated in hypersensitivity to ketamine or esketamine",
        ),
        PrescreenRule(
            "heart_or_bp_problem",
            REVIEW,
            gettext_noop(
                "Ketamine raises blood pressure for a while, so a doctor needs to check your heart and "
                "blood pressure first."
            ),
            f"{_SPRAVATO}: contraindications (aneurysm, brain haemorrhage); {_ASRA}: not for poorly "
            "controlled cardiovascular disease",
        ),
        PrescreenRule(
            "ketamine_misuse_history",
            REVIEW,
            gettext_noop(
                "Because you have used ketamine other than as prescribed, a clinician needs to talk "
                "with you about whether ketamine treatment is safe for you."
            ),
            f"{_ASRA}: no serial infusions in active substance misuse; {_SPRAVATO}: assess abuse risk",
        ),
        PrescreenRule(
            "withdrawal_risk",
            REVIEW,
            gettext_noop(
                "Stopping suddenly can be dangerous for you. A clinician should help you withdraw safely "
                "before any ketamine treatment."
            ),
            "Krupitsky EM et al. J Psychoactive Drugs 2007;39:13-19 and Dakwar E et al. Am J "
            "Psychiatry 2020;177:125-133 treated detoxified or abstinent patients",
        ),
        PrescreenRule(
            "self_harm_past",
            REVIEW,
            gettext_noop(
                "You have had thoughts of ending your life in the past. A clinician will talk this "
                "through with you before treatment."
            ),
            f"{_CSSRS}: a lifetime history needs a clinician's review",
        ),
        PrescreenRule(
            "no_protocol_for_substance",
            REVIEW,
            gettext_noop(
                "The ketamine programmes we know of treat alcohol, opioid or cocaine use. A clinician "
                "can tell you whether another treatment would suit you better."
            ),
            "The shipped protocols treat alcohol, opioid and cocaine use disorders",
        ),
        PrescreenRule(
            "substance_not_covered",
            INFO,
            gettext_noop(
                "Ketamine-assisted therapy has been studied for alcohol, opioid and cocaine use; the "
                "clinic will talk with you about the other substances you named."
            ),
            "The shipped protocols treat alcohol, opioid and cocaine use disorders",
        ),
    )
}

#: What helps when ketamine is not suitable (shown with a ``not_suitable`` result).
OTHER_HELP = gettext_noop(
    "Other treatments work too: medicines for alcohol or opioid use disorder, counselling, and "
    "mutual-help groups. For free, confidential help finding treatment, call the SAMHSA National "
    "Helpline at 1-800-662-4357 (24 hours a day)."
)


@dataclass(frozen=True)
class CrisisHelp:
    """How to get help now, for the person's region (US lines when in the US or not known)."""

    lines: tuple[str, ...]
    region_known: bool


def crisis_help(region: str | None) -> CrisisHelp:
    """The crisis lines to show first on an ``urgent_help`` result.

    Inside the US (or when the region is not given) the 988 Suicide & Crisis Lifeline (call or
    text 988) and 911 for emergencies; elsewhere the local emergency number first, with the US
    lines for visitors who are in the US. Source: 988 Suicide & Crisis Lifeline; 911.
    """
    us = [gettext_noop("Call or text 988, the Suicide & Crisis Lifeline, any time, day or night.")]
    emergency = gettext_noop(
        "If you are in danger right now, call 911 or go to the nearest emergency department."
    )
    in_us = region.startswith("US-") if region and "-" in region else region in US_REGIONS
    if region is None or in_us:
        return CrisisHelp(lines=(emergency, *us), region_known=region is not None)
    return CrisisHelp(
        lines=(
            gettext_noop(
                "If you are in danger right now, call your local emergency number or go to the nearest "
                "emergency department."
            ),
            gettext_noop("In the United States, call or text 988, the Suicide & Crisis Lifeline."),
        ),
        region_known=True,
    )


@dataclass(frozen=True)
class PrescreenReason:
    code: str
    severity: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "severity": self.severity, "message": self.message}


@dataclass(frozen=True)
class PrescreenResult:
    """The provisional result, every reason that applies and whether crisis help comes first."""

    result: str
    crisis: bool
    reasons: tuple[PrescreenReason, ...]
    answers: PrescreenAnswers

    @property
    def matching_runs(self) -> bool:
        """Clinic matching runs for every result but ``not_suitable``."""
        return self.result != NOT_SUITABLE

    def as_dict(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "crisis": self.crisis,
            "reasons": [reason.as_dict() for reason in self.reasons],
        }


def result_for(severities: Iterable[str]) -> str:
    """The result the most severe of ``severities`` leads to (``may_be_suitable`` for none)."""
    rank = max((RESULTS.index(SEVERITY_RESULT[s]) for s in severities), default=0)
    return RESULTS[rank]


def _reason(code: str) -> PrescreenReason:
    rule = RULES[code]
    return PrescreenReason(rule.code, rule.severity, rule.message)


def _codes_for(answers: PrescreenAnswers) -> list[str]:
    codes = []
    if answers.self_harm == "now":
        codes.append("self_harm_now")
    if answers.age_years < ADULT_AGE_YEARS:
        codes.append("under_18")
    for code in ("pregnant_or_breastfeeding", "psychosis_history", "ketamine_allergy"):
        if getattr(answers, code):
            codes.append(code)
    for code in ("heart_or_bp_problem", "ketamine_misuse_history", "withdrawal_risk"):
        if getattr(answers, code):
            codes.append(code)
    if answers.self_harm == "past":
        codes.append("self_harm_past")
    treated = treated_substances()
    covered = [s for s in answers.substances if s in treated]
    if not covered:
        codes.append("no_protocol_for_substance")
    elif len(covered) < len(answers.substances):
        codes.append("substance_not_covered")
    return codes


def assess_prescreen(answers: object) -> PrescreenResult:
    """The provisional pre-screen result for one set of self-reported answers.

    Guarantees: the answers are validated first (see :func:`validate_prescreen_answers`);
    every reason that applies is listed, most severe first; the result is the one the most severe
    reason leads to (:func:`result_for`), so adding a reason never makes it more permissive;
    ``crisis`` is True exactly when the result is ``urgent_help``.

    Source: see the module docstring (label, ASRA 2018, APA 2017, C-SSRS triage, the trials).
    """
    checked = validate_prescreen_answers(answers)
    order = {severity: index for index, severity in enumerate((URGENT, EXCLUSION, REVIEW, INFO))}
    reasons = sorted((_reason(code) for code in _codes_for(checked)), key=lambda r: order[r.severity])
    result = result_for(r.severity for r in reasons)
    return PrescreenResult(
        result=result, crisis=result == URGENT_HELP, reasons=tuple(reasons), answers=checked
    )
