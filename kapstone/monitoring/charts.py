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
overlapped wherever two thresholds lie close (diastolic 110 and heart rate 110 on one axis). One
header per panel, in the gap reserved above it, cannot overlap another; there is no legend to
wrap over the plot on a phone (the blood pressure header says which marker is which).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
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
CRITICAL_COLOUR, WARNING_COLOUR, DISCHARGE_COLOUR = "#b3261e", "#c77700", "#2e8b57"
# Blood pressure as charted by hand: ▼ systolic, ▲ diastolic.
SYMBOLS = {"systolic_bp": "triangle-down", "diastolic_bp": "triangle-up"}
HEADER_PX = 36  # the gap above each panel holding its header (two lines of 11 px text)
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
                f"critical ≤ {t.moaas_critical_at_or_below:g}",
                CRITICAL_COLOUR,
            )
        ]
    if key == "aldrete_total":
        return [
            (
                float(rules.ALDRETE_DISCHARGE_MIN),
                f"discharge ≥ {rules.ALDRETE_DISCHARGE_MIN}",
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


def _threshold_words(panel: Panel, lines: list[tuple[str, float, str, str]]) -> str:
    """The header's second line: each severity's thresholds in its colour ("critical ≥ 180 / ≥ 110")."""
    parts = []
    for severity, colour in ((rules.CRITICAL, CRITICAL_COLOUR), (rules.WARNING, WARNING_COLOUR)):
        found = [
            (label, value) for code, value, label, sev in lines if sev == severity and code in panel.codes
        ]
        if not found:
            continue
        if panel.key == "bp":
            # "critical ≥ 180 / ≥ 110": systolic / diastolic, as blood pressure is written.
            text = " / ".join(f"≥ {value:g}" for _, value in found)
        else:
            text = " or ".join(f"{label.split(' ', 1)[1]} {value:g}" for label, value in found)
        parts.append(f'<span style="color:{colour}">{severity} {text}</span>')
    return "Dotted: " + " · ".join(parts) if parts else ""


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
    area = sum(HEADER_PX + p.height_px for p in panels) + (HEADER_PX + STRIP_HEIGHT_PX) * len(strips)

    traces: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    axes: dict[str, Any] = {}
    top_px = 0

    def place(height_px: int, header: str) -> tuple[str, str, list[float]]:
        """Reserve the next panel: its axis name ("y", "y2"…), layout key and domain; write its header."""
        nonlocal top_px
        index = len(axes) + 1
        axis, key = ("y", "yaxis") if index == 1 else (f"y{index}", f"yaxis{index}")
        domain = [
            round(1 - (top_px + HEADER_PX + height_px) / area, 4),
            round(1 - (top_px + HEADER_PX) / area, 4),
        ]
        annotations.append(
            {
                "xref": "paper",
                "x": 0,
                "xanchor": "left",
                "yref": "paper",
                "y": domain[1],
                "yanchor": "bottom",
                "align": "left",
                "text": header,
                "showarrow": False,
                "font": {"size": 11, "color": "#2a3441"},
            }
        )
        top_px += HEADER_PX + height_px
        return axis, key, domain

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
        names = []
        for code in panel.codes:
            if code in by_code and code in SYMBOLS:
                marker = "▼" if SYMBOLS[code] == "triangle-down" else "▲"
                word = "systolic" if code == "systolic_bp" else "diastolic"
                names.append(f'<span style="color:{COLOURS[code]}">{marker} {word}</span>')
        header = f"<b>{panel.title}</b>" + (f" · {' '.join(names)}" if names else "")
        words = _threshold_words(panel, mine)
        axis, key, domain = place(panel.height_px, header + (f"<br>{words}" if words else ""))
        values = [float(o.value) for code in panel.codes for o in by_code.get(code, [])]
        first, last, dtick = axis_for(
            values,
            [value for _, value, _, _ in mine],
            usual=panel.usual_range,
            step=panel.step,
            height_px=panel.height_px,
        )
        pad = dtick * 0.2
        axes[key] = {
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
            axes[key]["minor"] = {"dtick": panel.minor_step, "showgrid": True, "gridcolor": "#f2f4f7"}
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
                    "marker": {"symbol": SYMBOLS.get(code, "circle"), "size": 8 if code in SYMBOLS else 6},
                    "hovertemplate": f"%{{x|%H:%M}}: %{{y}} {definition.unit_display}<extra>{definition.label}</extra>",
                }
            )
        for _, value, _, severity in mine:
            shapes.append(
                threshold_shape(
                    axis, value, CRITICAL_COLOUR if severity == rules.CRITICAL else WARNING_COLOUR
                )
            )

    for key, title in strips:
        scale_lines = _scale_lines(key, thresholds)
        words = " · ".join(f'<span style="color:{colour}">{text}</span>' for _, text, colour in scale_lines)
        axis, layout_key, domain = place(
            STRIP_HEIGHT_PX, f"<b>{title}</b>" + (f"<br>Dotted: {words}" if words else "")
        )
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
        for value, _, colour in scale_lines:
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
