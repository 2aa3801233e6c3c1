"""PK benchmark: closed-form curves for 1,000 dose schedules × 1,000 time points against a scipy ODE
integration of the same schedules.

Run: ``.venv/bin/python bench/bench_pk.py [--ode-sample N] [--models a,b] [--seed S]``. Prints a
JSON summary. ``--ode-sample 1000`` integrates every schedule (minutes per model).

* ours: ``kapstone.domain.pk.predict_concentrations`` for all 1,000 schedules at once, per model;
  best and median wall time of 7 runs (after one warm-up).
* reference: ``scipy.integrate.solve_ivp`` on the compartment ODEs written out from the
  micro-constants, split at the end of the infusion, RK45 at rtol 1e-13 / atol 1e-18 mg (the
  tightest setting that behaves: DOP853's dense output is only ~1e-7 accurate on the Domino tail,
  shown as a second column). Integrating all 1,000 schedules takes minutes, so a random sample of
  ``--ode-sample`` schedules per model is integrated, timed, and extrapolated linearly to 1,000.
* error: max over the sampled schedules and all time points of |ours − ODE| / |ODE|, with values
  below 1e-9 of a curve's peak compared against the peak instead (relative error of ~0 is
  undefined; it only matters at t = 0).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np
from scipy.integrate import solve_ivp

from kapstone.domain.pk import PK_MODELS, PkModel, predict_concentrations

N_SCHEDULES = 1_000
N_TIMES = 1_000
UNTIL_MIN = 360.0


def schedules(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Plausible IV orders: 40–150 kg, 0.2–1.0 mg/kg, a bolus part in two thirds, 20–120 min."""
    dose = rng.uniform(0.2, 1.0, N_SCHEDULES)
    has_bolus = rng.random(N_SCHEDULES) < 2 / 3
    return {
        "weight_kg": rng.uniform(40, 150, N_SCHEDULES),
        "mg_per_kg": dose,
        "bolus_mg_per_kg": np.where(has_bolus, dose * rng.uniform(0.05, 0.3, N_SCHEDULES), 0.0),
        "over_min": rng.uniform(20, 120, N_SCHEDULES),
    }


def ode_curve(
    model: PkModel,
    *,
    weight_kg: float,
    mg_per_kg: float,
    bolus_mg_per_kg: float,
    over_min: float,
    t: np.ndarray,
    method: str,
    rtol: float,
    atol: float,
) -> np.ndarray:
    k10, k12, k21, k13, k31 = (
        model.k10_per_min,
        model.k12_per_min,
        model.k21_per_min,
        model.k13_per_min,
        model.k31_per_min,
    )

    def rhs(rate: float):
        def f(_t, x):
            c1, c2, c3 = x
            return [
                rate - (k10 + k12 + k13) * c1 + k21 * c2 + k31 * c3,
                k12 * c1 - k21 * c2,
                k13 * c1 - k31 * c3,
            ]

        return f

    rate = (mg_per_kg - bolus_mg_per_kg) * weight_kg / over_min
    x0 = [bolus_mg_per_kg * weight_kg, 0.0, 0.0]
    during = t <= over_min
    out = np.empty_like(t)
    # One integration per phase; dense output gives the time points (solve_ivp's t_eval does the
    # same interpolation) and the last step the state at the end of the infusion.
    first = solve_ivp(rhs(rate), (0.0, over_min), x0, dense_output=True, method=method, rtol=rtol, atol=atol)
    out[during] = first.sol(t[during])[0]
    x_end = first.y[:, -1]
    after = solve_ivp(
        rhs(0.0), (over_min, t[-1]), x_end, t_eval=t[~during], method=method, rtol=rtol, atol=atol
    )
    out[~during] = after.y[0]
    return out / (model.v1_l_per_kg * weight_kg) * 1000.0


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    floor = 1e-9 * float(np.max(np.abs(reference)))
    return float((np.abs(ours - reference) / np.maximum(np.abs(reference), floor)).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ode-sample", type=int, default=40, help="schedules integrated per model (default 40)"
    )
    parser.add_argument("--seed", type=int, default=20250331)
    parser.add_argument("--models", default=",".join(PK_MODELS), help="comma-separated (default: all)")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    batch = schedules(rng)
    t = np.linspace(0.0, UNTIL_MIN, N_TIMES)
    sample = rng.choice(N_SCHEDULES, size=min(args.ode_sample, N_SCHEDULES), replace=False)

    results = {}
    for name in args.models.split(","):
        model = PK_MODELS[name]
        predict_concentrations(model, t_min=t, **batch)  # warm-up (eigen-decomposition cache)
        timings = []
        for _ in range(7):
            start = time.perf_counter()
            curves = predict_concentrations(model, t_min=t, **batch)
            timings.append(time.perf_counter() - start)
        assert curves.shape == (N_SCHEDULES, N_TIMES)

        ode_seconds = 0.0
        worst_rk45 = worst_dop853 = 0.0
        for i in sample:
            one = {key: float(values[i]) for key, values in batch.items()}
            start = time.perf_counter()
            reference = ode_curve(model, t=t, method="RK45", rtol=1e-13, atol=1e-18, **one)
            ode_seconds += time.perf_counter() - start
            worst_rk45 = max(worst_rk45, relative_error(curves[i], reference))
            dop853 = ode_curve(model, t=t, method="DOP853", rtol=1e-12, atol=1e-14, **one)
            worst_dop853 = max(worst_dop853, relative_error(curves[i], dop853))
        ode_extrapolated = ode_seconds / len(sample) * N_SCHEDULES
        ours_best = min(timings)
        results[name] = {
            "ours_best_s": round(ours_best, 5),
            "ours_median_s": round(statistics.median(timings), 5),
            "ode_rk45_sample_schedules": len(sample),
            "ode_rk45_sample_s": round(ode_seconds, 3),
            "ode_rk45_extrapolated_1000_s": round(ode_extrapolated, 2),
            "speedup_vs_ode": round(ode_extrapolated / ours_best),
            "max_rel_error_vs_rk45_rtol1e-13": float(f"{worst_rk45:.3g}"),
            "max_rel_error_vs_dop853_rtol1e-12": float(f"{worst_dop853:.3g}"),
        }

    summary = {
        "schedules": N_SCHEDULES,
        "time_points": N_TIMES,
        "until_min": UNTIL_MIN,
        "seed": args.seed,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "platform": platform.platform(),
        },
        "budget": {"ours_s": 0.1, "max_rel_error": 1e-9},
        "models": results,
        "within_budget": all(
            r["ours_best_s"] < 0.1 and r["max_rel_error_vs_rk45_rtol1e-13"] < 1e-9 for r in results.values()
        ),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
