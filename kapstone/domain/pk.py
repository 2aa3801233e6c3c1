"""Predicted ketamine plasma concentrations from published linear compartment models.

A *model estimate*, not a measurement: the parameter sets come from small studies (healthy
volunteers, surgical and intensive-care patients) and disagree with each other by tens of
percent; the chart must say so and cite the model.

Maths (clinical.md §2.5). The disposition of each model is the linear system x' = A x + input,
with x in mg per compartment and C = x1 / V1. A mammillary A is similar to a symmetric matrix
(``D^-1/2 A D^1/2`` with D the compartment volumes), so its eigenvalues -λ_i are real and
negative and the central unit-impulse response is exactly

    h(t) = Σ α_i e^{-λ_i t},   α_i = U[0, i]^2,   Σ α_i = 1   (U: orthonormal eigenvectors).

Every administration is a superposition of exact solutions built from h:

* IV bolus D at t = 0:            C = D/V1 · Σ α_i e^{-λ_i t}
* IV infusion R (mg/min) for T:   C = R/V1 · Σ α_i/λ_i · e^{-λ_i (t - t')} (1 - e^{-λ_i t'}),
                                  t' = min(t, T)
* extravascular dose D, F, ka:    C = F·D·ka/V1 · Σ α_i (e^{-λ_i t} - e^{-ka t}) / (ka - λ_i)

evaluated with ``expm1`` and in forms that neither overflow nor cancel, and vectorised over many
schedules and many time points at once (numpy broadcasting; no step-by-step integration). The
area under the curve is integrated exactly from the same expressions.

Units: doses in mg, volumes in L, time in min; mg/L = µg/mL, so concentrations are multiplied
by 1000 to give ng/mL. The bolus part of an IV order is modelled as instantaneous at t = 0 and
the continuous infusion starts at t = 0 for ``over_min`` minutes (Dakwar 2020 pushed its bolus
over 2 min; the difference is confined to those first minutes).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import numpy as np

from kapstone.domain.dosing import (
    check_max_mg_per_kg,
    check_mg_per_kg,
    check_over_min,
    check_route,
    check_weight_kg,
    to_decimal,
)
from kapstone.domain.errors import DomainError

NG_PER_ML_PER_MG_PER_L = 1000.0

# --- Models --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PkModel:
    """A linear 2- or 3-compartment disposition model, micro-constants per minute.

    V1 = ``v1_l_per_kg`` × weight (the scaling used by the source implementation); the rate
    constants do not depend on weight.
    """

    name: str
    compartments: int
    v1_l_per_kg: float
    k10_per_min: float
    k12_per_min: float
    k21_per_min: float
    k13_per_min: float
    k31_per_min: float
    source: str
    population: str

    def rate_matrix(self) -> np.ndarray:
        """The matrix A of x' = A x (mg per compartment, per minute), clinical.md §2.5."""
        k10, k12, k21 = self.k10_per_min, self.k12_per_min, self.k21_per_min
        if self.compartments == 2:
            return np.array([[-(k10 + k12), k21], [k12, -k21]])
        k13, k31 = self.k13_per_min, self.k31_per_min
        return np.array([[-(k10 + k12 + k13), k21, k31], [k12, -k21, 0.0], [k13, 0.0, -k31]])

    def volumes_l_per_kg(self) -> np.ndarray:
        """Compartment volumes per kg: V2 = V1·k12/k21, V3 = V1·k13/k31 (clinical.md §2.5)."""
        v1 = self.v1_l_per_kg
        volumes = [v1, v1 * self.k12_per_min / self.k21_per_min]
        if self.compartments == 3:
            volumes.append(v1 * self.k13_per_min / self.k31_per_min)
        return np.array(volumes)


# Parameter values as implemented in the open-source opentiva library (opentiva/ketamine.py at
# commit 4c6b38cf); the screen cites the papers.
_OPENTIVA = "rate constants as implemented in the open-source opentiva pharmacokinetic library"

PK_MODELS: dict[str, PkModel] = {
    "domino": PkModel(
        name="domino",
        compartments=3,
        v1_l_per_kg=0.063,
        k10_per_min=0.4381,
        k12_per_min=0.5921,
        k21_per_min=0.2470,
        k13_per_min=0.5900,
        k31_per_min=0.0146,
        source=(
            f"Domino 3-compartment ketamine model (PMID 7198883; the paper itself not checked); {_OPENTIVA}"
        ),
        population="adult volunteers (not checked against the paper)",
    ),
    "clements": PkModel(
        name="clements",
        compartments=2,
        v1_l_per_kg=1.7522,
        k10_per_min=0.0109,
        k12_per_min=0.0186,
        k21_per_min=0.0137,
        k13_per_min=0.0,
        k31_per_min=0.0,
        source=(
            "Clements JA, Nimmo WS. Br J Anaesth 1981;53:27 (PMID 7459184, doi:10.1093/bja/53.1.27), "
            f"250 µg/kg bolus data; {_OPENTIVA}"
        ),
        population="adult volunteers, 250 µg/kg IV bolus",
    ),
    "hijazi": PkModel(
        name="hijazi",
        compartments=2,
        v1_l_per_kg=1.08,
        k10_per_min=0.0333,
        k12_per_min=0.0088,
        k21_per_min=0.0030,
        k13_per_min=0.0,
        k31_per_min=0.0,
        source=(
            f"Hijazi Y et al. Br J Anaesth 2003;90:155 (PMID 12538370, doi:10.1093/bja/aeg028); {_OPENTIVA}"
        ),
        population="12 intensive-care adults with brain or spinal cord injury",
    ),
}
DEFAULT_MODEL = "clements"


@functools.cache
def disposition(model: PkModel) -> tuple[np.ndarray, np.ndarray]:
    """``(λ, α)``: the disposition rate constants (per min, fastest first) and the central
    impulse-response weights (positive, sum 1), so that h(t) = Σ α_i e^{-λ_i t}.

    Computed by a symmetric eigen-decomposition of ``D^-1/2 A D^1/2`` (exactly similar to A).
    """
    root_volumes = np.sqrt(model.volumes_l_per_kg())
    symmetric = model.rate_matrix() * root_volumes[np.newaxis, :] / root_volumes[:, np.newaxis]
    symmetric = (symmetric + symmetric.T) / 2  # exact up to rounding; enforce for eigh
    eigenvalues, vectors = np.linalg.eigh(symmetric)
    lambdas = -eigenvalues
    alphas = vectors[0, :] ** 2
    lambdas.setflags(write=False)
    alphas.setflags(write=False)
    return lambdas, alphas


def get_model(model: object) -> PkModel:
    """A model by name (``domino``, ``clements``, ``hijazi``); else DomainError ``model_unknown``."""
    if isinstance(model, PkModel):
        return model
    name = model.strip().lower() if isinstance(model, str) else None
    if name not in PK_MODELS:
        raise DomainError(
            "model_unknown",
            f"Unknown PK model {model!r}; choose one of {', '.join(PK_MODELS)}.",
            field="model",
        )
    return PK_MODELS[name]


# --- Absorption ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Absorption:
    """First-order absorption from a depot: bioavailability F and rate constant ka (per min)."""

    route: str
    bioavailability: float
    ka_per_min: float
    source: str
    ka_is_estimate: bool = True


#: Extravascular routes. ka values are *estimates* (no published ka was found, clinical.md §6.5):
#: each is the ka that reproduces the reported median Tmax with the Clements disposition
#: (tests/domain/test_pk.py::test_absorption_constants_reproduce_documented_tmax).
ABSORPTION: dict[str, Absorption] = {
    "im": Absorption(
        route="im",
        bioavailability=0.93,
        ka_per_min=0.10,
        source=(
            "IM F 0.93 (Clements JA, Nimmo WS, Grant IS. J Pharm Sci 1982;71:539-542); "
            "ka 0.10/min is an estimate reproducing the reported IM Tmax of about 20 min "
            "(18 min with the Clements disposition), not a measured value"
        ),
    ),
    "in": Absorption(
        route="in",
        bioavailability=0.45,
        ka_per_min=0.12,
        source=(
            "Intranasal F 0.45 (Yanagihara et al., Biopharm Drug Dispos 2003;24:37, nasal spray, "
            "n = 3; sources disagree: 0.25–0.50 in summaries, 0.11–0.17 in Pharmacotherapy 2022;42:298); "
            "ka 0.12/min is an estimate reproducing the median Tmax of 16 min "
            "(14–23 min, Pharmacotherapy 2022 Table 6)"
        ),
    ),
    "sl": Absorption(
        route="sl",
        bioavailability=0.29,
        ka_per_min=0.024,
        source=(
            "Sublingual F 0.29 (Rolan P et al. Br J Clin Pharmacol 2014;77:1011, 90% CI 0.27–0.31); "
            "ka 0.024/min is an estimate reproducing the median Tmax of 45 min "
            "reported there"
        ),
    ),
}

#: Routes the model predicts: IV (bolus and/or infusion) and the three extravascular routes
#: with a cited bioavailability. Oral is not modelled (extensive first-pass metabolism to
#: norketamine; no usable absorption data in the references).
PK_ROUTES: tuple[str, ...] = ("iv", "im", "in", "sl")


# --- Measured concentration bands ---------------------------------------------------------------


@dataclass(frozen=True)
class ConcentrationBand:
    """A range of measured plasma concentrations associated with a clinical state."""

    name: str
    low_ng_per_ml: float
    high_ng_per_ml: float
    regimen: str
    source: str


_ZANOS = "Zanos P et al. Pharmacol Rev 2018;70:621, Table 1 (PMC6020109)"

#: Bands to mark on the predicted-concentration chart.
CONCENTRATION_BANDS: tuple[ConcentrationBand, ...] = (
    ConcentrationBand(
        name="dissociation",
        low_ng_per_ml=100.0,
        high_ng_per_ml=250.0,
        regimen="0.5 mg/kg IV over 40 min",
        source=f"Krystal et al. 1994 via {_ZANOS}",
    ),
    ConcentrationBand(
        name="anaesthesia",
        low_ng_per_ml=1200.0,
        high_ng_per_ml=2400.0,
        regimen="1–2 mg/kg IV",
        source=_ZANOS,
    ),
)

#: Measured end-of-infusion concentration used to validate the models (clinical.md §2.4).
MEASURED_END_OF_INFUSION_NG_PER_ML = 185.0
MEASURED_END_OF_INFUSION_SOURCE = f"Zarate et al. 2006, 0.5 mg/kg IV over 40 min, via {_ZANOS}"


# --- Vectorised prediction ----------------------------------------------------------------------

# Above this λ·T the factorised infusion form e^{-λt}·(e^{λT} - 1) could overflow; such
# schedules take the direct (slower) form instead.
_MAX_EXPONENT = 600.0


def _as_float_array(value: Any, *, field: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise DomainError("invalid_number", f"{field} must be numbers.", field=field) from None
    if not np.all(np.isfinite(array)):
        raise DomainError("invalid_number", f"{field} must be finite numbers.", field=field)
    return array


def _depot_kernel(lam: float, ka: float, t: np.ndarray) -> np.ndarray:
    """(e^{-λt} - e^{-ka t}) / (ka - λ) for t >= 0, stable for any λ, ka (including ka = λ)."""
    slow, difference = min(lam, ka), abs(ka - lam)
    if difference == 0.0:
        return t * np.exp(-slow * t)
    return np.exp(-slow * t) * (-np.expm1(-difference * t)) / difference


def predict_concentrations(
    model: PkModel | str,
    *,
    weight_kg: Any,
    mg_per_kg: Any,
    t_min: Any,
    bolus_mg_per_kg: Any = 0.0,
    over_min: Any = 0.0,
    route: str = "iv",
    absorption: Absorption | None = None,
) -> np.ndarray:
    """Plasma concentrations (ng/mL), shape ``(n_schedules, n_times)``.

    Schedule arguments (``weight_kg``, ``mg_per_kg`` = total dose, ``bolus_mg_per_kg`` = its IV
    bolus part, ``over_min`` = infusion duration) are scalars or 1-D arrays broadcast to a common
    length n; ``t_min`` is a 1-D array of times since the start of administration (times before 0
    give 0). For ``iv`` the bolus is given at t = 0 and the remainder infused at a constant rate
    from 0 to ``over_min`` (0 means bolus only). For ``im``/``in``/``sl`` the whole dose goes into a
    first-order depot (``absorption`` overrides the route's default F and ka); ``bolus_mg_per_kg``
    and ``over_min`` must then be 0.

    This is the numeric kernel: it checks shapes and physical sense (finite, non-negative,
    bolus <= dose, an infusion part needs a duration; DomainError ``invalid_number``,
    ``weight_out_of_range`` (<= 0), ``dose_out_of_range``, ``bolus_exceeds_dose``,
    ``infusion_requires_duration``, ``option_not_for_route``, ``route_invalid``,
    ``model_unknown``) but not clinical ranges — :func:`simulate_pk` does.

    Source: closed-form linear compartment solutions, clinical.md §2.5; parameters §2.1, §2.3.
    """
    pk_model = get_model(model)
    route_code = check_route(route, allowed=PK_ROUTES)
    times = _as_float_array(t_min, field="t_min")
    if times.ndim != 1:
        raise DomainError("invalid_number", "t_min must be a 1-D array of times.", field="t_min")
    arrays = [
        _as_float_array(value, field=name)
        for name, value in (
            ("weight_kg", weight_kg),
            ("mg_per_kg", mg_per_kg),
            ("bolus_mg_per_kg", bolus_mg_per_kg),
            ("over_min", over_min),
        )
    ]
    if any(array.ndim > 1 for array in arrays):
        raise DomainError(
            "invalid_number", "Schedule arguments must be scalars or 1-D arrays.", field="weight_kg"
        )
    try:
        weight, dose, bolus, duration = np.broadcast_arrays(*(np.atleast_1d(a) for a in arrays))
    except ValueError:
        raise DomainError(
            "invalid_number", "Schedule arrays must have the same length.", field="weight_kg"
        ) from None
    if np.any(weight <= 0):
        raise DomainError("weight_out_of_range", "Weights must be above 0 kg.", field="weight_kg")
    if np.any(dose < 0) or np.any(bolus < 0) or np.any(duration < 0):
        raise DomainError("dose_out_of_range", "Doses and durations cannot be negative.", field="mg_per_kg")
    if np.any(bolus > dose):
        raise DomainError("bolus_exceeds_dose", "A bolus exceeds its total dose.", field="bolus_mg_per_kg")

    lambdas, alphas = disposition(pk_model)
    t = np.maximum(times, 0.0)
    # Before administration nothing has been given; t is clamped to 0 and masked afterwards.
    before_start = (times < 0.0)[np.newaxis, :] if np.any(times < 0.0) else None
    mg_to_ng_per_ml = NG_PER_ML_PER_MG_PER_L / (pk_model.v1_l_per_kg * weight)  # per schedule

    if route_code != "iv":
        if np.any(bolus != 0) or np.any(duration != 0):
            raise DomainError(
                "option_not_for_route",
                f"Route {route_code} is a single extravascular dose: no bolus part or infusion time.",
                field="over_min" if np.any(duration != 0) else "bolus_mg_per_kg",
            )
        depot = absorption or ABSORPTION[route_code]
        curve = np.zeros_like(t)
        for lam, alpha in zip(lambdas, alphas, strict=True):
            curve += alpha * _depot_kernel(float(lam), depot.ka_per_min, t)
        scale = depot.bioavailability * depot.ka_per_min * dose * weight * mg_to_ng_per_ml
        out = scale[:, np.newaxis] * curve[np.newaxis, :]
        return out if before_start is None else np.where(before_start, 0.0, out)

    infusion_mg = (dose - bolus) * weight
    if np.any((infusion_mg > 0) & (duration <= 0)):
        raise DomainError(
            "infusion_requires_duration",
            "An infusion part needs a positive duration (over_min).",
            field="over_min",
        )
    rate = np.divide(infusion_mg, duration, out=np.zeros_like(duration), where=duration > 0)
    bolus_scale = (bolus * weight * mg_to_ng_per_ml)[:, np.newaxis]  # (n, 1)
    # Per schedule and exponential: the infusion coefficient R·α/(λ·V1) and the bolus one D·α/V1.
    weights_per_lambda = (alphas / lambdas)[np.newaxis, :]
    infusion_coefficient = (rate * mg_to_ng_per_ml)[:, np.newaxis] * weights_per_lambda  # (n, k)
    bolus_coefficient = bolus_scale * alphas[np.newaxis, :]  # (n, k)
    decay = np.exp(-np.outer(lambdas, t))  # (k, m): e^{-λ_i t}, one exp per exponential and time
    if float(lambdas.max()) * float(duration.max()) < _MAX_EXPONENT:
        # During the infusion:  Σ_i c_i (1 - e^{-λ_i t}) + b_i e^{-λ_i t}
        # After it:             Σ_i (c_i (e^{λ_i T} - 1) + b_i) e^{-λ_i t}
        #                       (= c_i e^{-λ_i (t-T)} (1 - e^{-λ_i T}) + b_i e^{-λ_i t})
        # Both are (n, k)·(k, m) sums of positive terms (no cancellation), so the cost is two
        # small contractions and one masked copy, not an exp per (schedule, time). einsum rather
        # than @: with k = 2–3 a threaded BLAS call gains nothing and stalls on a busy machine.
        rising = -np.expm1(-np.outer(lambdas, t))  # (k, m): 1 - e^{-λ_i t}, exact near t = 0
        grown = np.expm1(np.outer(duration, lambdas))  # (n, k): e^{λ_i T} - 1
        out = np.einsum("nk,km->nm", infusion_coefficient * grown + bolus_coefficient, decay)
        during = np.einsum(
            "nk,km->nm", np.hstack([infusion_coefficient, bolus_coefficient]), np.vstack([rising, decay])
        )
        np.copyto(out, during, where=t[np.newaxis, :] <= duration[:, np.newaxis])
    else:
        # e^{λT} would overflow: evaluate e^{-λ(t - t')}(1 - e^{-λ t'}) directly, t' = min(t, T).
        out = np.einsum("nk,km->nm", bolus_coefficient, decay)
        t_in = np.minimum(t[np.newaxis, :], duration[:, np.newaxis])
        for i, lam in enumerate(lambdas):
            term = np.exp(-lam * (t[np.newaxis, :] - t_in)) * -np.expm1(-lam * t_in)
            out += infusion_coefficient[:, i : i + 1] * term
    return out if before_start is None else np.where(before_start, 0.0, out)


def exact_auc_ng_min_per_ml(
    model: PkModel | str,
    *,
    weight_kg: float,
    mg_per_kg: float,
    until_min: float,
    bolus_mg_per_kg: float = 0.0,
    over_min: float = 0.0,
    route: str = "iv",
    absorption: Absorption | None = None,
) -> float:
    """The exact area under the concentration curve from 0 to ``until_min`` (ng·min/mL).

    Integrates the closed-form terms analytically (no quadrature). Inputs as for
    :func:`predict_concentrations`, one schedule.
    """
    pk_model = get_model(model)
    route_code = check_route(route, allowed=PK_ROUTES)
    lambdas, alphas = disposition(pk_model)
    u = max(float(until_min), 0.0)
    scale = NG_PER_ML_PER_MG_PER_L / (pk_model.v1_l_per_kg * weight_kg)
    total = 0.0
    if route_code != "iv":
        depot = absorption or ABSORPTION[route_code]
        ka = depot.ka_per_min
        for lam, alpha in zip(lambdas, alphas, strict=True):
            lam = float(lam)
            if abs(ka - lam) <= 1e-8 * max(ka, lam):
                # Limit ka -> λ: ∫ t e^{-λt} dt.
                integral = (1.0 - math.exp(-lam * u) * (1.0 + lam * u)) / lam**2
            else:
                integral = (-math.expm1(-lam * u) / lam - -math.expm1(-ka * u) / ka) / (ka - lam)
            total += alpha * integral
        return total * depot.bioavailability * ka * mg_per_kg * weight_kg * scale
    bolus_mg = bolus_mg_per_kg * weight_kg
    infusion_mg = (mg_per_kg - bolus_mg_per_kg) * weight_kg
    rate = infusion_mg / over_min if over_min > 0 else 0.0
    for lam, alpha in zip(lambdas, alphas, strict=True):
        lam = float(lam)
        total += alpha * bolus_mg * -math.expm1(-lam * u) / lam
        if rate:
            during = min(u, over_min)
            integral = during - -math.expm1(-lam * during) / lam
            if u > over_min:
                integral += -math.expm1(-lam * over_min) * -math.expm1(-lam * (u - over_min)) / lam
            total += alpha * rate * integral / lam
    return total * scale


# --- Single simulation with validation ----------------------------------------------------------

TIME_MAX_MIN = Decimal("1440")  # 24 h: > 4 terminal half-lives of every model (§2.2)
MAX_GRID_INTERVALS = 10_000
MAX_AT_POINTS = 1_000


@dataclass(frozen=True)
class PkPoint:
    """One predicted concentration: time since the start of administration and C (ng/mL)."""

    t_min: Decimal
    c_ng_per_ml: float


@dataclass(frozen=True)
class PkResult:
    """A predicted concentration curve for one dose (a model estimate, not a measurement).

    ``cmax_ng_per_ml``/``tmax_min`` are the largest value on the output grid and its time (the
    first if tied); ``auc_ng_min_per_ml`` is the exact integral from 0 to ``until_min``.
    ``at`` is ``None`` unless specific times were asked for.
    """

    model: str
    route: str
    cmax_ng_per_ml: float
    tmax_min: Decimal
    auc_ng_min_per_ml: float
    points: tuple[PkPoint, ...]
    at: tuple[PkPoint, ...] | None
    source: str


def _check_time(value: object, *, field: str, allow_zero: bool) -> Decimal:
    t = to_decimal(value, field=field)
    low_ok = t >= 0 if allow_zero else t > 0
    if not low_ok or t > TIME_MAX_MIN:
        bound = "at least 0" if allow_zero else "above 0"
        raise DomainError(
            "time_out_of_range",
            f"{field} must be {bound} and at most {TIME_MAX_MIN} min; got {t} min.",
            field=field,
        )
    return t


def _grid(until: Decimal, step: Decimal) -> list[Decimal]:
    intervals = int((until / step).to_integral_value(rounding=ROUND_FLOOR))
    grid = [step * i for i in range(intervals + 1)]
    if grid[-1] < until:
        grid.append(until)
    return grid


def simulate_pk(
    *,
    weight_kg: object,
    mg_per_kg: object,
    route: object,
    over_min: object = None,
    bolus_mg_per_kg: object = None,
    model: object = DEFAULT_MODEL,
    until_min: object = 240,
    step_min: object = 1,
    at: Sequence[object] | None = None,
    max_mg_per_kg: object = None,
    absorption: Absorption | None = None,
) -> PkResult:
    """Predict the plasma concentration curve of one ketamine dose with a published model.

    Dose rules as for :func:`kapstone.domain.dosing.calculate_dose` (weight 30–300 kg, total
    dose above 0 and at most ``max_mg_per_kg``, default 3.0, infusion 10–240 min, bolus part
    below the total) except that an IV dose given wholly as a bolus is allowed here: pass
    ``bolus_mg_per_kg`` equal to ``mg_per_kg`` and no ``over_min``. Routes ``iv``, ``im``,
    ``in``, ``sl``; a single extravascular dose takes no ``over_min`` or bolus
    (``option_not_for_route``).

    The grid runs 0, step, 2·step, … up to ``until_min`` (which is added if not a multiple);
    ``until_min`` in (0, 1440] (``time_out_of_range``), ``step_min`` above 0, at most
    ``until_min`` and giving at most 10,000 intervals (``step_out_of_range``); each ``at`` time in
    [0, 1440], at most 1,000 of them (``time_out_of_range`` on ``at``).

    Source: the model's citation is returned in ``source`` (clinical.md §2.1, §2.3, §2.5).
    """
    pk_model = get_model(model)
    weight = check_weight_kg(weight_kg)
    maximum = check_max_mg_per_kg(max_mg_per_kg)
    total = check_mg_per_kg(mg_per_kg, max_mg_per_kg=maximum)
    route_code = check_route(route, allowed=PK_ROUTES)
    bolus = Decimal(0)
    duration = Decimal(0)
    if route_code == "iv":
        if bolus_mg_per_kg is not None:
            bolus = to_decimal(bolus_mg_per_kg, field="bolus_mg_per_kg")
            if bolus <= 0:
                raise DomainError(
                    "dose_out_of_range",
                    "The bolus must be above 0 mg/kg (leave it out for no bolus).",
                    field="bolus_mg_per_kg",
                )
            if bolus > total:
                raise DomainError(
                    "bolus_exceeds_dose",
                    f"The bolus {bolus} mg/kg is more than the total dose {total} mg/kg.",
                    field="bolus_mg_per_kg",
                )
        if not (bolus == total and over_min is None):
            duration = check_over_min(over_min)
    else:
        for name, value in (("over_min", over_min), ("bolus_mg_per_kg", bolus_mg_per_kg)):
            if value is not None:
                raise DomainError(
                    "option_not_for_route",
                    f"Route {route_code} is a single dose: {name} applies to iv only.",
                    field=name,
                )

    until = _check_time(until_min, field="until_min", allow_zero=False)
    step = to_decimal(step_min, field="step_min")
    if step <= 0 or step > until or until / step > MAX_GRID_INTERVALS:
        raise DomainError(
            "step_out_of_range",
            f"step_min must be above 0, at most until_min ({until}) and give at most "
            f"{MAX_GRID_INTERVALS} steps; got {step} min.",
            field="step_min",
        )
    at_times: list[Decimal] | None = None
    if at is not None:
        if isinstance(at, (str, bytes)) or not isinstance(at, Sequence) or not 1 <= len(at) <= MAX_AT_POINTS:
            raise DomainError(
                "time_out_of_range", f"at must be a list of 1–{MAX_AT_POINTS} times.", field="at"
            )
        at_times = [_check_time(value, field="at", allow_zero=True) for value in at]

    grid = _grid(until, step)
    times = grid + (at_times or [])
    concentrations = predict_concentrations(
        pk_model,
        weight_kg=float(weight),
        mg_per_kg=float(total),
        bolus_mg_per_kg=float(bolus),
        over_min=float(duration),
        t_min=np.array([float(t) for t in times]),
        route=route_code,
        absorption=absorption,
    )[0]
    grid_c = concentrations[: len(grid)]
    peak = int(np.argmax(grid_c))
    auc = exact_auc_ng_min_per_ml(
        pk_model,
        weight_kg=float(weight),
        mg_per_kg=float(total),
        bolus_mg_per_kg=float(bolus),
        over_min=float(duration),
        until_min=float(until),
        route=route_code,
        absorption=absorption,
    )
    source = pk_model.source
    if route_code != "iv":
        source = f"{source}; absorption: {(absorption or ABSORPTION[route_code]).source}"
    return PkResult(
        model=pk_model.name,
        route=route_code,
        cmax_ng_per_ml=float(grid_c[peak]),
        tmax_min=grid[peak],
        auc_ng_min_per_ml=auc,
        points=tuple(PkPoint(t_min=t, c_ng_per_ml=float(c)) for t, c in zip(grid, grid_c, strict=True)),
        at=None
        if at_times is None
        else tuple(
            PkPoint(t_min=t, c_ng_per_ml=float(c))
            for t, c in zip(at_times, concentrations[len(grid) :], strict=True)
        ),
        source=f"Model estimate. {source}.",
    )
