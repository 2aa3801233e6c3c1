"""The session's vital signs against time, with the alert thresholds drawn, as a plotly figure.

Plain JSON like the PK chart (``dosing/charts.py``): the page embeds it with ``json_script`` and
``static/kapstone/app.js`` draws it with the locally served plotly.min.js.

The bedside scales (issue 5: "scored in the domain, charted on the session") each get a strip of
their own under the vitals, on the same clock-time axis and with the scale's whole range: MOAA/S
0–5 (the sedation alert's critical level drawn), CADSS total 0–92, modified Aldrete 0–10 (the
discharge level drawn). A strip is drawn only for a scale that has been scored in the session.
"""

from __future__ import annotations

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
# Temperature has small numbers: it goes on the right-hand axis of the vitals.
RIGHT_AXIS = ("temperature",)
# The scale strips, top to bottom: (key, title). MOAA/S and Aldrete come from the observations,
# CADSS from its scale scores.
SCALES = (("moaas", "MOAA/S"), ("cadss", "CADSS"), ("aldrete_total", "Aldrete"))
VITALS_HEIGHT, STRIP_HEIGHT, STRIP_GAP = 320, 110, 28  # pixels of the plot area
MARGIN_TOP, MARGIN_BOTTOM = 64, 48  # the legend (two lines) above, the time axis below


def _scale_range(key: str) -> tuple[float, float]:
    if key == "cadss":
        cadss = get_instrument("cadss")
        return float(cadss.total_min), float(cadss.total_max)
    definition = rules.OBSERVATION_DEFINITIONS[key]
    return float(definition.plausible_min), float(definition.plausible_max)


def _scale_lines(key: str, t: rules.AlertThresholds) -> list[tuple[float, str, str]]:
    """(value, label, colour) drawn across a scale's strip."""
    if key == "moaas":
        return [(float(t.moaas_critical_at_or_below), "sedation critical ≤", "#b3261e")]
    if key == "aldrete_total":
        return [(float(rules.ALDRETE_DISCHARGE_MIN), "discharge ≥", "#2e8b57")]
    return []


def _threshold_lines(t: rules.AlertThresholds) -> list[tuple[str, float, str, str]]:
    """(parameter, value, label, severity) for every fixed threshold of the session's protocol."""
    return [
        ("systolic_bp", float(t.systolic_critical_at_or_above_mmhg), "SBP critical", rules.CRITICAL),
        ("systolic_bp", float(t.systolic_warning_at_or_above_mmhg), "SBP warning", rules.WARNING),
        ("diastolic_bp", float(t.diastolic_critical_at_or_above_mmhg), "DBP critical", rules.CRITICAL),
        ("diastolic_bp", float(t.diastolic_warning_at_or_above_mmhg), "DBP warning", rules.WARNING),
        ("heart_rate", float(t.heart_rate_critical_at_or_above_per_min), "HR critical", rules.CRITICAL),
        ("heart_rate", float(t.heart_rate_warning_above_per_min), "HR warning", rules.WARNING),
        ("heart_rate", float(t.heart_rate_warning_below_per_min), "HR low", rules.WARNING),
        ("spo2", float(t.spo2_warning_below_pct), "SpO2 warning", rules.WARNING),
        ("spo2", float(t.spo2_critical_below_pct), "SpO2 critical", rules.CRITICAL),
        ("respiratory_rate", float(t.respiratory_rate_critical_below_per_min), "RR critical", rules.CRITICAL),
    ]


def vitals_figure(
    *,
    observations,
    thresholds: rules.AlertThresholds,
    timezone_name: str,
    dosing_started_at=None,
    dosing_ended_at=None,
    cadss_scores=(),
) -> dict[str, Any] | None:
    """One trace per observed code (local clock time on x), threshold lines as dotted shapes, the
    dosing period shaded; below the vitals, one strip per scored bedside scale (``cadss_scores``:
    the session's CADSS ``ScaleScore`` rows, time order). None when nothing has been recorded."""
    cadss_scores = list(cadss_scores)
    if not observations and not cadss_scores:
        return None
    zone = ZoneInfo(timezone_name)

    def x(at) -> str:
        return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

    by_code: dict[str, list] = {}
    for obs in observations:
        by_code.setdefault(obs.code, []).append(obs)
    traces = []
    for code, definition in rules.VITAL_SIGNS.items():
        rows = by_code.get(code)
        if not rows:
            continue
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": definition.display,
                "x": [x(o.observed_at) for o in rows],
                "y": [float(o.value) for o in rows],
                "yaxis": "y2" if code in RIGHT_AXIS else "y",
                "line": {"color": COLOURS.get(code, "#333"), "width": 2},
                "hovertemplate": f"%{{x|%H:%M}}: %{{y}} {definition.unit_display}<extra>{definition.display}</extra>",
            }
        )
    shapes, annotations = [], []
    for code, value, label, severity in _threshold_lines(thresholds):
        if code not in by_code:
            continue
        colour = "#b3261e" if severity == rules.CRITICAL else "#c77700"
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "yref": "y",
                "y0": value,
                "y1": value,
                "line": {"color": colour, "width": 1, "dash": "dot"},
                "layer": "below",
            }
        )
        annotations.append(
            {
                "xref": "paper",
                "x": 0,
                "xanchor": "left",
                "y": value,
                "yanchor": "bottom",
                "text": f"{label} {value:g}",
                "showarrow": False,
                "font": {"size": 10, "color": colour},
            }
        )
    series = {
        "moaas": [(o.observed_at, float(o.value)) for o in by_code.get("moaas", [])],
        "cadss": [(c.observed_at, float(c.total)) for c in cadss_scores],
        "aldrete_total": [(o.observed_at, float(o.value)) for o in by_code.get("aldrete_total", [])],
    }
    strips = [(key, title) for key, title in SCALES if series[key]]
    # Plot area in pixels: the vitals on top, then one strip per scale, each with a gap above it.
    area = VITALS_HEIGHT + STRIP_HEIGHT * len(strips)
    axes: dict[str, Any] = {}
    for index, (key, title) in enumerate(strips):
        top_px = VITALS_HEIGHT + STRIP_HEIGHT * index + STRIP_GAP
        bottom_px = VITALS_HEIGHT + STRIP_HEIGHT * (index + 1)
        axis = f"y{index + 3}"
        low, high = _scale_range(key)
        pad = (high - low) * 0.08
        axes[f"yaxis{index + 3}"] = {
            "domain": [round(1 - bottom_px / area, 4), round(1 - top_px / area, 4)],
            "range": [low - pad, high + pad],
            "tickvals": [low, round((low + high) / 2), high],
            "title": {"text": f"{title}<br>{low:g}–{high:g}", "font": {"size": 11}},
            "zeroline": False,
            "fixedrange": True,
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
        for value, label, colour in _scale_lines(key, thresholds):
            shapes.append(
                {
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
            )
            annotations.append(
                {
                    "xref": "paper",
                    "x": 1,
                    "xanchor": "right",
                    "yref": axis,
                    "y": value,
                    "yanchor": "bottom",
                    "text": f"{label} {value:g}",
                    "showarrow": False,
                    "font": {"size": 10, "color": colour},
                }
            )
    vitals_bottom = round(1 - VITALS_HEIGHT / area, 4) if strips else 0.0
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
    # Threshold labels of the vitals sit at the vitals' own y values.
    for annotation in annotations:
        annotation.setdefault("yref", "y")
    return {
        "data": traces,
        "layout": {
            # The legend sits above the plot, so the plot area is exactly ``area`` pixels high.
            "margin": {"l": 60, "r": 55, "t": MARGIN_TOP, "b": MARGIN_BOTTOM},
            "height": area + MARGIN_TOP + MARGIN_BOTTOM,
            "legend": {"orientation": "h", "x": 0, "y": 1, "yref": "container", "yanchor": "top"},
            "xaxis": {"title": {"text": "clock time"}, "type": "date", "anchor": f"y{len(strips) + 2}"}
            if strips
            else {"title": {"text": "clock time"}, "type": "date"},
            "yaxis": {
                "title": {"text": "mmHg · /min · %"},
                "rangemode": "tozero",
                "domain": [vitals_bottom, 1],
            },
            "yaxis2": {
                "title": {"text": "°C"},
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
                "showgrid": False,
            },
            **axes,
            "shapes": shapes,
            "annotations": annotations,
            "paper_bgcolor": "#fff",
            "plot_bgcolor": "#fff",
        },
    }
