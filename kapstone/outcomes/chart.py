"""The outcomes section of the patient chart (registered in ``OutcomesConfig.ready``): latest
scores with bands, open alerts, the PHQ-9/PACS trajectory, the last 30 days of the use calendar
and the follow-ups. Covered by the chart's own read event."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kapstone.accounts.access import clinic_ids_for
from kapstone.outcomes import selectors
from kapstone.outcomes.access import FLAG_ACKNOWLEDGE, OUTCOMES_READ, OUTCOMES_RECORD
from kapstone.patients.services import clinic_today

SUMMARY_DAYS = 30
COLOURS = {"phq-9": "#b42318", "pacs": "#1f5f8b"}
TITLES = {"phq-9": "PHQ-9 (0–27)", "pacs": "PACS (0–30)"}


def trajectory_figure(series: dict[str, list[Any]]) -> dict[str, Any] | None:
    """A plotly figure of the totals over time, one line per instrument with ≥ 2 responses;
    None when there is nothing to draw."""
    traces = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": TITLES.get(code, code),
            "x": [r.administered_on.isoformat() for r in rows],
            "y": [r.total for r in rows],
            "line": {"color": COLOURS.get(code, "#333"), "width": 2},
            "hovertemplate": "%{x}: %{y}<extra>" + code.upper() + "</extra>",
        }
        for code, rows in series.items()
        if len(rows) >= 2
    ]
    if not traces:
        return None
    return {
        "data": traces,
        "layout": {
            "margin": {"l": 45, "r": 10, "t": 10, "b": 40},
            "height": 240,
            "legend": {"orientation": "h", "y": -0.25},
            "yaxis": {"title": {"text": "total score"}, "rangemode": "tozero"},
            "paper_bgcolor": "#fff",
            "plot_bgcolor": "#fff",
        },
    }


def outcomes_chart_context(user: Any, patient: Any, can_write: bool) -> dict[str, Any] | None:
    if patient.clinic_id not in clinic_ids_for(user, OUTCOMES_READ):
        return None
    end = clinic_today(patient.clinic)
    start = end - timedelta(days=SUMMARY_DAYS - 1)
    summaries = [selectors.calendar_summary(patient, s, start, end) for s in selectors.substances_of(patient)]
    schedule = selectors.follow_ups_of_patient(patient)
    return {
        "latest": selectors.latest_scores(patient),
        "flags": selectors.flags_of(patient, open_only=True),
        "figure": trajectory_figure(selectors.trajectories(patient)),
        "summaries": summaries,
        "follow_ups": [f for f in schedule if f.status in (selectors.OVERDUE, selectors.DUE)],
        "next_follow_up": next((f for f in schedule if f.status == selectors.UPCOMING), None),
        "can_record": patient.clinic_id in clinic_ids_for(user, OUTCOMES_RECORD),
        "can_acknowledge": patient.clinic_id in clinic_ids_for(user, FLAG_ACKNOWLEDGE),
    }
