"""The session chart: vitals against time with thresholds, and the bedside scales (MOAA/S, CADSS,
modified Aldrete) each in a strip of its own with the scale's range."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from kapstone.domain import monitoring as rules
from kapstone.monitoring.charts import vitals_figure

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Obs:
    code: str
    value: Decimal
    observed_at: datetime


@dataclass
class Cadss:
    total: int
    observed_at: datetime


def obs(code, value, minute):
    return Obs(code, Decimal(value), T0 + timedelta(minutes=minute))


def figure(observations, cadss=()):
    return vitals_figure(
        observations=observations,
        thresholds=rules.DEFAULT_THRESHOLDS,
        timezone_name="Europe/Berlin",
        dosing_started_at=T0 + timedelta(minutes=5),
        dosing_ended_at=T0 + timedelta(minutes=45),
        cadss_scores=cadss,
    )


def by_name(fig):
    return {trace["name"]: trace for trace in fig["data"]}


RECORD = [
    obs("systolic_bp", 124, 0),
    obs("heart_rate", 72, 0),
    obs("moaas", 5, 0),
    obs("systolic_bp", 150, 20),
    obs("moaas", 3, 20),
    obs("moaas", 5, 60),
    obs("aldrete_total", 9, 170),
]
CADSS = [
    Cadss(0, T0 + timedelta(minutes=2)),
    Cadss(34, T0 + timedelta(minutes=25)),
    Cadss(6, T0 + timedelta(minutes=90)),
]


def test_each_scale_has_its_own_axis_with_its_range_against_clock_time():
    fig = figure(RECORD, CADSS)
    traces, layout = by_name(fig), fig["layout"]
    moaas, cadss, aldrete = (
        traces["MOAA/S sedation score"],
        traces["CADSS total"],
        traces["Modified Aldrete score"],
    )
    assert moaas["y"] == [5.0, 3.0, 5.0] and moaas["x"][1] == "2026-03-02 10:20:00"  # local (Berlin) time
    assert cadss["y"] == [0.0, 34.0, 6.0] and cadss["x"] == [
        "2026-03-02 10:02:00",
        "2026-03-02 10:25:00",
        "2026-03-02 11:30:00",
    ]
    assert aldrete["y"] == [9.0]
    # Strips top to bottom: MOAA/S, CADSS, Aldrete; none shares the vitals' axes.
    assert (moaas["yaxis"], cadss["yaxis"], aldrete["yaxis"]) == ("y3", "y4", "y5")
    assert traces["Systolic blood pressure"]["yaxis"] == "y"
    ranges = {axis: layout[f"yaxis{axis[1:]}"]["range"] for axis in ("y3", "y4", "y5")}
    assert ranges["y3"][0] < 0 < 5 < ranges["y3"][1] < 5.5
    assert ranges["y4"][0] < 0 < 92 < ranges["y4"][1] < 100
    assert ranges["y5"][0] < 0 < 10 < ranges["y5"][1] < 11
    assert "0–5" in layout["yaxis3"]["title"]["text"] and "0–92" in layout["yaxis4"]["title"]["text"]
    assert "0–10" in layout["yaxis5"]["title"]["text"]
    # The strips are stacked below the vitals without overlapping.
    domains = [layout["yaxis"]["domain"]] + [layout[f"yaxis{n}"]["domain"] for n in (3, 4, 5)]
    for upper, lower in itertools.pairwise(domains):
        assert lower[1] <= upper[0] and lower[0] < lower[1]
    assert domains[-1][0] >= 0 and domains[0][1] == 1
    assert layout["xaxis"]["anchor"] == "y5"


def test_sedation_and_discharge_levels_are_drawn_on_their_strips():
    fig = figure(RECORD, CADSS)
    lines = {(s["yref"], s["y0"]) for s in fig["layout"]["shapes"] if s["type"] == "line"}
    assert ("y3", 2.0) in lines  # MOAA/S ≤ 2: critical sedation
    assert ("y5", 9.0) in lines  # modified Aldrete ≥ 9: discharge
    assert ("y", 180.0) in lines and ("y", 160.0) in lines  # the systolic thresholds stay on the vitals
    texts = {a["text"]: a["yref"] for a in fig["layout"]["annotations"]}
    assert texts["sedation critical ≤ 2"] == "y3" and texts["discharge ≥ 9"] == "y5"
    assert texts["SBP critical 180"] == "y"


def test_only_scored_scales_get_a_strip():
    vitals_only = figure([obs("systolic_bp", 124, 0), obs("heart_rate", 72, 0)])
    assert {t["yaxis"] for t in vitals_only["data"]} == {"y"}
    assert "yaxis3" not in vitals_only["layout"] and vitals_only["layout"]["yaxis"]["domain"] == [0.0, 1]
    cadss_only = figure([obs("systolic_bp", 124, 0)], CADSS[:1])
    assert by_name(cadss_only)["CADSS total"]["yaxis"] == "y3"
    assert "0–92" in cadss_only["layout"]["yaxis3"]["title"]["text"]
    assert "yaxis4" not in cadss_only["layout"]
    assert cadss_only["layout"]["height"] > vitals_only["layout"]["height"]


def test_nothing_recorded_is_no_chart_but_a_cadss_alone_is():
    assert figure([]) is None
    assert figure([], CADSS[:1]) is not None
