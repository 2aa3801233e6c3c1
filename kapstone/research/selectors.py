"""The cohort report: aggregate statistics of a cohort, small cells suppressed for researchers.

Everything here is aggregate: group labels (arm or protocol slug), counts, proportions,
intervals, survival estimates. No names, MRNs, ids or dates leave this module. The report read
is audited (counts and the filter only).

Small-cell rule for a viewer who is a researcher in any clinic of the cohort (prescribers and
clinic admins of every clinic in it see the exact numbers): every count below 11 is shown as
"<11"; a proportion (and its interval) is withheld when its numerator or its complement is
below 11, since n and p would give the count back; a group's Kaplan–Meier curve, median and
numbers at risk are withheld when the group has fewer than 11 patients; the two-group
comparison, log-rank and Cox results are withheld when any group's estimate is withheld.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from kapstone.accounts.access import clinic_ids_for
from kapstone.audit.services import audit_record
from kapstone.domain import stats
from kapstone.domain.errors import DomainError
from kapstone.domain.protocols import Protocol
from kapstone.research import charts
from kapstone.research.cohorts import (
    UNSUPPRESSED_ROLES,
    Cohort,
    CohortFilter,
    cohort_assemble,
)

SMALL_CELL = 11
SUPPRESSED = "<11"
#: Days at which the numbers at risk are shown under the Kaplan–Meier plot.
AT_RISK_DAYS = (0, 30, 90, 180, 365, 730)


def cell(value: int, suppress: bool) -> int | str:
    """A count as shown: "<11" for a count below 11 when suppressing."""
    return SUPPRESSED if suppress and value < SMALL_CELL else value


def suppression_applies(user, cohort: Cohort) -> bool:
    """True unless the user holds an unsuppressed role (prescriber, admin) in every clinic of
    the cohort; a researcher anywhere in it sees suppressed tables."""
    unsuppressed = set(clinic_ids_for(user, UNSUPPRESSED_ROLES))
    return not set(cohort.clinic_ids) <= unsuppressed or not cohort.clinic_ids


@dataclass(frozen=True)
class PublishedComparison:
    protocol_slug: str
    protocol_title: str
    outcome: str
    design: str
    effect: str
    source: str
    arms: list[dict[str, Any]]
    unverified_notes: tuple[str, ...]
    outcome_description: str


@dataclass
class CohortReport:
    filters: CohortFilter
    suppressed: bool
    n: int | str
    open_windows: int | str
    groups: list[str]
    abstinence: list[dict[str, Any]] = field(default_factory=list)
    comparison: dict[str, Any] | None = None
    comparison_withheld: bool = False
    survival: list[dict[str, Any]] = field(default_factory=list)
    logrank: dict[str, Any] | None = None
    cox: dict[str, Any] | None = None
    cox_note: str = ""
    at_risk_days: tuple[int, ...] = AT_RISK_DAYS
    km_figure: dict[str, Any] | None = None
    abstinence_figure: dict[str, Any] | None = None
    published: list[PublishedComparison] = field(default_factory=list)


def _published(protocol: Protocol) -> PublishedComparison:
    result = protocol.published_result
    arms = []
    for arm in (result.ketamine, result.comparator):
        row: dict[str, Any] = {"label": arm.label, "n": arm.n, "events": arm.events, "percent": arm.percent}
        if arm.n and arm.events is not None:
            estimate = stats.wilson_interval(arm.events, arm.n)
            row.update(proportion=estimate.proportion, ci_lower=estimate.ci_lower, ci_upper=estimate.ci_upper)
        arms.append(row)
    return PublishedComparison(
        protocol_slug=protocol.slug,
        protocol_title=protocol.title,
        outcome=result.outcome,
        design=result.design,
        effect=result.effect,
        source=result.source,
        arms=arms,
        unverified_notes=result.unverified_notes,
        outcome_description=protocol.outcome.description,
    )


def _abstinence(report: CohortReport, cohort: Cohort) -> None:
    closed = sorted(cohort.closed, key=lambda o: (o.group, o.course_id))
    if not closed:
        return
    summary = stats.summarise_abstinence([o.group for o in closed], [o.abstinent_itt for o in closed])
    suppress = report.suppressed
    shown = []
    for group in summary["groups"]:
        n, abstinent, missing = group["n"], group["abstinent"], group["missing"]
        withheld = suppress and (abstinent < SMALL_CELL or n - abstinent < SMALL_CELL)
        shown.append(
            {
                "group": group["group"],
                "n": cell(n, suppress),
                "abstinent": cell(abstinent, suppress),
                "not_abstinent": cell(n - abstinent, suppress),
                "missing": cell(missing, suppress),
                "withheld": withheld,
                "proportion": None if withheld else group["proportion"],
                "ci_lower": None if withheld else group["ci_lower"],
                "ci_upper": None if withheld else group["ci_upper"],
            }
        )
    report.abstinence = shown
    if summary["comparison"] is not None:
        if any(g["withheld"] for g in shown):
            report.comparison_withheld = True
        else:
            labels = [g["group"] for g in shown]
            report.comparison = {**summary["comparison"], "first": labels[0], "second": labels[1]}
    report.abstinence_figure = charts.abstinence_figure([g for g in shown if not g["withheld"]])


def _survival(report: CohortReport, cohort: Cohort) -> None:
    outcomes = sorted(cohort.outcomes, key=lambda o: (o.group, o.course_id))
    if not outcomes:
        return
    suppress = report.suppressed
    labels = list(dict.fromkeys(o.group for o in outcomes))
    curves = []
    for label in labels:
        members = [o for o in outcomes if o.group == label]
        times = [o.relapse_time_days for o in members]
        events = [1 if o.relapse_event else 0 for o in members]
        km = stats.kaplan_meier(times, events)
        withheld = suppress and km.n < SMALL_CELL
        at_risk = [sum(1 for t in times if t >= day) for day in AT_RISK_DAYS]
        report.survival.append(
            {
                "group": label,
                "n": cell(km.n, suppress),
                "events": cell(km.events, suppress),
                "withheld": withheld,
                "median": None if withheld else km.median,
                "median_ci_lower": None if withheld else km.median_ci_lower,
                "median_ci_upper": None if withheld else km.median_ci_upper,
                "at_risk": [SUPPRESSED if withheld else cell(n, suppress) for n in at_risk],
            }
        )
        if not withheld:
            curves.append({"label": label, "rows": km.rows})
    if curves:
        report.km_figure = charts.km_figure(curves)
    if len(labels) < 2 or any(g["withheld"] for g in report.survival):
        if len(labels) >= 2:
            report.cox_note = "Withheld: a group has fewer than 11 patients."
        return
    times = [o.relapse_time_days for o in outcomes]
    events = [1 if o.relapse_event else 0 for o in outcomes]
    groups = [o.group for o in outcomes]
    test = stats.logrank(times, events, groups)
    report.logrank = {"chi2": test.chi2, "df": test.df, "p": test.p}
    if len(labels) != 2:
        report.cox_note = "A hazard ratio is given for two groups only."
        return
    frame = pd.DataFrame(
        {"time": times, "event": events, "group": [1 if g == labels[1] else 0 for g in groups]}
    )
    try:
        cox = stats.cox_ph(frame, "time", "event", ["group"])
    except DomainError as error:
        report.cox_note = error.message
        return
    ratio = cox.hazard_ratios[0]
    report.cox = {
        "reference": labels[0],
        "compared": labels[1],
        "hazard_ratio": ratio.hazard_ratio,
        "ci_lower": ratio.ci_lower,
        "ci_upper": ratio.ci_upper,
        "p": ratio.p,
        "warnings": cox.warnings,
    }


def cohort_report_for_user(*, user, filters: CohortFilter, today: date) -> CohortReport:
    """The aggregate report of the cohort ``filters`` within the user's report clinics.

    Audited as a read of ``cohort_report`` with the counts and the filter (no PHI).
    """
    cohort = cohort_assemble(user=user, filters=filters, today=today)
    suppress = suppression_applies(user, cohort)
    groups = list(dict.fromkeys(sorted(o.group for o in cohort.outcomes)))
    report = CohortReport(
        filters=filters,
        suppressed=suppress,
        n=cell(len(cohort.outcomes), suppress),
        open_windows=cell(cohort.open_count, suppress),
        groups=groups,
        published=[_published(p) for _, p in sorted(cohort.protocols.items())],
    )
    _abstinence(report, cohort)
    _survival(report, cohort)
    audit_record(
        actor=user,
        action="read",
        object_type="cohort_report",
        detail={
            "courses": len(cohort.outcomes),
            "groups": len(groups),
            "suppressed": suppress,
            "filter": filters.as_detail(),
        },
    )
    return report
