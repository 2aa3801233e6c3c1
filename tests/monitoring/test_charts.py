"""The session chart: vitals against time with thresholds, and the bedside scales (MOAA/S, CADSS,
modified Aldrete) each in a strip of its own with the scale's range."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from kapstone.domain import monitoring as rules
from kapstone.monitoring.charts import LINE_PX, MARGIN_BOTTOM, MARGIN_TOP, TICK_PX, vitals_figure

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


def headers(fig) -> list[str]:
    """Each panel's header, top to bottom, its lines joined with " | "."""
    panels: dict[str, list[tuple[int, str]]] = {}
    for annotation in fig["layout"]["annotations"]:
        panels.setdefault(annotation["name"], []).append((-annotation["yshift"], annotation["text"]))
    return [" | ".join(text for _, text in sorted(lines)) for lines in panels.values()]


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
    # Panels top to bottom: blood pressure, heart rate, then MOAA/S, CADSS, Aldrete.
    assert traces["Systolic blood pressure"]["yaxis"] == "y" and traces["Heart rate"]["yaxis"] == "y2"
    assert (moaas["yaxis"], cadss["yaxis"], aldrete["yaxis"]) == ("y3", "y4", "y5")
    ranges = {axis: layout[f"yaxis{axis[1:]}"]["range"] for axis in ("y3", "y4", "y5")}
    assert ranges["y3"][0] < 0 < 5 < ranges["y3"][1] < 5.5
    assert ranges["y4"][0] < 0 < 92 < ranges["y4"][1] < 100
    assert ranges["y5"][0] < 0 < 10 < ranges["y5"][1] < 11
    assert [h.split(" | ")[0] for h in headers(fig)] == [
        "Blood pressure, mmHg",
        "Heart rate, /min",
        "MOAA/S (0–5)",
        "CADSS total (0–92)",
        "Modified Aldrete (0–10)",
    ]
    # The panels are stacked without overlapping, each below its header.
    domains = [layout["yaxis"]["domain"]] + [layout[f"yaxis{n}"]["domain"] for n in (2, 3, 4, 5)]
    for upper, lower in itertools.pairwise(domains):
        assert lower[1] < upper[0] and lower[0] < lower[1]
    assert domains[-1][0] >= 0 and domains[0][1] < 1
    assert layout["xaxis"]["anchor"] == "y5" and layout["showlegend"] is False


def test_sedation_and_discharge_levels_are_drawn_on_their_strips():
    fig = figure(RECORD, CADSS)
    lines = {(s["yref"], s["y0"]) for s in fig["layout"]["shapes"] if s["type"] == "line"}
    assert ("y3", 2.0) in lines  # MOAA/S ≤ 2: critical sedation
    assert ("y5", 9.0) in lines  # modified Aldrete ≥ 9: discharge
    assert ("y", 180.0) in lines and ("y", 160.0) in lines  # the systolic thresholds on the BP panel
    assert ("y2", 130.0) in lines and ("y2", 110.0) in lines and ("y2", 50.0) in lines
    assert headers(fig) == [
        "Blood pressure, mmHg | ▼ systolic | Dotted red: critical ≥ 180 | Dotted amber: warning ≥ 160",
        "Heart rate, /min | Dotted red: critical ≥ 130 | Dotted amber: warning > 110 or < 50",
        "MOAA/S (0–5) | Dotted red: critical ≤ 2",
        "CADSS total (0–92)",
        "Modified Aldrete (0–10) | Dotted green: discharge ≥ 9",
    ]
    colours = {a["text"]: a["font"]["color"] for a in fig["layout"]["annotations"]}
    assert colours["Dotted red: critical ≥ 130"] == "#b3261e"
    assert colours["Dotted amber: warning > 110 or < 50"] == "#c77700"
    both = figure([obs("systolic_bp", 124, 0), obs("diastolic_bp", 80, 0)])
    assert headers(both) == [
        "Blood pressure, mmHg | ▼ systolic ▲ diastolic | Dotted red: critical ≥ 180 / ≥ 110"
        " | Dotted amber: warning ≥ 160 / ≥ 100"
    ]


def test_only_recorded_vitals_and_scored_scales_get_a_panel():
    vitals_only = figure([obs("systolic_bp", 124, 0), obs("heart_rate", 72, 0)])
    assert {t["yaxis"] for t in vitals_only["data"]} == {"y", "y2"}
    assert "yaxis3" not in vitals_only["layout"]
    cadss_only = figure([obs("systolic_bp", 124, 0)], CADSS[:1])
    assert by_name(cadss_only)["CADSS total"]["yaxis"] == "y2"
    assert headers(cadss_only)[1] == "CADSS total (0–92)"
    assert "yaxis3" not in cadss_only["layout"]
    assert cadss_only["layout"]["height"] > figure([obs("systolic_bp", 124, 0)])["layout"]["height"]


def test_nothing_recorded_is_no_chart_but_a_cadss_alone_is():
    assert figure([]) is None
    assert figure([], CADSS[:1]) is not None


def ticks(axis) -> list[float]:
    """The labelled ticks of a linear axis within its range."""
    values, tick = [], axis["tick0"]
    while tick <= axis["range"][1]:
        if tick >= axis["range"][0]:
            values.append(round(tick, 6))
        tick += axis["dtick"]
    return values


def test_temperature_reads_34_to_41_degrees_in_whole_and_half_degrees():
    fig = figure([obs("temperature", "36.8", 0), obs("temperature", "37.4", 30)])
    axis = fig["layout"]["yaxis"]
    assert ticks(axis) == [34, 35, 36, 37, 38, 39, 40, 41]
    assert axis["minor"]["dtick"] == 0.5
    assert 33.5 < axis["range"][0] < 34 and 41 < axis["range"][1] < 41.5
    fever = figure([obs("temperature", "42.3", 0), obs("temperature", "33.2", 5)])["layout"]["yaxis"]
    assert ticks(fever)[0] <= 33.2 and ticks(fever)[-1] >= 42.3
    assert all(float(t).is_integer() for t in ticks(fever))


def test_each_vital_has_a_usual_axis_in_round_steps():
    fig = figure([obs(c, v, 0) for c, v in NORMAL.items()])
    layout = fig["layout"]
    panels = {trace["name"]: trace["yaxis"] for trace in fig["data"]}
    axis = {name: layout["yaxis" if a == "y" else f"yaxis{a[1:]}"] for name, a in panels.items()}
    assert ticks(axis["Systolic blood pressure"]) == [40, 60, 80, 100, 120, 140, 160, 180, 200]
    assert ticks(axis["Heart rate"]) == [40, 60, 80, 100, 120, 140]
    assert ticks(axis["Oxygen saturation by pulse oximetry"]) == [85, 90, 95, 100]
    assert ticks(axis["Respiratory rate"]) == [0, 5, 10, 15, 20, 25, 30]
    assert ticks(axis["Body temperature"]) == [34, 35, 36, 37, 38, 39, 40, 41]


NORMAL = {
    "systolic_bp": 124,
    "diastolic_bp": 78,
    "heart_rate": 72,
    "spo2": 97,
    "respiratory_rate": 14,
    "temperature": "36.8",
}

plausible = st.sampled_from(list(rules.VITAL_SIGNS)).flatmap(
    lambda code: st.tuples(
        st.just(code),
        st.decimals(rules.VITAL_SIGNS[code].plausible_min, rules.VITAL_SIGNS[code].plausible_max, places=1),
    )
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(plausible, min_size=1, max_size=12),
    st.integers(150, 250),
    st.integers(0, 30),
    st.integers(60, 99),
)
def test_every_value_and_threshold_is_on_its_axis_and_headers_never_overlap(
    values, systolic_critical, respiratory_critical, spo2_critical
):
    thresholds = rules.AlertThresholds(
        systolic_critical_at_or_above_mmhg=systolic_critical,
        systolic_warning_at_or_above_mmhg=min(160, systolic_critical),
        respiratory_rate_critical_below_per_min=respiratory_critical,
        spo2_critical_below_pct=spo2_critical,
        spo2_warning_below_pct=max(94, spo2_critical),
    )
    fig = vitals_figure(
        observations=[obs(code, value, i) for i, (code, value) in enumerate(values)],
        thresholds=thresholds,
        timezone_name="Europe/Berlin",
    )
    layout = fig["layout"]

    def axis_of(name):
        return layout["yaxis" if name == "y" else f"yaxis{name[1:]}"]

    for trace in fig["data"]:
        low, high = axis_of(trace["yaxis"])["range"]
        assert all(low < y < high for y in trace["y"])
    for shape in layout["shapes"]:
        if shape["type"] == "line":
            axis = axis_of(shape["yref"])
            assert axis["range"][0] < shape["y0"] < axis["range"][1]
            labelled = ticks(axis)
            assert labelled[0] <= shape["y0"] <= labelled[-1]
    area_px = layout["height"] - MARGIN_TOP - MARGIN_BOTTOM
    for name in {t["yaxis"] for t in fig["data"]}:
        axis = axis_of(name)
        panel_px = (axis["domain"][1] - axis["domain"][0]) * area_px
        assert (len(ticks(axis)) - 1) * TICK_PX <= panel_px + 1  # labelled ticks never crowd
    # Each header line sits in the gap above its own panel, LINE_PX apart: none can overlap another.
    domains = sorted((axis_of(a)["domain"] for a in {t["yaxis"] for t in fig["data"]}), reverse=True)
    annotations = layout["annotations"]
    assert all(a["yref"] == "paper" and a["yanchor"] == "bottom" for a in annotations)
    assert sorted({a["y"] for a in annotations}, reverse=True) == [d[1] for d in domains]
    for index, domain in enumerate(domains):
        mine = sorted(a["yshift"] for a in annotations if a["y"] == domain[1])
        assert mine == [LINE_PX * n for n in range(len(mine))]
        gap_px = ((domains[index - 1][0] if index else 1) - domain[1]) * area_px
        assert len(mine) * LINE_PX <= gap_px + 1
