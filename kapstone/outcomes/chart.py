"""The outcomes section of the patient chart (registered in ``OutcomesConfig.ready``): latest
scores with bands, open alerts, every questionnaire's trajectory, the last 30 days of the use calendar
and the follow-ups. Covered by the chart's own read event."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kapstone.accounts.access import clinic_ids_for
from kapstone.domain.instruments import get_instrument
from kapstone.outcomes import selectors
from kapstone.outcomes.access import FLAG_ACKNOWLEDGE, OUTCOMES_READ, OUTCOMES_RECORD
from kapstone.patients.services import clinic_today

SUMMARY_DAYS = 30
COLOURS = {
    "phq-9": "#b42318",
    "pacs": "#1f5f8b",
    "gad-7": "#7a4cc2",
    "audit": "#b26b00",
    "audit-c": "#8a5a00",
    "dast-10": "#2e7d32",
}
PANEL_HEIGHT = 150


def trajectory_figure(series: dict[str, list[Any]]) -> dict[str, Any] | None:
    """Small multiples of the totals over time: one panel per instrument with ≥ 2 responses,
    each on its own scale (the instrument's whole range, so a change reads at its true size),
    sharing the date axis. None when there is nothing to draw."""
    drawn = [(code, rows) for code, rows in series.items() if len(rows) >= 2]
    if not drawn:
        return None
    count = len(drawn)
    gap = 0.06 if count > 1 else 0.0
    height = (1 - gap * (count - 1)) / count
    traces, layout = [], {}
    for index, (code, rows) in enumerate(drawn):
        definition = get_instrument(code)
        axis = "" if index == 0 else str(index + 1)
        top = 1 - index * (height + gap)
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": definition.name,
                "x": [r.administered_on.isoformat() for r in rows],
                "y": [r.total for r in rows],
                "text": [r.band or "" for r in rows],
                "xaxis": "x",
                "yaxis": f"y{axis}",
                "line": {"color": COLOURS.get(code, "#333"), "width": 2},
                "hovertemplate": "%{x}: %{y} %{text}<extra>" + code.upper() + "</extra>",
            }
        )
        layout[f"yaxis{axis}"] = {
            "domain": [max(0.0, top - height), top],
            "range": [definition.total_min, definition.total_max],
            "title": {"text": f"{code.upper()}<br>({definition.total_min}–{definition.total_max})"},
            "zeroline": False,
        }
    layout.update(
        {
            "margin": {"l": 70, "r": 10, "t": 10, "b": 40},
            "height": 90 + PANEL_HEIGHT * count,
            "showlegend": False,
            "xaxis": {"anchor": f"y{'' if count == 1 else count}"},
            "paper_bgcolor": "#fff",
            "plot_bgcolor": "#fff",
        }
    )
    return {"data": traces, "layout": layout}


def outcomes_chart_context(user: Any, patient: Any, can_write: bool) -> dict[str, Any] | None:
    if patient.clinic_id not in clinic_ids_for(user, OUTCOMES_READ):
        return None
    end = clinic_today(patient.clinic)
    start = end - timedelta(days=SUMMARY_DAYS - 1)
    substances = selectors.substances_of(patient)
    summaries = [selectors.calendar_summary(patient, s, start, end) for s in substances]
    # How many of the window's days the patient entered in the portal, per substance.
    entered_by_patient = {
        s: sum(
            1
            for row in selectors.current_use_days(patient, s, start, end).values()
            if row.source == "patient"
        )
        for s in substances
    }
    schedule = selectors.follow_ups_of_patient(patient)
    return {
        "latest": selectors.latest_scores(patient),
        "flags": selectors.flags_of(patient, open_only=True),
        "figure": trajectory_figure(selectors.trajectories(patient)),
        "summaries": summaries,
        "entered_by_patient": entered_by_patient,
        "follow_ups": [f for f in schedule if f.status in (selectors.OVERDUE, selectors.DUE)],
        "next_follow_up": next((f for f in schedule if f.status == selectors.UPCOMING), None),
        "can_record": patient.clinic_id in clinic_ids_for(user, OUTCOMES_RECORD),
        "can_acknowledge": patient.clinic_id in clinic_ids_for(user, FLAG_ACKNOWLEDGE),
    }
