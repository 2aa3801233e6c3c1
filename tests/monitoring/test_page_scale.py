"""The session page and the patient chart at scale (bench/bench_chart_page.py measures them at 100k
patients and 10M vitals): the work of a page must not grow with the record it shows. Held here by
query counts, never by time: a session charted once and the same session fed by a bedside monitor
for an hour issue the same queries; and the monitor-fed chart, thinned for drawing, still draws
every value an alert rule looks at while the page of recorded values lists them all."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kapstone.domain.monitoring import OBSERVATION_DEFINITIONS, VITAL_SIGNS, AlertThresholds
from kapstone.monitoring import selectors
from kapstone.monitoring.charts import thin_series
from kapstone.monitoring.models import Observation

pytestmark = pytest.mark.django_db

FEED = {"systolic_bp": 122, "diastolic_bp": 78, "heart_rate": 74, "spo2": 97, "respiratory_rate": 14}


def monitor_feed(session, nurse, *, sets: int, abnormal: dict[int, dict[str, int]] | None = None):
    """``sets`` sets of 5 vital signs, one a second up to a second ago, written straight to the
    table (set-up of a record to read, as a device feed leaves it; not the ingest itself)."""
    abnormal = abnormal or {}
    start = timezone.now() - timedelta(seconds=sets + 1)
    rows = []
    for s in range(sets):
        at = start + timedelta(seconds=s)
        for code, value in (FEED | abnormal.get(s, {})).items():
            rows.append(
                Observation(
                    session=session,
                    patient_id=session.patient_id,
                    clinic_id=session.clinic_id,
                    code=code,
                    loinc=OBSERVATION_DEFINITIONS[code].loinc or "",
                    value=value,
                    unit=OBSERVATION_DEFINITIONS[code].unit_ucum,
                    observed_at=at,
                    source="monitor-7",
                    entered_by=nurse,
                    entered_at=at,
                )
            )
    Observation.objects.bulk_create(rows, batch_size=2000)


def queries_of(client, url) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return [q["sql"] for q in captured.captured_queries]


def test_session_page_issues_the_same_queries_for_one_set_and_an_hour_of_monitor_feed(as_user, nina, running):
    client = as_user(nina)
    url = reverse("care:session", args=[running.pk])
    client.get(url)  # caches of the process (protocol parse, templates) warmed alike for both reads
    one_set = queries_of(client, url)  # the fixture's baseline set
    monitor_feed(running, nina, sets=1200)  # 20 min of a set a second: 6,000 values
    fed = queries_of(client, url)
    assert Observation.objects.filter(session=running).count() > 6000
    assert len(fed) == len(one_set)


def test_chart_page_issues_the_same_queries_whatever_the_sessions_hold(as_user, nina, running):
    client = as_user(nina)
    url = reverse("patients:chart", args=[running.patient_id])
    client.get(url)
    before = queries_of(client, url)
    monitor_feed(running, nina, sets=600)
    after = queries_of(client, url)
    assert len(after) == len(before)


def test_monitor_fed_chart_is_thinned_but_draws_every_value_beyond_a_threshold(as_user, nina, running):
    spikes = {
        100: {"spo2": 88},
        101: {"spo2": 89},
        700: {"systolic_bp": 171, "heart_rate": 131},
        1500: {"respiratory_rate": 8},
    }
    monitor_feed(running, nina, sets=2000, abnormal=spikes)
    page = as_user(nina).get(reverse("care:session", args=[running.pk]))
    assert page.status_code == 200
    panel = next(c for template, c in page.context["panels"] if template == "monitoring/_session_panel.html")
    drawn = {trace["name"]: trace["y"] for trace in panel["figure"]["data"]}
    assert panel["chart_thinned"] > 0
    for code in FEED:
        assert len(drawn[VITAL_SIGNS[code].display]) <= selectors.CHART_POINTS_PER_CODE + len(spikes) + 2
    for values in spikes.values():
        for code, value in values.items():
            assert float(value) in drawn[VITAL_SIGNS[code].display], (code, value)
    # The page says the chart is thinned and links to every value.
    text = page.content.decode()
    assert "values within the thresholds are not drawn" in text
    assert reverse("monitoring:recorded_values", args=[running.pk]) in text


def test_a_session_charted_by_hand_is_drawn_whole(as_user, nina, running):
    monitor_feed(running, nina, sets=40)
    series = selectors.chart_points(
        running, selectors.alert_thresholds(running), selectors.session_times(running)
    )
    stored = Observation.objects.filter(session=running, voided_at__isnull=True).count()
    assert series.thinned == 0
    assert len(series.points) == stored


class Point:
    def __init__(self, code, at, value):
        self.code, self.observed_at, self.value = code, at, Decimal(value)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_thinning_keeps_first_last_every_extreme_and_every_value_beyond_a_threshold(seed):
    rng = random.Random(seed)
    start = timezone.now()
    points = [
        Point("heart_rate", start + timedelta(seconds=5 * i), rng.randint(55, 105)) for i in range(5000)
    ]
    for i in rng.sample(range(5000), 12):
        points[i].value = Decimal(rng.choice([40, 45, 112, 135]))  # below 50, above 110 or 130
    kept = thin_series(points, AlertThresholds(), 400, baseline={})
    assert len(kept) < 5000
    assert kept[0] is points[0] and kept[-1] is points[-1]
    assert [p.observed_at for p in kept] == sorted(p.observed_at for p in kept)
    beyond = [p for p in points if p.value < 50 or p.value > 110]
    assert all(p in kept for p in beyond)
    assert min(p.value for p in kept) == min(p.value for p in points)
    assert max(p.value for p in kept) == max(p.value for p in points)


def test_thinning_keeps_a_rise_from_the_pre_dose_value_below_the_fixed_thresholds():
    start = timezone.now()
    points = [Point("systolic_bp", start + timedelta(seconds=i), 110) for i in range(3000)]
    for i in (10, 11, 12, 13):  # 150: under the warning of 160, but 40 above a baseline of 110
        points[1000 + i].value = Decimal(150)
    kept = thin_series(points, AlertThresholds(), 100, baseline={"systolic_bp": Decimal(110)})
    assert sum(1 for p in kept if p.value == 150) == 4


def test_thinning_leaves_a_short_series_alone():
    start = timezone.now()
    points = [Point("spo2", start + timedelta(seconds=i), 97) for i in range(50)]
    assert thin_series(points, AlertThresholds(), 100) == points


@pytest.mark.parametrize("per_code", [1, 2])
def test_newest_values_read_in_the_database_are_those_of_the_whole_record(nina, running, per_code):
    """``recent_by_code`` (one indexed lookup per code and rank) against ``latest_by_code`` over
    every valid value: with voided values, ties at one instant and codes recorded rarely."""
    from kapstone.monitoring.services import observation_void, vitals_record
    from tests.monitoring.conftest import vitals_set

    monitor_feed(running, nina, sets=300)
    tie = timezone.now() - timedelta(seconds=30)
    vitals_record(actor=nina, session=running, observations=vitals_set(tie, systolic_bp=130))
    vitals_record(actor=nina, session=running, observations=vitals_set(tie, systolic_bp=150))
    rng = random.Random(per_code)
    newest = list(Observation.objects.filter(session=running).order_by("-observed_at", "-id")[:40])
    for obs in rng.sample(newest, 8):
        observation_void(actor=nina, observation=obs, reason="entered on the wrong patient")
    whole = selectors.latest_by_code(selectors.observations_of(running))
    expected = {code: [o.pk for o in rows[:per_code]] for code, rows in whole.items()}
    found = {code: [o.pk for o in rows] for code, rows in selectors.recent_by_code(running, per_code).items()}
    assert found == expected
    assert "moaas" in found  # a code recorded only by hand, long before the newest sets
