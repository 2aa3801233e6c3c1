"""Each protocol's published trial figures beside the clinic's own, only where they are the same
measure (issue 14; docs/clinical-rules.md, "Outcomes comparable with each trial").

For every figure the trial published (each arm's figure of the protocol's primary outcome, and
each effect estimate such as KARE's difference in percent days abstinent or Dakwar 2019's
hazard ratio of relapse or dropout), the report shows the clinic's figure computed the same way,
or says in words why there is none:

- the clinic's version of the protocol measures the outcome differently from the trial's
  (another window, relapse window, dropout rule, heavy-day threshold or substance);
- the trial's figure comes from a model the report does not fit (Dakwar 2020's mixed-effects
  model of daily abstinence; an odds ratio that is not the plain one of the published counts);
- the trial published no figure that could be checked;
- a comparison between groups needs exactly two groups of this protocol's courses, grouped by
  arm (the trial compares two randomised groups);
- the hazard ratio is worked out over the whole cohort, so the cohort must hold this protocol's
  courses only;
- no course has a closed outcome window yet, or the small-count rule withholds the figure.

Small counts (``small_counts``): for a researcher every count is shown under the rule,
proportions and odds ratios come from the rounded counts, and a group with fewer than 11
patients on either side (or fewer than 11 with a percent days abstinent) is withheld, with the
comparisons that need it; means and differences are shown to one decimal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kapstone.domain import stats
from kapstone.domain.errors import DomainError
from kapstone.domain.outcomes import ABSTINENT, UNKNOWN
from kapstone.domain.protocols import (
    EffectEstimate,
    OutcomeDefinition,
    Protocol,
    get_protocol,
)
from kapstone.research.calendar_aggregates import OPEN
from kapstone.research.small_counts import (
    MEAN_DECIMALS,
    SMALL_CELL,
    part_count,
    rounded_estimate,
    rounded_table,
    shown_count,
)


@dataclass(frozen=True)
class FigureComparison:
    """One published figure and the clinic's beside it.

    ``groups``: the clinic's figure per group ({"group", "n", "value", "withheld"}), for a
    figure per arm; ``clinic``: the clinic's comparison in words, for an effect estimate;
    ``values``: the clinic's numbers as computed (None when withheld), for the tests and the
    export of the report. ``why`` says, when ``comparable`` is False, why no figure is shown.
    """

    measure: str
    trial: str
    comparable: bool
    why: str = ""
    groups: tuple[dict[str, Any], ...] = ()
    clinic: str = ""
    values: dict[str, Any] = field(default_factory=dict)


def trial_protocol(protocol: Protocol) -> Protocol:
    """The protocol as the trial ran it: the shipped version of its slug (a clinic's version
    keeps the slug), else the protocol itself."""
    try:
        return get_protocol(protocol.slug, 1)
    except DomainError:
        return protocol


def _days(day: int | None) -> str:
    return "no end" if day is None else f"course day {day}"


def outcome_differences(trial: OutcomeDefinition, clinic: OutcomeDefinition, measure: str) -> list[str]:
    """What the clinic's version measures differently from the trial for ``measure``, in words
    (empty: the same measure)."""
    found = []
    if trial.substance != clinic.substance:
        found.append(f"the substance (the trial: {trial.substance}; here: {clinic.substance})")
    if measure in ("abstinence", "percent_days_abstinent", "daily_abstinence") and (
        trial.window_days,
        trial.window_ends_day,
    ) != (clinic.window_days, clinic.window_ends_day):
        found.append(
            f"the outcome window (the trial: {trial.window_days} days ending on course day "
            f"{trial.window_ends_day}; here: {clinic.window_days} days ending on course day "
            f"{clinic.window_ends_day})"
        )
    if measure == "relapse":
        if (trial.relapse_start_day, trial.relapse_until_day) != (
            clinic.relapse_start_day,
            clinic.relapse_until_day,
        ):
            found.append(
                f"when relapse is counted (the trial: after course day {trial.relapse_start_day} "
                f"until {_days(trial.relapse_until_day)}; here: after course day "
                f"{clinic.relapse_start_day} until {_days(clinic.relapse_until_day)})"
            )
        if trial.dropout_counts_as_relapse != clinic.dropout_counts_as_relapse:
            counted = {True: "counted as relapse", False: "not counted as relapse"}
            found.append(
                f"dropout (the trial: {counted[trial.dropout_counts_as_relapse]}; "
                f"here: {counted[clinic.dropout_counts_as_relapse]})"
            )
        if (trial.heavy_day_min_drinks_men, trial.heavy_day_min_drinks_women) != (
            clinic.heavy_day_min_drinks_men,
            clinic.heavy_day_min_drinks_women,
        ):
            found.append("the heavy drinking day threshold")
    return found


def _number(value: Decimal | float | None, decimals: int = 1) -> str:
    if value is None:
        return "–"
    return f"{float(value):.{decimals}f}"


def _trial_arms(protocol: Protocol) -> str:
    parts = []
    for arm in (protocol.published_result.ketamine, protocol.published_result.comparator):
        if arm.percent is None and arm.events is None:
            continue
        text = f"{arm.label}: "
        text += f"{arm.percent}%" if arm.percent is not None else "–"
        if arm.events is not None and arm.n:
            text += f" ({arm.events} of {arm.n})"
        parts.append(text)
    return "; ".join(parts)


def _trial_estimate(estimate: EffectEstimate) -> str:
    text = f"{estimate.compared}: {estimate.statistic_label.lower()} "
    value = f"{estimate.value:+}" if estimate.statistic == "difference" else f"{estimate.value}"
    text += value
    if estimate.ci_lower is not None:
        text += f" (95% CI {estimate.ci_lower} to {estimate.ci_upper})"
    return text


class _Groups:
    """The clinic's courses of one protocol with a closed outcome window, by group."""

    def __init__(self, outcomes, suppress: bool):
        self.suppress = suppress
        self.by_group: dict[str, list] = {}
        for o in outcomes:
            self.by_group.setdefault(o.group, []).append(o)
        self.labels = sorted(self.by_group)

    def closed(self, label: str) -> list:
        return [o for o in self.by_group[label] if o.abstinence != OPEN]

    def pair(self) -> tuple[str, str] | None:
        """(compared, reference) of two groups: the one whose label names ketamine against the
        other, else the second against the first (as the report's hazard ratio)."""
        if len(self.labels) != 2:
            return None
        first, second = self.labels
        if "ketamine" in first.lower() and "ketamine" not in second.lower():
            return first, second
        return second, first

    def count(self, value: int) -> int | str:
        return shown_count(value) if self.suppress else value

    def abstinence(self, label: str) -> tuple[dict[str, Any], tuple[int, int] | None]:
        """A group's ITT abstinence (unknown counts as not abstinent) and the (abstinent, not)
        counts its figures come from (rounded for a researcher; None when withheld)."""
        closed = self.closed(label)
        n = len(closed)
        abstinent = sum(1 for o in closed if o.abstinence == ABSTINENT)
        missing = sum(1 for o in closed if o.abstinence == UNKNOWN)
        table = rounded_table(abstinent, n - abstinent) if self.suppress else (abstinent, n - abstinent)
        withheld = table is None or sum(table) == 0
        proportion = None if withheld else table[0] / sum(table)
        row = {
            "group": label,
            "n": self.count(n),
            "with_outcome": self.count(abstinent),
            "missing": part_count(missing, n) if self.suppress else missing,
            "withheld": withheld,
            "value": "withheld (small numbers)" if withheld else f"{100 * proportion:.1f}%",
            "proportion": proportion,
        }
        return row, None if withheld else table

    def pda(self, label: str) -> tuple[dict[str, Any], tuple[int, float, float] | None]:
        """A group's mean percent days abstinent over the courses with a day reported in the
        window, and its (n, sum, sum of squares) for a difference (None when withheld)."""
        values = [o.percent_days_abstinent for o in self.closed(label)]
        known = [v for v in values if v is not None]
        n = len(known)
        withheld = n == 0 or (self.suppress and n < SMALL_CELL)
        estimate = None if withheld else stats.mean_interval(n, sum(known), sum(v * v for v in known))
        decimals = MEAN_DECIMALS if self.suppress else None

        def shown(value):
            return value if decimals is None else rounded_estimate(value, decimals)

        mean = None if estimate is None else shown(estimate.mean)
        text = "withheld (small numbers)" if withheld else f"{mean:.1f}%"
        if estimate is not None and estimate.ci_lower is not None:
            text += f" (95% CI {shown(estimate.ci_lower):.1f} to {shown(estimate.ci_upper):.1f})"
        row = {
            "group": label,
            "n": self.count(n),
            "no_day_reported": (
                part_count(len(values) - n, len(values)) if self.suppress else len(values) - n
            ),
            "withheld": withheld,
            "value": text,
            "mean": mean,
        }
        return row, None if withheld else (n, sum(known), sum(v * v for v in known))


def _not(measure: str, trial: str, why: str) -> FigureComparison:
    return FigureComparison(measure=measure, trial=trial, comparable=False, why=why)


def _arm_figure(trial: Protocol, groups: _Groups, differs: list[str]) -> FigureComparison:
    outcome = trial.outcome
    measure = outcome.kind_label
    text = _trial_arms(trial)
    if not text:
        return _not(
            measure,
            "No figure per group published",
            "The trial did not publish a figure per group for this measure that could be checked "
            "(see the source), so there is nothing to set the clinic's figure beside.",
        )
    if outcome.kind not in ("abstinence", "percent_days_abstinent"):
        return _not(
            measure,
            text,
            "The trial's figure comes from a statistical model of daily abstinence that this "
            "report does not fit, so the clinic's figures are not the same measure.",
        )
    if differs:
        return _not(measure, text, _differs_text(differs))
    rows = []
    for label in groups.labels:
        if not groups.closed(label):
            continue
        row, _ = groups.abstinence(label) if outcome.kind == "abstinence" else groups.pda(label)
        rows.append(row)
    if not rows:
        return _not(measure, text, "No course of this protocol has a closed outcome window yet.")
    key = "proportion" if outcome.kind == "abstinence" else "mean"
    return FigureComparison(
        measure=measure,
        trial=text,
        comparable=True,
        groups=tuple(rows),
        values={r["group"]: r[key] for r in rows},
    )


def _differs_text(differs: list[str]) -> str:
    return (
        "This clinic's version of the protocol measures the outcome differently from the trial: "
        + "; ".join(differs)
        + ". Its figure is not the trial's measure, so it is not set beside it."
    )


def _estimate_figure(
    estimate: EffectEstimate,
    groups: _Groups,
    differs: list[str],
    *,
    by_arm: bool,
    only_this_protocol: bool,
    cox: dict[str, Any] | None,
    cox_note: str,
) -> FigureComparison:
    measure = f"{estimate.statistic_label} of {estimate.measure.replace('_', ' ')}"
    measure = {
        "percent_days_abstinent": f"{estimate.statistic_label}: percentage of days abstinent",
        "abstinence": f"{estimate.statistic_label}: abstinence over the outcome window",
        "relapse": f"{estimate.statistic_label}: relapse",
    }.get(estimate.measure, measure)
    trial = _trial_estimate(estimate)
    if estimate.model:
        return _not(
            measure,
            trial,
            f"The trial's figure comes from a statistical model, not the plain comparison of its "
            f"groups ({estimate.model.rstrip('.')}). The clinic's plain figure would not be the "
            f"same measure.",
        )
    if differs:
        return _not(measure, trial, _differs_text(differs))
    pair = groups.pair()
    if not by_arm or pair is None:
        count = len(groups.labels)
        return _not(
            measure,
            trial,
            f"The trial compares two groups ({estimate.compared}). This cohort has {count} "
            f"group{'s' if count != 1 else ''} of this protocol"
            + ("" if by_arm else " and is grouped by protocol, not by arm")
            + ": group it by arm with exactly two arms to compare.",
        )
    compared, reference = pair
    words = f"{compared} vs {reference}"
    small = (
        "withheld: a group has fewer than 11 patients on one side (small numbers)."
        if groups.suppress
        else "not available: a group has no course with a closed outcome window yet."
    )
    if estimate.statistic == "hazard_ratio":
        if not only_this_protocol:
            return _not(
                measure,
                trial,
                "The hazard ratio is worked out over the whole cohort, which holds other protocols' "
                "courses: choose this protocol alone to compare.",
            )
        if cox is None:
            return _not(measure, trial, cox_note or "No hazard ratio could be estimated.")
        ratio, low, high = cox["hazard_ratio"], cox["ci_lower"], cox["ci_upper"]
        if cox["compared"] != compared:
            ratio, low, high = 1 / ratio, 1 / high, 1 / low
        return FigureComparison(
            measure=measure,
            trial=trial,
            comparable=True,
            clinic=f"{words}: hazard ratio {ratio:.2f} (95% CI {low:.2f} to {high:.2f})",
            values={"value": ratio, "ci_lower": low, "ci_upper": high},
        )
    if estimate.measure == "percent_days_abstinent":
        (_, a), (_, b) = groups.pda(compared), groups.pda(reference)
        if a is None or b is None:
            return _not(measure, trial, f"The clinic's difference is {small}")
        result = stats.mean_difference(a, b)
        if result is None:
            return _not(measure, trial, "Too few courses with days reported to give an interval.")
        values = [result.difference, result.ci_lower, result.ci_upper]
        if groups.suppress:
            values = [rounded_estimate(v, MEAN_DECIMALS) for v in values]
        difference, low, high = values
        return FigureComparison(
            measure=measure,
            trial=trial,
            comparable=True,
            groups=(groups.pda(compared)[0], groups.pda(reference)[0]),
            clinic=f"{words}: {difference:+.1f} points (95% CI {low:.1f} to {high:.1f})",
            values={"value": difference, "ci_lower": low, "ci_upper": high},
        )
    (_, a), (_, b) = groups.abstinence(compared), groups.abstinence(reference)
    if a is None or b is None:
        return _not(measure, trial, f"The clinic's figure is {small}")
    if estimate.statistic == "difference":
        difference = 100 * (a[0] / sum(a) - b[0] / sum(b))
        return FigureComparison(
            measure=measure,
            trial=trial,
            comparable=True,
            clinic=f"{words}: {difference:+.1f} points",
            values={"value": difference, "ci_lower": None, "ci_upper": None},
        )
    interval = stats.odds_ratio_interval(a[0], sum(a), b[0], sum(b))
    if interval is None:
        return _not(measure, trial, "A group has no patient on one side: the odds ratio is not defined.")
    ratio, low, high = interval
    return FigureComparison(
        measure=measure,
        trial=trial,
        comparable=True,
        clinic=f"{words}: odds ratio {ratio:.2f} (95% CI {low:.2f} to {high:.2f})",
        values={"value": ratio, "ci_lower": low, "ci_upper": high},
    )


def trial_figures(
    *,
    slug: str,
    outcomes,
    versions: dict[tuple[str, int], Protocol],
    protocol: Protocol,
    suppress: bool,
    by_arm: bool,
    only_this_protocol: bool,
    cox: dict[str, Any] | None,
    cox_note: str,
) -> list[FigureComparison]:
    """The trial's figures of protocol ``slug`` with the clinic's beside each, or why not.

    ``outcomes``: the cohort's courses of this protocol; ``versions``: the protocols their
    outcomes were derived with, by (slug, version); ``cox``/``cox_note``: the report's hazard
    ratio of the whole cohort (used only when it holds this protocol alone)."""
    trial = trial_protocol(protocol)
    outcomes = [o for o in outcomes if o.protocol_slug == slug]
    groups = _Groups(outcomes, suppress)
    clinic_outcomes = {versions.get((slug, o.protocol_version), protocol).outcome for o in outcomes}
    clinic_outcomes = clinic_outcomes or {protocol.outcome}

    def differs(measure: str) -> list[str]:
        found: list[str] = []
        for clinic in sorted(clinic_outcomes, key=repr):
            for text in outcome_differences(trial.outcome, clinic, measure):
                if text not in found:
                    found.append(text)
        return found

    figures = [_arm_figure(trial, groups, differs(trial.outcome.kind))]
    for estimate in trial.published_result.estimates:
        figures.append(
            _estimate_figure(
                estimate,
                groups,
                differs(estimate.measure),
                by_arm=by_arm,
                only_this_protocol=only_this_protocol,
                cox=cox,
                cox_note=cox_note,
            )
        )
    return figures
