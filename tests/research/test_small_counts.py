"""The small-count rule for researchers (issue 15): counts rounded to the nearest 5 above "<11",
no two counts that pin a small difference, proportions and comparisons from the rounded counts,
means to one decimal, and enrolment filtered by calendar quarter only (day-precision input
refused with ``enrolment_quarter_only``, the input kept, nothing written). Prescribers and
clinic admins see exact counts and may filter by day. The attack over whole reports is
``test_differencing.py``; the median rule is in ``test_small_cells.py``."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from kapstone.accounts.models import Role
from kapstone.accounts.services import membership_set
from kapstone.audit.models import AuditEvent, Disclosure
from kapstone.domain import stats
from kapstone.patients.services import clinic_today
from kapstone.research.cohorts import Cohort, CohortFilter, CourseOutcome
from kapstone.research.models import CourseOutcomeSummary
from kapstone.research.selectors import (
    CohortReport,
    _abstinence,
    _abstinence_over_time,
    cohort_report_for_user,
)
from kapstone.research.small_counts import (
    count_range,
    is_quarter_first_day,
    is_quarter_last_day,
    quarter_first_day,
    quarter_last_day,
    shown_count,
)

#: The stable code of a day-precision enrolment date from a researcher (a contract).
QUARTER_ONLY = "enrolment_quarter_only"
REPORT = "/research/"
LONG = "/research/export/long.csv"


# --- the rule ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (0, "<11"),
        (1, "<11"),
        (10, "<11"),
        (11, 15),
        (12, 15),
        (13, 15),
        (17, 15),
        (18, 20),
        (22, 20),
        (23, 25),
        (80, 80),
        (87, 85),
        (88, 90),
        (1002, 1000),
        (1003, 1005),
    ],
)
def test_counts_under_11_read_less_than_11_and_the_rest_round_to_5(count, shown):
    assert shown_count(count) == shown


def test_count_range_is_what_a_shown_count_stands_for():
    for count in range(0, 2000):
        low, high = count_range(shown_count(count))
        assert low <= count <= high
    assert count_range("<11") == (0, 10)
    assert count_range(15) == (11, 17)
    assert count_range(85) == (83, 87)
    with pytest.raises(ValueError):
        count_range(87)  # never shown: not a multiple of 5


def test_rounding_never_goes_down_as_a_count_goes_up():
    shown = [shown_count(n) for n in range(11, 500)]
    assert shown == sorted(shown)


def test_no_two_shown_counts_pin_a_difference_of_1_to_10():
    """Every pair of nested counts (bigger ⊇ smaller, the difference also shown): what a reader
    can work out of the difference from the three shown values never narrows to one value from
    1 to 10, even when told that the difference is not empty."""
    for smaller in range(0, 400):
        for gap in range(1, 11):
            bigger = smaller + gap
            low_big, high_big = count_range(shown_count(bigger))
            low_small, high_small = count_range(shown_count(smaller))
            low_gap, high_gap = count_range(shown_count(gap))
            low = max(low_big - high_small, 1, low_gap)
            high = min(high_big - low_small, high_gap)
            assert low < high, (bigger, smaller)


def test_calendar_quarters():
    day, firsts, lasts = date(2024, 1, 1), [], []
    while day.year == 2024:
        if is_quarter_first_day(day):
            firsts.append(day)
        if is_quarter_last_day(day):
            lasts.append(day)
        assert quarter_first_day(day) <= day <= quarter_last_day(day)
        day += timedelta(days=1)
    assert firsts == [date(2024, 1, 1), date(2024, 4, 1), date(2024, 7, 1), date(2024, 10, 1)]
    assert lasts == [date(2024, 3, 31), date(2024, 6, 30), date(2024, 9, 30), date(2024, 12, 31)]


# --- proportions and comparisons from the rounded counts --------------------------------------


def outcome(index: int, group: str, abstinence: str, follow_up=()) -> CourseOutcome:
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
        abstinence=abstinence,
        relapse_time_days=10,
        relapse_event=False,
        relapse_has_follow_up=True,
        follow_up=follow_up,
    )


def synthetic(spec: dict[str, tuple[int, int, int]]) -> Cohort:
    """{group: (abstinent, not abstinent, missing)} → a cohort; each course has the same status
    at its 1-month follow-up as in its outcome window."""
    outcomes = []
    for group, (abstinent, not_abstinent, missing) in spec.items():
        for status, count in (
            ("abstinent", abstinent),
            ("not_abstinent", not_abstinent),
            ("unknown", missing),
        ):
            for _ in range(count):
                outcomes.append(outcome(len(outcomes) + 1, group, status, ((1, status),)))
    return Cohort(filters=CohortFilter(), clinic_ids=(1,), outcomes=tuple(outcomes))


def tables_of(cohort: Cohort, *, suppressed: bool) -> CohortReport:
    report = CohortReport(filters=cohort.filters, suppressed=suppressed, n=0, open_windows=0, groups=[])
    _abstinence(report, cohort)
    _abstinence_over_time(report, cohort)
    return report


def test_researcher_proportions_and_comparison_come_from_the_rounded_counts():
    # a: 24 abstinent, 13 not (2 of them missing); b: 12 abstinent, 30 not (11 missing).
    cohort = synthetic({"a": (24, 11, 2), "b": (12, 19, 11)})
    report = tables_of(cohort, suppressed=True)
    a, b = report.abstinence
    assert (a["n"], a["abstinent"], a["not_abstinent"], a["missing"]) == (35, 25, 15, "<11")
    assert (b["n"], b["abstinent"], b["not_abstinent"], b["missing"]) == (40, 15, 30, 15)
    for row, (shown_abstinent, shown_n) in ((a, (25, 40)), (b, (15, 45))):
        rounded = stats.wilson_interval(shown_abstinent, shown_n)
        assert (row["proportion"], row["ci_lower"], row["ci_upper"]) == pytest.approx(
            (rounded.proportion, rounded.ci_lower, rounded.ci_upper), abs=1e-12
        )
    rounded = stats.compare_proportions(25, 40, 15, 45)
    assert report.comparison["risk_difference"] == pytest.approx(rounded.risk_difference, abs=1e-12)
    assert report.comparison["fisher_p"] == pytest.approx(rounded.fisher_p, abs=1e-12)
    assert report.abstinence_figure["data"][0]["y"] == pytest.approx([25 / 40, 15 / 45])
    # The follow-up point likewise, with its not-abstinent count shown.
    (point,) = report.abstinence_time[0]["points"]
    assert (point["n"], point["abstinent"], point["not_abstinent"]) == (35, 25, 15)
    assert point["proportion"] == pytest.approx(stats.wilson_interval(25, 40).proportion, abs=1e-12)

    exact = tables_of(cohort, suppressed=False)
    a, b = exact.abstinence
    assert (a["n"], a["abstinent"], a["not_abstinent"], a["missing"]) == (37, 24, 13, 2)
    assert a["proportion"] == pytest.approx(24 / 37)
    assert exact.comparison["risk_difference"] == pytest.approx(24 / 37 - 12 / 42)


def test_a_side_below_11_withholds_the_proportion_and_the_comparison():
    report = tables_of(synthetic({"a": (30, 9, 0), "b": (20, 20, 0)}), suppressed=True)
    a, b = report.abstinence
    assert a["withheld"] and a["proportion"] is None and a["not_abstinent"] == "<11"
    assert not b["withheld"] and b["proportion"] == pytest.approx(0.5)
    assert report.comparison is None and report.comparison_withheld


# --- the report as a researcher and as a prescriber sees it -----------------------------------


needs_db = pytest.mark.django_db


@needs_db
def test_researcher_means_to_one_decimal_and_counts_rounded(alice, bob, clinic_a, cohort_a):
    from tests.research.test_report_plots import _record_phq9

    baseline = _record_phq9(alice, cohort_a, months=0, per_arm=12, level=1)
    today = clinic_today(clinic_a)
    researcher = cohort_report_for_user(user=bob, filters=CohortFilter(), today=today)
    prescriber = cohort_report_for_user(user=alice, filters=CohortFilter(), today=today)
    for index, arm in enumerate(("control", "ketamine")):
        values = baseline[arm]
        shown = researcher.trajectories[0]["rows"][0]["cells"][index]
        exact = prescriber.trajectories[0]["rows"][0]["cells"][index]
        assert exact["n"] == 12 and shown["n"] == 15
        assert exact["mean"] == pytest.approx(sum(values) / 12)
        assert shown["mean"] == round(exact["mean"], 1)
        assert shown["ci_lower"] == round(exact["ci_lower"], 1)
        assert shown["ci_upper"] == round(exact["ci_upper"], 1)
    assert prescriber.suppressed is False and prescriber.counts_rounded_to is None
    assert prescriber.n == 24 and [row["n"] for row in prescriber.survival] == [12, 12]


# --- enrolment by quarter -----------------------------------------------------------------------


def field_codes(response, name: str) -> list[str]:
    return [error.code for error in response.context["form"].errors.as_data().get(name, [])]


def quarter_dates(today: date) -> tuple[date, date]:
    first = quarter_first_day(today)
    return quarter_first_day(first - timedelta(days=1)), first - timedelta(days=1)


@needs_db
@pytest.mark.parametrize(
    ("field", "day", "words"),
    [
        ("enrolled_to", date(2026, 11, 30), "the quarter that ends on 31 December 2026"),
        ("enrolled_from", date(2026, 12, 1), "the quarter that starts on 1 October 2026"),
    ],
)
def test_researcher_day_precision_enrolment_is_refused_and_nothing_written(
    as_user, bob, cohort_a, field, day, words
):
    client = as_user(bob)
    audits, summaries = AuditEvent.objects.count(), CourseOutcomeSummary.objects.count()
    response = client.get(REPORT, {field: day.isoformat(), "arm": "control"})
    assert response.status_code == 400
    assert response.context["report"] is None
    assert field_codes(response, field) == [QUARTER_ONLY]
    body = response.content.decode()
    assert "Researchers choose enrolment by calendar quarter" in body and words in body
    assert f'value="{day.isoformat()}"' in body and 'value="control"' in body  # input kept
    assert "enrolment_quarter_only" not in body  # no code on screen
    assert AuditEvent.objects.count() == audits
    assert CourseOutcomeSummary.objects.count() == summaries

    # The exports take the same filter: refused too, no file, no disclosure.
    disclosures = Disclosure.objects.count()
    export = client.get(LONG, {field: day.isoformat()})
    assert export.status_code == 400 and "text/csv" not in export["Content-Type"]
    assert field_codes(export, field) == [QUARTER_ONLY]
    assert AuditEvent.objects.count() == audits
    assert Disclosure.objects.count() == disclosures


@needs_db
def test_researcher_whole_quarters_are_accepted(as_user, bob, clinic_a, cohort_a):
    first, last = quarter_dates(clinic_today(clinic_a))
    client = as_user(bob)
    response = client.get(REPORT, {"enrolled_from": first.isoformat(), "enrolled_to": last.isoformat()})
    assert response.status_code == 200 and response.context["report"] is not None
    assert "By calendar quarter" in response.content.decode()  # the fields say how
    assert client.get(LONG, {"enrolled_from": first.isoformat()}).status_code == 200


@needs_db
def test_prescriber_and_admin_filter_enrolment_by_day(as_user, alice, adam, cohort_a):
    start = cohort_a[0][1].start_date
    for user in (alice, adam):
        response = as_user(user).get(
            REPORT, {"enrolled_from": start.isoformat(), "enrolled_to": start.isoformat()}
        )
        assert response.status_code == 200
        report = response.context["report"]
        assert report.suppressed is False and report.n == 24
        assert "By calendar quarter" not in response.content.decode()


@needs_db
def test_a_prescriber_of_one_clinic_and_researcher_of_another_has_day_filters_in_the_first_only(
    as_user, alice, clinic_a, clinic_b, cohort_a
):
    membership_set(actor=None, user=alice, clinic=clinic_b, role=Role.RESEARCHER)
    client = as_user(alice)
    day = {"enrolled_to": date(2026, 11, 30).isoformat()}
    assert client.get(REPORT, {**day, "clinic": clinic_a.pk}).status_code == 200
    everywhere = client.get(REPORT, day)  # all her clinics: B's counts are a researcher's
    assert everywhere.status_code == 400 and field_codes(everywhere, "enrolled_to") == [QUARTER_ONLY]
    in_b = client.get(REPORT, {**day, "clinic": clinic_b.pk})
    assert in_b.status_code == 400 and field_codes(in_b, "enrolled_to") == [QUARTER_ONLY]
