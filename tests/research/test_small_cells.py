"""Small-count protection on the Kaplan–Meier curve and when the Cox hazard ratio is shown.

Synthetic cohorts are built as ``Cohort`` values (no database) and passed to the report's
survival step; the view-level tests use the hand-built cohort of ``conftest``.
"""

from __future__ import annotations

import itertools
import math
import random
from datetime import date

import pytest
from django.template.loader import render_to_string

from kapstone.domain import stats
from kapstone.research.cohorts import Cohort, CohortFilter, CourseOutcome
from kapstone.research.selectors import (
    SMALL_CELL,
    CohortReport,
    _survival,
    coarsened_km_rows,
)

REPORT = "/research/"


def outcome(index: int, group: str, time: int, event: bool) -> CourseOutcome:
    return CourseOutcome(
        course_id=index,
        patient_id=index,
        clinic_id=1,
        protocol_slug="p",
        protocol_title="P",
        arm=group,
        substance="cocaine",
        group=group,
        start_date=date(2025, 1, 1),
        anchor_date=date(2025, 1, 1),
        anchored_on_dosing=False,
        abstinence="abstinent",
        relapse_time_days=time,
        relapse_event=event,
        relapse_has_follow_up=True,
    )


def synthetic(groups: dict[str, list[tuple[int, bool]]]) -> Cohort:
    outcomes = []
    for group, data in groups.items():
        for time, event in data:
            outcomes.append(outcome(len(outcomes) + 1, group, time, event))
    return Cohort(filters=CohortFilter(), clinic_ids=(1,), outcomes=tuple(outcomes))


def survival_of(cohort: Cohort, *, suppressed: bool) -> CohortReport:
    report = CohortReport(filters=cohort.filters, suppressed=suppressed, n=0, open_windows=0, groups=[])
    _survival(report, cohort)
    return report


def random_arm(rng: random.Random, n: int, median: float) -> list[tuple[int, bool]]:
    data = []
    for _ in range(n):
        relapse = 1 + int(rng.expovariate(math.log(2) / median))
        censor = rng.randint(1, 400)
        data.append((min(relapse, censor), relapse <= censor))
    return data


def curve(figure: dict, label: str) -> tuple[list[float], list[float]]:
    trace = next(t for t in figure["data"] if t.get("name") == label)
    return trace["x"], trace["y"]


# --- the coarsened curve ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_drop_shown_stands_for_at_least_11_relapses(seed):
    rng = random.Random(seed)
    data = random_arm(rng, 150, 90)
    km = stats.kaplan_meier([t for t, _ in data], [int(e) for _, e in data])
    shown, until = coarsened_km_rows(km.rows)
    assert shown, "150 patients with ~100 relapses give drops to show"
    previous = 0.0
    for row in shown:
        # Relapses in (previous shown time, this time] — what this one drop stands for.
        relapses = sum(1 for t, e in data if e and previous < t <= row.time)
        assert relapses >= SMALL_CELL
        assert row.at_risk >= SMALL_CELL
        previous = row.time
    # The curve ends at the last time with at least 11 at risk.
    at_risk_after = [r for r in km.rows if r.time > until]
    assert all(r.at_risk < SMALL_CELL for r in at_risk_after[:1])
    assert max(r.time for r in km.rows if r.at_risk >= SMALL_CELL) == until
    # Values shown are the exact estimates at those times.
    exact = {r.time: r for r in km.rows}
    assert all(exact[r.time].survival == r.survival for r in shown)


def test_researcher_curve_is_coarsened_and_prescriber_curve_exact():
    rng = random.Random(7)
    cohort = synthetic({"control": random_arm(rng, 120, 60), "ketamine": random_arm(rng, 120, 150)})
    coarse = survival_of(cohort, suppressed=True)
    exact = survival_of(cohort, suppressed=False)
    assert coarse.km_coarsened and not exact.km_coarsened
    for label in ("control", "ketamine"):
        coarse_x, coarse_y = curve(coarse.km_figure, label)
        exact_x, exact_y = curve(exact.km_figure, label)
        coarse_levels = sorted(set(coarse_y), reverse=True)
        exact_levels = sorted(set(exact_y), reverse=True)
        assert len(coarse_levels) < len(exact_levels)
        # The exact values at the steps shown, to two decimals; fewer of them.
        assert set(coarse_levels) <= {round(y, 2) for y in exact_levels}
        members = [o for o in cohort.outcomes if o.group == label]
        km = stats.kaplan_meier(
            [o.relapse_time_days for o in members], [int(o.relapse_event) for o in members]
        )
        exact_at = {row.time: row.survival for row in km.rows}
        drops = [
            (x, y) for (x0, y0), (x, y) in itertools.pairwise(zip(coarse_x, coarse_y, strict=True)) if y < y0
        ]
        assert drops
        previous = 0.0
        for time, shown in drops:
            # Every drop on the researcher's curve: at least 11 relapses since the last one.
            relapses = sum(1 for o in members if o.relapse_event and previous < o.relapse_time_days <= time)
            assert relapses >= SMALL_CELL
            assert shown == round(exact_at[time], 2)
            previous = time
        # The researcher's curve stops where fewer than 11 remain at risk; the exact one runs on.
        assert max(coarse_x) < max(exact_x)


def test_group_with_fewer_than_11_relapses_shows_a_flat_curve_to_the_researcher():
    cohort = synthetic(
        {
            "a": [(10 * i, i % 3 == 0) for i in range(1, 31)],  # 10 relapses
            "b": [(5 * i, i % 2 == 0) for i in range(1, 61)],  # 30 relapses
        }
    )
    report = survival_of(cohort, suppressed=True)
    _, flat = curve(report.km_figure, "a")
    assert set(flat) == {1.0}
    _, dropping = curve(report.km_figure, "b")
    # Drops after the 11th and the 22nd relapse; the 3 relapses while 11+ are still at risk after
    # that are not shown, and the curve ends when 10 remain (day 255).
    assert len(set(dropping)) == 3
    x, _ = curve(report.km_figure, "b")
    assert max(x) == 250
    assert [row["events"] for row in report.survival] == ["<11", 30]


# --- the Cox hazard ratio ----------------------------------------------------------------------


def test_cox_not_shown_when_a_group_has_no_relapse():
    cohort = synthetic(
        {"control": [(i, i % 2 == 0) for i in range(1, 25)], "ketamine": [(i, False) for i in range(1, 25)]}
    )
    report = survival_of(cohort, suppressed=False)
    assert report.cox is None
    assert "no relapse in ketamine" in report.cox_note
    assert report.logrank is not None  # the log-rank test is still defined


def test_cox_not_shown_when_the_fit_does_not_converge():
    # Every relapse in "a" happens while all of "b" is at risk, and b's one relapse comes when
    # only b is left: the partial likelihood has no maximum (the estimate runs off to infinity).
    cohort = synthetic(
        {
            "a": [(i, True) for i in range(1, 13)],
            "b": [(100, True)] + [(200, False)] * 11,
        }
    )
    report = survival_of(cohort, suppressed=False)
    assert report.cox is None
    assert report.cox_note.startswith("Not shown")


def test_cox_shown_when_both_groups_relapse_and_the_fit_converges():
    rng = random.Random(11)
    cohort = synthetic({"control": random_arm(rng, 60, 60), "ketamine": random_arm(rng, 60, 150)})
    report = survival_of(cohort, suppressed=False)
    assert report.cox is not None and report.cox_note == ""
    assert math.isfinite(report.cox["hazard_ratio"]) and report.cox["ci_lower"] < report.cox["ci_upper"]


def test_cox_result_reports_lifelines_convergence_warnings():
    import pandas as pd

    frame = pd.DataFrame(
        {
            "time": [*range(1, 13), 100, *[200] * 11],
            "event": [1] * 13 + [0] * 11,
            "group": [0] * 12 + [1] * 12,
        }
    )
    result = stats.cox_ph(frame, "time", "event", ["group"])
    assert result.converged is False
    assert result.hazard_ratios[0].hazard_ratio < 1e-6  # the estimate ran off towards 0
    assert any("separation" in w for w in result.warnings)


# --- the median a researcher sees ---------------------------------------------------------------


def test_researcher_median_is_read_off_the_coarsened_curve():
    """One relapse a day on days 1–40 among 61 patients (the rest censored on day 100): the exact
    median is day 31 (31 of 61 relapsed), inside the block of relapses 23–33 that the coarsened
    curve shows as one drop on day 33. The researcher is shown day 33, where the curve drawn
    falls below one half; the prescriber day 31."""
    data = [(day, True) for day in range(1, 41)] + [(100, False)] * 21
    cohort = synthetic({"a": data})
    km = stats.kaplan_meier([t for t, _ in data], [int(e) for _, e in data])
    assert km.median == 31

    exact = survival_of(cohort, suppressed=False).survival[0]
    assert (exact["median"], exact["median_ci_lower"], exact["median_ci_upper"]) == (
        km.median,
        km.median_ci_lower,
        km.median_ci_upper,
    )

    report = survival_of(cohort, suppressed=True)
    (shown,) = report.survival
    x, y = curve(report.km_figure, "a")
    drops = {t: s for (t0, s0), (t, s) in itertools.pairwise(zip(x, y, strict=True)) if s < s0}
    assert list(drops) == [11, 22, 33]
    assert shown["median"] == 33 and drops[33] <= 0.5 < drops[22]
    # Its interval: where the drawn bands reach one half, also at steps of the drawn curve.
    band = next(t for t in report.km_figure["data"] if t["name"] == "a 95% CI")
    for bound in (shown["median_ci_lower"], shown["median_ci_upper"]):
        assert bound is None or bound in drops
    lower_band = dict(zip(band["x"][len(x) :][::-1], band["y"][len(x) :][::-1], strict=True))
    assert lower_band[shown["median_ci_lower"]] <= 0.5
    assert shown["median_ci_lower"] <= shown["median"]
    assert shown["median_ci_lower"] >= km.median_ci_lower  # never earlier than the exact bound


def test_researcher_median_not_reached_on_the_curve_shown():
    """The curve crosses one half within a block of fewer than 11 relapses that is never shown:
    the median is "not reached" on the researcher's curve, while the exact median exists."""
    # 31 patients, relapses on days 1–20, 11 censored on day 200: one half is crossed on day 16
    # (16 relapsed); the curve shown drops once (day 11, 11 relapses) and the 9 relapses after
    # it never make a block of 11, so it stays at 20/31 to day 200 (11 still at risk there).
    data = [(day, True) for day in range(1, 21)] + [(200, False)] * 11
    cohort = synthetic({"a": data})
    exact = survival_of(cohort, suppressed=False).survival[0]
    assert exact["median"] == 16
    report = survival_of(cohort, suppressed=True)
    shown = report.survival[0]
    assert shown["median"] is None and shown["median_ci_upper"] is None
    x, y = curve(report.km_figure, "a")
    assert max(x) == 200 and min(y) == round(20 / 31, 2)
    assert "not reached on the curve shown" in render_to_string(
        "research/report.html", {"report": report, "form": None}
    )
