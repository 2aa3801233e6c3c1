"""The cohort report's plots over time: abstinence at each follow-up (Wilson intervals) and mean
questionnaire totals per time point (t intervals), exact for prescribers, suppressed below 11
for researchers; the figure dicts carry what the tables say."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st

from kapstone.domain import stats
from kapstone.outcomes.services import questionnaire_record
from kapstone.patients.services import clinic_today
from kapstone.research.cohorts import OPEN, CohortFilter, cohort_assemble
from kapstone.research.selectors import cohort_report_for_user

pytestmark = pytest.mark.django_db


def trace(figure: dict, name: str) -> dict:
    return next(t for t in figure["data"] if t["name"] == name)


def test_abstinence_at_each_follow_up_matches_the_course_outcomes(alice, bob, clinic_a, cohort_a):
    today = clinic_today(clinic_a)
    cohort = cohort_assemble(user=alice, filters=CohortFilter(), today=today)
    report = cohort_report_for_user(user=alice, filters=CohortFilter(), today=today)
    assert [g["group"] for g in report.abstinence_time] == ["control", "ketamine"]
    figure = report.abstinence_time_figure
    for series in report.abstinence_time:
        members = [o for o in cohort.outcomes if o.group == series["group"]]
        line = trace(figure, series["group"])
        assert line["x"] == [p["months"] for p in series["points"]]
        for point, y, plus, minus, n in zip(
            series["points"],
            line["y"],
            line["error_y"]["array"],
            line["error_y"]["arrayminus"],
            line["customdata"],
            strict=True,
        ):
            statuses = [dict(o.follow_up)[point["months"]] for o in members]
            assert OPEN not in statuses  # months shown have closed for the whole group
            abstinent = statuses.count("abstinent")
            wilson = stats.wilson_interval(abstinent, len(statuses))
            assert (point["n"], point["abstinent"], point["missing"]) == (
                len(statuses),
                abstinent,
                statuses.count("unknown"),
            )
            assert y == pytest.approx(wilson.proportion)
            assert y + plus == pytest.approx(wilson.ci_upper)
            assert y - minus == pytest.approx(wilson.ci_lower)
            assert n == str(len(statuses))
    # Started 200 days ago: follow-ups at 1, 3 and 6 months have closed, 12 and 24 have not.
    assert [p["months"] for p in report.abstinence_time[0]["points"]] == [1, 3, 6]
    # Every follow-up shown lies inside the drawn axis (half a month of margin each side).
    low, high = figure["layout"]["xaxis"]["range"]
    assert low < 1 and high > 6

    # The researcher: every point has a cell below 11 here, so no proportion and no line.
    suppressed = cohort_report_for_user(user=bob, filters=CohortFilter(), today=today)
    for series in suppressed.abstinence_time:
        for point in series["points"]:
            assert point["withheld"] and point["proportion"] is None
            assert point["n"] == 15 and point["abstinent"] == "<11"  # 12, rounded
            # At 6 months every course is missing (12 of 12): shown as such, n − missing would
            # give away that 0 were abstinent, so the missing count is withheld too.
            assert point["missing"] in ("<11", "withheld")
    six = [p for g in suppressed.abstinence_time for p in g["points"] if p["months"] == 6]
    assert six and all(p["missing"] == "withheld" for p in six)
    assert suppressed.abstinence_time_figure is None


def test_part_cell_withholds_a_count_whose_complement_is_small():
    from kapstone.research.selectors import part_cell

    assert part_cell(12, 12, True) == "withheld"  # the rest (0) is a small cell
    assert part_cell(5, 40, True) == "<11"
    assert part_cell(20, 40, True) == 20
    assert part_cell(12, 12, False) == 12


def _record_phq9(alice, cohort_a, *, months: int, per_arm: int, level: int) -> dict[str, list[int]]:
    totals: dict[str, list[int]] = {"control": [], "ketamine": []}
    for person, course, spec in cohort_a:
        if len(totals[spec.arm]) >= per_arm:
            continue
        answers = [(level + len(totals[spec.arm])) % 4] * 8 + [0]
        response = questionnaire_record(
            actor=alice,
            patient=person,
            instrument="phq-9",
            answers=answers,
            course=course,
            time_point_months=months,
            administered_on=course.start_date,
        )
        totals[spec.arm].append(response.total)
    return totals


def test_questionnaire_trajectories_per_group_with_t_intervals(alice, bob, clinic_a, cohort_a):
    baseline = _record_phq9(alice, cohort_a, months=0, per_arm=12, level=2)
    month_one = _record_phq9(alice, cohort_a, months=1, per_arm=5, level=0)
    today = clinic_today(clinic_a)

    report = cohort_report_for_user(user=alice, filters=CohortFilter(), today=today)
    (phq9,) = report.trajectories
    assert phq9["instrument"] == "phq-9" and phq9["groups"] == ["control", "ketamine"]
    figure = phq9["figure"]
    for index, arm in enumerate(phq9["groups"]):
        line = trace(figure, arm)
        assert line["x"] == [0, 1]
        for m, totals in ((0, baseline[arm]), (1, month_one[arm])):
            values = np.array(totals, dtype=float)
            low, high = st.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=st.sem(values))
            y = line["y"][m]
            assert y == pytest.approx(values.mean(), abs=1e-9)
            assert y + line["error_y"]["array"][m] == pytest.approx(high, abs=1e-9)
            assert y - line["error_y"]["arrayminus"][m] == pytest.approx(low, abs=1e-9)
            cell = phq9["rows"][m]["cells"][index]
            assert cell["n"] == len(values) and cell["mean"] == pytest.approx(values.mean())

    # A later re-entry of the same time point replaces the earlier one in the mean.
    person, course, _ = next(c for c in cohort_a if c[2].arm == "control")
    questionnaire_record(
        actor=alice,
        patient=person,
        instrument="phq-9",
        answers=[3] * 8 + [0],
        course=course,
        time_point_months=0,
        administered_on=course.start_date,
    )
    again = cohort_report_for_user(user=alice, filters=CohortFilter(), today=today)
    cell = again.trajectories[0]["rows"][0]["cells"][0]
    assert cell["n"] == 12
    assert cell["mean"] == pytest.approx((sum(baseline["control"]) - baseline["control"][0] + 24) / 12)

    # The researcher: 12 at baseline are drawn; 5 at month 1 are not, and n reads "<11".
    suppressed = cohort_report_for_user(user=bob, filters=CohortFilter(), today=today)
    (phq9,) = suppressed.trajectories
    for arm in phq9["groups"]:
        assert trace(phq9["figure"], arm)["x"] == [0]
    month_row = phq9["rows"][1]
    assert all(c["n"] == "<11" and c["withheld"] and c["mean"] is None for c in month_row["cells"])


def test_report_page_draws_the_new_figures(as_user, alice, cohort_a):
    _record_phq9(alice, cohort_a, months=0, per_arm=12, level=1)
    body = as_user(alice).get("/research/").content.decode()
    assert 'data-figure="abstinence-time-figure"' in body
    assert 'data-figure="trajectory-figure-phq-9"' in body
    assert 'id="trajectory-figure-phq-9"' in body
