"""Session monitoring rules: vital signs, alerts, the check schedule, discharge and the dependence watch.

Everything here is a pure function of its arguments (no clock, no database): the ``monitoring``
and ``safety`` apps store observations, alert episodes and reviews, and call these functions to
decide what to store next.

Sources (see /work/shared/reference/clinical.md §3 and software.md §2, §8.1):

- Spravato (esketamine) label and REMS: BP before dosing and about 40 min after, when the rise
  peaks; a rise of ≥ 40 mmHg systolic and/or ≥ 25 mmHg diastolic; SBP ≥ 180 / DBP ≥ 110 reported
  as outliers (label Table 6); pulse oximetry at each session; any fall in MOAA/S from the
  pre-dose score is sedation, MOAA/S 0 is loss of consciousness; observe for at least 2 hours;
  no driving until the next day; the REMS "when would this patient have been ready to leave?"
  question.
- APA consensus (Sanacora 2017): continuous respiratory, cardiovascular and mental-status
  assessment; it gives no numeric thresholds, so the hypertension warning, tachycardia,
  bradycardia, hypoxemia warning and bradypnea limits below are protocol practice (parameters).
- Emory series: BP every 10 min during and every 15 min after a 40-min infusion.
- ASRA/AAPM/ASA 2018 (Cohen et al.): serial infusions should not be given to patients with an
  active substance abuse problem; monitor for abuse with universal precautions.
- Modified Aldrete ≥ 9 for discharge; its circulation item compares BP with ±20 % of baseline.
- LOINC vital-sign codes and UCUM units: FHIR R4 vital-signs value set (software.md §8.1).

The rules live in one module per concept: ``observations`` (the observation catalogue, review
and baseline), ``alerts`` (thresholds, rules, episodes, escalation), ``schedule`` (due and
overdue checks), ``peak`` (the BP-peak check by route and PK model), ``discharge``, ``corrections`` (the alert state after a value entered in error)
and ``dependence`` (the misuse watch). Their public names are
re-exported here, so callers write ``from kapstone.domain import monitoring as rules``.
"""

from __future__ import annotations

from kapstone.domain.monitoring._common import (
    CRITICAL,
    SEVERITIES,
    STATUS_DONE,
    STATUS_DUE,
    STATUS_OVERDUE,
    WARNING,
)
from kapstone.domain.monitoring.alerts import (
    ALERT_RULES,
    DEFAULT_THRESHOLDS,
    AlertEvaluation,
    AlertRule,
    AlertThresholds,
    EpisodeEnd,
    EpisodeUpgrade,
    OpenEpisode,
    RaisedAlert,
    escalation_due,
    evaluate_vitals,
)
from kapstone.domain.monitoring.corrections import (
    ENTERED_IN_ERROR_NOTE,
    FAMILY_CODES,
    reevaluate_after_void,
)
from kapstone.domain.monitoring.dependence import (
    CravingScore,
    DependenceFlag,
    DependenceReview,
    DependenceThresholds,
    DoseRecord,
    evaluate_dependence,
)
from kapstone.domain.monitoring.discharge import (
    ALDRETE_DISCHARGE_MIN,
    CADSS_MAX_TOTAL,
    DISCHARGE_CRITERIA,
    DISSOCIATION_BY_ATTESTATION,
    DISSOCIATION_BY_CADSS,
    CadssTotal,
    CriticalAlertPeriod,
    DischargeCriterion,
    DischargeCriterionRule,
    DischargeEvaluation,
    DissociationCheck,
    evaluate_discharge,
    title_for,
)
from kapstone.domain.monitoring.observations import (
    NOTHING_SAVED,
    OBSERVATION_DEFINITIONS,
    VITAL_SIGNS,
    Observation,
    ObservationDefinition,
    ObservationReview,
    derive_baseline,
    lookup_observation_definition,
    review_observations,
    validate_observations,
)
from kapstone.domain.monitoring.peak import PeakCheck, bp_peak_check
from kapstone.domain.monitoring.schedule import (
    DueCheck,
    MonitoringProtocol,
    due_checks,
    evaluate_overdue,
)

__all__ = [
    "ALDRETE_DISCHARGE_MIN",
    "ALERT_RULES",
    "CADSS_MAX_TOTAL",
    "CRITICAL",
    "DEFAULT_THRESHOLDS",
    "DISCHARGE_CRITERIA",
    "DISSOCIATION_BY_ATTESTATION",
    "DISSOCIATION_BY_CADSS",
    "ENTERED_IN_ERROR_NOTE",
    "FAMILY_CODES",
    "NOTHING_SAVED",
    "OBSERVATION_DEFINITIONS",
    "SEVERITIES",
    "STATUS_DONE",
    "STATUS_DUE",
    "STATUS_OVERDUE",
    "VITAL_SIGNS",
    "WARNING",
    "AlertEvaluation",
    "AlertRule",
    "AlertThresholds",
    "CadssTotal",
    "CravingScore",
    "CriticalAlertPeriod",
    "DependenceFlag",
    "DependenceReview",
    "DependenceThresholds",
    "DischargeCriterion",
    "DischargeCriterionRule",
    "DischargeEvaluation",
    "DissociationCheck",
    "DoseRecord",
    "DueCheck",
    "EpisodeEnd",
    "EpisodeUpgrade",
    "MonitoringProtocol",
    "Observation",
    "ObservationDefinition",
    "ObservationReview",
    "OpenEpisode",
    "PeakCheck",
    "RaisedAlert",
    "bp_peak_check",
    "derive_baseline",
    "due_checks",
    "escalation_due",
    "evaluate_dependence",
    "evaluate_discharge",
    "evaluate_overdue",
    "evaluate_vitals",
    "lookup_observation_definition",
    "reevaluate_after_void",
    "review_observations",
    "title_for",
    "validate_observations",
]
