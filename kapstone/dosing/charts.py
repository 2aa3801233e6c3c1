"""The predicted-concentration chart of a dose order, as a plotly figure (plain JSON).

The page embeds the figure with ``json_script`` and ``static/kapstone/app.js`` draws it with the
locally served plotly.min.js — no inline script, no CDN. All three published models are in the
figure; the model selector shows one at a time.
"""

from __future__ import annotations

from typing import Any

from kapstone.domain.errors import DomainError
from kapstone.domain.pk import CONCENTRATION_BANDS, DEFAULT_MODEL, PK_MODELS, simulate_pk

COLOURS = {"clements": "#1f5f8b", "domino": "#7a4fb5", "hijazi": "#2e8b57"}


def pk_figure(
    *, weight_kg, mg_per_kg, route: str, over_min=None, bolus_mg_per_kg=None, until_min: int = 240
) -> dict[str, Any]:
    """Traces for every model (only the default visible), with the measured bands shaded."""
    traces, sources, peak = [], {}, 0.0
    for name in PK_MODELS:
        try:
            result = simulate_pk(
                weight_kg=weight_kg,
                mg_per_kg=mg_per_kg,
                route=route,
                over_min=over_min if route == "iv" else None,
                bolus_mg_per_kg=bolus_mg_per_kg if route == "iv" else None,
                model=name,
                until_min=until_min,
                step_min=2,
            )
        except DomainError:
            continue
        peak = max(peak, result.cmax_ng_per_ml)
        sources[name] = result.source
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{name.capitalize()} model",
                "x": [float(p.t_min) for p in result.points],
                "y": [round(p.c_ng_per_ml, 2) for p in result.points],
                "line": {"color": COLOURS.get(name, "#333"), "width": 3},
                "visible": name == DEFAULT_MODEL,
                "meta": name,
                "hovertemplate": "%{x} min: %{y:.0f} ng/mL<extra></extra>",
            }
        )
    shapes, annotations = [], []
    for band in CONCENTRATION_BANDS:
        if band.low_ng_per_ml > max(peak * 1.5, 300):
            continue  # an anaesthetic band far above the curve would flatten it
        shapes.append(
            {
                "type": "rect",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "yref": "y",
                "y0": band.low_ng_per_ml,
                "y1": band.high_ng_per_ml,
                "fillcolor": "rgba(240,162,2,0.15)",
                "line": {"width": 0},
                "layer": "below",
            }
        )
        annotations.append(
            {
                "xref": "paper",
                "x": 1,
                "xanchor": "right",
                "y": band.high_ng_per_ml,
                "yanchor": "top",
                "text": f"measured {band.name} ({band.regimen})",
                "showarrow": False,
                "font": {"size": 11, "color": "#8a5a00"},
            }
        )
    return {
        "data": traces,
        "layout": {
            "margin": {"l": 60, "r": 20, "t": 10, "b": 45},
            "height": 320,
            "showlegend": False,
            "xaxis": {"title": {"text": "minutes from the start of administration"}, "zeroline": False},
            "yaxis": {"title": {"text": "predicted plasma ketamine (ng/mL)"}, "rangemode": "tozero"},
            "shapes": shapes,
            "annotations": annotations,
            "paper_bgcolor": "#fff",
            "plot_bgcolor": "#fff",
        },
        "sources": sources,
        "bands": [
            {"name": b.name, "low": b.low_ng_per_ml, "high": b.high_ng_per_ml, "source": b.source}
            for b in CONCENTRATION_BANDS
        ],
    }


def pk_figure_for_order(order) -> dict[str, Any]:
    return pk_figure(
        weight_kg=order.weight_kg,
        mg_per_kg=order.mg_per_kg,
        route=order.route,
        over_min=order.over_min,
        bolus_mg_per_kg=order.bolus_mg_per_kg,
    )
