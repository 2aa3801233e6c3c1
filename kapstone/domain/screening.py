"""Eligibility screening for ketamine-assisted treatment: answers in, decision out.

A pure rule engine. ``check_eligibility`` takes the full answer set (every answer is required),
checks each answer's type and plausibility, then applies every rule and reports every rule
that matched, not just the first. The decision follows the most severe matching rule:

    ineligible (an ``absolute`` contraindication)
      > deferred (``defer``: re-screen later)
      > needs_review (``relative``: a prescriber may approve with a written reason)
      > eligible (no rule matched)

Sources are the consolidated contraindication list of the clinical reference (section 3.4),
which draws on the Spravato label, the APA consensus statement (Sanacora et al. 2017) and the
ASRA/AAPM/ASA consensus guideline (Cohen et al. 2018). Blood-pressure thresholds are
parameters (:class:`ScreeningThresholds`) because their sources are secondary summaries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kapstone.domain.errors import DomainError

# --- Decisions and severities ------------------------------------------------------------------

ELIGIBLE = "eligible"
NEEDS_REVIEW = "needs_review"
DEFERRED = "deferred"
INELIGIBLE = "ineligible"

#: Decisions from best to worst; a later one always wins.
DECISIONS: tuple[str, ...] = (ELIGIBLE, NEEDS_REVIEW, DEFERRED, INELIGIBLE)

ABSOLUTE = "absolute"
DEFER = "defer"
RELATIVE = "relative"

#: The decision each severity leads to.
SEVERITY_DECISION: dict[str, str] = {ABSOLUTE: INELIGIBLE, DEFER: DEFERRED, RELATIVE: NEEDS_REVIEW}


# --- Sources -------------------------------------------------------------------------------------

_SPRAVATO_PI = "Spravato (esketamine) nasal spray prescribing information (FDA label)"
_ASRA = (
    "Cohen SP et al. Consensus guidelines on the use of intravenous ketamine infusions for chronic "
    "pain (ASRA/AAPM/ASA). Reg Anesth Pain Med 2018;43(5):521-546, doi:10.1097/AAP.0000000000000808"
)
_APA = "Sanacora G et al. (APA consensus). JAMA Psychiatry 2017;74(4):399-405"

_SRC_LABEL = f"{_SPRAVATO_PI}, contraindications"
_SRC_LABEL_PREGNANCY = f"{_SPRAVATO_PI}: not advised in pregnancy or breastfeeding"
_SRC_LABEL_BP_BASELINE = (
    f"{_SPRAVATO_PI}: weigh the blood-pressure risk when baseline BP is >140 systolic or >90 "
    "diastolic mmHg (as summarised from the label's dosing section)"
)
_SRC_LABEL_BP_SEVERE = (
    f"{_SPRAVATO_PI}, Table 6: SBP ≥180 / DBP ≥110 mmHg is the severe category; using it as a "
    "deferral cut-off is this clinic's protocol choice"
)
_SRC_LABEL_MEDS = (
    "Spravato medication guide and REMS patient monitoring form: CNS depressants (sedation), "
    "psychostimulants and MAOIs (blood pressure)"
)
_SRC_ASRA_CV = f"{_ASRA}: not for poorly controlled cardiovascular disease"
_SRC_ASRA_PSYCHOSIS = (
    f"{_ASRA}: avoid in poorly controlled psychoses; {_APA}: assess psychosis history; many "
    "psychiatric protocols exclude any history"
)
_SRC_ASRA_HEPATIC = f"{_ASRA}: avoid in severe hepatic impairment"
_SRC_ASRA_ICP = (
    f"{_ASRA}: raised intracranial or intraocular pressure, do not use or use lower doses with extreme "
    "caution (grade C)"
)
_SRC_ASRA_MISUSE = (
    f"{_ASRA}: no serial infusions in active substance misuse; {_SPRAVATO_PI}: assess abuse risk"
)
_SRC_MANIA = (
    f"Clinic rule: mania is a standard intake risk flag in ketamine-assisted psychotherapy intake; {_APA} "
    "asks for a full psychiatric assessment"
)
_SRC_ADULT = "Clinic rule: every shipped protocol comes from a trial in adults"
_SRC_INTOXICATION = (
    "Clinic rule: the trials treated detoxified or abstinent patients, e.g. Dakwar E et al., Am J "
    "Psychiatry 2020;177(2):125-133 dosed at least 24 h after the last drink; Krupitsky EM et al., "
    "J Psychoactive Drugs 2007;39(1):13-19 treated detoxified inpatients"
)


def _is_int(value: object) -> bool:
    # bool is a subclass of int; True is not a blood pressure.
    return isinstance(value, int) and not isinstance(value, bool)


# --- Questions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    """One screening question, described for a generated form.

    ``kind`` is ``"boolean"`` or ``"integer"``; integers carry their unit and the plausible
    range (inclusive) outside which the answer is refused as ``implausible_value``.
    """

    name: str
    kind: str
    label: str
    help_text: str = ""
    unit: str | None = None
    min_value: int | None = None
    max_value: int | None = None


BOOLEAN = "boolean"
INTEGER = "integer"

SYSTOLIC_PLAUSIBLE_MMHG = (50, 300)
DIASTOLIC_PLAUSIBLE_MMHG = (20, 200)
AGE_PLAUSIBLE_YEARS = (0, 120)

QUESTIONS: tuple[Question, ...] = (
    Question(
        "ketamine_hypersensitivity",
        BOOLEAN,
        "Has the patient ever had an allergic or hypersensitivity reaction to ketamine or esketamine?",
    ),
    Question("pregnant", BOOLEAN, "Is the patient pregnant, or could she be pregnant?"),
    Question("breastfeeding", BOOLEAN, "Is the patient breastfeeding?"),
    Question(
        "intoxicated_now",
        BOOLEAN,
        "Is the patient intoxicated or in acute withdrawal today?",
    ),
    Question(
        "psychotic_disorder",
        BOOLEAN,
        "Has the patient ever had schizophrenia or another psychotic disorder (now or in the past)?",
    ),
    Question(
        "aneurysmal_vascular_disease",
        BOOLEAN,
        "Does the patient have an aneurysm (brain, aorta or other arteries) or an arteriovenous malformation?",
    ),
    Question(
        "intracerebral_hemorrhage_history",
        BOOLEAN,
        "Has the patient ever had bleeding in the brain (intracerebral haemorrhage)?",
    ),
    Question(
        "uncontrolled_cardiovascular_disease",
        BOOLEAN,
        "Does the patient have poorly controlled heart or blood-vessel disease, including uncontrolled high blood pressure?",
    ),
    Question(
        "severe_hepatic_impairment",
        BOOLEAN,
        "Does the patient have severe liver impairment?",
    ),
    Question(
        "raised_intracranial_or_intraocular_pressure",
        BOOLEAN,
        "Does the patient have raised pressure inside the skull or the eye (for example glaucoma)?",
    ),
    Question(
        "active_ketamine_misuse",
        BOOLEAN,
        "Is the patient currently misusing ketamine?",
    ),
    Question("current_mania", BOOLEAN, "Is the patient currently manic or hypomanic?"),
    Question(
        "maoi_use",
        BOOLEAN,
        "Does the patient take a monoamine oxidase inhibitor (MAOI)?",
    ),
    Question(
        "cns_depressant_use",
        BOOLEAN,
        "Does the patient take sedating medicines or drugs (benzodiazepines, sleeping tablets, opioids)?",
    ),
    Question(
        "stimulant_use",
        BOOLEAN,
        "Does the patient take stimulants (prescribed or not: amphetamines, methylphenidate, cocaine)?",
    ),
    Question(
        "systolic_bp",
        INTEGER,
        "Systolic blood pressure",
        help_text="Seated, at screening.",
        unit="mmHg",
        min_value=SYSTOLIC_PLAUSIBLE_MMHG[0],
        max_value=SYSTOLIC_PLAUSIBLE_MMHG[1],
    ),
    Question(
        "diastolic_bp",
        INTEGER,
        "Diastolic blood pressure",
        help_text="Seated, at screening; must be lower than the systolic value.",
        unit="mmHg",
        min_value=DIASTOLIC_PLAUSIBLE_MMHG[0],
        max_value=DIASTOLIC_PLAUSIBLE_MMHG[1],
    ),
    Question(
        "age_years",
        INTEGER,
        "Age",
        unit="years",
        min_value=AGE_PLAUSIBLE_YEARS[0],
        max_value=AGE_PLAUSIBLE_YEARS[1],
    ),
)

#: Every answer name, in form order. All are required.
ANSWER_NAMES: tuple[str, ...] = tuple(q.name for q in QUESTIONS)
BOOLEAN_ANSWERS: tuple[str, ...] = tuple(q.name for q in QUESTIONS if q.kind == BOOLEAN)
INTEGER_ANSWERS: tuple[str, ...] = tuple(q.name for q in QUESTIONS if q.kind == INTEGER)
_QUESTIONS_BY_NAME = {q.name: q for q in QUESTIONS}


# --- Rules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScreeningRule:
    """A rule's stable code, severity, plain-language message and source (for docs and forms)."""

    code: str
    severity: str
    message: str
    source: str


@dataclass(frozen=True)
class ScreeningThresholds:
    """Blood-pressure and age cut-offs of the screening rules.

    Defaults: elevated when systolic > 140 or diastolic > 90 mmHg (Spravato label, via a
    secondary summary); severe (deferred) when systolic ≥ 180 or diastolic ≥ 110 mmHg (the
    label's Table 6 categories, chosen as a deferral rule in issue 3); adult from 18 years.
    Sanacora 2017 gives no numbers (clinical.md §3.1, §6), so clinics may configure these.
    """

    elevated_systolic_above_mmhg: int = 140
    elevated_diastolic_above_mmhg: int = 90
    severe_systolic_at_mmhg: int = 180
    severe_diastolic_at_mmhg: int = 110
    adult_age_years: int = 18

    def __post_init__(self) -> None:
        for name in (
            "elevated_systolic_above_mmhg",
            "elevated_diastolic_above_mmhg",
            "severe_systolic_at_mmhg",
            "severe_diastolic_at_mmhg",
            "adult_age_years",
        ):
            value = getattr(self, name)
            if not _is_int(value):
                raise DomainError(
                    "invalid_threshold", f"{name} must be a whole number, got {value!r}.", field=name
                )
        if not self.elevated_systolic_above_mmhg < self.severe_systolic_at_mmhg:
            raise DomainError(
                "invalid_threshold",
                "The elevated systolic threshold must be below the severe one.",
                field="elevated_systolic_above_mmhg",
            )
        if not self.elevated_diastolic_above_mmhg < self.severe_diastolic_at_mmhg:
            raise DomainError(
                "invalid_threshold",
                "The elevated diastolic threshold must be below the severe one.",
                field="elevated_diastolic_above_mmhg",
            )
        if not 0 < self.adult_age_years <= AGE_PLAUSIBLE_YEARS[1]:
            raise DomainError(
                "invalid_threshold",
                f"adult_age_years {self.adult_age_years} is out of range.",
                field="adult_age_years",
            )


DEFAULT_THRESHOLDS = ScreeningThresholds()

#: Rules that a single ``True`` answer triggers: answer name -> rule.
_BOOLEAN_RULES: dict[str, ScreeningRule] = {
    "ketamine_hypersensitivity": ScreeningRule(
        "ketamine_hypersensitivity",
        ABSOLUTE,
        "Hypersensitivity to ketamine or esketamine: ketamine must not be given.",
        _SRC_LABEL,
    ),
    "pregnant": ScreeningRule(
        "pregnancy",
        ABSOLUTE,
        "Pregnancy: ketamine treatment is not offered during pregnancy.",
        _SRC_LABEL_PREGNANCY,
    ),
    "breastfeeding": ScreeningRule(
        "breastfeeding",
        ABSOLUTE,
        "Breastfeeding: ketamine treatment is not offered while breastfeeding.",
        _SRC_LABEL_PREGNANCY,
    ),
    "intoxicated_now": ScreeningRule(
        "intoxication",
        DEFER,
        "Intoxicated or in withdrawal now: screen again when sober.",
        _SRC_INTOXICATION,
    ),
    "psychotic_disorder": ScreeningRule(
        "psychotic_disorder",
        ABSOLUTE,
        "Schizophrenia or another psychotic disorder, current or past: ketamine can worsen psychosis.",
        _SRC_ASRA_PSYCHOSIS,
    ),
    "aneurysmal_vascular_disease": ScreeningRule(
        "aneurysmal_vascular_disease",
        ABSOLUTE,
        "Aneurysmal vascular disease or arteriovenous malformation: the rise in blood pressure "
        "under ketamine could cause a rupture.",
        _SRC_LABEL,
    ),
    "intracerebral_hemorrhage_history": ScreeningRule(
        "intracerebral_hemorrhage",
        ABSOLUTE,
        "History of bleeding in the brain: ketamine must not be given.",
        _SRC_LABEL,
    ),
    "uncontrolled_cardiovascular_disease": ScreeningRule(
        "uncontrolled_cardiovascular_disease",
        ABSOLUTE,
        "Poorly controlled heart or blood-vessel disease: ketamine raises blood pressure and heart rate.",
        _SRC_ASRA_CV,
    ),
    "severe_hepatic_impairment": ScreeningRule(
        "severe_hepatic_impairment",
        ABSOLUTE,
        "Severe liver impairment: ketamine must not be given.",
        _SRC_ASRA_HEPATIC,
    ),
    "raised_intracranial_or_intraocular_pressure": ScreeningRule(
        "raised_intracranial_or_intraocular_pressure",
        RELATIVE,
        "Raised pressure in the skull or eye: a prescriber must review before treatment.",
        _SRC_ASRA_ICP,
    ),
    "active_ketamine_misuse": ScreeningRule(
        "active_ketamine_misuse",
        RELATIVE,
        "Current ketamine misuse: a prescriber must review the risk before treatment.",
        _SRC_ASRA_MISUSE,
    ),
    "current_mania": ScreeningRule(
        "current_mania",
        RELATIVE,
        "Currently manic or hypomanic: a prescriber must review before treatment.",
        _SRC_MANIA,
    ),
    "maoi_use": ScreeningRule(
        "maoi_use",
        RELATIVE,
        "Takes an MAOI: blood pressure may rise further; a prescriber must review.",
        _SRC_LABEL_MEDS,
    ),
    "cns_depressant_use": ScreeningRule(
        "cns_depressant_use",
        RELATIVE,
        "Takes sedating medicines or drugs: sedation may deepen; a prescriber must review.",
        _SRC_LABEL_MEDS,
    ),
    "stimulant_use": ScreeningRule(
        "stimulant_use",
        RELATIVE,
        "Takes stimulants: blood pressure may rise further; a prescriber must review.",
        _SRC_LABEL_MEDS,
    ),
}

_UNDER_18_SOURCE = _SRC_ADULT
_BP_SEVERE_CODE = "blood_pressure_severely_elevated"
_BP_ELEVATED_CODE = "blood_pressure_elevated"
_UNDER_18_CODE = "under_18"

#: Every rule, for documentation and forms (messages of value rules are templates).
SCREENING_RULES: tuple[ScreeningRule, ...] = (
    *_BOOLEAN_RULES.values(),
    ScreeningRule(
        _UNDER_18_CODE, ABSOLUTE, "Younger than 18: the protocols are adult protocols.", _SRC_ADULT
    ),
    ScreeningRule(
        _BP_SEVERE_CODE,
        DEFER,
        "Blood pressure at or above 180 systolic or 110 diastolic mmHg: treat and screen again.",
        _SRC_LABEL_BP_SEVERE,
    ),
    ScreeningRule(
        _BP_ELEVATED_CODE,
        RELATIVE,
        "Blood pressure above 140 systolic or 90 diastolic mmHg: a prescriber must review.",
        _SRC_LABEL_BP_BASELINE,
    ),
)


# --- Result --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """One matched rule: stable ``code``, ``severity``, plain-language ``message`` and ``source``."""

    code: str
    severity: str
    message: str
    source: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "severity": self.severity, "message": self.message, "source": self.source}


@dataclass(frozen=True)
class EligibilityDecision:
    """The decision and every reason that led to it."""

    decision: str
    reasons: tuple[Reason, ...]

    def as_dict(self) -> dict[str, Any]:
        """``{"decision", "reasons": [{"code", "severity", "message", "source"}]}`` (JSON-able)."""
        return {"decision": self.decision, "reasons": [reason.as_dict() for reason in self.reasons]}

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(reason.code for reason in self.reasons)


# --- Validation ----------------------------------------------------------------------------------


def validate_answers(answers: object, *, partial: bool = False) -> dict[str, bool | int]:
    """Check an answer set and return it as a plain dict, or raise DomainError.

    Guarantees, in this order: ``answers`` is a mapping (``invalid_answer``); it has no keys
    beyond :data:`ANSWER_NAMES` (``unknown_answer``); every answer is present
    (``missing_answer``; with ``partial=True``, for a draft, answers may be absent and the
    checks below apply to those given); booleans are ``bool`` and integers are ``int`` but not ``bool``
    (``invalid_answer``); integers are plausible (``implausible_value``: systolic 50–300,
    diastolic 20–200 and below systolic, age 0–120). The field is always the answer name.
    """
    if not isinstance(answers, Mapping):
        raise DomainError(
            "invalid_answer",
            f"The answers must be an object of answer name to value, got {type(answers).__name__}.",
            field="answers",
        )
    unknown = sorted((str(key) for key in answers if key not in _QUESTIONS_BY_NAME), key=str)
    if unknown:
        raise DomainError(
            "unknown_answer",
            f"Unknown screening answer {unknown[0]!r}; expected only: {', '.join(ANSWER_NAMES)}.",
            field=unknown[0],
        )
    for name in ANSWER_NAMES:
        if name not in answers and not partial:
            raise DomainError("missing_answer", f"The answer {name!r} is required.", field=name)
    checked: dict[str, bool | int] = {}
    for question in QUESTIONS:
        if question.name not in answers:
            continue  # only with partial=True (checked above)
        value = answers[question.name]
        if question.kind == BOOLEAN:
            if not isinstance(value, bool):
                raise DomainError(
                    "invalid_answer",
                    f"{question.name} must be true or false, got {value!r}.",
                    field=question.name,
                )
        elif not _is_int(value):
            raise DomainError(
                "invalid_answer",
                f"{question.name} must be a whole number ({question.unit}), got {value!r}.",
                field=question.name,
            )
        else:
            assert question.min_value is not None and question.max_value is not None
            if not question.min_value <= value <= question.max_value:
                raise DomainError(
                    "implausible_value",
                    f"{question.label} {value} {question.unit} is not plausible "
                    f"(expected {question.min_value}–{question.max_value}); check the entry.",
                    field=question.name,
                )
        checked[question.name] = value
    if {"diastolic_bp", "systolic_bp"} <= checked.keys() and checked["diastolic_bp"] >= checked[
        "systolic_bp"
    ]:
        raise DomainError(
            "implausible_value",
            f"Diastolic blood pressure {checked['diastolic_bp']} mmHg is not below systolic "
            f"{checked['systolic_bp']} mmHg; check the entry.",
            field="diastolic_bp",
        )
    return checked


# --- The engine ----------------------------------------------------------------------------------


def check_eligibility(
    answers: Mapping[str, object], *, thresholds: ScreeningThresholds = DEFAULT_THRESHOLDS
) -> EligibilityDecision:
    """Decide eligibility for ketamine-assisted treatment from a complete answer set.

    Guarantees: the input is validated first (see :func:`validate_answers`; refusals are
    DomainError with the answer name as field) and nothing is decided on an implausible value;
    every matching rule is reported once (yes/no rules in question order, then age, then blood
    pressure, which reports at most one of its two rules); the decision is the worst
    severity among them (ineligible > deferred > needs_review > eligible), ``eligible`` when
    none matched. A ``True`` answer or a higher blood pressure never improves the decision.

    Source: clinical.md §3.4 (Spravato label, APA 2017, ASRA 2018), thresholds per
    :class:`ScreeningThresholds`.
    """
    if not isinstance(thresholds, ScreeningThresholds):
        raise DomainError("invalid_threshold", "thresholds must be ScreeningThresholds.", field="thresholds")
    checked = validate_answers(answers)
    reasons: list[Reason] = []
    for name, rule in _BOOLEAN_RULES.items():
        if checked[name]:
            reasons.append(Reason(rule.code, rule.severity, rule.message, rule.source))

    age = checked["age_years"]
    if age < thresholds.adult_age_years:
        reasons.append(
            Reason(
                _UNDER_18_CODE,
                ABSOLUTE,
                f"Age {age} years is under {thresholds.adult_age_years}: the protocols are adult protocols.",
                _UNDER_18_SOURCE,
            )
        )

    systolic, diastolic = checked["systolic_bp"], checked["diastolic_bp"]
    bp = f"{systolic}/{diastolic} mmHg"
    if systolic >= thresholds.severe_systolic_at_mmhg or diastolic >= thresholds.severe_diastolic_at_mmhg:
        reasons.append(
            Reason(
                _BP_SEVERE_CODE,
                DEFER,
                f"Blood pressure {bp} is at or above {thresholds.severe_systolic_at_mmhg} systolic or "
                f"{thresholds.severe_diastolic_at_mmhg} diastolic: treat the blood pressure and screen again.",
                _SRC_LABEL_BP_SEVERE,
            )
        )
    elif (
        systolic > thresholds.elevated_systolic_above_mmhg
        or diastolic > thresholds.elevated_diastolic_above_mmhg
    ):
        reasons.append(
            Reason(
                _BP_ELEVATED_CODE,
                RELATIVE,
                f"Blood pressure {bp} is above {thresholds.elevated_systolic_above_mmhg} systolic or "
                f"{thresholds.elevated_diastolic_above_mmhg} diastolic: a prescriber must review the "
                "short-term blood-pressure risk.",
                _SRC_LABEL_BP_BASELINE,
            )
        )

    decision = ELIGIBLE
    for reason in reasons:
        candidate = SEVERITY_DECISION[reason.severity]
        if DECISIONS.index(candidate) > DECISIONS.index(decision):
            decision = candidate
    return EligibilityDecision(decision=decision, reasons=tuple(reasons))
