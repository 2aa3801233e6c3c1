"""Treatment protocols as versioned, cited data.

A :class:`Protocol` is a frozen description of one evidence-based treatment course: the
session templates (preparation, dosing, integration, follow-up; individual or group; day
offsets from the course start), the dose rule of each dosing session, the monitoring and
day-of-check rules, the limits on dosing, the follow-up schedule, the outcome the trial
measured and the trial's published result, so a clinic can compare its own outcomes.

The library ships the six addiction trials of clinical.md §1 (Krupitsky 2002 from §8). Values the reference marks
"from memory, unverified", and every schedule detail the sources do not give (day offsets,
session lengths of therapy sessions), are listed in each protocol's ``unverified_notes``.

Protocols are stored by the app as JSON (:func:`protocol_to_dict` / :func:`protocol_from_dict`)
and adjusted by clinics with :func:`clone_protocol`, which makes a new version and validates it
with the same rules as the shipped ones (:func:`validate_protocol`).
"""

from __future__ import annotations

import calendar
import functools
import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    ConfigDict,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
)

from kapstone.domain.baseline import BASELINE_WINDOW_MIN_BOUNDS
from kapstone.domain.errors import DomainError
from kapstone.domain.instruments import get_instrument
from kapstone.domain.monitoring.alerts import AlertThresholds
from kapstone.domain.monitoring.discharge import (
    CADSS_MAX_TOTAL,
    DISSOCIATION_BY_ATTESTATION,
    DISSOCIATION_BY_CADSS,
)

# --- Vocabularies --------------------------------------------------------------------------------

PREPARATION = "preparation"
DOSING = "dosing"
INTEGRATION = "integration"
FOLLOW_UP = "follow_up"
SESSION_KINDS: tuple[str, ...] = (PREPARATION, DOSING, INTEGRATION, FOLLOW_UP)
SESSION_KIND_LABELS: dict[str, str] = {
    PREPARATION: "Preparation",
    DOSING: "Ketamine session",
    INTEGRATION: "Integration",
    FOLLOW_UP: "Follow-up",
}

ROUTES: tuple[str, ...] = ("iv", "im", "in", "sl", "po")

INDICATIONS: tuple[str, ...] = (
    "alcohol",
    "opioids",
    "cocaine",
    "methamphetamine",
    "cannabis",
    "tobacco",
    "polysubstance",
)

#: Where a course runs: the trial's setting is stated by the shipped protocol; a clinic's clone that
#: moves it (e.g. Dakwar 2019's inpatient infusion given to outpatients) says how in
#: ``setting_adaptation`` (:func:`clone_protocol`).
OUTPATIENT = "outpatient"
INPATIENT = "inpatient"
INPATIENT_THEN_OUTPATIENT = "inpatient_then_outpatient"
SETTINGS: tuple[str, ...] = (OUTPATIENT, INPATIENT, INPATIENT_THEN_OUTPATIENT)
SETTING_LABELS: dict[str, str] = {
    OUTPATIENT: "Outpatient",
    INPATIENT: "Inpatient",
    INPATIENT_THEN_OUTPATIENT: "Inpatient stay, then outpatient",
}

#: The measures a trial's primary outcome can be (``OutcomeDefinition.kind``), and so the measures
#: a clinic's figure is computed as to be set beside it (docs/clinical-rules.md, "Outcomes
#: comparable with each trial"). abstinence: continuous abstinence over the window (every day
#: without use), as a proportion of the group (Krupitsky 1997, 2002, 2007; Dakwar 2019's last two
#: weeks); daily_abstinence: the probability of an abstinent day over the window from a mixed
#: model (Dakwar 2020); percent_days_abstinent: days without use / days assessed (KARE); relapse:
#: time to first use (alcohol: first heavy day) within the relapse window (Dakwar 2019, 2020).
OUTCOME_KINDS: tuple[str, ...] = ("abstinence", "daily_abstinence", "percent_days_abstinent", "relapse")
#: The measures in a clinician's words.
OUTCOME_KIND_LABELS: dict[str, str] = {
    "abstinence": "Continuous abstinence over the outcome window",
    "daily_abstinence": "Likelihood of an abstinent day over the outcome window (mixed model)",
    "percent_days_abstinent": "Percentage of days abstinent",
    "relapse": "Time to relapse",
}
#: The statistics a published effect estimate can be (``EffectEstimate.statistic``):
#: difference: a difference between two groups in percentage points (a PDA or a proportion);
#: odds_ratio and hazard_ratio: ratios, the first group against the second.
EFFECT_STATISTICS: tuple[str, ...] = ("difference", "odds_ratio", "hazard_ratio")
EFFECT_STATISTIC_LABELS: dict[str, str] = {
    "difference": "Difference (percentage points)",
    "odds_ratio": "Odds ratio",
    "hazard_ratio": "Hazard ratio",
}
#: Which measure each statistic may summarise: a difference of proportions or of PDA, an odds
#: ratio of abstinence, a hazard ratio of relapse.
EFFECT_MEASURES: dict[str, tuple[str, ...]] = {
    "difference": ("abstinence", "percent_days_abstinent"),
    "odds_ratio": ("abstinence",),
    "hazard_ratio": ("relapse",),
}

#: The day-of checks a dosing session can require (see kapstone.domain.sessions).
DAY_OF_CHECKS: tuple[str, ...] = (
    "breath_alcohol",
    "urine_drug_screen",
    "pregnancy_test",
    "blood_pressure",
    "fasting",
    "escort",
    "consent",
    # Withdrawal before dosing, by the protocol's substance (a protocol lists the ones it needs).
    "alcohol_withdrawal",
    "opioid_withdrawal",
    # Concomitant medicines, asked at every dosing session.
    "benzodiazepines",
    "sedatives_opioids",
    "stimulants",
    "maoi",
    "theophylline",
    # Readiness of the room and the team (the Ketalar label; the prescriber on site: REMS practice).
    "airway_clinician",
    "resuscitation_equipment",
    "vital_signs_monitoring",
    "prescriber_on_site",
)

#: CIWA-Ar totals run 0–67 and COWS totals 0–48 (Sullivan 1989; Wesson & Ling 2003; clinical.md §8).
CIWA_AR_MAX = 67
COWS_MAX = 48

# --- Safe bounds ---------------------------------------------------------------------------------

#: No protocol may allow more than this per dosing session, whatever its own maximum.
#: Chosen: above the highest shipped dose (2.5 mg/kg IM, Krupitsky 1997, itself unverified) and
#: far below anaesthetic doses; not a published limit.
ABSOLUTE_MAX_MG_PER_KG = Decimal("3.0")
#: Observation after the start of dosing below this is refused. Spravato label: at least 2 h
#: (clinical.md §3.2); 60 min is the floor a clinic may configure (issue 3).
MIN_OBSERVATION_FLOOR_MIN = 60
MAX_SESSION_MIN = 24 * 60
MAX_INFUSION_MIN = 240
MAX_FOLLOW_UP_MONTHS = 120
MAX_DAY_OFFSET = 5 * 366

#: Programme default follow-up (months after the last dosing session). Chosen to cover every
#: shipped trial's time points: 6 months (Dakwar 2019, KARE), 12 months (Krupitsky 1997, 2007),
#: 24 months (Krupitsky 2002) — clinical.md §1.
DEFAULT_FOLLOW_UP_MONTHS: tuple[int, ...] = (1, 3, 6, 12, 24)

#: Heavy drinking day: ≥5 drinks for men, ≥4 for women (FDA 2015 draft guidance; Dakwar 2020
#: used the same definition) — clinical.md §4.7.
HEAVY_DAY_MIN_DRINKS_MEN = 5
HEAVY_DAY_MIN_DRINKS_WOMEN = 4

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


# --- Data ----------------------------------------------------------------------------------------

#: Validation context of a protocol built in Python (not read from JSON): its decimals must
#: already be Decimals.
_DIRECT = {"direct": True}


def _amount(value: object, info: ValidationInfo) -> Decimal:
    """A decimal field: a Decimal; read from JSON also a string, an int or a float (by its shortest
    repr, so 0.6 is 0.6, not 0.5999…). Never NaN or infinite."""
    if isinstance(value, Decimal):
        number = value
    elif (info.context or {}).get("direct"):
        raise ValueError("a Decimal")
    elif isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("a decimal number (as a string)")
    else:
        try:
            number = Decimal(repr(value) if isinstance(value, float) else value)
        except InvalidOperation:
            raise ValueError("a decimal number") from None
    if not number.is_finite():
        raise ValueError("a finite decimal number")
    return number


# The field types of a protocol, checked by pydantic when one is read (protocol_from_dict) or
# validated (validate_protocol): no coercion between numbers, text and true/false.
Amount = Annotated[Decimal, BeforeValidator(_amount)]
Whole = StrictInt
Text = StrictStr
Flag = StrictBool
#: A protocol's data has no other keys than its fields (unknown_protocol_field).
_FIELDS_ONLY = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class DoseRule:
    """The dose of one dosing session, per kg of body weight.

    ``mg_per_kg`` is the whole session's dose. For IV, ``infusion_min`` is the whole
    administration time, bolus included: a bolus of ``bolus_mg_per_kg`` over ``bolus_min`` is
    followed by the rest (:attr:`maintenance_mg_per_kg`) over :attr:`maintenance_min`.
    Non-IV routes have no infusion time and no bolus. ``max_mg_per_kg`` is the protocol's own
    ceiling for this session (dose adjustments may not exceed it).
    """

    __pydantic_config__ = _FIELDS_ONLY

    mg_per_kg: Amount
    route: Text
    max_mg_per_kg: Amount
    infusion_min: Whole | None = None
    bolus_mg_per_kg: Amount | None = None
    bolus_min: Whole | None = None

    @property
    def maintenance_mg_per_kg(self) -> Decimal:
        return self.mg_per_kg - (self.bolus_mg_per_kg or Decimal(0))

    @property
    def maintenance_min(self) -> int | None:
        if self.infusion_min is None:
            return None
        return self.infusion_min - (self.bolus_min or 0)


@dataclass(frozen=True)
class SessionTemplate:
    """One session of the course: its place (``order``), kind, day offset from the course
    start, length, whether it is a group session, and for dosing sessions the dose rule."""

    __pydantic_config__ = _FIELDS_ONLY

    order: Whole
    kind: Text
    title: Text
    day_offset: Whole
    duration_min: Whole
    group: Flag = False
    dose: DoseRule | None = None

    @property
    def kind_label(self) -> str:
        return SESSION_KIND_LABELS.get(self.kind, self.kind)


#: How a discharge checks that dissociation has resolved (the Spravato REMS monitoring objective:
#: observe until sedation, dissociation and respiratory depression have resolved; clinical.md §8):
#: ``cadss``, a CADSS total after the last dose at or below the resolution level; ``attestation``,
#: a clinician's recorded attestation that dissociation has resolved.
DISSOCIATION_CHECKS: tuple[str, ...] = (DISSOCIATION_BY_CADSS, DISSOCIATION_BY_ATTESTATION)


@dataclass(frozen=True)
class AlertLimits:
    """The alert thresholds no reference gives a number for: **local policy**, set per protocol.

    The names and comparisons are those of :class:`kapstone.domain.monitoring.AlertThresholds`
    (``at_or_above`` ≥, ``above`` >, ``below`` <, ``at_or_below`` ≤). The defaults are the
    values issue 5 chose; the APA consensus (Sanacora 2017, clinical.md §3.1) gives no numeric
    limits, the "HR > 110 stop rule" of clinical.md §3.1 is "from memory, unverified", and no
    other reference consulted gives these numbers (clinical.md §6 item 3). The sourced limits
    (SBP ≥ 180 / DBP ≥ 110, the +40/+25 mmHg rise: Spravato label; SpO2 < 90 %: modified Aldrete)
    stay fixed in ``AlertThresholds``.
    """

    __pydantic_config__ = _FIELDS_ONLY

    systolic_warning_at_or_above_mmhg: Whole = 160
    diastolic_warning_at_or_above_mmhg: Whole = 100
    heart_rate_warning_above_per_min: Whole = 110
    heart_rate_critical_at_or_above_per_min: Whole = 130
    heart_rate_warning_below_per_min: Whole = 50
    spo2_warning_below_pct: Whole = 94
    respiratory_rate_critical_below_per_min: Whole = 10
    moaas_critical_at_or_below: Whole = 2
    escalate_warning_after_min: Whole = 10


@dataclass(frozen=True)
class DependenceLimits:
    """The dependence watch's review thresholds: **local policy** (no published cut-offs exist
    for ketamine courses in addiction care; the reasoning of each default is on
    :class:`kapstone.domain.monitoring.DependenceThresholds`)."""

    __pydantic_config__ = _FIELDS_ONLY

    sessions_review_above: Whole = 3
    cumulative_dose_review_at_mg: Whole = 600
    min_interval_days: Whole = 7
    craving_review_at: Whole = 5


@dataclass(frozen=True)
class MonitoringRules:
    """Monitoring parameters of a dosing session.

    Defaults: vitals every 10 min during dosing and every 15 min after (Emory series,
    clinical.md §3.1); observation of at least 120 min counted from the start of dosing
    (Spravato label and REMS form, clinical.md §3.2, software.md §2.2). The blood-pressure check
    at the expected peak is taken from the route of the session's order and the PK model
    (:func:`kapstone.domain.monitoring.bp_peak_check`: IV at the end of the infusion, IM at the
    model's Tmax); ``bp_peak_check_min`` (40, the Spravato label's nasal peak, clinical.md
    §3.1-3.2) is used for a route the model does not cover. An unacknowledged critical alert
    escalates after ``alert_ack_escalation_min`` (2, issue 5; local policy, no source).
    Before dosing, a complete baseline set of vital signs within ``baseline_window_min`` (60,
    protocol practice) before the start, with a MOAA/S score when ``baseline_moaas`` (the
    Spravato label's sedation rule compares with the pre-dose MOAA/S):
    :mod:`kapstone.domain.baseline`.

    Discharge waits for dissociation to resolve (Spravato REMS objective, clinical.md §8):
    ``dissociation_check`` ``cadss`` (default; the trials measured dissociation with the CADSS,
    clinical.md §3.2, §3.6) needs a CADSS after the last dose with a total at or below the
    pre-dose CADSS total when one was recorded, otherwise at or below
    ``cadss_resolved_at_or_below`` (0: no dissociative symptom rated; local policy, no published
    resolution cut-off); ``attestation`` needs a clinician's attestation that dissociation has
    resolved. ``alert_limits`` and ``dependence_limits``: the local-policy thresholds.
    """

    __pydantic_config__ = _FIELDS_ONLY

    vitals_interval_min: Whole = 10
    vitals_interval_recovery_min: Whole = 15
    min_observation_min: Whole = 120
    bp_peak_check_min: Whole = 40
    alert_ack_escalation_min: Whole = 2
    baseline_window_min: Whole = 60
    baseline_moaas: Flag = True
    dissociation_check: Text = "cadss"
    cadss_resolved_at_or_below: Whole = 0
    alert_limits: AlertLimits = AlertLimits()
    dependence_limits: DependenceLimits = DependenceLimits()


@dataclass(frozen=True)
class SessionLimits:
    """How often and how many times the course may dose."""

    __pydantic_config__ = _FIELDS_ONLY

    min_days_between_dosing: Whole
    max_dosing_sessions: Whole


@dataclass(frozen=True)
class DayOfCheckRule:
    """One check required before a dosing session is cleared, and what its failure is.

    Three kinds of stop: ``overridable`` False is a hard stop nobody waives; ``overridable``
    True alone is a hard stop unless a **prescriber** overrides it with a written reason;
    ``soft`` True (which needs ``overridable``) is a soft stop: the clinician recording the
    checks (nurse or prescriber) may proceed with a written reason."""

    __pydantic_config__ = _FIELDS_ONLY

    check: Text
    overridable: Flag = False
    soft: Flag = False


#: Default day-of checks (a protocol's ``day_of.checks`` replaces them; the withdrawal checks are
#: not here: they depend on the protocol's substance, and each shipped protocol lists its own).
#: A prescriber may override only a missing urine drug screen result and a short fast among the
#: first seven (chosen: the others are intoxication, pregnancy, the BP deferral threshold, the
#: way home and consent, which no single prescriber should waive). The concomitant medicines:
#: benzodiazepines, other sedatives/opioids and stimulants are soft stops (the REMS monitoring form
#: asks them at each session; screening already had a prescriber review them); an MAOI (local
#: policy: a hypertensive interaction, no source makes it a contraindication) and theophylline or
#: aminophylline (the Ketalar label: a lowered seizure threshold) are hard stops unless a
#: prescriber overrides. The four readiness checks (the Ketalar label; the prescriber on site:
#: REMS practice) are hard stops unless a prescriber overrides.
DEFAULT_DAY_OF_CHECKS: tuple[DayOfCheckRule, ...] = (
    DayOfCheckRule("breath_alcohol"),
    DayOfCheckRule("urine_drug_screen", overridable=True),
    DayOfCheckRule("pregnancy_test"),
    DayOfCheckRule("blood_pressure"),
    DayOfCheckRule("fasting", overridable=True),
    DayOfCheckRule("escort"),
    DayOfCheckRule("consent"),
    DayOfCheckRule("benzodiazepines", overridable=True, soft=True),
    DayOfCheckRule("sedatives_opioids", overridable=True, soft=True),
    DayOfCheckRule("stimulants", overridable=True, soft=True),
    DayOfCheckRule("maoi", overridable=True),
    DayOfCheckRule("theophylline", overridable=True),
    DayOfCheckRule("airway_clinician", overridable=True),
    DayOfCheckRule("resuscitation_equipment", overridable=True),
    DayOfCheckRule("vital_signs_monitoring", overridable=True),
    DayOfCheckRule("prescriber_on_site", overridable=True),
)


@dataclass(frozen=True)
class DayOfRules:
    """The day-of checks of a dosing session and their parameters.

    ``fasting_min_hours`` (no food) and ``clear_fluids_min_hours`` (no drink at all, clear
    fluids allowed until then) are protocol practice, not taken from the trials (none of the
    references gives a fasting rule). Their defaults, 6 h and 2 h, are the American Society of
    Anesthesiologists' fasting guideline for healthy patients before procedures that need
    procedural sedation (a light meal at least 6 h before, clear liquids up to 2 h before:
    Practice Guidelines for Preoperative Fasting, Anesthesiology 2017;126(3):376-393; numbers
    read from a summary of the guideline, not its full text); the Ketalar label gives
    nil-by-mouth guidance without numbers (clinical.md §8). The patient's preparation
    instructions are built from both (:mod:`kapstone.domain.preparation`). The blood-pressure
    deferral threshold (systolic ≥ 180 or diastolic ≥ 110 mmHg) is the screening deferral
    threshold of issue 3 (Spravato label Table 6 categories, clinical.md §3.2).

    Withdrawal before dosing (issue 14): a CIWA-Ar total (0–67) at or above ``ciwa_ar_stop_at``
    (check ``alcohol_withdrawal``) or a COWS total (0–48) at or above ``cows_stop_at`` (check
    ``opioid_withdrawal``) stops the day's dose (a soft stop in the shipped protocols). Defaults:
    CIWA-Ar ≥ 10 (Sullivan et al., Br J Addict 1989;84:1353–1357; cut-offs vary by institution:
    local policy), COWS ≥ 13, the start of "moderate" withdrawal (Wesson & Ling, J Psychoactive
    Drugs 2003;35:253–259); clinical.md §8. Which of the two a course asks follows its protocol's
    substance: each shipped protocol lists the check of its substance in ``checks``.
    The prescriber on site is required where ``checks`` lists ``prescriber_on_site`` (all shipped
    protocols: REMS practice; a clinic's version may leave it out, local policy).
    """

    __pydantic_config__ = _FIELDS_ONLY

    checks: tuple[DayOfCheckRule, ...] = DEFAULT_DAY_OF_CHECKS
    fasting_min_hours: Amount = Decimal("6")
    clear_fluids_min_hours: Amount = Decimal("2")
    bp_defer_systolic_at_mmhg: Whole = 180
    bp_defer_diastolic_at_mmhg: Whole = 110
    ciwa_ar_stop_at: Whole = 10
    cows_stop_at: Whole = 13

    def rule_for(self, check: str) -> DayOfCheckRule | None:
        for rule in self.checks:
            if rule.check == check:
                return rule
        return None


@dataclass(frozen=True)
class EligibilityCriteria:
    """The protocol's own eligibility criteria (its trial's), evaluated by the screening engine on
    top of the general rules (:func:`kapstone.domain.screening.protocol_reasons`).

    Every criterion is off by default (None or False): a protocol without criteria of its own
    adds nothing to the general screening. Bounds are inclusive where named ``min``/``max``
    (age 18–60, BMI 16–35, at most 10 detoxifications); the blood pressure must be *below*
    ``systolic_below_mmhg``/``diastolic_below_mmhg`` (KARE: < 140/90) and the BDI-II total
    *above* ``bdi_ii_above`` (KARE: > 14). ``liver_tests_within_3x_uln`` asks for liver tests no
    higher than three times the upper limit of normal, entered at screening as yes / no /
    unknown. ``source`` cites the trial's criteria and is required when any criterion is set.
    """

    __pydantic_config__ = _FIELDS_ONLY

    min_age_years: Whole | None = None
    max_age_years: Whole | None = None
    systolic_below_mmhg: Whole | None = None
    diastolic_below_mmhg: Whole | None = None
    min_bmi_kg_m2: Amount | None = None
    max_bmi_kg_m2: Amount | None = None
    exclude_psychosis_family_history: Flag = False
    exclude_seizure_history: Flag = False
    liver_tests_within_3x_uln: Flag = False
    exclude_current_suicidal_ideation: Flag = False
    require_negative_urine_drug_screen: Flag = False
    max_detoxifications: Whole | None = None
    exclude_antidepressants: Flag = False
    bdi_ii_above: Whole | None = None
    source: Text = ""

    @property
    def is_empty(self) -> bool:
        return self == EligibilityCriteria(source=self.source)


def eligibility_in_words(criteria: EligibilityCriteria) -> tuple[str, ...]:
    """The protocol's own criteria as short sentences for the protocol page (empty when none)."""
    words: list[str] = []
    if criteria.min_age_years is not None or criteria.max_age_years is not None:
        words.append(f"Age {criteria.min_age_years or 0}–{criteria.max_age_years or 120} years")
    if criteria.systolic_below_mmhg is not None or criteria.diastolic_below_mmhg is not None:
        words.append(
            f"Blood pressure below {criteria.systolic_below_mmhg or '–'}/{criteria.diastolic_below_mmhg or '–'} mmHg"
        )
    if criteria.min_bmi_kg_m2 is not None or criteria.max_bmi_kg_m2 is not None:
        words.append(f"Body mass index {criteria.min_bmi_kg_m2 or '–'}–{criteria.max_bmi_kg_m2 or '–'} kg/m²")
    flags = (
        (criteria.exclude_psychosis_family_history, "No psychotic disorder in a first-degree relative"),
        (criteria.exclude_seizure_history, "No history of seizures"),
        (criteria.liver_tests_within_3x_uln, "Liver tests at most three times the upper limit of normal"),
        (criteria.exclude_current_suicidal_ideation, "No current thoughts of suicide"),
        (criteria.require_negative_urine_drug_screen, "Negative urine drug screen"),
        (criteria.exclude_antidepressants, "No antidepressants"),
    )
    words.extend(text for wanted, text in flags if wanted)
    if criteria.max_detoxifications is not None:
        words.append(f"At most {criteria.max_detoxifications} detoxifications")
    if criteria.bdi_ii_above is not None:
        words.append(f"BDI-II total above {criteria.bdi_ii_above}")
    return tuple(words)


@dataclass(frozen=True)
class OutcomeDefinition:
    """The primary outcome the protocol's trial measured, and how a clinic's figure is computed
    to match it (docs/clinical-rules.md, "Outcomes comparable with each trial").

    ``kind`` is the measure (:data:`OUTCOME_KINDS`). Abstinence and percent days abstinent are
    measured over a window ``window_days`` long ending on course day ``window_ends_day`` (the
    trial's time point); ``acute_phase_end_day`` is the course day on which the treatment phase
    ends. Heavy-day thresholds are the minimum standard drinks for a heavy drinking day (alcohol
    only).

    Relapse (time to first use; alcohol: first heavy drinking day) is counted from course day
    ``relapse_from_day`` (None: from the end of the acute phase) and followed until course day
    ``relapse_until_day`` (None: for as long as the patient reports), after which a course
    without relapse is censored. ``dropout_counts_as_relapse``: a course withdrawn before its
    relapse, within that window, relapses on the day it was withdrawn (Dakwar 2019 counted
    "first use or dropout", Am J Psychiatry 2019;176:923, PMID 31230464; clinical.md §1.4, §8).
    The defaults keep the earlier rule (after the acute phase, no horizon, dropout censored), so
    a protocol written before these fields validates unchanged.
    """

    __pydantic_config__ = _FIELDS_ONLY

    kind: Text
    substance: Text
    window_days: Whole
    window_ends_day: Whole
    acute_phase_end_day: Whole
    description: Text
    heavy_day_min_drinks_men: Whole | None = None
    heavy_day_min_drinks_women: Whole | None = None
    confirmation: Text = ""
    relapse_from_day: Whole | None = None
    relapse_until_day: Whole | None = None
    dropout_counts_as_relapse: Flag = False

    @property
    def kind_label(self) -> str:
        return OUTCOME_KIND_LABELS.get(self.kind, self.kind)

    @property
    def relapse_start_day(self) -> int:
        """The course day the relapse clock starts (relapse is looked for strictly after it)."""
        return self.acute_phase_end_day if self.relapse_from_day is None else self.relapse_from_day

    @property
    def window_starts_day(self) -> int:
        """The first course day of the abstinence window."""
        return self.window_ends_day - self.window_days + 1


@dataclass(frozen=True)
class ArmResult:
    """One trial arm: its label, size, number with the outcome, and the reported percentage
    (of the protocol's outcome measure, ``OutcomeDefinition.kind``)."""

    __pydantic_config__ = _FIELDS_ONLY

    label: Text
    n: Whole | None
    events: Whole | None = None
    percent: Amount | None = None


@dataclass(frozen=True)
class EffectEstimate:
    """One published comparison between the trial's groups: the ``statistic``
    (:data:`EFFECT_STATISTICS`) of the ``measure`` (:data:`OUTCOME_KINDS`), ``compared`` in words
    ("Ketamine vs placebo"), its value and 95% interval, and ``model`` when it is not the plain
    statistic of the groups. A difference is in percentage points, the first group minus the
    second; a ratio is the first group against the second."""

    __pydantic_config__ = _FIELDS_ONLY

    statistic: Text
    measure: Text
    compared: Text
    value: Amount
    ci_lower: Amount | None = None
    ci_upper: Amount | None = None
    #: "" when the figure is the plain (unadjusted) statistic of the groups, which a clinic's own
    #: figure can match; otherwise what is known of the model that produced it, in words, and
    #: the clinic's plain figure is not set beside it.
    model: Text = ""

    @property
    def statistic_label(self) -> str:
        return EFFECT_STATISTIC_LABELS.get(self.statistic, self.statistic)


@dataclass(frozen=True)
class PublishedResult:
    """The trial's published headline result, with its source and what is unverified.

    ``ketamine`` and ``comparator`` give each arm's figure of the protocol's outcome measure;
    ``estimates`` the published comparisons (e.g. KARE's PDA difference with its interval), each
    set beside the clinic's own when the clinic's is the same measure."""

    __pydantic_config__ = _FIELDS_ONLY

    outcome: Text
    design: Text
    ketamine: ArmResult
    comparator: ArmResult
    effect: Text
    source: Text
    unverified_notes: tuple[Text, ...] = ()
    estimates: tuple[EffectEstimate, ...] = ()


@dataclass(frozen=True)
class QuestionnairePlan:
    """Which questionnaires a course asks of the patient at each time point: ``baseline`` (from
    the course start until its first dosing session) and ``follow_up`` (at every one of the
    protocol's ``follow_up_months``). Instrument codes of :mod:`kapstone.domain.instruments`."""

    __pydantic_config__ = _FIELDS_ONLY

    baseline: tuple[Text, ...]
    follow_up: tuple[Text, ...]


_ALCOHOL_PLAN = QuestionnairePlan(
    baseline=("audit", "pacs", "phq-9", "gad-7"), follow_up=("audit-c", "pacs", "phq-9", "gad-7")
)
_DRUG_PLAN = QuestionnairePlan(baseline=("dast-10", "phq-9", "gad-7"), follow_up=("phq-9", "gad-7"))

#: The questionnaires of a protocol that names none, by indication. A programme choice: the
#: shipped trials report abstinence from the use calendar (TLFB) and urine tests, and craving,
#: depression and anxiety as secondary outcomes (Krupitsky 2007; Dakwar 2019), but the reference
#: does not name the questionnaires they used (clinical.md §1). Alcohol: the full AUDIT at
#: baseline (its questions cover the past year), AUDIT-C at follow-up (consumption), the PACS for
#: craving (a past-week scale); other substances: the DAST-10 at baseline; everyone: PHQ-9 and
#: GAD-7. See docs/clinical-rules.md, "Patient-entered outcomes".
DEFAULT_QUESTIONNAIRES: dict[str, QuestionnairePlan] = {
    "alcohol": _ALCOHOL_PLAN,
    "opioids": _DRUG_PLAN,
    "cocaine": _DRUG_PLAN,
    "methamphetamine": _DRUG_PLAN,
    "cannabis": _DRUG_PLAN,
    "tobacco": QuestionnairePlan(baseline=("phq-9", "gad-7"), follow_up=("phq-9", "gad-7")),
    "polysubstance": QuestionnairePlan(
        baseline=("audit", "dast-10", "phq-9", "gad-7"), follow_up=("audit-c", "phq-9", "gad-7")
    ),
}


@dataclass(frozen=True)
class LiverRules:
    """Liver tests before and during repeated dosing (:mod:`kapstone.domain.liver`).

    ``above_uln_multiple``: a result above this multiple of the laboratory's upper limit of
    normal defers dosing; 3 is the KARE exclusion (liver tests ≤ 3× the upper limit; Grabski et
    al. 2022, clinical.md §8). ``baseline_max_age_days``: the panel before a course's first dose
    is at most this old (30: local policy, no source gives a window). ``repeat_after_sessions``:
    the panel is repeated after this many doses (6: local policy; the Ketalar label warns of
    liver injury with repeated use without giving an interval).
    """

    __pydantic_config__ = _FIELDS_ONLY

    baseline_max_age_days: Whole = 30
    repeat_after_sessions: Whole = 6
    above_uln_multiple: Amount = Decimal("3")


@dataclass(frozen=True)
class Protocol:
    """A versioned, cited treatment protocol. ``(slug, version)`` identifies it."""

    __pydantic_config__ = _FIELDS_ONLY

    slug: Text
    version: Whole
    title: Text
    indication: Text
    psychotherapy: Text
    source: Text
    source_url: Text
    reference: Text
    sessions: tuple[SessionTemplate, ...]
    limits: SessionLimits
    outcome: OutcomeDefinition
    published_result: PublishedResult
    monitoring: MonitoringRules = MonitoringRules()
    day_of: DayOfRules = DayOfRules()
    follow_up_months: tuple[Whole, ...] = DEFAULT_FOLLOW_UP_MONTHS
    # None: the indication's default (DEFAULT_QUESTIONNAIRES).
    questionnaires: QuestionnairePlan | None = None
    weight_max_age_days: Whole = 30
    liver: LiverRules = LiverRules()
    unverified_notes: tuple[Text, ...] = ()
    #: The trial's design and setting in words (e.g. Dakwar 2019: a 5-day inpatient stay).
    description: Text = ""
    #: Where the course runs (SETTINGS); a clone that changes it says how in setting_adaptation.
    setting: Text = OUTPATIENT
    setting_adaptation: Text = ""
    eligibility: EligibilityCriteria = EligibilityCriteria()

    @property
    def dosing_sessions(self) -> tuple[SessionTemplate, ...]:
        return tuple(s for s in sorted(self.sessions, key=lambda s: s.order) if s.kind == DOSING)

    @property
    def phases(self) -> tuple[str, ...]:
        """Session kinds in the order they first occur."""
        seen: list[str] = []
        for session in sorted(self.sessions, key=lambda s: s.order):
            if session.kind not in seen:
                seen.append(session.kind)
        return tuple(seen)


@dataclass(frozen=True)
class PlannedSession:
    """A session of a course, placed on the calendar by :func:`build_schedule`."""

    order: int
    kind: str
    group: bool
    scheduled_date: date
    title: str
    duration_min: int
    dose: DoseRule | None = None


# --- JSON round trip -----------------------------------------------------------------------------


def _to_json(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_to_json(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


def protocol_to_dict(protocol: Protocol) -> dict[str, Any]:
    """The protocol as JSON-able data: dicts, lists, strings, ints, bools and None.

    Decimals become strings so no amount passes through a float.
    ``protocol_from_dict(protocol_to_dict(p)) == p`` for every valid protocol.
    """
    if not isinstance(protocol, Protocol):
        raise DomainError("invalid_protocol", "Expected a Protocol.", field="protocol")
    return _to_json(protocol)


#: What each kind of field must be, in the words of the refusal.
_EXPECTED = {
    "int_type": "a whole number",
    "string_type": "text",
    "bool_type": "true or false",
    "tuple_type": "a list",
    "dataclass_type": "an object",
    "dataclass_exact_type": "an object",
}


def _refusal(error: ValidationError) -> DomainError:
    """The first of pydantic's findings as our error: unknown, missing or mistyped field, with its
    dotted path."""
    first = error.errors()[0]
    path = ".".join(str(part) for part in first["loc"])
    if first["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
        return DomainError("unknown_protocol_field", f"Unknown protocol field {path!r}.", field=path)
    if first["type"] == "missing":
        return DomainError("missing_protocol_field", f"Protocol field {path!r} is required.", field=path)
    if first["type"] == "value_error":
        expected = str(first["ctx"]["error"])
    else:
        expected = _EXPECTED.get(first["type"], first["msg"].lower())
    return DomainError(
        "invalid_protocol_field",
        f"{path or 'protocol'} must be {expected}, got {first['input']!r}.",
        field=path or None,
    )


@functools.cache
def _adapter() -> TypeAdapter[Protocol]:
    return TypeAdapter(Protocol)


def protocol_from_dict(data: Mapping[str, Any]) -> Protocol:
    """Build a Protocol from :func:`protocol_to_dict` output (or JSON of it) and validate it.

    The types are checked by pydantic against the dataclasses' annotations: unknown fields
    (``unknown_protocol_field``), missing required fields (``missing_protocol_field``) and wrong
    types (``invalid_protocol_field``) are refused naming the dotted path; then
    :func:`validate_protocol` applies the clinical rules. Fields with defaults may be omitted.
    Decimals may be strings, ints or Decimals (floats are read by their shortest repr).
    """
    try:
        protocol = _adapter().validate_python(data)
    except ValidationError as error:
        raise _refusal(error) from None
    validate_protocol(protocol)
    return protocol


def _fields_of(value: Any) -> Any:
    """A dataclass as a dict of its fields, recursively; everything else as it is."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _fields_of(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return type(value)(_fields_of(item) for item in value)
    return value


def _first_difference(built: Any, given: Any, path: str) -> str | None:
    if type(built) is not type(given):
        return path
    if is_dataclass(built):
        for f in fields(built):
            found = _first_difference(getattr(built, f.name), getattr(given, f.name), _join(path, f.name))
            if found is not None:
                return found
    elif isinstance(built, tuple):
        if len(built) != len(given):
            return path
        for index, (b, g) in enumerate(zip(built, given, strict=True)):
            found = _first_difference(b, g, _join(path, index))
            if found is not None:
                return found
    return None


def _join(path: str, name: str | int) -> str:
    return f"{path}.{name}" if path else str(name)


def _check_types(protocol: Protocol) -> None:
    """Refuse a directly constructed protocol whose fields have the wrong Python types: the same
    type rules as :func:`protocol_from_dict`, and each value already of its field's type (a Decimal,
    not a float; a tuple, not a list)."""
    try:
        built = _adapter().validate_python(_fields_of(protocol), context=_DIRECT)
    except ValidationError as error:
        raise _refusal(error) from None
    path = _first_difference(built, protocol, "")
    if path is not None:
        raise DomainError(
            "invalid_protocol_field",
            f"{path or 'protocol'} must be a {type(_at(built, path)).__name__}.",
            field=path or None,
        )


def _at(value: Any, path: str) -> Any:
    for part in path.split(".") if path else ():
        value = value[int(part)] if part.isdigit() else getattr(value, part)
    return value


# --- Validation ----------------------------------------------------------------------------------


def _refuse(code: str, message: str, field: str) -> DomainError:
    return DomainError(code, message, field=field)


def _validate_dose(dose: DoseRule, path: str) -> None:
    if dose.route not in ROUTES:
        raise _refuse(
            "unknown_route", f"Route {dose.route!r} is not one of {', '.join(ROUTES)}.", f"{path}.route"
        )
    if dose.mg_per_kg <= 0:
        raise _refuse("invalid_dose", f"Dose {dose.mg_per_kg} mg/kg must be above zero.", f"{path}.mg_per_kg")
    if dose.max_mg_per_kg > ABSOLUTE_MAX_MG_PER_KG:
        raise _refuse(
            "max_above_ceiling",
            f"Maximum {dose.max_mg_per_kg} mg/kg is above Kapstone's ceiling of {ABSOLUTE_MAX_MG_PER_KG} mg/kg.",
            f"{path}.max_mg_per_kg",
        )
    if dose.mg_per_kg > dose.max_mg_per_kg:
        raise _refuse(
            "dose_above_own_max",
            f"Dose {dose.mg_per_kg} mg/kg is above this session's own maximum of {dose.max_mg_per_kg} mg/kg.",
            f"{path}.mg_per_kg",
        )
    if dose.route == "iv":
        if dose.infusion_min is None:
            raise _refuse(
                "infusion_min_required", "An IV dose needs an infusion time.", f"{path}.infusion_min"
            )
        if not 1 <= dose.infusion_min <= MAX_INFUSION_MIN:
            raise _refuse(
                "invalid_infusion_min",
                f"Infusion time {dose.infusion_min} min must be 1–{MAX_INFUSION_MIN} min.",
                f"{path}.infusion_min",
            )
    else:
        if dose.infusion_min is not None:
            raise _refuse(
                "infusion_for_non_iv",
                f"A {dose.route.upper()} dose has no infusion time (got {dose.infusion_min} min).",
                f"{path}.infusion_min",
            )
        if dose.bolus_mg_per_kg is not None or dose.bolus_min is not None:
            raise _refuse(
                "bolus_for_non_iv",
                f"A {dose.route.upper()} dose has no bolus part.",
                f"{path}.bolus_mg_per_kg",
            )
        return
    if dose.bolus_mg_per_kg is None:
        if dose.bolus_min is not None:
            raise _refuse(
                "bolus_dose_required",
                "A bolus time was given without a bolus dose.",
                f"{path}.bolus_mg_per_kg",
            )
        return
    if dose.bolus_min is None:
        raise _refuse(
            "bolus_min_required", "A bolus needs the minutes it is given over.", f"{path}.bolus_min"
        )
    if not 0 < dose.bolus_mg_per_kg < dose.mg_per_kg:
        raise _refuse(
            "invalid_bolus",
            f"Bolus {dose.bolus_mg_per_kg} mg/kg must be above zero and below the session dose {dose.mg_per_kg} mg/kg.",
            f"{path}.bolus_mg_per_kg",
        )
    assert dose.infusion_min is not None
    if not 1 <= dose.bolus_min < dose.infusion_min:
        raise _refuse(
            "invalid_bolus_min",
            f"Bolus time {dose.bolus_min} min must be at least 1 min and shorter than the "
            f"{dose.infusion_min} min administration.",
            f"{path}.bolus_min",
        )


def _validate_sessions(protocol: Protocol) -> None:
    if not protocol.sessions:
        raise _refuse("empty_schedule", "A protocol needs at least one session.", "sessions")
    seen_orders: set[int] = set()
    for i, session in enumerate(protocol.sessions):
        path = f"sessions.{i}"
        if session.order in seen_orders:
            raise _refuse(
                "duplicate_session_order", f"Two sessions share the order {session.order}.", f"{path}.order"
            )
        seen_orders.add(session.order)
        if session.order < 1:
            raise _refuse(
                "invalid_session_order", f"Session order {session.order} must be 1 or more.", f"{path}.order"
            )
        if session.kind not in SESSION_KINDS:
            raise _refuse(
                "unknown_session_kind",
                f"Session kind {session.kind!r} is not one of {', '.join(SESSION_KINDS)}.",
                f"{path}.kind",
            )
        if not session.title.strip():
            raise _refuse("missing_title", "Every session needs a title.", f"{path}.title")
        if session.day_offset < 0:
            raise _refuse(
                "invalid_day_offset",
                f"Day offset {session.day_offset} is before the course start; offsets are 0 or more.",
                f"{path}.day_offset",
            )
        if session.day_offset > MAX_DAY_OFFSET:
            raise _refuse(
                "invalid_day_offset",
                f"Day offset {session.day_offset} is more than {MAX_DAY_OFFSET} days after the course start.",
                f"{path}.day_offset",
            )
        if not 1 <= session.duration_min <= MAX_SESSION_MIN:
            raise _refuse(
                "invalid_duration",
                f"Session length {session.duration_min} min must be 1–{MAX_SESSION_MIN} min.",
                f"{path}.duration_min",
            )
        if session.kind == DOSING:
            if session.dose is None:
                raise _refuse("dose_rule_missing", "A dosing session needs a dose rule.", f"{path}.dose")
            _validate_dose(session.dose, f"{path}.dose")
            observation = protocol.monitoring.min_observation_min
            if session.duration_min < observation:
                raise _refuse(
                    "session_shorter_than_observation",
                    f"Dosing session of {session.duration_min} min is shorter than the "
                    f"{observation} min observation.",
                    f"{path}.duration_min",
                )
            if session.dose.infusion_min is not None and session.dose.infusion_min >= observation:
                raise _refuse(
                    "infusion_longer_than_observation",
                    f"Infusion of {session.dose.infusion_min} min does not end within the "
                    f"{observation} min observation.",
                    f"{path}.dose.infusion_min",
                )
        elif session.dose is not None:
            raise _refuse(
                "dose_on_non_dosing_session",
                f"A {session.kind} session cannot carry a dose rule.",
                f"{path}.dose",
            )

    in_order = sorted(enumerate(protocol.sessions), key=lambda pair: pair[1].order)
    for (_, earlier), (j, later) in itertools.pairwise(in_order):
        if later.day_offset < earlier.day_offset:
            raise _refuse(
                "session_order_mismatch",
                f"Session {later.order} (day {later.day_offset}) comes after session {earlier.order} "
                f"(day {earlier.day_offset}) in the order but before it on the calendar.",
                f"sessions.{j}.day_offset",
            )

    dosing = [(i, s) for i, s in in_order if s.kind == DOSING]
    if not dosing:
        raise _refuse("no_dosing_session", "A protocol needs at least one dosing session.", "sessions")
    limits = protocol.limits
    if len(dosing) > limits.max_dosing_sessions:
        raise _refuse(
            "too_many_dosing_sessions",
            f"{len(dosing)} dosing sessions exceed the protocol's maximum of {limits.max_dosing_sessions}.",
            "sessions",
        )
    for (_, earlier), (j, later) in itertools.pairwise(dosing):
        gap = later.day_offset - earlier.day_offset
        if gap < limits.min_days_between_dosing:
            raise _refuse(
                "dosing_sessions_too_close",
                f"Dosing sessions {earlier.order} and {later.order} are {gap} days apart; the protocol "
                f"requires at least {limits.min_days_between_dosing}.",
                f"sessions.{j}.day_offset",
            )


def _validate_monitoring(monitoring: MonitoringRules) -> None:
    if monitoring.min_observation_min < MIN_OBSERVATION_FLOOR_MIN:
        raise _refuse(
            "observation_too_short",
            f"Observation of {monitoring.min_observation_min} min is under the "
            f"{MIN_OBSERVATION_FLOOR_MIN} min floor.",
            "monitoring.min_observation_min",
        )
    if monitoring.min_observation_min > MAX_SESSION_MIN:
        raise _refuse(
            "observation_too_long",
            f"Observation of {monitoring.min_observation_min} min is longer than a day.",
            "monitoring.min_observation_min",
        )
    for name in ("vitals_interval_min", "vitals_interval_recovery_min"):
        value = getattr(monitoring, name)
        if not 1 <= value <= 60:
            raise _refuse(
                "invalid_vitals_interval", f"{name} {value} min must be 1–60 min.", f"monitoring.{name}"
            )
    if not 1 <= monitoring.bp_peak_check_min < monitoring.min_observation_min:
        raise _refuse(
            "invalid_bp_check_time",
            f"The peak blood-pressure check at {monitoring.bp_peak_check_min} min must fall inside the "
            f"{monitoring.min_observation_min} min observation.",
            "monitoring.bp_peak_check_min",
        )
    if not 1 <= monitoring.alert_ack_escalation_min <= 30:
        raise _refuse(
            "invalid_escalation_min",
            f"Alert escalation after {monitoring.alert_ack_escalation_min} min must be 1–30 min.",
            "monitoring.alert_ack_escalation_min",
        )
    low, high = BASELINE_WINDOW_MIN_BOUNDS
    if not low <= monitoring.baseline_window_min <= high:
        raise _refuse(
            "invalid_baseline_window",
            f"The baseline window of {monitoring.baseline_window_min} min must be {low}–{high} min.",
            "monitoring.baseline_window_min",
        )
    if monitoring.dissociation_check not in DISSOCIATION_CHECKS:
        raise _refuse(
            "invalid_dissociation_check",
            f"The dissociation check {monitoring.dissociation_check!r} is not one of "
            f"{', '.join(DISSOCIATION_CHECKS)}.",
            "monitoring.dissociation_check",
        )
    if not 0 <= monitoring.cadss_resolved_at_or_below <= CADSS_MAX_TOTAL:
        raise _refuse(
            "invalid_cadss_resolution",
            f"The CADSS resolution level {monitoring.cadss_resolved_at_or_below} must be "
            f"0–{CADSS_MAX_TOTAL} (the CADSS total's range).",
            "monitoring.cadss_resolved_at_or_below",
        )
    _validate_alert_limits(monitoring.alert_limits)
    _validate_dependence_limits(monitoring.dependence_limits)


#: The range each local-policy alert limit may be set in (a typo such as SpO2 9 or HR 1100 is
#: refused); the warning/critical order is checked by ``AlertThresholds`` itself.
_ALERT_LIMIT_BOUNDS: dict[str, tuple[int, int]] = {
    "systolic_warning_at_or_above_mmhg": (100, 250),
    "diastolic_warning_at_or_above_mmhg": (50, 150),
    "heart_rate_warning_above_per_min": (60, 200),
    "heart_rate_critical_at_or_above_per_min": (60, 250),
    "heart_rate_warning_below_per_min": (20, 100),
    "spo2_warning_below_pct": (80, 100),
    "respiratory_rate_critical_below_per_min": (1, 30),
    "moaas_critical_at_or_below": (0, 5),
    "escalate_warning_after_min": (1, 60),
}

_DEPENDENCE_LIMIT_BOUNDS: dict[str, tuple[int, int]] = {
    "sessions_review_above": (1, 100),
    "cumulative_dose_review_at_mg": (1, 100_000),
    "min_interval_days": (1, 365),
    "craving_review_at": (1, 10),  # the 0–10 craving rating
}


def _validate_alert_limits(limits: AlertLimits) -> None:
    for name, (low, high) in _ALERT_LIMIT_BOUNDS.items():
        value = getattr(limits, name)
        if not low <= value <= high:
            raise _refuse(
                "invalid_alert_limit",
                f"{name} {value} must be {low}–{high}.",
                f"monitoring.alert_limits.{name}",
            )
    try:
        AlertThresholds(**{f.name: Decimal(getattr(limits, f.name)) for f in fields(limits)})
    except DomainError as error:
        raise _refuse(
            "invalid_alert_limit", error.message, f"monitoring.alert_limits.{error.field}"
        ) from None


def _validate_dependence_limits(limits: DependenceLimits) -> None:
    for name, (low, high) in _DEPENDENCE_LIMIT_BOUNDS.items():
        value = getattr(limits, name)
        if not low <= value <= high:
            raise _refuse(
                "invalid_dependence_limit",
                f"{name} {value} must be {low}–{high}.",
                f"monitoring.dependence_limits.{name}",
            )


def _validate_day_of(day_of: DayOfRules) -> None:
    seen: set[str] = set()
    for i, rule in enumerate(day_of.checks):
        if rule.check not in DAY_OF_CHECKS:
            raise _refuse(
                "unknown_day_of_check",
                f"Day-of check {rule.check!r} is not one of {', '.join(DAY_OF_CHECKS)}.",
                f"day_of.checks.{i}.check",
            )
        if rule.check in seen:
            raise _refuse(
                "duplicate_day_of_check",
                f"Day-of check {rule.check!r} is listed twice.",
                f"day_of.checks.{i}",
            )
        if rule.soft and not rule.overridable:
            raise _refuse(
                "soft_stop_not_overridable",
                f"Day-of check {rule.check!r} is a soft stop (proceed with a reason), so it must be overridable.",
                f"day_of.checks.{i}.soft",
            )
        seen.add(rule.check)
    if not Decimal(0) <= day_of.fasting_min_hours <= Decimal(24):
        raise _refuse(
            "invalid_fasting_hours",
            f"Fasting requirement {day_of.fasting_min_hours} h must be 0–24 h.",
            "day_of.fasting_min_hours",
        )
    # Not tied to the fasting hours here: a clinic's earlier clone with a shorter fast must still
    # load. The instructions never stop clear fluids before food (domain/preparation.py).
    if not Decimal(0) <= day_of.clear_fluids_min_hours <= Decimal(24):
        raise _refuse(
            "invalid_clear_fluids_hours",
            f"Clear fluids until {day_of.clear_fluids_min_hours} h before the session must be 0–24 h.",
            "day_of.clear_fluids_min_hours",
        )
    if not 100 <= day_of.bp_defer_systolic_at_mmhg <= 250:
        raise _refuse(
            "invalid_bp_defer_threshold",
            f"Systolic deferral threshold {day_of.bp_defer_systolic_at_mmhg} mmHg must be 100–250.",
            "day_of.bp_defer_systolic_at_mmhg",
        )
    if not 60 <= day_of.bp_defer_diastolic_at_mmhg <= 150:
        raise _refuse(
            "invalid_bp_defer_threshold",
            f"Diastolic deferral threshold {day_of.bp_defer_diastolic_at_mmhg} mmHg must be 60–150.",
            "day_of.bp_defer_diastolic_at_mmhg",
        )
    if not 1 <= day_of.ciwa_ar_stop_at <= CIWA_AR_MAX:
        raise _refuse(
            "invalid_withdrawal_threshold",
            f"The CIWA-Ar threshold {day_of.ciwa_ar_stop_at} must be 1–{CIWA_AR_MAX}.",
            "day_of.ciwa_ar_stop_at",
        )
    if not 1 <= day_of.cows_stop_at <= COWS_MAX:
        raise _refuse(
            "invalid_withdrawal_threshold",
            f"The COWS threshold {day_of.cows_stop_at} must be 1–{COWS_MAX}.",
            "day_of.cows_stop_at",
        )


def _validate_outcome(protocol: Protocol) -> None:
    outcome = protocol.outcome
    if outcome.kind not in OUTCOME_KINDS:
        raise _refuse(
            "unknown_outcome_kind",
            f"Outcome kind {outcome.kind!r} is not one of {', '.join(OUTCOME_KINDS)}.",
            "outcome.kind",
        )
    if outcome.substance not in INDICATIONS:
        raise _refuse(
            "unknown_indication", f"Substance {outcome.substance!r} is not known.", "outcome.substance"
        )
    if outcome.window_days < 1:
        raise _refuse(
            "invalid_outcome_window", "The outcome window must be at least one day.", "outcome.window_days"
        )
    if outcome.window_ends_day - outcome.window_days < 0:
        raise _refuse(
            "invalid_outcome_window",
            f"A {outcome.window_days}-day window ending on day {outcome.window_ends_day} starts before the course.",
            "outcome.window_ends_day",
        )
    last_dosing = max(s.day_offset for s in protocol.sessions if s.kind == DOSING)
    if outcome.acute_phase_end_day < last_dosing:
        raise _refuse(
            "invalid_acute_phase_end",
            f"The acute phase ends on day {outcome.acute_phase_end_day}, before the last dosing day {last_dosing}.",
            "outcome.acute_phase_end_day",
        )
    _validate_relapse_window(protocol)
    men, women = outcome.heavy_day_min_drinks_men, outcome.heavy_day_min_drinks_women
    if (men is None) != (women is None):
        raise _refuse(
            "invalid_heavy_day_threshold",
            "Give heavy-day thresholds for both men and women, or neither.",
            "outcome.heavy_day_min_drinks_women" if women is None else "outcome.heavy_day_min_drinks_men",
        )
    if men is not None and women is not None:
        if outcome.substance != "alcohol":
            raise _refuse(
                "invalid_heavy_day_threshold",
                "Heavy drinking day thresholds apply to alcohol outcomes only.",
                "outcome.heavy_day_min_drinks_men",
            )
        if not 1 <= women <= men <= 20:
            raise _refuse(
                "invalid_heavy_day_threshold",
                f"Heavy-day thresholds {men} (men) / {women} (women) drinks must be 1–20 with women ≤ men.",
                "outcome.heavy_day_min_drinks_men",
            )


def _validate_relapse_window(protocol: Protocol) -> None:
    """The relapse window: it starts at or after the first dosing day (relapse is measured from
    treatment, never before it) and on or before the last day of the schedule's reach
    (``MAX_DAY_OFFSET``); it ends after it starts; dropout counts as relapse only within a
    bounded window (the trial's: a withdrawal years later is not the trial's dropout)."""
    outcome = protocol.outcome
    first_dosing = min(s.day_offset for s in protocol.sessions if s.kind == DOSING)
    start = outcome.relapse_from_day
    if start is not None and not first_dosing <= start <= MAX_DAY_OFFSET:
        raise _refuse(
            "invalid_relapse_window",
            f"Relapse is counted from course day {start}: it must be from the first dosing day "
            f"({first_dosing}) to day {MAX_DAY_OFFSET}.",
            "outcome.relapse_from_day",
        )
    until = outcome.relapse_until_day
    if until is not None and not outcome.relapse_start_day < until <= MAX_DAY_OFFSET:
        raise _refuse(
            "invalid_relapse_window",
            f"Relapse is followed until course day {until}: it must be after the day it is counted "
            f"from ({outcome.relapse_start_day}) and at most day {MAX_DAY_OFFSET}.",
            "outcome.relapse_until_day",
        )
    if outcome.dropout_counts_as_relapse and until is None:
        raise _refuse(
            "dropout_rule_needs_window",
            "Dropout can count as relapse only within a window with an end (relapse_until_day), "
            "as in the trial.",
            "outcome.dropout_counts_as_relapse",
        )


def _validate_estimate(estimate: EffectEstimate, path: str) -> None:
    if estimate.statistic not in EFFECT_STATISTICS:
        raise _refuse(
            "invalid_published_estimate",
            f"Statistic {estimate.statistic!r} is not one of {', '.join(EFFECT_STATISTICS)}.",
            f"{path}.statistic",
        )
    allowed = EFFECT_MEASURES[estimate.statistic]
    if estimate.measure not in allowed:
        raise _refuse(
            "invalid_published_estimate",
            f"A {estimate.statistic} summarises {' or '.join(allowed)}, not {estimate.measure!r}.",
            f"{path}.measure",
        )
    if not estimate.compared.strip():
        raise _refuse(
            "invalid_published_estimate", "Say which groups the estimate compares.", f"{path}.compared"
        )
    low, high = estimate.ci_lower, estimate.ci_upper
    if (low is None) != (high is None):
        raise _refuse(
            "invalid_published_estimate",
            "Give both ends of the interval, or neither.",
            f"{path}.ci_lower" if low is None else f"{path}.ci_upper",
        )
    values = [v for v in (low, estimate.value, high) if v is not None]
    if values != sorted(values):
        raise _refuse(
            "invalid_published_estimate",
            f"The interval {low}–{high} must hold the estimate {estimate.value}.",
            f"{path}.value",
        )
    if estimate.statistic == "difference":
        if any(not Decimal(-100) <= v <= Decimal(100) for v in values):
            raise _refuse(
                "invalid_published_estimate",
                "A difference in percentage points is from -100 to 100.",
                f"{path}.value",
            )
    elif any(v <= 0 for v in values):
        raise _refuse("invalid_published_estimate", "A ratio is above zero.", f"{path}.value")


def _validate_result(result: PublishedResult) -> None:
    for index, estimate in enumerate(result.estimates):
        _validate_estimate(estimate, f"published_result.estimates.{index}")
    for arm_name in ("ketamine", "comparator"):
        arm: ArmResult = getattr(result, arm_name)
        path = f"published_result.{arm_name}"
        if arm.n is not None and arm.n < 1:
            raise _refuse("invalid_published_result", f"Arm size {arm.n} must be at least 1.", f"{path}.n")
        if arm.events is not None and (arm.events < 0 or arm.n is None or arm.events > arm.n):
            raise _refuse(
                "invalid_published_result",
                f"{arm.events} events do not fit an arm of {arm.n}.",
                f"{path}.events",
            )
        if arm.percent is not None and not Decimal(0) <= arm.percent <= Decimal(100):
            raise _refuse(
                "invalid_published_result", f"{arm.percent}% is not a percentage.", f"{path}.percent"
            )


def _validate_questionnaires(plan: QuestionnairePlan | None) -> None:
    if plan is None:
        return
    for name in ("baseline", "follow_up"):
        codes = getattr(plan, name)
        for index, code in enumerate(codes):
            path = f"questionnaires.{name}.{index}"
            try:
                get_instrument(code)
            except DomainError:
                raise _refuse(
                    "unknown_instrument", f"{path}: {code!r} is not a known questionnaire.", path
                ) from None
            if code in codes[:index]:
                raise _refuse("duplicate_instrument", f"{path}: {code} is listed twice.", path)


def questionnaires_at(protocol: Protocol, months: int) -> tuple[str, ...]:
    """The questionnaires the time point ``months`` asks for (0 = baseline): the protocol's own
    plan, else its indication's default (:data:`DEFAULT_QUESTIONNAIRES`). Source: programme
    choice (see that constant)."""
    plan = protocol.questionnaires or DEFAULT_QUESTIONNAIRES[protocol.indication]
    return plan.baseline if months == 0 else plan.follow_up


def _validate_liver(liver: LiverRules) -> None:
    if not 1 <= liver.baseline_max_age_days <= 365:
        raise _refuse(
            "invalid_liver_baseline_age",
            f"Liver tests before the first dose may be 1–365 days old, got {liver.baseline_max_age_days}.",
            "liver.baseline_max_age_days",
        )
    if not 1 <= liver.repeat_after_sessions <= 100:
        raise _refuse(
            "invalid_liver_repeat",
            f"Liver tests are repeated after 1–100 doses, got {liver.repeat_after_sessions}.",
            "liver.repeat_after_sessions",
        )
    if not Decimal(1) <= liver.above_uln_multiple <= Decimal(10):
        raise _refuse(
            "invalid_liver_threshold",
            f"The liver-test limit must be 1–10 × the upper limit of normal, got {liver.above_uln_multiple}.",
            "liver.above_uln_multiple",
        )


def _validate_eligibility(criteria: EligibilityCriteria) -> None:
    """Bounds of a protocol's own eligibility criteria (code ``invalid_eligibility_criterion``)."""
    path = "eligibility"

    def refuse(name: str, message: str) -> DomainError:
        return _refuse("invalid_eligibility_criterion", message, f"{path}.{name}")

    low, high = criteria.min_age_years, criteria.max_age_years
    for name, value in (("min_age_years", low), ("max_age_years", high)):
        if value is not None and not 0 <= value <= 120:
            raise refuse(name, f"Age limit {value} years must be 0–120.")
    if low is not None and high is not None and low > high:
        raise refuse("max_age_years", f"The oldest age {high} is below the youngest {low}.")
    for name, bounds in (("systolic_below_mmhg", (80, 250)), ("diastolic_below_mmhg", (40, 150))):
        value = getattr(criteria, name)
        if value is not None and not bounds[0] <= value <= bounds[1]:
            raise refuse(name, f"{name} {value} mmHg must be {bounds[0]}–{bounds[1]}.")
    bmi_low, bmi_high = criteria.min_bmi_kg_m2, criteria.max_bmi_kg_m2
    for name, value in (("min_bmi_kg_m2", bmi_low), ("max_bmi_kg_m2", bmi_high)):
        if value is not None and not Decimal(10) <= value <= Decimal(80):
            raise refuse(name, f"BMI limit {value} kg/m² must be 10–80.")
    if bmi_low is not None and bmi_high is not None and bmi_low > bmi_high:
        raise refuse("max_bmi_kg_m2", f"The highest BMI {bmi_high} is below the lowest {bmi_low}.")
    if criteria.max_detoxifications is not None and not 0 <= criteria.max_detoxifications <= 200:
        raise refuse(
            "max_detoxifications", f"At most {criteria.max_detoxifications} detoxifications must be 0–200."
        )
    if criteria.bdi_ii_above is not None and not 0 <= criteria.bdi_ii_above < 63:
        raise refuse(
            "bdi_ii_above", f"A BDI-II total above {criteria.bdi_ii_above} must be 0–62 (the scale is 0–63)."
        )
    if not criteria.is_empty and not criteria.source.strip():
        raise _refuse("missing_citation", "Eligibility criteria need their source.", f"{path}.source")


def _validate_setting(protocol: Protocol) -> None:
    if protocol.setting not in SETTINGS:
        raise _refuse(
            "unknown_setting", f"Setting {protocol.setting!r} is not one of {', '.join(SETTINGS)}.", "setting"
        )


def validate_protocol(protocol: Protocol) -> None:
    """Refuse a protocol that makes no sense or leaves Kapstone's safe bounds; return None if valid.

    Checks, each with its own code and the dotted field path: types of every field
    (``invalid_protocol_field``); slug, version, title, indication; the schedule (``empty_schedule``,
    ``duplicate_session_order``, ``invalid_day_offset`` for a negative offset, ``session_order_mismatch``,
    ``invalid_duration``, ``no_dosing_session``, ``too_many_dosing_sessions``,
    ``dosing_sessions_too_close``, ``session_shorter_than_observation``); dose rules
    (``dose_above_own_max``, ``max_above_ceiling`` above 3.0 mg/kg, routes, infusion and bolus);
    monitoring (``observation_too_short`` under 60 min, intervals, the BP check time, escalation);
    day-of checks; follow-up months; the questionnaires of each time point (``unknown_instrument``,
    ``duplicate_instrument``); the weight age; the outcome and the published result; the setting
    (``unknown_setting``) and the protocol's own eligibility criteria
    (``invalid_eligibility_criterion``, ``missing_citation`` without a source).
    """
    if not isinstance(protocol, Protocol):
        raise DomainError("invalid_protocol", "Expected a Protocol.", field="protocol")
    _check_types(protocol)
    if not _SLUG.match(protocol.slug):
        raise _refuse(
            "invalid_slug", f"Slug {protocol.slug!r} must be lowercase words joined by hyphens.", "slug"
        )
    if protocol.version < 1:
        raise _refuse("invalid_version", f"Version {protocol.version} must be 1 or more.", "version")
    for name in ("title", "psychotherapy", "source", "reference"):
        if not getattr(protocol, name).strip():
            raise _refuse(
                "missing_title" if name == "title" else "missing_citation", f"{name} is required.", name
            )
    if protocol.indication not in INDICATIONS:
        raise _refuse(
            "unknown_indication",
            f"Indication {protocol.indication!r} is not one of {', '.join(INDICATIONS)}.",
            "indication",
        )
    if protocol.limits.max_dosing_sessions < 1:
        raise _refuse(
            "invalid_session_limits",
            "At least one dosing session must be allowed.",
            "limits.max_dosing_sessions",
        )
    if protocol.limits.min_days_between_dosing < 1:
        raise _refuse(
            "invalid_session_limits",
            f"At least one day between dosing sessions is required, got {protocol.limits.min_days_between_dosing}.",
            "limits.min_days_between_dosing",
        )
    _validate_monitoring(protocol.monitoring)
    _validate_sessions(protocol)
    _validate_day_of(protocol.day_of)
    months = protocol.follow_up_months
    if any(m < 1 or m > MAX_FOLLOW_UP_MONTHS for m in months) or list(months) != sorted(set(months)):
        raise _refuse(
            "invalid_follow_up_schedule",
            f"Follow-up months {list(months)} must be distinct, increasing and 1–{MAX_FOLLOW_UP_MONTHS}.",
            "follow_up_months",
        )
    _validate_questionnaires(protocol.questionnaires)
    if not 1 <= protocol.weight_max_age_days <= 365:
        raise _refuse(
            "invalid_weight_max_age",
            f"Weight may be at most 1–365 days old, got {protocol.weight_max_age_days}.",
            "weight_max_age_days",
        )
    _validate_liver(protocol.liver)
    _validate_outcome(protocol)
    _validate_result(protocol.published_result)
    _validate_setting(protocol)
    _validate_eligibility(protocol.eligibility)


# --- Cloning -------------------------------------------------------------------------------------

_FIXED_FIELDS = ("slug", "version")


def clone_protocol(protocol: Protocol, changes: Mapping[str, Any]) -> Protocol:
    """A new version of ``protocol`` with ``changes`` applied, validated like a shipped protocol.

    ``changes`` maps dotted paths of :func:`protocol_to_dict` to new values, e.g.
    ``{"monitoring.min_observation_min": 150, "sessions.1.dose.mg_per_kg": "0.7"}``; a path may
    name a whole sub-object or list, which is replaced whole. Guarantees: the result's version is
    ``protocol.version + 1``, its slug unchanged; unknown paths are refused (``unknown_change``),
    as are ``slug`` and ``version`` (``change_not_allowed``); the result passes
    :func:`validate_protocol` (so it stays under its own maxima, the 3.0 mg/kg ceiling and the
    60-min observation floor); a clone that changes the ``setting`` of the trial (e.g. Dakwar
    2019's inpatient stay run for outpatients) gives a new ``setting_adaptation`` saying how
    (``setting_adaptation_required``). The original is not modified.
    """
    validate_protocol(protocol)
    if not isinstance(changes, Mapping):
        raise DomainError(
            "invalid_change", "Changes must be an object of field path to value.", field="changes"
        )
    if not changes:
        raise DomainError("invalid_change", "A clone needs at least one change.", field="changes")
    data = protocol_to_dict(protocol)
    for key, value in changes.items():
        if not isinstance(key, str) or not key:
            raise DomainError("unknown_change", f"Unknown change {key!r}.", field=str(key))
        if key.split(".")[0] in _FIXED_FIELDS:
            raise DomainError(
                "change_not_allowed",
                f"{key!r} cannot be changed: a clone keeps the slug and gets the next version.",
                field=key,
            )
        node: Any = data
        segments = key.split(".")
        for depth, segment in enumerate(segments):
            last = depth == len(segments) - 1
            if isinstance(node, dict):
                if segment not in node:
                    raise DomainError("unknown_change", f"{key!r} is not a protocol field.", field=key)
                if last:
                    node[segment] = _to_json(value)
                else:
                    node = node[segment]
            elif isinstance(node, list):
                if not segment.isdigit() or int(segment) >= len(node):
                    raise DomainError("unknown_change", f"{key!r} names no item of the list.", field=key)
                if last:
                    node[int(segment)] = _to_json(value)
                else:
                    node = node[int(segment)]
            else:
                raise DomainError("unknown_change", f"{key!r} is not a protocol field.", field=key)
    data["version"] = protocol.version + 1
    cloned = protocol_from_dict(data)
    if cloned.setting != protocol.setting and (
        not cloned.setting_adaptation.strip() or cloned.setting_adaptation == protocol.setting_adaptation
    ):
        raise DomainError(
            "setting_adaptation_required",
            f"The trial ran {SETTING_LABELS[protocol.setting].lower()}; a clone that runs it "
            f"{SETTING_LABELS[cloned.setting].lower()} must say how it adapts the trial (setting_adaptation).",
            field="setting_adaptation",
        )
    return cloned


# --- Calendar ------------------------------------------------------------------------------------


def _require_date(value: object, field: str) -> date:
    # datetime is a subclass of date; a course is planned in whole days.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise DomainError("invalid_date", f"{field} must be a calendar date, got {value!r}.", field=field)
    return value


def add_months(start: date, months: int) -> date:
    """``start`` plus whole calendar months, clamped to the month's last day (Jan 31 + 1 = Feb 28/29)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def build_schedule(protocol: Protocol, start_date: date) -> list[PlannedSession]:
    """Every session of the protocol on the calendar: ``start_date`` plus its day offset, in order.

    Guarantees: one planned session per template, sorted by order; dates never before
    ``start_date``; refuses a datetime or non-date with ``invalid_date`` and an invalid protocol.
    """
    validate_protocol(protocol)
    start = _require_date(start_date, "start_date")
    return [
        PlannedSession(
            order=s.order,
            kind=s.kind,
            group=s.group,
            scheduled_date=start + timedelta(days=s.day_offset),
            title=s.title,
            duration_min=s.duration_min,
            dose=s.dose,
        )
        for s in sorted(protocol.sessions, key=lambda s: s.order)
    ]


def follow_up_dates(protocol: Protocol, last_dosing_date: date) -> list[date]:
    """Follow-up dates: each of the protocol's follow-up months after the last dosing date.

    Calendar-month arithmetic clamped to month end (a last dose on 31 January gives a 1-month
    follow-up on 28 or 29 February). Strictly increasing. Refuses a non-date (``invalid_date``).
    """
    validate_protocol(protocol)
    last = _require_date(last_dosing_date, "last_dosing_date")
    return [add_months(last, months) for months in protocol.follow_up_months]


# --- The library ---------------------------------------------------------------------------------

#: The shipped protocols, one validated data file each under ``kapstone/domain/data/protocols/``,
#: in the order of clinical.md §1. A file is the protocol exactly as :func:`protocol_to_dict`
#: writes it; every number the sources do not give is named in its ``unverified_notes``.
LIBRARY_FILES: tuple[str, ...] = (
    "kpt-alcohol-krupitsky-1997.v1.json",
    "kpt-heroin-krupitsky-2002.v1.json",
    "kpt-heroin-krupitsky-2007.v1.json",
    "ketamine-mbrp-cocaine-dakwar-2019.v1.json",
    "ketamine-met-alcohol-dakwar-2020.v1.json",
    "kare-alcohol-grabski-2022.v1.json",
)


@functools.cache
def _library() -> tuple[Protocol, ...]:
    folder = resources.files("kapstone.domain").joinpath("data", "protocols")
    return tuple(
        protocol_from_dict(json.loads(folder.joinpath(name).read_text("utf-8"))) for name in LIBRARY_FILES
    )


def protocol_library() -> tuple[Protocol, ...]:
    """Every shipped protocol (each at version 1), in the order of clinical.md §1."""
    return _library()


def get_protocol(slug: str, version: int | None = None) -> Protocol:
    """The shipped protocol ``slug`` at ``version`` (the newest when None).

    Refuses an unknown slug (``unknown_protocol``, field ``slug``) and an unknown version
    (``unknown_protocol_version``, field ``version``).
    """
    if not isinstance(slug, str):
        raise DomainError("unknown_protocol", f"Unknown protocol {slug!r}.", field="slug")
    matches = [p for p in _library() if p.slug == slug]
    if not matches:
        known = ", ".join(p.slug for p in _library())
        raise DomainError("unknown_protocol", f"Unknown protocol {slug!r}; known: {known}.", field="slug")
    if version is None:
        return max(matches, key=lambda p: p.version)
    for protocol in matches:
        if protocol.version == version and not isinstance(version, bool):
            return protocol
    raise DomainError(
        "unknown_protocol_version", f"Protocol {slug!r} has no version {version!r}.", field="version"
    )
