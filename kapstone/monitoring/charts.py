"""The session's vital signs against time, with the alert thresholds drawn, as a plotly figure.

Plain JSON like the PK chart (``dosing/charts.py``): the page embeds it with ``json_script`` and
``static/kapstone/app.js`` draws it with the locally served plotly.min.js.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from kapstone.domain import monitoring as rules

COLOURS = {
    "systolic_bp": "#b3261e",
    "diastolic_bp": "#e07b39",
    "heart_rate": "#1f5f8b",
    "spo2": "#2e8b57",
    "respiratory_rate": "#7a4fb5",
    "temperature": "#8a5a00",
    "moaas": "#444444",
    "aldrete_total": "#999999",
}
# Temperature and the bedside scores have small numbers: they go on the right-hand axis.
RIGHT_AXIS = ("temperature", "moaas", "aldrete_total")


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
) -> dict[str, Any] | None:
    """One trace per observed code (local clock time on x), threshold lines as dotted shapes, the
    dosing period shaded. None when nothing has been recorded."""
    if not observations:
        return None
    zone = ZoneInfo(timezone_name)

    def x(at) -> str:
        return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

    by_code: dict[str, list] = {}
    for obs in observations:
        by_code.setdefault(obs.code, []).append(obs)
    traces = []
    for code, definition in rules.OBSERVATION_DEFINITIONS.items():
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
    if dosing_started_at is not None:
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": x(dosing_started_at),
                "x1": x(dosing_ended_at) if dosing_ended_at else x(observations[-1].observed_at),
                "y0": 0,
                "y1": 1,
                "fillcolor": "rgba(31,95,139,0.08)",
                "line": {"width": 0},
                "layer": "below",
            }
        )
    return {
        "data": traces,
        "layout": {
            "margin": {"l": 55, "r": 55, "t": 10, "b": 45},
            "height": 360,
            "legend": {"orientation": "h", "y": -0.2},
            "xaxis": {"title": {"text": "clock time"}, "type": "date"},
            "yaxis": {"title": {"text": "mmHg · /min · %"}, "rangemode": "tozero"},
            "yaxis2": {
                "title": {"text": "°C · score"},
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
                "showgrid": False,
            },
            "shapes": shapes,
            "annotations": annotations,
            "paper_bgcolor": "#fff",
            "plot_bgcolor": "#fff",
        },
    }
