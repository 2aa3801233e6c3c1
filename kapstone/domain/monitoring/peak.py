"""The blood-pressure check at the expected peak, from the route of the order and the PK model.

The Spravato label's "about 40 min after dosing" is the peak of the blood-pressure rise after a
*nasal* esketamine dose (clinical.md §3.2); racemic ketamine given IV or IM peaks at other times.
The check is therefore placed at the time the plasma concentration peaks for the order's route:

- **IV infusion**: at the end of the infusion (the order's infusion time). During a constant-rate
  infusion the concentration rises until the infusion stops (closed-form model, clinical.md §2.5;
  :func:`kapstone.domain.pk.simulate_pk` gives Tmax = the infusion time for every shipped IV
  order, bolus included, with the default model), and the Yale series saw blood pressure peak
  at 40 min, the end of its 40-min infusion (clinical.md §3.1).
- **IM and sublingual**: at the model's Tmax of a single dose
  (:func:`kapstone.domain.pk.simulate_pk`, default model Clements 1981 with the route's
  absorption: IM 18 min, a model estimate reproducing the reported IM peak of about 20 min,
  clinical.md §2.3; sublingual 45 min, Rolan et al. 2014). In a linear model the Tmax of a
  single dose depends neither on the dose nor on the weight, so it is computed once per route.
- **Intranasal, oral, an IV bolus without infusion** (and no order yet): the protocol's
  ``bp_peak_check_min`` (default 40 min: the Spravato label's nasal peak, a measured
  blood-pressure peak, which the model's plasma Tmax of 16 min for racemic nasal ketamine does
  not replace; oral and a bare bolus are not modelled for this purpose).

The plasma peak stands in for the blood-pressure peak: the reference gives no effect-site lag
for the pressor response of racemic ketamine (clinical.md §2.1: the ke0 values are derived by
the source code's author, not measured).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from decimal import Decimal

from kapstone.domain.errors import DomainError
from kapstone.domain.monitoring._common import format_number
from kapstone.domain.pk import DEFAULT_MODEL, simulate_pk

#: Routes whose peak the PK model gives (single extravascular dose); IV is the end of the infusion.
MODELLED_EXTRAVASCULAR = {"im": "an IM dose", "sl": "a sublingual dose"}
#: What the reference reports for each modelled route's peak, beside the model's estimate.
REPORTED_PEAK = {
    "im": "reported IM peak about 20 min, clinical.md §2.3",
    "sl": "sublingual Tmax 45 min, Rolan et al., Br J Clin Pharmacol 2014;77:1011",
}
ROUTE_WORDS = {
    "iv": "an IV dose",
    "im": "an IM dose",
    "in": "an intranasal dose",
    "sl": "a sublingual dose",
    "po": "an oral dose",
}
#: Bounds of the check time (``MonitoringProtocol.bp_peak_check_min``).
PEAK_MIN_BOUNDS = (1, 240)


@dataclass(frozen=True)
class PeakCheck:
    """When the blood-pressure check at the expected peak falls (whole minutes after the start of
    dosing), the words stated on the check, and the source of the time."""

    minutes: int
    note: str
    source: str


@functools.cache
def model_tmax_min(route: str, model: str = DEFAULT_MODEL) -> Decimal:
    """The PK model's Tmax of a single extravascular dose by ``route`` (1-min grid)."""
    return simulate_pk(weight_kg=70, mg_per_kg=1, route=route, model=model, until_min=240).tmax_min


def bp_peak_check(*, route: str | None, infusion_min: object = None, fallback_min: int = 40) -> PeakCheck:
    """The BP-peak check for an order given by ``route`` (None: no order yet) over ``infusion_min``
    minutes (IV; None for a bolus or a non-IV route); ``fallback_min`` is the protocol's
    ``bp_peak_check_min``. See the module's docstring for the rule and its sources.

    Refusals: ``invalid_monitoring_protocol`` (a time outside 1–240 min), ``invalid_number``.
    """
    low, high = PEAK_MIN_BOUNDS
    if isinstance(fallback_min, bool) or not isinstance(fallback_min, int) or not low <= fallback_min <= high:
        raise DomainError(
            "invalid_monitoring_protocol",
            f"bp_peak_check_min must be a whole number of minutes within {low}–{high}, got {fallback_min!r}.",
            field="bp_peak_check_min",
        )
    if route == "iv" and infusion_min is not None:
        try:
            duration = Decimal(str(infusion_min))
        except ArithmeticError:
            duration = Decimal("NaN")
        if not duration.is_finite() or duration <= 0:
            raise DomainError(
                "invalid_number", f"infusion_min must be above 0, got {infusion_min!r}.", field="infusion_min"
            )
        minutes = min(high, max(low, math.ceil(duration)))
        return PeakCheck(
            minutes,
            f"Blood pressure at the expected peak: at the end of the {format_number(duration)}-min infusion",
            "Concentration peaks at the end of a constant-rate infusion (PK model, clinical.md §2.5); "
            "Yale series: blood pressure peaked at the end of a 40-min infusion (clinical.md §3.1).",
        )
    if route in MODELLED_EXTRAVASCULAR:
        tmax = model_tmax_min(route)
        minutes = min(high, max(low, math.ceil(tmax)))
        return PeakCheck(
            minutes,
            f"Blood pressure at the expected peak: {minutes} min after {MODELLED_EXTRAVASCULAR[route]}",
            f"Tmax of the PK model ({DEFAULT_MODEL}; a model estimate, kapstone.domain.pk; "
            f"{REPORTED_PEAK[route]}).",
        )
    what = ROUTE_WORDS.get(route or "", "the start of dosing") if route != "iv" else "an IV bolus"
    return PeakCheck(
        fallback_min,
        f"Blood pressure at the expected peak: {fallback_min} min after {what} (the protocol's peak time)",
        "Protocol's bp_peak_check_min; default 40 min, Spravato label: the rise peaks about 40 min "
        "after a nasal dose (clinical.md §3.2).",
    )
