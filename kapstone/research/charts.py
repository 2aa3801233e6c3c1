"""Plotly figures (plain JSON) for the cohort report, drawn by static/kapstone/app.js from a
``json_script`` element: Kaplan–Meier curves with log-log interval bands, abstinence
proportions with Wilson interval bars, abstinence at each follow-up over time, and mean
questionnaire totals over time with t intervals. Only aggregate numbers go in: no ids, no dates."""

from __future__ import annotations

from typing import Any

COLOURS = ("#1f5f8b", "#b5452f", "#2e8b57", "#7a4fb5", "#8a5a00", "#444444")
BANDS = (
    "rgba(31,95,139,0.15)",
    "rgba(181,69,47,0.15)",
    "rgba(46,139,87,0.15)",
    "rgba(122,79,181,0.15)",
    "rgba(138,90,0,0.15)",
    "rgba(68,68,68,0.15)",
)


def _steps(times: list[float], values: list[float]) -> tuple[list[float], list[float]]:
    """A step function starting at (0, 1): each value holds from its time to the next."""
    xs, ys = [0.0], [1.0]
    for t, v in zip(times, values, strict=True):
        xs.extend([t, t])
        ys.extend([ys[-1], v])
    return xs, ys


def km_figure(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """``groups``: [{"label", "rows": KaplanMeierRow..., optional "until"}] → figure with one curve
    and one band each; ``until`` is where the curve ends (default: its last row)."""
    traces = []
    for index, group in enumerate(groups):
        colour, band = COLOURS[index % len(COLOURS)], BANDS[index % len(BANDS)]
        rows = group["rows"]
        times = [row.time for row in rows]
        xs, lower = _steps(times, [row.ci_lower for row in rows])
        _, upper = _steps(times, [row.ci_upper for row in rows])
        _, survival = _steps(times, [row.survival for row in rows])
        end = group.get("until", times[-1] if times else None)
        if end is not None and (not times or end > times[-1]):
            # Carry the last value to the end of follow-up so the curve does not stop early.
            xs.append(end)
            lower.append(lower[-1])
            upper.append(upper[-1])
            survival.append(survival[-1])
        elif rows:
            # Carry the last value to the last observed time so the curve does not stop early.
            xs.append(times[-1])
            lower.append(lower[-1])
            upper.append(upper[-1])
            survival.append(survival[-1])
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": xs + xs[::-1],
                "y": upper + lower[::-1],
                "fill": "toself",
                "fillcolor": band,
                "line": {"width": 0},
                "hoverinfo": "skip",
                "showlegend": False,
                "name": f"{group['label']} 95% CI",
            }
        )
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": str(group["label"]),
                "x": xs,
                "y": survival,
                "line": {"color": colour, "width": 3},
                "hovertemplate": "day %{x}: %{y:.2f}<extra>" + str(group["label"]) + "</extra>",
            }
        )
    return {
        "data": traces,
        "layout": {
            "margin": {"l": 60, "r": 20, "t": 10, "b": 45},
            "height": 340,
            "showlegend": True,
            "legend": {"orientation": "h", "y": -0.2},
            "xaxis": {"title": {"text": "days after the end of the acute phase"}, "rangemode": "tozero"},
            "yaxis": {"title": {"text": "proportion without relapse"}, "range": [0, 1.02]},
            "paper_bgcolor": "#fff",
            "plot_bgcolor": "#fff",
        },
    }


def abstinence_figure(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """``groups``: [{"group", "proportion", "ci_lower", "ci_upper"}] → bars with interval whiskers."""
    shown = [g for g in groups if g.get("proportion") is not None]
    return {
        "data": [
            {
                "type": "bar",
                "x": [str(g["group"]) for g in shown],
                "y": [g["proportion"] for g in shown],
                "marker": {"color": [COLOURS[i % len(COLOURS)] for i in range(len(shown))]},
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": [g["ci_upper"] - g["proportion"] for g in shown],
                    "arrayminus": [g["proportion"] - g["ci_lower"] for g in shown],
                },
                "hovertemplate": "%{x}: %{y:.2f}<extra></extra>",
            }
        ],
        "layout": {
            "margin": {"l": 60, "r": 20, "t": 10, "b": 45},
            "height": 300,
            "showlegend": False,
            "yaxis": {"title": {"text": "proportion abstinent (ITT)"}, "range": [0, 1]},
            "paper_bgcolor": "#fff",
            "plot_bgcolor": "#fff",
        },
    }


def _layout(
    height: int, x_title: str, y_title: str, y_range: list[float] | None = None, months: int = 0
) -> dict[str, Any]:
    yaxis: dict[str, Any] = {"title": {"text": y_title}}
    if y_range is not None:
        yaxis["range"] = y_range
    else:
        yaxis["rangemode"] = "tozero"
    return {
        "margin": {"l": 60, "r": 20, "t": 10, "b": 45},
        "height": height,
        "showlegend": True,
        "legend": {"orientation": "h", "y": -0.25},
        # Half a month of margin each side, so a point at month 0 is not drawn on the axis.
        "xaxis": {"title": {"text": x_title}, "range": [-0.5, max(months, 1) + 0.5], "dtick": 3},
        "yaxis": yaxis,
        "paper_bgcolor": "#fff",
        "plot_bgcolor": "#fff",
    }


def _line_with_interval(index: int, label: str, points: list[dict[str, Any]], value: str) -> dict[str, Any]:
    """One group's line over months, with asymmetric interval whiskers and n in the hover."""
    return {
        "type": "scatter",
        "mode": "lines+markers",
        "name": str(label),
        "x": [p["months"] for p in points],
        "y": [p[value] for p in points],
        "line": {"color": COLOURS[index % len(COLOURS)], "width": 2},
        "error_y": {
            "type": "data",
            "symmetric": False,
            "array": [(p["ci_upper"] - p[value]) if p["ci_upper"] is not None else 0 for p in points],
            "arrayminus": [(p[value] - p["ci_lower"]) if p["ci_lower"] is not None else 0 for p in points],
        },
        "customdata": [str(p["n"]) for p in points],
        "hovertemplate": "month %{x}: %{y:.2f} (n %{customdata})<extra>" + str(label) + "</extra>",
    }


def abstinence_time_figure(series: list[dict[str, Any]]) -> dict[str, Any]:
    """``series``: [{"group", "points": [{"months", "n", "proportion", "ci_lower", "ci_upper"}]}]
    → one line per group of the proportion abstinent at each follow-up, Wilson whiskers; points
    without a proportion (withheld) are left out."""
    traces = []
    for index, group in enumerate(series):
        points = [p for p in group["points"] if p.get("proportion") is not None]
        if points:
            traces.append(_line_with_interval(index, group["group"], points, "proportion"))
    months = max((p["months"] for group in series for p in group["points"]), default=0)
    return {
        "data": traces,
        "layout": _layout(
            300, "months after the last dosing session", "proportion abstinent, past 30 days", [0, 1], months
        ),
    }


def trajectory_figure(groups: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """``groups``: {label: [{"months", "n", "mean", "ci_lower", "ci_upper"}]} → one line per group
    of the mean total at each time point (0 = baseline) with t-interval whiskers."""
    traces = [
        _line_with_interval(index, label, points, "mean")
        for index, (label, points) in enumerate(sorted(groups.items()))
        if points
    ]
    months = max((p["months"] for points in groups.values() for p in points), default=0)
    return {"data": traces, "layout": _layout(280, "months (0 = baseline)", "mean total", None, months)}
