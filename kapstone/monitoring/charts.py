"""The session's vital signs against time, with the alert thresholds drawn, as a plotly figure.

Plain JSON like the PK chart (``dosing/charts.py``): the page embeds it with ``json_script`` and
``static/kapstone/app.js`` draws it with the locally served plotly.min.js.

Each vital sign has a panel of its own (blood pressure with systolic and diastolic together), on
one clock-time axis, with an axis a clinician reads at a glance: a usual range and round steps
(temperature 34–41 °C in 1 °C steps with 0.5 °C minor ticks), widened to round steps whenever a
value or a threshold lies outside it. The bedside scales (issue 5: "scored in the domain, charted
on the session") follow, each in a strip with the scale's whole range: MOAA/S 0–5 (the sedation
alert's critical level drawn), CADSS total 0–92, modified Aldrete 0–10 (the discharge level
drawn). A panel is drawn only for what has been recorded in the session.

Threshold lines are dotted (red critical, amber warning, green the discharge level). They are
named in the panel's header, above its plot area, never beside the line: labels beside lines
overlapped wherever two thresholds lie close (diastolic 110 and heart rate 110 on one axis). A
header is one line of text per fact (the panel's name, then one line per kind of threshold in its
colour), stacked LINE_PX apart in a gap reserved above its own panel, so no two can overlap;
there is no legend to wrap over the plot on a phone (the blood pressure header says which marker
is which). Plain text with a font colour and weight, because the page's content security policy
refuses the inline styles plotly would write for rich text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from kapstone.domain import monitoring as rules
from kapstone.domain.instruments import get_instrument

COLOURS = {
    "systolic_bp": "#b3261e",
    "diastolic_bp": "#e07b39",
    "heart_rate": "#1f5f8b",
    "spo2": "#2e8b57",
    "respiratory_rate": "#7a4fb5",
    "temperature": "#8a5a00",
    "moaas": "#444444",
    "aldrete_total": "#999999",
    "cadss": "#6b3fa0",
}
CRITICAL_COLOUR, WARNING_COLOUR, DISCHARGE_COLOUR, INK = "#b3261e", "#c77700", "#2e8b57", "#2a3441"
# Blood pressure as charted by hand: ▼ systolic, ▲ diastolic.
SYMBOLS = {"systolic_bp": "triangle-down", "diastolic_bp": "triangle-up"}
LINE_PX = 14  # one line of a panel's header (11–12 px text)
HEADER_PAD_PX = 8  # between a panel and the header of the next one
MARGIN_TOP, MARGIN_BOTTOM = 8, 48  # the time axis below
TICK_PX = 16  # at least this many pixels between two labelled ticks (their text is 12 px)


@dataclass(frozen=True)
class Panel:
    """One panel: the codes drawn in it, its header, its usual range and steps, its height."""

    key: str
    codes: tuple[str, ...]
    title: str
    usual_range: tuple[float, float]
    step: float
    minor_step: float | None
    height_px: int


# Usual ranges and steps: chosen for reading (not clinical limits); the axis widens beyond them
# to take in every value and threshold of the session.
VITAL_PANELS = (
    Panel("bp", ("systolic_bp", "diastolic_bp"), "Blood pressure, mmHg", (40, 200), 20, 10, 170),
    Panel("hr", ("heart_rate",), "Heart rate, /min", (40, 140), 20, 10, 130),
    Panel("spo2", ("spo2",), "SpO2, %", (85, 100), 5, 1, 110),
    Panel("rr", ("respiratory_rate",), "Respiratory rate, /min", (0, 30), 5, None, 110),
    Panel("temperature", ("temperature",), "Temperature, °C", (34, 41), 1, 0.5, 130),
)
# The scale strips, top to bottom. MOAA/S and Aldrete come from the observations, CADSS from its
# scale scores. The whole range of the scale, always.
STRIP_HEIGHT_PX = 90
SCALES = (
    ("moaas", "MOAA/S (0–5)"),
    ("cadss", "CADSS total (0–92)"),
    ("aldrete_total", "Modified Aldrete (0–10)"),
)
NICE_STEPS = (0.5, 1, 2, 5, 10, 20, 25, 50, 100)


def _scale_range(key: str) -> tuple[float, float]:
    if key == "cadss":
        cadss = get_instrument("cadss")
        return float(cadss.total_min), float(cadss.total_max)
    definition = rules.OBSERVATION_DEFINITIONS[key]
    return float(definition.plausible_min), float(definition.plausible_max)


def _scale_lines(key: str, t: rules.AlertThresholds) -> list[tuple[float, str, str]]:
    """(value, words for the header, colour) drawn across a scale's strip."""
    if key == "moaas":
        return [
            (
                float(t.moaas_critical_at_or_below),
                f"Dotted red: critical ≤ {t.moaas_critical_at_or_below:g}",
                CRITICAL_COLOUR,
            )
        ]
    if key == "aldrete_total":
        return [
            (
                float(rules.ALDRETE_DISCHARGE_MIN),
                f"Dotted green: discharge ≥ {rules.ALDRETE_DISCHARGE_MIN}",
                DISCHARGE_COLOUR,
            )
        ]
    return []


def _threshold_lines(t: rules.AlertThresholds) -> list[tuple[str, float, str, str]]:
    """(parameter, value, hover label, severity) for every fixed threshold of the session's protocol."""
    return [
        ("systolic_bp", float(t.systolic_critical_at_or_above_mmhg), "Systolic critical ≥", rules.CRITICAL),
        ("systolic_bp", float(t.systolic_warning_at_or_above_mmhg), "Systolic warning ≥", rules.WARNING),
        (
            "diastolic_bp",
            float(t.diastolic_critical_at_or_above_mmhg),
            "Diastolic critical ≥",
            rules.CRITICAL,
        ),
        ("diastolic_bp", float(t.diastolic_warning_at_or_above_mmhg), "Diastolic warning ≥", rules.WARNING),
        ("heart_rate", float(t.heart_rate_critical_at_or_above_per_min), "Critical ≥", rules.CRITICAL),
        ("heart_rate", float(t.heart_rate_warning_above_per_min), "Warning >", rules.WARNING),
        ("heart_rate", float(t.heart_rate_warning_below_per_min), "Warning <", rules.WARNING),
        ("spo2", float(t.spo2_critical_below_pct), "Critical <", rules.CRITICAL),
        ("spo2", float(t.spo2_warning_below_pct), "Warning <", rules.WARNING),
        ("respiratory_rate", float(t.respiratory_rate_critical_below_per_min), "Critical <", rules.CRITICAL),
    ]


def _threshold_words(panel: Panel, lines: list[tuple[str, float, str, str]]) -> list[tuple[str, str]]:
    """The header lines naming a panel's thresholds, one per severity, with its colour:
    ("Dotted red: critical ≥ 180 / ≥ 110", red) — systolic / diastolic, as blood pressure is written."""
    words = []
    for severity, colour, name in (
        (rules.CRITICAL, CRITICAL_COLOUR, "red"),
        (rules.WARNING, WARNING_COLOUR, "amber"),
    ):
        found = [
            (label, value) for code, value, label, sev in lines if sev == severity and code in panel.codes
        ]
        if not found:
            continue
        if panel.key == "bp":
            text = " / ".join(f"≥ {value:g}" for _, value in found)
        else:
            text = " or ".join(f"{label.split(' ', 1)[1]} {value:g}" for label, value in found)
        words.append((f"Dotted {name}: {severity} {text}", colour))
    return words


def axis_for(
    values: list[float], thresholds: list[float], *, usual: tuple[float, float], step: float, height_px: int
) -> tuple[float, float, float]:
    """(first tick, last tick, tick step) of an axis: the usual range widened to take in every value
    and threshold, in round steps, with no more labelled ticks than ``height_px`` has room for."""
    low = min([usual[0], *values, *thresholds])
    high = max([usual[1], *values, *thresholds])
    max_ticks = max(2, height_px // TICK_PX)
    candidates = [s for s in NICE_STEPS if s >= step] or [step]
    dtick = candidates[-1]
    for candidate in candidates:
        if (math.ceil(high / candidate) - math.floor(low / candidate)) <= max_ticks:
            dtick = candidate
            break
    first, last = math.floor(low / dtick) * dtick, math.ceil(high / dtick) * dtick
    return float(first), float(last), float(dtick)


def _beyond_threshold(code: str, t: rules.AlertThresholds, baseline: dict[str, Decimal]) -> Any:
    """A test of one value of ``code`` against the session's alert thresholds, by the lines the
    chart draws (warning level or worse) and the rules relative to the pre-dose value (a rise of
    blood pressure, any fall of MOAA/S): True for a value an alert rule looks at."""
    above = [v for c, v, label, _ in _threshold_lines(t) if c == code and ("≥" in label or ">" in label)]
    below = [v for c, v, label, _ in _threshold_lines(t) if c == code and "<" in label]
    rise = {
        "systolic_bp": t.systolic_rise_at_or_above_mmhg,
        "diastolic_bp": t.diastolic_rise_at_or_above_mmhg,
    }
    if code in rise and code in baseline:
        above.append(float(baseline[code] + rise[code]))
    if code == "moaas":
        below.append(float(baseline.get(code, Decimal(5))))  # any fall from pre-dose is sedation
    low, high = (max(below) if below else None), (min(above) if above else None)
    return lambda value: (high is not None and value >= high) or (low is not None and value < low)


def thin_series(
    points: list,
    thresholds: rules.AlertThresholds,
    max_points: int,
    baseline: dict[str, Decimal] | None = None,
) -> list:
    """``points`` (one code, time order, each with ``observed_at`` and ``value``) thinned to about
    ``max_points`` for drawing, or unchanged when there are no more than that.

    Kept: the first and the last value, every value at or beyond one of the session's alert
    thresholds for the code or beyond the rise from its pre-dose value (``baseline``, code →
    value; :func:`_beyond_threshold`), and in each of ``max_points // 2`` equal
    stretches of time the lowest and the highest value — a min/max decimation, so the line still
    reaches every peak and trough a clinician would see in the full record. For display only: no
    rule, alert or discharge criterion reads a thinned series.
    """
    if len(points) <= max_points:
        return points
    code = points[0].code
    beyond = _beyond_threshold(code, thresholds, baseline or {})
    buckets = max(1, max_points // 2)
    start, end = points[0].observed_at, points[-1].observed_at
    span = (end - start).total_seconds() or 1.0
    keep = {0, len(points) - 1}
    extremes: dict[int, tuple[int, int]] = {}
    for index, point in enumerate(points):
        value = float(point.value)
        if beyond(value):
            keep.add(index)
        bucket = min(buckets - 1, int((point.observed_at - start).total_seconds() / span * buckets))
        low, high = extremes.get(bucket, (index, index))
        if value < float(points[low].value):
            low = index
        if value > float(points[high].value):
            high = index
        extremes[bucket] = (low, high)
    for low, high in extremes.values():
        keep.update((low, high))
    return [points[i] for i in sorted(keep)]


def vitals_figure(
    *,
    observations,
    thresholds: rules.AlertThresholds,
    timezone_name: str,
    dosing_started_at=None,
    dosing_ended_at=None,
    cadss_scores=(),
) -> dict[str, Any] | None:
    """One panel per recorded vital sign and one strip per scored bedside scale (``cadss_scores``:
    the session's CADSS ``ScaleScore`` rows, time order), local clock time on x, threshold lines
    dotted and named in each panel's header, the dosing period shaded. None when nothing has
    been recorded."""
    cadss_scores = list(cadss_scores)
    if not observations and not cadss_scores:
        return None
    zone = ZoneInfo(timezone_name)

    def x(at) -> str:
        return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

    by_code: dict[str, list] = {}
    for obs in observations:
        by_code.setdefault(obs.code, []).append(obs)
    series = {
        "moaas": [(o.observed_at, float(o.value)) for o in by_code.get("moaas", [])],
        "cadss": [(c.observed_at, float(c.total)) for c in cadss_scores],
        "aldrete_total": [(o.observed_at, float(o.value)) for o in by_code.get("aldrete_total", [])],
    }
    lines = _threshold_lines(thresholds)
    panels = [p for p in VITAL_PANELS if any(code in by_code for code in p.codes)]
    strips = [(key, title) for key, title in SCALES if series[key]]

    # Each panel: (key, header lines [(text, colour, bold)], plot height). The header of a panel
    # is laid out in the gap above it: its lines never leave that gap, the gaps never overlap.
    layout_plan: list[tuple[str, list[tuple[str, str, bool]], int]] = []
    for panel in panels:
        mine = [line for line in lines if line[0] in panel.codes and line[0] in by_code]
        header = [(panel.title, INK, True)]
        if panel.key == "bp":  # which marker is which, on a line of its own (a phone is narrow)
            shown = [c for c in panel.codes if c in by_code]
            header.append(
                (
                    " ".join("▼ systolic" if code == "systolic_bp" else "▲ diastolic" for code in shown),
                    INK,
                    False,
                )
            )
        header += [(text, colour, False) for text, colour in _threshold_words(panel, mine)]
        layout_plan.append((panel.key, header, panel.height_px))
    for key, title in strips:
        header = [(title, INK, True)] + [
            (text, colour, False) for _, text, colour in _scale_lines(key, thresholds)
        ]
        layout_plan.append((key, header, STRIP_HEIGHT_PX))
    area = sum(HEADER_PAD_PX + LINE_PX * len(header) + height for _, header, height in layout_plan)

    traces: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    axes: dict[str, Any] = {}
    domains: dict[str, tuple[str, str, list[float]]] = {}
    top_px = 0
    for index, (key, header, height) in enumerate(layout_plan, start=1):
        header_px = HEADER_PAD_PX + LINE_PX * len(header)
        domain = [
            round(1 - (top_px + header_px + height) / area, 4),
            round(1 - (top_px + header_px) / area, 4),
        ]
        axis, layout_key = ("y", "yaxis") if index == 1 else (f"y{index}", f"yaxis{index}")
        domains[key] = (axis, layout_key, domain)
        for line, (text, colour, bold) in enumerate(header):
            annotations.append(
                {
                    "name": key,
                    "xref": "paper",
                    "x": 0,
                    "xanchor": "left",
                    "yref": "paper",
                    "y": domain[1],
                    "yanchor": "bottom",
                    # Line 0 on top: each line LINE_PX above the one after it.
                    "yshift": LINE_PX * (len(header) - 1 - line),
                    "text": text,
                    "showarrow": False,
                    "font": {"size": 12 if bold else 11, "color": colour, "weight": 700 if bold else 400},
                }
            )
        top_px += header_px + height

    def threshold_shape(axis: str, value: float, colour: str) -> dict[str, Any]:
        return {
            "type": "line",
            "xref": "paper",
            "x0": 0,
            "x1": 1,
            "yref": axis,
            "y0": value,
            "y1": value,
            "line": {"color": colour, "width": 1, "dash": "dot"},
            "layer": "below",
        }

    for panel in panels:
        mine = [line for line in lines if line[0] in panel.codes and line[0] in by_code]
        axis, layout_key, domain = domains[panel.key]
        values = [float(o.value) for code in panel.codes for o in by_code.get(code, [])]
        first, last, dtick = axis_for(
            values,
            [value for _, value, _, _ in mine],
            usual=panel.usual_range,
            step=panel.step,
            height_px=panel.height_px,
        )
        pad = dtick * 0.2
        axes[layout_key] = {
            "domain": domain,
            "range": [first - pad, last + pad],
            "tickmode": "linear",
            "tick0": first,
            "dtick": dtick,
            "zeroline": False,
            "fixedrange": True,
            "automargin": True,
        }
        if panel.minor_step is not None and panel.minor_step < dtick:
            axes[layout_key]["minor"] = {"dtick": panel.minor_step, "showgrid": True, "gridcolor": "#f2f4f7"}
        for code in panel.codes:
            rows = by_code.get(code)
            if not rows:
                continue
            definition = rules.VITAL_SIGNS[code]
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": definition.display,
                    "x": [x(o.observed_at) for o in rows],
                    "y": [float(o.value) for o in rows],
                    "yaxis": axis,
                    "line": {"color": COLOURS[code], "width": 2},
                    "marker": {"symbol": SYMBOLS.get(code, "circle"), "size": 9 if code in SYMBOLS else 6},
                    "hovertemplate": f"%{{x|%H:%M}}: %{{y}} {definition.unit_display}<extra>{definition.label}</extra>",
                }
            )
        for _, value, _, severity in mine:
            colour = CRITICAL_COLOUR if severity == rules.CRITICAL else WARNING_COLOUR
            shapes.append(threshold_shape(axis, value, colour))

    for key, title in strips:
        axis, layout_key, domain = domains[key]
        low, high = _scale_range(key)
        pad = (high - low) * 0.08
        axes[layout_key] = {
            "domain": domain,
            "range": [low - pad, high + pad],
            "tickvals": [low, round((low + high) / 2), high],
            "zeroline": False,
            "fixedrange": True,
            "automargin": True,
        }
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "CADSS total" if key == "cadss" else rules.OBSERVATION_DEFINITIONS[key].display,
                "x": [x(at) for at, _ in series[key]],
                "y": [value for _, value in series[key]],
                "yaxis": axis,
                "line": {"color": COLOURS[key], "width": 2, "shape": "hv"},
                "hovertemplate": f"%{{x|%H:%M}}: %{{y}}<extra>{title}</extra>",
            }
        )
        for value, _, colour in _scale_lines(key, thresholds):
            shapes.append(threshold_shape(axis, value, colour))

    times = [o.observed_at for o in observations] + [c.observed_at for c in cadss_scores]
    if dosing_started_at is not None:
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": x(dosing_started_at),
                "x1": x(dosing_ended_at) if dosing_ended_at else x(max(times)),
                "y0": 0,
                "y1": 1,
                "fillcolor": "rgba(31,95,139,0.08)",
                "line": {"width": 0},
                "layer": "below",
            }
        )
    last_axis = "y" if len(axes) == 1 else f"y{len(axes)}"
    return {
        "data": traces,
        "layout": {
            "margin": {"l": 48, "r": 16, "t": MARGIN_TOP, "b": MARGIN_BOTTOM},
            "height": area + MARGIN_TOP + MARGIN_BOTTOM,
            "showlegend": False,
            "xaxis": {"title": {"text": "clock time"}, "type": "date", "anchor": last_axis},
            **axes,
            "shapes": shapes,
            "annotations": annotations,
            "paper_bgcolor": "#fff",
            "plot_bgcolor": "#fff",
        },
    }
