"""``kapstone dose``: weight-based ketamine dose and preparation arithmetic.

    kapstone dose --weight-kg W --mg-per-kg X --route iv|im|in|sl|po [--over-min M]
        [--bolus-mg-per-kg B] [--concentration-mg-per-ml C] [--bag-ml V] [--max-mg-per-kg L] [--json]

``--mg-per-kg`` is the total dose (bolus included); ``--over-min`` is the duration of the
continuous infusion after any bolus; ``--bag-ml`` the final volume of the prepared infusion.
Prints ``{"dose_mg", "bolus_mg", "infusion_mg", "volume_ml", "rate_mg_per_min",
"rate_ml_per_h", "warnings"}``; invalid input exits 2 with ``{"error": {"code", "message",
"field"}}``. The rules live in :func:`kapstone.domain.dosing.calculate_dose`.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from kapstone.cli import JsonCommand, parse_decimal
from kapstone.domain.dosing import ROUTES, calculate_dose
from kapstone.domain.errors import DomainError

_NUMBERS = (
    ("weight_kg", True),
    ("mg_per_kg", True),
    ("over_min", False),
    ("bolus_mg_per_kg", False),
    ("concentration_mg_per_ml", False),
    ("bag_ml", False),
    ("max_mg_per_kg", False),
)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _required(options: dict[str, Any], name: str) -> Any:
    if options.get(name) is None:
        raise DomainError("invalid_arguments", f"{_flag(name)} is required.", field=name)
    return options[name]


class Command(JsonCommand):
    help = "Weight-based ketamine dose with the volume to draw and the infusion and pump rates."

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--weight-kg", help="patient weight in kg (30–300)")
        parser.add_argument("--mg-per-kg", help="total dose in mg/kg, bolus included")
        parser.add_argument("--route", help="one of " + ", ".join(ROUTES))
        parser.add_argument(
            "--over-min", help="iv: duration of the continuous infusion after any bolus (min)"
        )
        parser.add_argument("--bolus-mg-per-kg", help="iv: the part of the dose given as a bolus (mg/kg)")
        parser.add_argument("--concentration-mg-per-ml", help="vial concentration (mg/mL) to draw from")
        parser.add_argument("--bag-ml", help="iv: final volume of the prepared infusion (mL)")
        parser.add_argument("--max-mg-per-kg", help="the protocol's maximum total dose (default 3.0 mg/kg)")

    def compute(self, **options: Any) -> dict[str, Any]:
        numbers = {}
        for name, required in _NUMBERS:
            raw = _required(options, name) if required else options.get(name)
            numbers[name] = parse_decimal(raw, field=name)
        result = calculate_dose(route=_required(options, "route"), **numbers)
        return {
            "dose_mg": result.dose_mg,
            "bolus_mg": result.bolus_mg,
            "infusion_mg": result.infusion_mg,
            "volume_ml": result.volume_ml,
            "rate_mg_per_min": result.rate_mg_per_min,
            "rate_ml_per_h": result.rate_ml_per_h,
            "warnings": list(result.warnings),
        }

    def render_text(self, result: dict[str, Any]) -> str:
        lines = [f"dose: {result['dose_mg']} mg"]
        if result["bolus_mg"] is not None:
            lines.append(f"bolus: {result['bolus_mg']} mg")
        if result["infusion_mg"] is not None:
            lines.append(f"infusion: {result['infusion_mg']} mg at {result['rate_mg_per_min']} mg/min")
        if result["volume_ml"] is not None:
            lines.append(f"draw: {result['volume_ml']} mL")
        if result["rate_ml_per_h"] is not None:
            lines.append(f"pump: {result['rate_ml_per_h']} mL/h")
        if result["warnings"]:
            lines.append("warnings: " + ", ".join(result["warnings"]))
        return "\n".join(lines)
