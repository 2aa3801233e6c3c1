"""Cohort assembly and the report's statistics against kapstone.domain.stats and lifelines."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test

from kapstone.domain import stats
from kapstone.patients.services import clinic_today
from kapstone.research.cohorts import CohortFilter, cohort_assemble
from kapstone.research.selectors import cohort_report_for_user
from tests.research.conftest import expected

pytestmark = pytest.mark.django_db


def test_assembles_each_course_outcome_from_its_calendar(alice, clinic_a, cohort_a):
    cohort = cohort_assemble(user=alice, filters=CohortFilter(), today=clinic_today(clinic_a))
    by_course = {o.course_id: o for o in cohort.outcomes}
    assert len(by_course) == 24
    for _, course, spec in cohort_a:
        outcome = by_course[course.pk]
        assert outcome.anchor_date == course.start_date  # nothing dosed: anchored on the start
        assert (
            outcome.abstinence
            == {"missing": "unknown", "abstinent": "abstinent", "used": "not_abstinent"}[spec.window]
        )
        assert (outcome.relapse_time_days, int(outcome.relapse_event)) == expected(spec)
        assert outcome.group == spec.arm


def test_report_numbers_match_domain_stats_and_lifelines(alice, clinic_a, cohort_a):
    report = cohort_report_for_user(user=alice, filters=CohortFilter(), today=clinic_today(clinic_a))
    assert report.suppressed is False  # alice is a prescriber of clinic A
    assert report.groups == ["control", "ketamine"]
    for row in report.abstinence:
        specs = [s for _, _, s in cohort_a if s.arm == row["group"]]
        abstinent = sum(1 for s in specs if s.window == "abstinent")
        missing = sum(1 for s in specs if s.window == "missing")
        assert (row["n"], row["abstinent"], row["missing"]) == (12, abstinent, missing)
        wilson = stats.wilson_interval(abstinent, 12)
        assert row["proportion"] == pytest.approx(wilson.proportion, abs=1e-12)
        assert row["ci_lower"] == pytest.approx(wilson.ci_lower, abs=1e-12)
        assert row["ci_upper"] == pytest.approx(wilson.ci_upper, abs=1e-12)
    comparison = stats.compare_proportions(4, 12, 4, 12)
    assert report.comparison["risk_difference"] == pytest.approx(comparison.risk_difference)
    assert report.comparison["fisher_p"] == pytest.approx(comparison.fisher_p)

    data = {arm: [expected(s) for _, _, s in cohort_a if s.arm == arm] for arm in ("control", "ketamine")}
    for row in report.survival:
        times, events = zip(*data[row["group"]], strict=True)
        fitter = KaplanMeierFitter().fit(list(times), list(events))
        assert row["events"] == sum(events)
        if math.isinf(fitter.median_survival_time_):
            assert row["median"] is None
        else:
            assert row["median"] == pytest.approx(fitter.median_survival_time_)
        assert row["at_risk"][0] == 12
    km = report.km_figure["data"]
    control_curve = next(t for t in km if t["name"] == "control")
    fitter = KaplanMeierFitter().fit(*zip(*data["control"], strict=True))
    for x, y in zip(control_curve["x"], control_curve["y"], strict=True):
        # The drawn step just after each time equals lifelines' survival at that time.
        assert y == pytest.approx(float(fitter.survival_function_at_times(x).iloc[0]), abs=1e-12) or (
            y == pytest.approx(float(fitter.survival_function_at_times(x - 1e-9).iloc[0]), abs=1e-12)
        )
    c_times, c_events = zip(*data["control"], strict=True)
    k_times, k_events = zip(*data["ketamine"], strict=True)
    test = logrank_test(c_times, k_times, c_events, k_events)
    assert report.logrank["p"] == pytest.approx(test.p_value, abs=1e-9)
    assert report.cox["reference"] == "control" and report.cox["compared"] == "ketamine"
    assert report.cox["hazard_ratio"] < 1  # ketamine relapses less


def test_another_clinics_courses_are_never_counted(alice, bob, clinic_a, clinic_b, cohort_a, course_b):
    for user in (alice, bob):
        cohort = cohort_assemble(user=user, filters=CohortFilter(), today=clinic_today(clinic_a))
        assert len(cohort.outcomes) == 24
        assert {o.clinic_id for o in cohort.outcomes} == {clinic_a.pk}
        asked = cohort_assemble(
            user=user, filters=CohortFilter(clinic_id=clinic_b.pk), today=clinic_today(clinic_a)
        )
        assert asked.outcomes == ()


def test_filters_by_arm_substance_and_enrolment_dates(alice, clinic_a, cohort_a):
    today = clinic_today(clinic_a)
    start = cohort_a[0][1].start_date
    assert len(cohort_assemble(user=alice, filters=CohortFilter(arm="control"), today=today).outcomes) == 12
    assert cohort_assemble(user=alice, filters=CohortFilter(substance="alcohol"), today=today).outcomes == ()
    assert (
        len(cohort_assemble(user=alice, filters=CohortFilter(substance="cocaine"), today=today).outcomes)
        == 24
    )
    after = CohortFilter(enrolled_from=start + timedelta(days=1))
    assert cohort_assemble(user=alice, filters=after, today=today).outcomes == ()
    assert (
        len(cohort_assemble(user=alice, filters=CohortFilter(enrolled_to=start), today=today).outcomes) == 24
    )


def test_open_window_is_left_out_of_abstinence_not_counted_as_failure(alice, clinic_a, cohort_a):
    early = cohort_a[0][1].start_date + timedelta(days=30)
    report = cohort_report_for_user(user=alice, filters=CohortFilter(), today=early)
    assert report.open_windows == 24
    assert report.abstinence == []
    assert len(report.survival) == 2


def test_anchor_follows_the_last_given_dosing_session(alice, clinic_a, cohort_a):
    from tests.outcomes.conftest import set_last_dosing

    _, course, _ = cohort_a[0]
    # The protocol plans its only dosing session on course day 1; it was given on day 5.
    set_last_dosing(course, course.start_date + timedelta(days=5))
    cohort = cohort_assemble(user=alice, filters=CohortFilter(), today=clinic_today(clinic_a))
    outcome = next(o for o in cohort.outcomes if o.course_id == course.pk)
    assert outcome.anchored_on_dosing is True
    assert outcome.anchor_date == course.start_date + timedelta(days=4)


def test_groups_by_protocol_and_shows_the_published_result(alice, clinic_a, cohort_a):
    filters = CohortFilter(group_by="protocol")
    report = cohort_report_for_user(user=alice, filters=filters, today=clinic_today(clinic_a))
    assert report.groups == ["ketamine-mbrp-cocaine-dakwar-2019"]
    assert report.logrank is None and report.cox is None
    (published,) = report.published
    ketamine = published.arms[0]
    assert (ketamine["n"], ketamine["events"]) == (27, 13)
    wilson = stats.wilson_interval(13, 27)
    assert ketamine["ci_lower"] == pytest.approx(wilson.ci_lower)
    assert ketamine["ci_upper"] == pytest.approx(wilson.ci_upper)
