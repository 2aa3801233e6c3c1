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
from decimal import Decimal
from typing import Any

from kapstone.domain.errors import DomainError
from kapstone.domain.numbers import to_number
from kapstone.domain.protocols import EligibilityCriteria

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
_SRC_ASRA_MISUSE = (
    f"{_ASRA}: no serial infusions in active substance misuse; {_SPRAVATO_PI}: assess abuse risk"
)
_SRC_MANIA = (
    f"Clinic rule: mania is a standard intake risk flag in ketamine-assisted psychotherapy intake; {_APA} "
    "asks for a full psychiatric assessment"
)
_KETALAR_US = (
    "Ketalar (ketamine hydrochloride injection) US prescribing information, DailyMed setid "
    "46dab560-8ecd-4d92-8c92-6baa2310b09b"
)
_KETALAR_UK = "Ketalar SmPC (Pfizer Ltd, MHRA, revision 2019)"
_KETALAR_CH = "Ketalar/Ketamin Fachinformation (Switzerland, Swissmedic; AIPS/oddb reg. 67199)"
_SRC_KETALAR_ICP = (
    f"{_KETALAR_US}, warnings: cerebrospinal fluid pressure rises under ketamine, use with extreme "
    "caution with raised pressure before anaesthesia; adverse reactions: a slight rise in intraocular "
    f"pressure; {_ASRA}: raised intracranial or intraocular pressure, do not use or use lower doses "
    "with extreme caution (grade C)"
)
_SRC_KETALAR_SEIZURE = (
    f"{_KETALAR_US}, drug interactions: theophylline or aminophylline with ketamine may lower the seizure "
    "threshold; adverse reactions: tonic and clonic movements sometimes resembling seizures. The label "
    "does not contraindicate a seizure history: a prescriber weighs it (clinic rule); KARE excluded it "
    "(Grabski 2022)"
)
_SRC_KETALAR_THYROID = (
    f"{_KETALAR_CH}, contraindications: untreated or inadequately treated hyperthyroidism; "
    f"{_KETALAR_US}, contraindication: patients in whom a significant rise in blood pressure would be a "
    "serious hazard. Deferral until treated is this clinic's rule"
)
_SRC_KETALAR_ECLAMPSIA = (
    f"{_KETALAR_UK}, section 4.3: not to be used in eclampsia or pre-eclampsia; {_KETALAR_CH}, "
    f"contraindications: pre-eclampsia and eclampsia; {_KETALAR_US}, contraindication: a significant rise "
    "in blood pressure would be a serious hazard"
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

    ``kind`` is ``"boolean"``, ``"integer"``, ``"decimal"`` (one decimal place, kept as text so no
    float touches it) or ``"choice"`` (one of ``choices``); numbers carry their unit and the
    plausible range (inclusive) outside which the answer is refused as ``implausible_value``.
    ``required`` False: a protocol input (:data:`PROTOCOL_QUESTIONS`), asked only when a protocol's
    own criteria need it, and otherwise left out.
    """

    name: str
    kind: str
    label: str
    help_text: str = ""
    unit: str | None = None
    min_value: int | None = None
    max_value: int | None = None
    required: bool = True
    choices: tuple[tuple[str, str], ...] = ()


BOOLEAN = "boolean"
INTEGER = "integer"
DECIMAL = "decimal"
CHOICE = "choice"

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
        "seizure_history",
        BOOLEAN,
        "Has the patient ever had a seizure or been diagnosed with epilepsy?",
    ),
    Question(
        "uncontrolled_hyperthyroidism",
        BOOLEAN,
        "Does the patient have an overactive thyroid (hyperthyroidism) that is untreated or not yet controlled?",
    ),
    Question(
        "pre_eclampsia",
        BOOLEAN,
        "Does the patient have pre-eclampsia, eclampsia or other high blood pressure of pregnancy "
        "(now, or since a recent birth)?",
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

BMI_PLAUSIBLE_KG_M2 = (10, 80)
BDI_II_RANGE = (0, 63)
DETOXIFICATIONS_PLAUSIBLE = (0, 200)

YES, NO, UNKNOWN = "yes", "no", "unknown"
NEGATIVE, POSITIVE, NOT_DONE = "negative", "positive", "not_done"

#: Inputs that only a protocol's own criteria use (e.g. KARE, Grabski 2022): optional in every
#: screening, required by :func:`check_eligibility` when a protocol's criteria need them. The
#: BDI-II is copyrighted: staff enter the total from the clinic's licensed copy (0–63). Liver
#: tests are entered as one judgement (all within three times the upper limit of normal: yes, no,
#: not known), kept simple on purpose; the recorded results live with the liver tests.
PROTOCOL_QUESTIONS: tuple[Question, ...] = (
    Question(
        "psychosis_family_history",
        BOOLEAN,
        "Has a parent, brother, sister or child of the patient had schizophrenia or another psychotic disorder?",
        required=False,
    ),
    Question(
        "suicidal_ideation_current",
        BOOLEAN,
        "Does the patient have thoughts of suicide now?",
        required=False,
    ),
    Question(
        "antidepressant_use",
        BOOLEAN,
        "Does the patient take an antidepressant?",
        required=False,
    ),
    Question(
        "detoxifications_count",
        INTEGER,
        "Number of detoxifications (medically managed withdrawals) in the patient's life",
        unit="times",
        min_value=DETOXIFICATIONS_PLAUSIBLE[0],
        max_value=DETOXIFICATIONS_PLAUSIBLE[1],
        required=False,
    ),
    Question(
        "bdi_ii_total",
        INTEGER,
        "BDI-II total score",
        help_text="From the clinic's licensed copy of the Beck Depression Inventory-II.",
        unit="points",
        min_value=BDI_II_RANGE[0],
        max_value=BDI_II_RANGE[1],
        required=False,
    ),
    Question(
        "bmi_kg_m2",
        DECIMAL,
        "Body mass index",
        help_text="Weight in kg divided by the square of height in metres, to one decimal.",
        unit="kg/m²",
        min_value=BMI_PLAUSIBLE_KG_M2[0],
        max_value=BMI_PLAUSIBLE_KG_M2[1],
        required=False,
    ),
    Question(
        "liver_tests_within_3x_uln",
        CHOICE,
        "Are the latest liver tests (ALT, AST, bilirubin) all within three times the upper limit of normal?",
        required=False,
        choices=((YES, "Yes"), (NO, "No, at least one is higher"), (UNKNOWN, "Not known")),
    ),
    Question(
        "urine_drug_screen",
        CHOICE,
        "Urine drug screen at screening",
        required=False,
        choices=((NEGATIVE, "Negative"), (POSITIVE, "Positive"), (NOT_DONE, "Not done")),
    ),
)

#: Every answer of the general screening, in form order. All are required.
ANSWER_NAMES: tuple[str, ...] = tuple(q.name for q in QUESTIONS)
#: The optional protocol inputs, in form order.
PROTOCOL_ANSWER_NAMES: tuple[str, ...] = tuple(q.name for q in PROTOCOL_QUESTIONS)
ALL_QUESTIONS: tuple[Question, ...] = QUESTIONS + PROTOCOL_QUESTIONS
BOOLEAN_ANSWERS: tuple[str, ...] = tuple(q.name for q in QUESTIONS if q.kind == BOOLEAN)
INTEGER_ANSWERS: tuple[str, ...] = tuple(q.name for q in QUESTIONS if q.kind == INTEGER)
_QUESTIONS_BY_NAME = {q.name: q for q in ALL_QUESTIONS}


def question_label(name: str) -> str:
    """The question's words for an answer name (the name itself when unknown)."""
    question = _QUESTIONS_BY_NAME.get(name)
    return question.label if question is not None else name


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
        "Raised pressure in the skull or eye: ketamine can raise both; a prescriber must review before treatment.",
        _SRC_KETALAR_ICP,
    ),
    "seizure_history": ScreeningRule(
        "seizure_history",
        RELATIVE,
        "History of seizures or epilepsy: a prescriber must review (theophylline or aminophylline "
        "would lower the seizure threshold further).",
        _SRC_KETALAR_SEIZURE,
    ),
    "uncontrolled_hyperthyroidism": ScreeningRule(
        "uncontrolled_hyperthyroidism",
        DEFER,
        "Untreated or uncontrolled overactive thyroid: ketamine raises blood pressure and heart rate; "
        "treat it and screen again.",
        _SRC_KETALAR_THYROID,
    ),
    "pre_eclampsia": ScreeningRule(
        "pre_eclampsia",
        ABSOLUTE,
        "Pre-eclampsia or eclampsia: the ketamine label says not to use it.",
        _SRC_KETALAR_ECLAMPSIA,
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


def _decimal_answer(question: Question, value: object) -> str:
    """A decimal answer (an int, a float, or text; read by :func:`kapstone.domain.numbers.to_number`)
    as text with one decimal."""
    number = to_number(value) if isinstance(value, int | float | str | Decimal) else None
    if number is None:
        raise DomainError(
            "invalid_answer",
            f"{question.name} must be a number ({question.unit}), got {value!r}.",
            field=question.name,
        )
    if number != number.quantize(Decimal("0.1")):
        raise DomainError(
            "invalid_answer",
            f"{question.label} must be given to at most one decimal place, got {value!r}.",
            field=question.name,
        )
    assert question.min_value is not None and question.max_value is not None
    if not question.min_value <= number <= question.max_value:
        raise DomainError(
            "implausible_value",
            f"{question.label} {number} {question.unit} is not plausible "
            f"(expected {question.min_value}–{question.max_value}); check the entry.",
            field=question.name,
        )
    return str(number.quantize(Decimal("0.1")))


def validate_answers(answers: object, *, partial: bool = False) -> dict[str, Any]:
    """Check an answer set and return it as a plain, JSON-able dict, or raise DomainError.

    Guarantees, in this order: ``answers`` is a mapping (``invalid_answer``); it has no keys
    beyond :data:`ANSWER_NAMES` and :data:`PROTOCOL_ANSWER_NAMES` (``unknown_answer``); every
    general answer is present (``missing_answer``; with ``partial=True``, for a draft, answers may
    be absent and the checks below apply to those given); a protocol input may be absent or None
    (then it is left out of the result); booleans are ``bool`` and integers are ``int`` but not
    ``bool`` (``invalid_answer``); a choice is one of its values (``invalid_answer``); a decimal
    has at most one decimal place and comes back as text (``"24.5"``); numbers are plausible
    (``implausible_value``: systolic 50–300, diastolic 20–200 and below systolic, age 0–120,
    BMI 10–80, BDI-II 0–63, detoxifications 0–200). The field is always the answer name.
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
            f"Unknown screening answer {unknown[0]!r}; expected only: "
            f"{', '.join(ANSWER_NAMES + PROTOCOL_ANSWER_NAMES)}.",
            field=unknown[0],
        )
    for name in ANSWER_NAMES:
        if name not in answers and not partial:
            raise DomainError("missing_answer", f"The answer {name!r} is required.", field=name)
    checked: dict[str, Any] = {}
    for question in ALL_QUESTIONS:
        if question.name not in answers:
            continue  # only with partial=True or a protocol input (checked above)
        value = answers[question.name]
        if value is None and not question.required:
            continue
        if question.kind == BOOLEAN:
            if not isinstance(value, bool):
                raise DomainError(
                    "invalid_answer",
                    f"{question.name} must be true or false, got {value!r}.",
                    field=question.name,
                )
        elif question.kind == CHOICE:
            allowed = [code for code, _ in question.choices]
            if not isinstance(value, str) or value not in allowed:
                raise DomainError(
                    "invalid_answer",
                    f"{question.name} must be one of {', '.join(allowed)}, got {value!r}.",
                    field=question.name,
                )
        elif question.kind == DECIMAL:
            value = _decimal_answer(question, value)
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


# --- A protocol's own criteria ------------------------------------------------------------------

_SRC_PROTOCOL = "The protocol's own eligibility criteria (its trial's): see the protocol's eligibility source"

#: The codes of a protocol's own criteria (:class:`kapstone.domain.protocols.EligibilityCriteria`),
#: for documentation and forms; the messages of reported reasons name the values and limits.
PROTOCOL_RULES: tuple[ScreeningRule, ...] = (
    ScreeningRule(
        "protocol_age_out_of_range", ABSOLUTE, "Age outside the protocol's age range.", _SRC_PROTOCOL
    ),
    ScreeningRule(
        "protocol_blood_pressure_not_below_limit",
        DEFER,
        "Blood pressure not below the protocol's limit: treat and screen again.",
        _SRC_PROTOCOL,
    ),
    ScreeningRule(
        "protocol_bmi_out_of_range", ABSOLUTE, "Body mass index outside the protocol's range.", _SRC_PROTOCOL
    ),
    ScreeningRule(
        "protocol_psychosis_family_history",
        ABSOLUTE,
        "A first-degree relative has had a psychotic disorder.",
        _SRC_PROTOCOL,
    ),
    ScreeningRule("protocol_seizure_history", ABSOLUTE, "History of seizures.", _SRC_PROTOCOL),
    ScreeningRule(
        "protocol_liver_tests_above_limit",
        ABSOLUTE,
        "Liver tests above three times the upper limit of normal.",
        _SRC_PROTOCOL,
    ),
    ScreeningRule(
        "protocol_liver_tests_unknown", DEFER, "Liver tests not known: test and screen again.", _SRC_PROTOCOL
    ),
    ScreeningRule("protocol_suicidal_ideation", ABSOLUTE, "Current thoughts of suicide.", _SRC_PROTOCOL),
    ScreeningRule(
        "protocol_urine_drug_screen_positive",
        DEFER,
        "Positive urine drug screen: screen again with a negative test.",
        _SRC_PROTOCOL,
    ),
    ScreeningRule(
        "protocol_urine_drug_screen_not_done",
        DEFER,
        "No urine drug screen: test and screen again.",
        _SRC_PROTOCOL,
    ),
    ScreeningRule(
        "protocol_too_many_detoxifications",
        ABSOLUTE,
        "More detoxifications than the protocol allows.",
        _SRC_PROTOCOL,
    ),
    ScreeningRule("protocol_antidepressant_use", ABSOLUTE, "Takes an antidepressant.", _SRC_PROTOCOL),
    ScreeningRule(
        "protocol_bdi_ii_not_above_threshold",
        ABSOLUTE,
        "BDI-II total not above the protocol's threshold.",
        _SRC_PROTOCOL,
    ),
)
_PROTOCOL_RULES = {rule.code: rule for rule in PROTOCOL_RULES}


def protocol_inputs_needed(criteria: EligibilityCriteria) -> tuple[str, ...]:
    """The answer names a protocol's criteria read, in form order (general answers included)."""
    needed: set[str] = set()
    if criteria.min_age_years is not None or criteria.max_age_years is not None:
        needed.add("age_years")
    if criteria.systolic_below_mmhg is not None or criteria.diastolic_below_mmhg is not None:
        needed.update(("systolic_bp", "diastolic_bp"))
    if criteria.min_bmi_kg_m2 is not None or criteria.max_bmi_kg_m2 is not None:
        needed.add("bmi_kg_m2")
    flags = (
        (criteria.exclude_psychosis_family_history, "psychosis_family_history"),
        (criteria.exclude_seizure_history, "seizure_history"),
        (criteria.liver_tests_within_3x_uln, "liver_tests_within_3x_uln"),
        (criteria.exclude_current_suicidal_ideation, "suicidal_ideation_current"),
        (criteria.require_negative_urine_drug_screen, "urine_drug_screen"),
        (criteria.max_detoxifications is not None, "detoxifications_count"),
        (criteria.exclude_antidepressants, "antidepressant_use"),
        (criteria.bdi_ii_above is not None, "bdi_ii_total"),
    )
    needed.update(name for wanted, name in flags if wanted)
    return tuple(q.name for q in ALL_QUESTIONS if q.name in needed)


def protocol_missing_answers(answers: Mapping[str, object], criteria: EligibilityCriteria) -> tuple[str, ...]:
    """The inputs a protocol's criteria need that ``answers`` lacks (absent or None), in form order."""
    return tuple(name for name in protocol_inputs_needed(criteria) if answers.get(name) is None)


def _protocol_reason(code: str, message: str) -> Reason:
    rule = _PROTOCOL_RULES[code]
    return Reason(code, rule.severity, message, rule.source)


def protocol_reasons(
    answers: Mapping[str, object], criteria: EligibilityCriteria, *, protocol_title: str = "this protocol"
) -> tuple[Reason, ...]:
    """The reasons a protocol's own criteria give for ``answers``, on top of the general rules.

    ``answers`` must already be checked (:func:`validate_answers`) and hold every input
    :func:`protocol_inputs_needed` names; a missing one is refused with ``missing_answer`` (the
    field is its name). Each criterion is reported under its stable code
    (:data:`PROTOCOL_RULES`) with a message naming the value, the limit and ``protocol_title``;
    the source of every reason is the protocol's ``criteria.source``. Limits: age
    ``min_age_years``–``max_age_years`` inclusive; blood pressure strictly below both limits; BMI
    ``min_bmi_kg_m2``–``max_bmi_kg_m2`` inclusive; detoxifications at most
    ``max_detoxifications``; BDI-II strictly above ``bdi_ii_above``. Severity: absolute (not
    eligible for this protocol; other protocols may fit), except blood pressure, a positive or
    missing urine drug screen and unknown liver tests, which defer (test or treat, then screen
    again).
    """
    missing = protocol_missing_answers(answers, criteria)
    if missing:
        raise DomainError(
            "missing_answer",
            f"{protocol_title} needs the answer {missing[0]!r} for its own eligibility criteria.",
            field=missing[0],
        )
    found: list[Reason] = []

    def add(code: str, message: str) -> None:
        reason = _protocol_reason(code, f"{protocol_title}: {message}")
        found.append(Reason(reason.code, reason.severity, reason.message, criteria.source or reason.source))

    age = answers.get("age_years")
    low, high = criteria.min_age_years, criteria.max_age_years
    if isinstance(age, int) and ((low is not None and age < low) or (high is not None and age > high)):
        span = f"{low if low is not None else 0}–{high if high is not None else 120}"
        add("protocol_age_out_of_range", f"age {age} years is outside {span} years.")
    systolic, diastolic = answers.get("systolic_bp"), answers.get("diastolic_bp")
    sys_limit, dia_limit = criteria.systolic_below_mmhg, criteria.diastolic_below_mmhg
    if (
        isinstance(systolic, int)
        and isinstance(diastolic, int)
        and (
            (sys_limit is not None and systolic >= sys_limit)
            or (dia_limit is not None and diastolic >= dia_limit)
        )
    ):
        add(
            "protocol_blood_pressure_not_below_limit",
            f"blood pressure {systolic}/{diastolic} mmHg is not below {sys_limit or '–'}/{dia_limit or '–'} mmHg; "
            "treat it and screen again.",
        )
    bmi_low, bmi_high = criteria.min_bmi_kg_m2, criteria.max_bmi_kg_m2
    if bmi_low is not None or bmi_high is not None:
        bmi = Decimal(str(answers["bmi_kg_m2"]))
        if (bmi_low is not None and bmi < bmi_low) or (bmi_high is not None and bmi > bmi_high):
            add(
                "protocol_bmi_out_of_range",
                f"body mass index {bmi} kg/m² is outside {bmi_low}–{bmi_high} kg/m².",
            )
    if criteria.exclude_psychosis_family_history and answers["psychosis_family_history"] is True:
        add("protocol_psychosis_family_history", "a first-degree relative has had a psychotic disorder.")
    if criteria.exclude_seizure_history and answers["seizure_history"] is True:
        add("protocol_seizure_history", "a history of seizures excludes the patient.")
    if criteria.liver_tests_within_3x_uln:
        liver = answers["liver_tests_within_3x_uln"]
        if liver == NO:
            add(
                "protocol_liver_tests_above_limit", "liver tests above three times the upper limit of normal."
            )
        elif liver == UNKNOWN:
            add("protocol_liver_tests_unknown", "liver tests are not known; test and screen again.")
    if criteria.exclude_current_suicidal_ideation and answers["suicidal_ideation_current"] is True:
        add(
            "protocol_suicidal_ideation",
            "current thoughts of suicide exclude the patient (see the safety plan).",
        )
    if criteria.require_negative_urine_drug_screen:
        screen = answers["urine_drug_screen"]
        if screen == POSITIVE:
            add(
                "protocol_urine_drug_screen_positive",
                "the urine drug screen is positive; screen again with a negative test.",
            )
        elif screen == NOT_DONE:
            add("protocol_urine_drug_screen_not_done", "no urine drug screen; test and screen again.")
    detox = answers.get("detoxifications_count")
    if (
        criteria.max_detoxifications is not None
        and isinstance(detox, int)
        and detox > criteria.max_detoxifications
    ):
        add(
            "protocol_too_many_detoxifications",
            f"{detox} detoxifications is more than the {criteria.max_detoxifications} allowed.",
        )
    if criteria.exclude_antidepressants and answers["antidepressant_use"] is True:
        add("protocol_antidepressant_use", "taking an antidepressant excludes the patient.")
    bdi = answers.get("bdi_ii_total")
    if criteria.bdi_ii_above is not None and isinstance(bdi, int) and bdi <= criteria.bdi_ii_above:
        add(
            "protocol_bdi_ii_not_above_threshold", f"BDI-II total {bdi} is not above {criteria.bdi_ii_above}."
        )
    return tuple(found)


def decision_of(reasons: tuple[Reason, ...] | list[Reason]) -> str:
    """The worst decision the reasons lead to (``eligible`` when there are none)."""
    decision = ELIGIBLE
    for reason in reasons:
        candidate = SEVERITY_DECISION[reason.severity]
        if DECISIONS.index(candidate) > DECISIONS.index(decision):
            decision = candidate
    return decision


# --- The engine ----------------------------------------------------------------------------------


def check_eligibility(
    answers: Mapping[str, object],
    *,
    thresholds: ScreeningThresholds = DEFAULT_THRESHOLDS,
    criteria: EligibilityCriteria | None = None,
    protocol_title: str = "this protocol",
) -> EligibilityDecision:
    """Decide eligibility for ketamine-assisted treatment from a complete answer set.

    Guarantees: the input is validated first (see :func:`validate_answers`; refusals are
    DomainError with the answer name as field) and nothing is decided on an implausible value;
    every matching rule is reported once (yes/no rules in question order, then age, then blood
    pressure, which reports at most one of its two rules); the decision is the worst
    severity among them (ineligible > deferred > needs_review > eligible), ``eligible`` when
    none matched. A ``True`` answer or a higher blood pressure never improves the decision.
    With ``criteria`` (a protocol's own, e.g. KARE's), their reasons (:func:`protocol_reasons`)
    follow the general ones and count in the decision; the inputs they need are then required.

    Source: clinical.md §3.4 (Spravato label, APA 2017, ASRA 2018), thresholds per
    :class:`ScreeningThresholds`.
    """
    if not isinstance(thresholds, ScreeningThresholds):
        raise DomainError("invalid_threshold", "thresholds must be ScreeningThresholds.", field="thresholds")
    if criteria is not None and not isinstance(criteria, EligibilityCriteria):
        raise DomainError("invalid_criteria", "criteria must be EligibilityCriteria.", field="criteria")
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

    if criteria is not None:
        reasons.extend(protocol_reasons(checked, criteria, protocol_title=protocol_title))
    return EligibilityDecision(decision=decision_of(reasons), reasons=tuple(reasons))
