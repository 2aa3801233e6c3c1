"""``kapstone pk``: predicted ketamine plasma concentration for a dose, by published model.

    kapstone pk --weight-kg W --mg-per-kg X --route iv|im|in|sl [--over-min M]
        [--bolus-mg-per-kg B] [--model domino|clements|hijazi] [--until-min T] [--step-min S]
        [--at T1,T2,…] [--json]

Prints ``{"model", "route", "cmax_ng_per_ml", "tmax_min", "auc_ng_min_per_ml", "points":
[{"t_min", "c_ng_per_ml"}], "at": [{"t_min", "c_ng_per_ml"}], "source"}`` (``at`` only with
``--at``; defaults: until 240 min, step 1 min, model clements). Concentrations are shown to
0.001 ng/mL and the AUC to 0.01 ng·min/mL. An IV dose given wholly as a bolus is
``--bolus-mg-per-kg`` equal to ``--mg-per-kg`` without ``--over-min``. Invalid input exits 2 with
``{"error": {"code", "message", "field"}}``. The model lives in :mod:`kapstone.domain.pk`.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from kapstone.cli import JsonCommand, parse_decimal
from kapstone.domain.errors import DomainError
from kapstone.domain.pk import DEFAULT_MODEL, PK_MODELS, PK_ROUTES, PkPoint, simulate_pk


def _required(options: dict[str, Any], name: str) -> Any:
    if options.get(name) is None:
        flag = "--" + name.replace("_", "-")
        raise DomainError("invalid_arguments", f"{flag} is required.", field=name)
    return options[name]


def _parse_at(raw: str | None) -> list[Any] | None:
    if raw is None:
        return None
    return [parse_decimal(token, field="at") for token in raw.split(",")]


def _point(point: PkPoint) -> dict[str, Any]:
    return {"t_min": point.t_min, "c_ng_per_ml": round(point.c_ng_per_ml, 3)}


class Command(JsonCommand):
    help = "Predicted ketamine plasma concentration (ng/mL) over time for a dose (model estimate)."

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--weight-kg", help="patient weight in kg (30–300)")
        parser.add_argument("--mg-per-kg", help="total dose in mg/kg, bolus included")
        parser.add_argument("--route", help="one of " + ", ".join(PK_ROUTES))
        parser.add_argument("--over-min", help="iv: duration of the continuous infusion (min)")
        parser.add_argument("--bolus-mg-per-kg", help="iv: the part of the dose given as a bolus at 0 min")
        parser.add_argument("--model", default=DEFAULT_MODEL, help="one of " + ", ".join(PK_MODELS))
        parser.add_argument("--until-min", default="240", help="end of the curve in minutes (default 240)")
        parser.add_argument("--step-min", default="1", help="spacing of the curve in minutes (default 1)")
        parser.add_argument("--at", help="comma-separated times (min) to report, e.g. 40,160")

    def compute(self, **options: Any) -> dict[str, Any]:
        result = simulate_pk(
            weight_kg=parse_decimal(_required(options, "weight_kg"), field="weight_kg"),
            mg_per_kg=parse_decimal(_required(options, "mg_per_kg"), field="mg_per_kg"),
            route=_required(options, "route"),
            over_min=parse_decimal(options.get("over_min"), field="over_min"),
            bolus_mg_per_kg=parse_decimal(options.get("bolus_mg_per_kg"), field="bolus_mg_per_kg"),
            model=options.get("model"),
            until_min=parse_decimal(options.get("until_min"), field="until_min"),
            step_min=parse_decimal(options.get("step_min"), field="step_min"),
            at=_parse_at(options.get("at")),
        )
        payload: dict[str, Any] = {
            "model": result.model,
            "route": result.route,
            "cmax_ng_per_ml": round(result.cmax_ng_per_ml, 3),
            "tmax_min": result.tmax_min,
            "auc_ng_min_per_ml": round(result.auc_ng_min_per_ml, 2),
            "points": [_point(p) for p in result.points],
        }
        if result.at is not None:
            payload["at"] = [_point(p) for p in result.at]
        payload["source"] = result.source
        return payload

    def render_text(self, result: dict[str, Any]) -> str:
        lines = [
            f"{result['model']} model, route {result['route']} (model estimate)",
            f"Cmax {result['cmax_ng_per_ml']} ng/mL at {result['tmax_min']} min; "
            f"AUC {result['auc_ng_min_per_ml']} ng·min/mL",
        ]
        shown = result.get("at")
        if shown is None:
            points = result["points"]
            every = max(1, len(points) // 12)
            shown = points[::every] + ([points[-1]] if (len(points) - 1) % every else [])
        lines.append("t_min  c_ng_per_ml")
        lines.extend(f"{p['t_min']:>5}  {p['c_ng_per_ml']}" for p in shown)
        lines.append(f"source: {result['source']}")
        return "\n".join(lines)
