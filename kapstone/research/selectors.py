"""The cohort report: aggregate statistics of a cohort, small counts protected for researchers.

Everything here is aggregate: group labels (arm or protocol slug), counts, proportions,
intervals, survival estimates. No names, MRNs, ids or dates leave this module. The report read
is audited (counts and the filter only).

Small-count rule for a viewer who is a researcher in any clinic of the cohort (prescribers and
clinic admins of every clinic in it see the exact numbers; the rule itself lives in
``small_counts``, its sources in docs/clinical-rules.md): every count below 11 is shown as
"<11" and every other count is rounded to the nearest 5 (11 and 12 as 15), so that no two
counts, in one report or in two, can be subtracted to give a small count; a proportion (and
its interval, and the two-group comparison) is withheld when its numerator or its complement
is below 11 and is otherwise computed from the rounded counts; the missing count of a row is
withheld when the rest of the row is below 11 (``part_cell``); a group's Kaplan–Meier curve,
median and numbers at risk are withheld when the group has fewer than 11 patients; a group's
curve is coarsened (``coarsened_km_rows``: drops of at least 11 relapses, ending where fewer
than 11 remain at risk) and shown to two decimals, and its median and interval are read off
that curve (``coarsened_median``); means and their intervals are shown to one decimal; the
log-rank and Cox results are withheld when any group's estimate is withheld.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from django.db.models import Count, Exists, F, OuterRef, Q, Sum

from kapstone.audit.services import audit_record
from kapstone.domain import stats
from kapstone.domain.errors import DomainError
from kapstone.domain.instruments import get_instrument
from kapstone.domain.outcomes import ABSTINENT, UNKNOWN
from kapstone.domain.protocols import Protocol
from kapstone.outcomes.models import QuestionnaireResponse
from kapstone.research import charts
from kapstone.research.cohorts import (
    NO_ARM,
    OPEN,
    Cohort,
    CohortFilter,
    cohort_assemble,
    cohort_courses,
    gc_paused,
    sees_exact_counts,
)
from kapstone.research.small_counts import (
    MEAN_DECIMALS,
    ROUNDING_BASE,
    SMALL_CELL,
    SUPPRESSED,
    SURVIVAL_DECIMALS,
    part_count,
    rounded_estimate,
    rounded_table,
    shown_count,
)
from kapstone.research.trial_comparison import FigureComparison, trial_figures

#: Instruments drawn first on the report (the rest follow by code).
TRAJECTORY_ORDER = ("phq-9", "pacs", "gad-7", "audit", "audit-c", "dast-10")
#: Days at which the numbers at risk are shown under the Kaplan–Meier plot.
AT_RISK_DAYS = (0, 30, 90, 180, 365, 730)


def cell(value: int, suppress: bool) -> int | str:
    """A count as shown: exact, or under the small-count rule when suppressing ("<11" below
    11, else rounded to the nearest 5; ``small_counts.shown_count``)."""
    return shown_count(value) if suppress else value


def part_cell(value: int, total: int, suppress: bool) -> int | str:
    """A count that is part of a shown ``total``: when suppressing, "<11" below 11, withheld
    when the rest (``total - value``) is below 11 (complementary suppression), else rounded."""
    return part_count(value, total) if suppress else value


def suppression_applies(user, cohort: Cohort) -> bool:
    """True unless the user holds an unsuppressed role (prescriber, admin) in every clinic of
    the cohort; a researcher anywhere in it sees suppressed tables."""
    return not sees_exact_counts(user, cohort.clinic_ids)


class CurvePoint(NamedTuple):
    """A step of a researcher's Kaplan–Meier curve: time, survival and its interval, rounded."""

    time: float
    survival: float
    ci_lower: float
    ci_upper: float


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
    #: The trial's figures, each with the clinic's beside it or why not (``trial_comparison``).
    figures: list[FigureComparison] = field(default_factory=list)
    #: How the clinic's relapse is counted for this protocol, in words.
    relapse_rule: str = ""


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
    km_coarsened: bool = False
    #: [{"group", "points": [{"months", "n", "abstinent", "missing", "withheld", "proportion",
    #: "ci_lower", "ci_upper"}]}]: 30-day point-prevalence abstinence at each follow-up.
    abstinence_time: list[dict[str, Any]] = field(default_factory=list)
    abstinence_time_figure: dict[str, Any] | None = None
    #: [{"instrument", "title", "figure", "rows": [{"months", "cells": [...]}]}] per instrument.
    trajectories: list[dict[str, Any]] = field(default_factory=list)
    abstinence_figure: dict[str, Any] | None = None
    published: list[PublishedComparison] = field(default_factory=list)

    @property
    def counts_rounded_to(self) -> int | None:
        """The base the shown counts are rounded to (5 for a researcher), None when exact."""
        return ROUNDING_BASE if self.suppressed else None


def relapse_rule(protocol: Protocol) -> str:
    """How relapse is counted for ``protocol``, in a clinician's words."""
    outcome = protocol.outcome
    what = "heavy drinking day" if outcome.substance == "alcohol" else "day of use"
    if outcome.relapse_from_day is None:
        start = f"after the acute phase (course day {outcome.acute_phase_end_day})"
    else:
        dosing_days = {session.day_offset for session in protocol.dosing_sessions}
        session = " (a ketamine session)" if outcome.relapse_from_day in dosing_days else ""
        start = f"after course day {outcome.relapse_from_day}{session}"
    until = "" if outcome.relapse_until_day is None else f" up to course day {outcome.relapse_until_day}"
    dropout = (
        "; a course withdrawn in that time counts as a relapse on the day it was withdrawn"
        if outcome.dropout_counts_as_relapse
        else ""
    )
    return f"Relapse: the first {what} {start}{until}{dropout}. Day 0 of the curve is course day {outcome.relapse_start_day}."


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
        relapse_rule=relapse_rule(protocol),
    )


def _abstinence(report: CohortReport, cohort: Cohort) -> None:
    counts: dict[str, list[int]] = {}
    for o in cohort.outcomes:
        if o.abstinence == OPEN:
            continue
        count = counts.setdefault(o.group, [0, 0, 0])
        count[0] += 1
        count[1] += o.abstinence == ABSTINENT
        count[2] += o.abstinence == UNKNOWN
    if not counts:
        return
    suppress = report.suppressed
    labels = sorted(counts)
    # A researcher's proportions, intervals and comparison come from the rounded counts they see
    # (abstinent and not abstinent), so that they give nothing more back; a group with a side
    # below 11 is withheld and computed from its counts only to keep the shape (not shown).
    tables = {
        g: rounded_table(counts[g][1], counts[g][0] - counts[g][1]) if suppress else None for g in labels
    }
    basis = []
    for g in labels:
        n, abstinent, missing = counts[g]
        table = tables[g]
        basis.append((g, sum(table), table[0], 0) if table is not None else (g, n, abstinent, missing))
    summary = stats.summarise_abstinence_counts(basis)
    shown = []
    for g, estimate in zip(labels, summary["groups"], strict=True):
        n, abstinent, missing = counts[g]
        withheld = suppress and tables[g] is None
        shown.append(
            {
                "group": g,
                "n": cell(n, suppress),
                "abstinent": cell(abstinent, suppress),
                "not_abstinent": cell(n - abstinent, suppress),
                "missing": part_cell(missing, n, suppress),
                "withheld": withheld,
                "proportion": None if withheld else estimate["proportion"],
                "ci_lower": None if withheld else estimate["ci_lower"],
                "ci_upper": None if withheld else estimate["ci_upper"],
            }
        )
    report.abstinence = shown
    if summary["comparison"] is not None:
        if any(g["withheld"] for g in shown):
            report.comparison_withheld = True
        else:
            report.comparison = {**summary["comparison"], "first": labels[0], "second": labels[1]}
    report.abstinence_figure = charts.abstinence_figure([g for g in shown if not g["withheld"]])


def coarsened_km_rows(rows, *, min_cell: int = SMALL_CELL) -> tuple[list, float | None]:
    """The Kaplan–Meier steps a researcher may see, and the time the curve may run to.

    Steps are merged so that every drop shown stands for at least ``min_cell`` relapses (a drop
    is shown at the step where the relapses since the last shown drop reach ``min_cell``, with
    the exact survival and interval there), and the curve ends at the last time with at least
    ``min_cell`` patients at risk. Between shown drops the curve stays flat, so a drop appears
    at the end of its block of relapses, never earlier. No single step of 1–10 relapses, and no
    stretch followed by fewer than 11 patients, can be read off the curve.
    """
    shown, pending, until = [], 0, None
    for row in rows:
        if row.at_risk < min_cell:
            break
        until = row.time
        pending += row.events
        if pending >= min_cell:
            shown.append(row)
            pending = 0
    return shown, until


def researcher_curve(rows) -> list[CurvePoint]:
    """The steps of a coarsened curve as a researcher sees them: survival and interval to two
    decimals (an exact value after a known number of relapses could give the group's size)."""
    return [
        CurvePoint(
            row.time,
            rounded_estimate(row.survival, SURVIVAL_DECIMALS),
            rounded_estimate(row.ci_lower, SURVIVAL_DECIMALS),
            rounded_estimate(row.ci_upper, SURVIVAL_DECIMALS),
        )
        for row in rows
    ]


def coarsened_median(points: list[CurvePoint]) -> tuple[float | None, float | None, float | None]:
    """The median time to relapse and its interval read off the curve a researcher sees: the
    first shown step where the curve, its lower band or its upper band is at or below one half
    (None: not reached on the curve shown). The exact median lies between two shown drops, where
    fewer than 11 relapses have happened since the last one; giving it would tell how many of
    them came before it (CMS: no cell of 1–10 may be derived from other reported information).
    """

    def first_at_or_below_half(values) -> float | None:
        return next((p.time for p, v in zip(points, values, strict=True) if v <= 0.5), None)

    return (
        first_at_or_below_half([p.survival for p in points]),
        first_at_or_below_half([p.ci_lower for p in points]),
        first_at_or_below_half([p.ci_upper for p in points]),
    )


def _cox(
    report: CohortReport, times: np.ndarray, events: np.ndarray, groups: np.ndarray, labels: list[str]
) -> None:
    """The hazard ratio of the second group against the first, only when it means something:
    both groups have at least one relapse and lifelines' fit converged without a convergence
    warning (with no events in a group the estimate runs off to 0 or infinity). Otherwise
    ``cox_note`` says why it is not shown."""
    without = [label for label in labels if not events[groups == label].any()]
    if without:
        report.cox_note = (
            f"Not shown: no relapse in {', '.join(without)}, so the hazard ratio cannot be estimated."
        )
        return
    frame = pd.DataFrame({"time": times, "event": events, "group": (groups == labels[1]).astype(int)})
    try:
        cox = stats.cox_ph(frame, "time", "event", ["group"], concordance=False)
    except DomainError as error:
        report.cox_note = f"Not shown: {error.message}"
        return
    ratio = cox.hazard_ratios[0]
    finite = all(math.isfinite(v) for v in (ratio.hazard_ratio, ratio.ci_lower, ratio.ci_upper, ratio.p))
    if not cox.converged or not finite:
        report.cox_note = (
            "Not shown: the Cox model did not converge on these data (too few relapses or groups separated)."
        )
        return
    report.cox = {
        "reference": labels[0],
        "compared": labels[1],
        "hazard_ratio": ratio.hazard_ratio,
        "ci_lower": ratio.ci_lower,
        "ci_upper": ratio.ci_upper,
        "p": ratio.p,
        "warnings": cox.warnings,
    }


def _survival(report: CohortReport, cohort: Cohort) -> None:
    outcomes = cohort.outcomes
    if not outcomes:
        return
    suppress = report.suppressed
    count = len(outcomes)
    # Columns, once: the statistics below run on arrays (100,000 patients in a cohort).
    times = np.fromiter((o.relapse_time_days for o in outcomes), dtype=np.int64, count=count)
    events = np.fromiter((o.relapse_event for o in outcomes), dtype=np.int64, count=count)
    by_dropout = np.fromiter((o.relapse_dropout for o in outcomes), dtype=bool, count=count)
    groups = np.array([o.group for o in outcomes], dtype=object)
    labels = sorted(set(groups.tolist()))
    curves = []
    for label in labels:
        member = groups == label
        group_times = times[member]
        km = stats.kaplan_meier(group_times, events[member])
        dropouts = int(np.count_nonzero(by_dropout[member]))
        withheld = suppress and km.n < SMALL_CELL
        at_risk = [int(np.count_nonzero(group_times >= day)) for day in AT_RISK_DAYS]
        median = (km.median, km.median_ci_lower, km.median_ci_upper)
        if suppress and not withheld:
            rows, until = coarsened_km_rows(km.rows)
            points = researcher_curve(rows)
            median = coarsened_median(points)
            curves.append({"label": label, "rows": points, "until": until})
        elif not suppress:
            curves.append({"label": label, "rows": km.rows})
        report.survival.append(
            {
                "group": label,
                "n": cell(km.n, suppress),
                "events": cell(km.events, suppress),
                "dropouts": part_cell(dropouts, km.events, suppress),
                "withheld": withheld,
                "median": None if withheld else median[0],
                "median_ci_lower": None if withheld else median[1],
                "median_ci_upper": None if withheld else median[2],
                "at_risk": [SUPPRESSED if withheld else cell(n, suppress) for n in at_risk],
            }
        )
    if curves:
        report.km_figure = charts.km_figure(curves)
        report.km_coarsened = suppress
    if len(labels) < 2 or any(g["withheld"] for g in report.survival):
        if len(labels) >= 2:
            report.cox_note = "Withheld: a group has fewer than 11 patients."
        return
    test = stats.logrank(times, events, groups)
    report.logrank = {"chi2": test.chi2, "df": test.df, "p": test.p}
    if len(labels) != 2:
        report.cox_note = "A hazard ratio is given for two groups only."
        return
    _cox(report, times, events, groups, labels)


def _abstinence_over_time(report: CohortReport, cohort: Cohort) -> None:
    """Per group and follow-up month: the proportion abstinent in the 30 days up to the
    follow-up (ITT: unknown counts as not abstinent and is reported as missing; a window not yet
    closed is left out), with the Wilson interval, suppressed as the abstinence table."""
    suppress = report.suppressed
    # Courses of a plan share their follow-up tuples: count the distinct ones, then expand.
    shapes = Counter((o.group, o.follow_up) for o in cohort.outcomes)
    by_group: dict[str, dict[int, Counter]] = {}
    for (group, follow_up), courses in shapes.items():
        months_counts = by_group.setdefault(group, {})
        for months, status in follow_up:
            if status != OPEN:
                months_counts.setdefault(months, Counter())[status] += courses
    series = []
    for label in sorted({o.group for o in cohort.outcomes}):
        statuses = by_group.get(label, {})
        points = []
        for months in sorted(statuses):
            values = statuses[months]
            n = sum(values.values())
            abstinent, missing = values[ABSTINENT], values[UNKNOWN]
            table = rounded_table(abstinent, n - abstinent) if suppress else None
            withheld = suppress and table is None
            # A researcher's proportion comes from the rounded counts shown beside it.
            estimate = (
                stats.wilson_interval(table[0], sum(table)) if table else stats.wilson_interval(abstinent, n)
            )
            points.append(
                {
                    "months": months,
                    "n": cell(n, suppress),
                    "abstinent": cell(abstinent, suppress),
                    "not_abstinent": cell(n - abstinent, suppress),
                    "missing": part_cell(missing, n, suppress),
                    "withheld": withheld,
                    "proportion": None if withheld else estimate.proportion,
                    "ci_lower": None if withheld else estimate.ci_lower,
                    "ci_upper": None if withheld else estimate.ci_upper,
                }
            )
        if points:
            series.append({"group": label, "points": points})
    report.abstinence_time = series
    if any(p["proportion"] is not None for g in series for p in g["points"]):
        report.abstinence_time_figure = charts.abstinence_time_figure(series)


def _latest_responses():
    """Responses that are the latest of their course, instrument and time point (administered
    on, then entered at, then id), as the wide export counts them."""
    later = QuestionnaireResponse.objects.filter(
        course_id=OuterRef("course_id"),
        instrument=OuterRef("instrument"),
        time_point_months=OuterRef("time_point_months"),
    ).filter(
        Q(administered_on__gt=OuterRef("administered_on"))
        | Q(administered_on=OuterRef("administered_on"), entered_at__gt=OuterRef("entered_at"))
        | Q(
            administered_on=OuterRef("administered_on"),
            entered_at=OuterRef("entered_at"),
            id__gt=OuterRef("id"),
        )
    )
    return QuestionnaireResponse.objects.filter(~Exists(later))


def _precision(value: float | None, decimals: int | None) -> float | None:
    return value if decimals is None else rounded_estimate(value, decimals)


def _trajectories(report: CohortReport, cohort: Cohort) -> None:
    """Per instrument, group and time point (months; 0 = baseline): the mean total with its t
    interval and n, aggregated in the database (one grouped query). For a researcher a point
    with fewer than 11 responses is not drawn and its n is shown as "<11"; other n are rounded
    and means and intervals shown to one decimal."""
    if not cohort.outcomes:
        return
    suppress = report.suppressed
    group_field = "course__protocol_slug" if cohort.filters.group_by == "protocol" else "course__arm"
    rows = (
        _latest_responses()
        .filter(course__in=cohort_courses(cohort).values("pk"), time_point_months__isnull=False)
        .values(group_field, "instrument", "time_point_months")
        .annotate(n=Count("id"), sum_total=Sum("total"), sum_squares=Sum(F("total") * F("total")))
        .order_by("instrument", group_field, "time_point_months")
    )
    by_instrument: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for row in rows:
        group = row[group_field] or NO_ARM
        estimate = stats.mean_interval(row["n"], row["sum_total"], row["sum_squares"])
        withheld = suppress and estimate.n < SMALL_CELL
        # A researcher's mean and interval to one decimal: the exact mean of whole-number scores
        # (sum / n) would give n back; at one decimal every n of a rounded count fits.
        decimals = MEAN_DECIMALS if suppress else None
        by_instrument.setdefault(row["instrument"], {}).setdefault(group, []).append(
            {
                "months": row["time_point_months"],
                "n": cell(estimate.n, suppress),
                "withheld": withheld,
                "mean": None if withheld else _precision(estimate.mean, decimals),
                "ci_lower": None if withheld else _precision(estimate.ci_lower, decimals),
                "ci_upper": None if withheld else _precision(estimate.ci_upper, decimals),
            }
        )
    order = {code: index for index, code in enumerate(TRAJECTORY_ORDER)}
    for code in sorted(by_instrument, key=lambda c: (order.get(c, len(order)), c)):
        groups = by_instrument[code]
        try:
            definition = get_instrument(code)
            title = f"{definition.name} total ({definition.total_min}–{definition.total_max})"
        except DomainError:
            title = code
        months = sorted({p["months"] for points in groups.values() for p in points})
        table = [
            {
                "months": m,
                "cells": [next((p for p in groups[g] if p["months"] == m), None) for g in sorted(groups)],
            }
            for m in months
        ]
        shown = {g: [p for p in points if p["mean"] is not None] for g, points in groups.items()}
        report.trajectories.append(
            {
                "instrument": code,
                "title": title,
                "figure_id": f"trajectory-figure-{code}",
                "groups": sorted(groups),
                "rows": table,
                "figure": charts.trajectory_figure(shown) if any(shown.values()) else None,
            }
        )


def _trial_figures(report: CohortReport, cohort: Cohort) -> None:
    """Beside each protocol's published result, the clinic's own figure where it is the same
    measure, else why not (``trial_comparison``)."""
    slugs = {o.protocol_slug for o in cohort.outcomes}
    report.published = [
        replace(
            published,
            figures=trial_figures(
                slug=published.protocol_slug,
                outcomes=cohort.outcomes,
                versions=cohort.versions,
                protocol=cohort.protocols[published.protocol_slug],
                suppress=report.suppressed,
                by_arm=cohort.filters.group_by == "arm",
                only_this_protocol=slugs == {published.protocol_slug},
                cox=report.cox,
                cox_note=report.cox_note,
            ),
        )
        for published in report.published
    ]


def _report(user, filters: CohortFilter, today: date) -> tuple[CohortReport, Cohort, list[str]]:
    cohort = cohort_assemble(user=user, filters=filters, today=today)
    suppress = suppression_applies(user, cohort)
    groups = sorted({o.group for o in cohort.outcomes})
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
    _trial_figures(report, cohort)
    _abstinence_over_time(report, cohort)
    _trajectories(report, cohort)
    return report, cohort, groups


def cohort_report_for_user(*, user, filters: CohortFilter, today: date) -> CohortReport:
    """The aggregate report of the cohort ``filters`` within the user's report clinics.

    Audited as a read of ``cohort_report`` with the counts and the filter (no PHI).
    """
    with gc_paused():
        report, cohort, groups = _report(user, filters, today)
    audit_record(
        actor=user,
        action="read",
        object_type="cohort_report",
        detail={
            "courses": len(cohort.outcomes),
            "groups": len(groups),
            "suppressed": report.suppressed,
            "filter": filters.as_detail(),
        },
    )
    return report
