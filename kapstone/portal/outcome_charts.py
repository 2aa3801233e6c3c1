"""The patient's progress as plotly figures (drawn by plotly.min.js, served locally) and as the
tables that say the same in words: questionnaire totals over time, each with its bands named
("Mild"), and the days without use per month. Only the patient's own data is passed in."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.utils import dateformat
from django.utils.formats import get_format
from django.utils.text import slugify
from django.utils.translation import gettext as _

from kapstone.domain import instruments
from kapstone.patients.models import Patient
from kapstone.portal.outcome_selectors import Progress, band_words, instrument_name, substance_name

LINE = "#1f5f8b"
WITHOUT_USE = "#2e7d32"
WITH_USE = "#9a5b00"
BAND_FILLS = ("#f1f5f9", "#ffffff")
#: Dates on the axes in the page's language, without month names plotly would write in English.
DATE_FORMATS = {"en": "%b %-d, %Y", "es": "%-d/%m/%Y"}


def _bands(definition: instruments.InstrumentDefinition, patient: Patient) -> tuple[instruments.Band, ...]:
    if not definition.requires_sex:
        return definition.bands
    return dict(definition.bands_by_sex).get(patient.sex_at_birth, ())


def questionnaire_figure(
    code: str, points: list[tuple[date, int, str]], *, patient: Patient, lang: str
) -> dict[str, Any]:
    """One questionnaire's totals over time on its whole range, its bands shaded and named."""
    definition = instruments.get_instrument(code)
    date_format = DATE_FORMATS.get(lang, DATE_FORMATS["en"])
    shapes, annotations = [], []
    for index, band in enumerate(_bands(definition, patient)):
        low = band.min_total - 0.5 if band.min_total > definition.total_min else definition.total_min
        high = band.max_total + 0.5 if band.max_total < definition.total_max else definition.total_max
        shapes.append(
            {
                "type": "rect",
                "xref": "paper",
                "yref": "y",
                "x0": 0,
                "x1": 1,
                "y0": low,
                "y1": high,
                "fillcolor": BAND_FILLS[index % 2],
                "line": {"width": 0},
                "layer": "below",
            }
        )
        annotations.append(
            {
                "xref": "paper",
                "yref": "y",
                "x": 0.01,
                "y": (low + high) / 2,
                "xanchor": "left",
                "text": _(band.label),
                "showarrow": False,
                "font": {"size": 11, "color": "#4a5563"},
            }
        )
    trace = {
        "type": "scatter",
        "mode": "lines+markers",
        "x": [day.isoformat() for day, _total, _band in points],
        "y": [total for _day, total, _band in points],
        "text": [band_words(code, band) or "" for _day, _total, band in points],
        "line": {"color": LINE, "width": 3},
        "marker": {"size": 10, "color": LINE},
        "hovertemplate": "%{x|" + date_format + "}: %{y} %{text}<extra></extra>",
    }
    layout = {
        "height": 260,
        "margin": {"l": 48, "r": 12, "t": 8, "b": 48},
        "showlegend": False,
        "paper_bgcolor": "#fff",
        "plot_bgcolor": "#fff",
        "xaxis": {"type": "date", "tickformat": date_format, "fixedrange": True, **_date_ticks(points)},
        "yaxis": {
            "range": [definition.total_min, definition.total_max],
            "title": {"text": _("Score")},
            "fixedrange": True,
            "zeroline": False,
        },
        "shapes": shapes,
        "annotations": annotations,
    }
    return {"data": [trace], "layout": layout}


DAY_MS = 86_400_000


def _date_ticks(points: list[tuple[date, int, str]]) -> dict[str, Any]:
    """Whole days on the date axis: over a short span (one answer, or a few days) plotly would
    otherwise tick every few hours and print the same date several times."""
    first, last = points[0][0], points[-1][0]
    span = (last - first).days
    if span >= 28:
        return {"nticks": 6}
    pad = max(3, span // 4)
    step = max(1, (span + 2 * pad) // 4)
    return {
        "range": [(first - timedelta(days=pad)).isoformat(), (last + timedelta(days=pad)).isoformat()],
        "dtick": step * DAY_MS,
    }


def month_label(month: str) -> str:
    """The month "2026-05" as "May 2026" ("mayo de 2026") in the active language."""
    year, number = (int(part) for part in month.split("-"))
    return dateformat.format(date(year, number, 1), get_format("YEAR_MONTH_FORMAT"))


def use_figure(substance: str, months: list[tuple[str, int, int]]) -> dict[str, Any]:
    """Per month, the days reported without use and with use, stacked."""
    name = substance_name(substance).lower()
    labels = [month_label(month) for month, _reported, _without in months]
    return {
        "data": [
            {
                "type": "bar",
                "name": _("Days without %(substance)s") % {"substance": name},
                "x": labels,
                "y": [without for _month, _reported, without in months],
                "marker": {"color": WITHOUT_USE},
                "hovertemplate": "%{x}: %{y}<extra></extra>",
            },
            {
                "type": "bar",
                "name": _("Days with %(substance)s") % {"substance": name},
                "x": labels,
                "y": [reported - without for _month, reported, without in months],
                "marker": {"color": WITH_USE},
                "hovertemplate": "%{x}: %{y}<extra></extra>",
            },
        ],
        "layout": {
            "barmode": "stack",
            "height": 280,
            "margin": {"l": 48, "r": 12, "t": 8, "b": 40},
            "paper_bgcolor": "#fff",
            "plot_bgcolor": "#fff",
            "legend": {"orientation": "h", "y": -0.2},
            "xaxis": {"type": "category", "fixedrange": True},
            "yaxis": {"title": {"text": _("Days")}, "fixedrange": True, "rangemode": "tozero"},
        },
    }


def progress_charts(progress: Progress, *, patient: Patient, lang: str) -> dict[str, list[dict[str, Any]]]:
    """The figures and their tables, in the active language."""
    questionnaires = []
    for code, points in progress.questionnaires.items():
        definition = instruments.get_instrument(code)
        questionnaires.append(
            {
                "code": code,
                "figure_id": f"figure-{code}",
                "name": instrument_name(code),
                "total_max": definition.total_max,
                "figure": questionnaire_figure(code, points, patient=patient, lang=lang),
                "rows": [
                    {"day": day, "total": total, "band": band_words(code, band)}
                    for day, total, band in points
                ],
            }
        )
    by_substance: dict[str, list[tuple[str, int, int]]] = {}
    for month in progress.days_without_use:
        by_substance.setdefault(month.substance, []).append(
            (month.month, month.days_reported, month.days_without_use)
        )
    use = [
        {
            "substance": substance,
            "slug": f"{index}-{slugify(substance)}",
            "figure_id": f"figure-use-{index}-{slugify(substance)}",
            "name": substance_name(substance),
            "figure": use_figure(substance, months),
            "rows": [
                {"month": month_label(month), "reported": reported, "without": without}
                for month, reported, without in months
            ],
        }
        for index, (substance, months) in enumerate(by_substance.items())
    ]
    return {"questionnaires": questionnaires, "use": use}
