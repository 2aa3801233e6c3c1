"""Cohort statistics: proportions with Wilson intervals, two-group comparisons, Kaplan–Meier,
log-rank and Cox proportional hazards.

The numbers come from scipy and lifelines; this module validates input, assembles their results
into frozen dataclasses, and adds what lifelines does not expose (the Greenwood standard error on
the survival scale). Non-finite values (an infinite odds ratio, a median not reached) are kept
as ``math.inf``/``None`` in the dataclasses; the ``summarise_*`` report functions give JSON-ready
dicts in which every non-finite number is ``None``.

Source: Wilson 1927 score interval; Fisher's exact and Pearson's chi-square tests (scipy.stats);
Kaplan–Meier with Greenwood variance and log-log ("exponential Greenwood") intervals, log-rank
and Cox PH (lifelines 0.30.3, software.md §7.2). Methods and choices: docs/clinical-rules.md (statistics).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.exceptions import ConvergenceError, ConvergenceWarning
from lifelines.statistics import multivariate_logrank_test
from lifelines.utils import median_survival_times
from scipy.stats import binomtest, chi2_contingency, fisher_exact, norm
from scipy.stats import t as student_t

from kapstone.domain.errors import DomainError

# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProportionEstimate:
    """A proportion with its Wilson score interval (no continuity correction)."""

    successes: int
    n: int
    proportion: float
    ci_lower: float
    ci_upper: float
    confidence: float


@dataclass(frozen=True)
class ProportionComparison:
    """Group A against group B.

    ``risk_difference`` = p_A − p_B. ``odds_ratio`` is the sample odds ratio
    (a·d)/(b·c): ``math.inf`` when only the denominator is 0, ``None`` when both are 0.
    ``fisher_p``: two-sided Fisher's exact test. ``chi2_p``: Pearson's chi-square test, with
    Yates' continuity correction only if ``yates_correction``; ``None`` when an expected count is
    0 (every patient in both groups has the same outcome), where the test is undefined.
    """

    risk_difference: float
    odds_ratio: float | None
    fisher_p: float
    chi2_p: float | None
    yates_correction: bool


@dataclass(frozen=True)
class KaplanMeierRow:
    """One distinct observed time: survival just after it, Greenwood SE, log-log interval."""

    time: float
    at_risk: int
    events: int
    censored: int
    survival: float
    se: float
    ci_lower: float
    ci_upper: float


@dataclass(frozen=True)
class KaplanMeierResult:
    """The product-limit table, one row per distinct time, and the median survival time.

    ``median`` is ``None`` when survival never falls to 0.5; ``median_ci_lower``/``upper`` are
    where the interval bands cross 0.5 (``None`` = not reached, i.e. unbounded above).
    """

    n: int
    events: int
    rows: tuple[KaplanMeierRow, ...]
    median: float | None
    median_ci_lower: float | None
    median_ci_upper: float | None
    confidence: float


@dataclass(frozen=True)
class LogrankResult:
    """Log-rank test across k groups: chi-square statistic with k − 1 degrees of freedom."""

    chi2: float
    df: int
    p: float


@dataclass(frozen=True)
class HazardRatio:
    """One covariate of a Cox model: coefficient, hazard ratio exp(coef), Wald interval and p."""

    covariate: str
    coef: float
    hazard_ratio: float
    ci_lower: float
    ci_upper: float
    p: float


@dataclass(frozen=True)
class CoxResult:
    """A fitted Cox proportional hazards model (Efron ties, lifelines' default)."""

    n: int
    events: int
    hazard_ratios: tuple[HazardRatio, ...]
    #: Harrell's C; None when not asked for (``cox_ph(concordance=False)``: it costs a pass over
    #: every pair of patients, and the cohort report does not show it).
    concordance: float | None
    confidence: float
    warnings: tuple[str, ...]
    #: False when lifelines warned that the fit did not converge or is degenerate (separation,
    #: a covariate with no variation among events…): the estimate is then not to be reported.
    converged: bool = True


# --- input checks ------------------------------------------------------------------------------


def _check_count(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise DomainError("invalid_count", f"{field} must be a whole number, got {value!r}.", field=field)
    if value < 0:
        raise DomainError("invalid_count", f"{field} must not be negative, got {value}.", field=field)
    return int(value)


def _check_group_counts(successes: object, n: object, prefix: str = "") -> tuple[int, int]:
    k = _check_count(successes, f"{prefix}successes")
    total = _check_count(n, f"{prefix}n")
    if total == 0:
        raise DomainError(
            "empty_group", f"A proportion needs at least one patient ({prefix}n is 0).", field=f"{prefix}n"
        )
    if k > total:
        raise DomainError(
            "invalid_count",
            f"{prefix}successes ({k}) exceeds {prefix}n ({total}).",
            field=f"{prefix}successes",
        )
    return k, total


def _check_confidence(confidence: object) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 < confidence < 1:
        raise DomainError(
            "invalid_confidence",
            f"confidence must lie strictly between 0 and 1, got {confidence!r}.",
            field="confidence",
        )
    return float(confidence)


def _check_sequence(values: object, field: str) -> list[Any]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray | pd.Series):
        raise DomainError(
            "invalid_data", f"{field} must be a list, got {type(values).__name__}.", field=field
        )
    return list(values)


def _numeric_array(values: object) -> np.ndarray | None:
    """``values`` as an int or float array when every element is an int or a float (not a bool),
    so that the checks can run vectorised; None when an element needs the per-element checks."""
    if isinstance(values, np.ndarray | pd.Series):
        array = np.asarray(values)
        return array if array.dtype.kind in "iuf" else None
    if isinstance(values, list | tuple) and values and set(map(type, values)) <= {int, float}:
        return np.asarray(values)
    return None


def _check_survival_data(times: object, events: object) -> tuple[np.ndarray, np.ndarray]:
    """Times (finite, ≥ 0) and events (0/1) as arrays; refusals name the first bad element.
    Arrays and lists of plain numbers are checked vectorised (a cohort has 100,000 patients);
    anything else element by element, with the same codes and messages."""
    t_array, e_array = _numeric_array(times), _numeric_array(events)
    if (
        t_array is not None
        and e_array is not None
        and e_array.dtype.kind in "iu"
        and len(t_array) == len(e_array)
    ):
        t_float = t_array.astype(float)
        e_int = e_array.astype(int)
        if (
            len(t_float)
            and np.isfinite(t_float).all()
            and (t_float >= 0).all()
            and np.isin(e_int, (0, 1)).all()
        ):
            return t_float, e_int
    time_list = _check_sequence(times, "times")
    event_list = _check_sequence(events, "events")
    if len(time_list) != len(event_list):
        raise DomainError(
            "length_mismatch", f"{len(time_list)} times but {len(event_list)} events.", field="events"
        )
    if not time_list:
        raise DomainError("empty_group", "Survival analysis needs at least one patient.", field="times")
    for index, value in enumerate(time_list):
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise DomainError(
                "invalid_time", f"times[{index}] must be a number, got {value!r}.", field=f"times[{index}]"
            )
        if not math.isfinite(value) or value < 0:
            raise DomainError(
                "invalid_time",
                f"times[{index}] must be finite and ≥ 0, got {value}.",
                field=f"times[{index}]",
            )
    for index, value in enumerate(event_list):
        if value not in (0, 1) or isinstance(value, float | np.floating):
            raise DomainError(
                "invalid_event", f"events[{index}] must be 0 or 1, got {value!r}.", field=f"events[{index}]"
            )
    return np.asarray(time_list, dtype=float), np.asarray([int(v) for v in event_list], dtype=int)


def _tally(*columns: np.ndarray) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The distinct rows of ``columns`` (numeric, same length) and how many times each occurs:
    frequency weights for lifelines' Kaplan–Meier and log-rank, which give exactly the estimates
    of the unweighted rows (tests/domain/test_stats.py compares both). Not for the Cox model:
    lifelines' Efron tie correction with weights differs from the expanded data."""
    # A hash grouping (pandas): np.unique(axis=0) sorts the rows, several times slower.
    counts = pd.DataFrame(dict(enumerate(columns))).value_counts(sort=False)
    levels = tuple(
        counts.index.get_level_values(i).to_numpy().astype(column.dtype) for i, column in enumerate(columns)
    )
    return levels, counts.to_numpy()


def _finite(value: float | None) -> float | None:
    """``value`` as a float, or None when it is None, infinite or NaN (JSON has no such numbers)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# --- proportions -------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> ProportionEstimate:
    """The proportion ``successes / n`` with its Wilson score interval.

    Guarantees ``0 <= ci_lower <= proportion <= ci_upper <= 1``. Refusals: ``empty_group`` (n = 0),
    ``invalid_count``, ``invalid_confidence``.

    Source: Wilson EB, JASA 1927;22:209 (score interval without continuity correction), computed
    by ``scipy.stats.binomtest(...).proportion_ci(method="wilson")``.
    """
    k, total = _check_group_counts(successes, n)
    level = _check_confidence(confidence)
    interval = binomtest(k, total).proportion_ci(confidence_level=level, method="wilson")
    return ProportionEstimate(
        successes=k,
        n=total,
        proportion=k / total,
        ci_lower=float(max(0.0, interval.low)),
        ci_upper=float(min(1.0, interval.high)),
        confidence=level,
    )


@dataclass(frozen=True)
class MeanEstimate:
    """A mean with its t interval; ``sd``, ``ci_lower`` and ``ci_upper`` are None for n = 1."""

    n: int
    mean: float
    sd: float | None
    ci_lower: float | None
    ci_upper: float | None
    confidence: float


def mean_interval(n: int, total: float, total_of_squares: float, confidence: float = 0.95) -> MeanEstimate:
    """The mean of ``n`` values from their sum and sum of squares (as a database aggregates
    them), with the sample SD and the Student t interval mean ± t(1 − α/2, n − 1)·SD/√n.

    Refusals: ``empty_group`` (n = 0), ``invalid_count``, ``invalid_confidence``.
    Source: the t interval for a mean (Student 1908), ``scipy.stats.t``.
    """
    size = _check_count(n, "n")
    if size == 0:
        raise DomainError("empty_group", "A mean needs at least one value.", field="n")
    level = _check_confidence(confidence)
    mean = float(total) / size
    if size == 1:
        return MeanEstimate(n=1, mean=mean, sd=None, ci_lower=None, ci_upper=None, confidence=level)
    # Sum of squared deviations; never below 0 (rounding of a constant series).
    squares = max(0.0, float(total_of_squares) - float(total) * float(total) / size)
    sd = math.sqrt(squares / (size - 1))
    half = float(student_t.ppf(1 - (1 - level) / 2, size - 1)) * sd / math.sqrt(size)
    return MeanEstimate(
        n=size, mean=mean, sd=sd, ci_lower=mean - half, ci_upper=mean + half, confidence=level
    )


@dataclass(frozen=True)
class MeanDifference:
    """The difference of two means (first minus second) with its Welch t interval."""

    difference: float
    ci_lower: float
    ci_upper: float
    df: float
    confidence: float


def mean_difference(
    first: tuple[int, float, float], second: tuple[int, float, float], confidence: float = 0.95
) -> MeanDifference | None:
    """The difference of two group means, each given as (n, sum, sum of squares) as a database
    aggregates them, with the Welch interval d ± t(1 − α/2, ν)·√(s₁²/n₁ + s₂²/n₂), ν by
    Welch–Satterthwaite. None when a group has fewer than 2 values or both have no spread (no
    interval can be given).

    Refusals: ``invalid_count``, ``invalid_confidence``.
    Source: Welch BL, Biometrika 1947;34:28–35 (the unequal-variance t interval); ``scipy.stats.t``.
    Used to set a clinic's percent-days-abstinent difference beside KARE's (Grabski 2022,
    doi 10.1176/appi.ajp.2021.21030277: +10.1 points, 95% CI 1.1–19.0).
    """
    level = _check_confidence(confidence)
    parts = []
    for name, (n, total, squares) in (("first", first), ("second", second)):
        size = _check_count(n, f"{name}.n")
        if size < 2:
            return None
        mean = float(total) / size
        variance = max(0.0, float(squares) - float(total) * float(total) / size) / (size - 1)
        parts.append((size, mean, variance / size))
    (n_a, mean_a, var_a), (n_b, mean_b, var_b) = parts
    spread = var_a + var_b
    if spread == 0:
        return None
    df = spread**2 / (var_a**2 / (n_a - 1) + var_b**2 / (n_b - 1))
    half = float(student_t.ppf(1 - (1 - level) / 2, df)) * math.sqrt(spread)
    difference = mean_a - mean_b
    return MeanDifference(
        difference=difference, ci_lower=difference - half, ci_upper=difference + half, df=df, confidence=level
    )


def odds_ratio_interval(
    a_success: int, a_n: int, b_success: int, b_n: int, confidence: float = 0.95
) -> tuple[float, float, float] | None:
    """The odds ratio of group A against group B with Woolf's logit interval
    exp(ln OR ± z·√(1/a + 1/b + 1/c + 1/d)); None when a cell is 0 (no finite interval).

    Refusals: ``empty_group``, ``invalid_count``, ``invalid_confidence``.
    Source: Woolf B, Ann Hum Genet 1955;19:251–253. Used to set a clinic's odds ratio of
    abstinence beside Dakwar 2019's (OR 5.7, 95% CI 1.3–25.1; clinical.md §1.4).
    """
    a_k, a_total = _check_group_counts(a_success, a_n, "a_")
    b_k, b_total = _check_group_counts(b_success, b_n, "b_")
    level = _check_confidence(confidence)
    cells = (a_k, a_total - a_k, b_k, b_total - b_k)
    if min(cells) == 0:
        return None
    a, b, c, d = cells
    log_or = math.log(a * d / (b * c))
    z = float(norm.ppf(1 - (1 - level) / 2))
    half = z * math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    return math.exp(log_or), math.exp(log_or - half), math.exp(log_or + half)


def compare_proportions(
    a_success: int, a_n: int, b_success: int, b_n: int, *, yates: bool = False
) -> ProportionComparison:
    """Risk difference, odds ratio, Fisher's exact p and chi-square p for group A vs group B.

    The chi-square test is Pearson's without Yates' correction by default (Fisher's exact test
    is the small-sample test here; ``yates=True`` applies the correction). Refusals:
    ``empty_group`` (a_n or b_n is 0), ``invalid_count``.

    Source: ``scipy.stats.fisher_exact`` (two-sided) and ``scipy.stats.chi2_contingency``.
    """
    a_k, a_total = _check_group_counts(a_success, a_n, "a_")
    b_k, b_total = _check_group_counts(b_success, b_n, "b_")
    if not isinstance(yates, bool):
        raise DomainError("invalid_data", "yates must be true or false.", field="yates")
    table = np.array([[a_k, a_total - a_k], [b_k, b_total - b_k]])
    numerator = a_k * (b_total - b_k)
    denominator = (a_total - a_k) * b_k
    if denominator == 0:
        odds_ratio: float | None = math.inf if numerator > 0 else None
    else:
        odds_ratio = numerator / denominator
    fisher = fisher_exact(table, alternative="two-sided")
    try:
        chi2_p: float | None = float(chi2_contingency(table, correction=yates).pvalue)
    except ValueError:
        # An expected count of zero: all patients share one outcome, so the test is undefined.
        chi2_p = None
    return ProportionComparison(
        risk_difference=a_k / a_total - b_k / b_total,
        odds_ratio=odds_ratio,
        fisher_p=float(fisher.pvalue),
        chi2_p=chi2_p,
        yates_correction=yates,
    )


# --- survival ----------------------------------------------------------------------------------


def kaplan_meier(
    times: Sequence[float], events: Sequence[int], *, confidence: float = 0.95
) -> KaplanMeierResult:
    """Kaplan–Meier estimate with Greenwood standard errors and log-log intervals.

    One row per distinct observed time (events and censorings; at tied times events come
    before censorings). ``se`` = S(t)·sqrt(Σ d/(n(n−d))) (Greenwood, survival scale); a step
    where every patient at risk relapses (n = d) adds nothing, so S = 0 has se 0, as in lifelines.
    ``ci_lower``/``ci_upper`` are lifelines' log-log interval exp(−exp(log(−log S) ∓ z·σ/log S)).
    Refusals: ``empty_group``, ``length_mismatch``, ``invalid_time``, ``invalid_event``.

    Source: Kaplan & Meier 1958; Greenwood 1926; lifelines ``KaplanMeierFitter`` (software.md §7.2).
    """
    t, e = _check_survival_data(times, events)
    level = _check_confidence(confidence)
    # Patients who share a time and an event are one weighted row: the same estimate and
    # intervals (the event table sums the weights), from a few hundred rows instead of 100,000.
    (unique_t, unique_e), counts = _tally(t, e)
    # lifelines calls np.seterr() globally; errstate restores the caller's settings afterwards.
    with np.errstate(all="ignore"):
        fitter = KaplanMeierFitter(alpha=1 - level).fit(unique_t, unique_e, label="km", weights=counts)
        median_ci = median_survival_times(fitter.confidence_interval_)
    table = fitter.event_table
    # Align lifelines' curves with its event table (same time index, including the time-0 row).
    survival = fitter.survival_function_["km"].reindex(table.index).to_numpy(dtype=float)
    lower = fitter.confidence_interval_.iloc[:, 0].reindex(table.index).to_numpy(dtype=float)
    upper = fitter.confidence_interval_.iloc[:, 1].reindex(table.index).to_numpy(dtype=float)
    at_risk = table["at_risk"].to_numpy(dtype=np.int64)
    deaths = table["observed"].to_numpy(dtype=np.int64)
    # Greenwood: Σ d/(n(n−d)) over event times; the n = d step (S drops to 0) is undefined and
    # skipped, as lifelines does. Vectorised: 100k patients can mean 100k distinct times.
    usable = (deaths > 0) & (at_risk > deaths)
    terms = np.zeros(len(table))
    n, d = at_risk[usable].astype(float), deaths[usable].astype(float)
    terms[usable] = d / (n * (n - d))
    se = survival * np.sqrt(np.cumsum(terms))
    observed = table["removed"].to_numpy() > 0  # drops lifelines' artificial time-0 row
    rows = tuple(
        KaplanMeierRow(
            time=float(time),
            at_risk=int(n_at_risk),
            events=int(n_events),
            censored=int(n_censored),
            survival=float(s),
            se=float(s_se),
            ci_lower=float(low),
            ci_upper=float(high),
        )
        for time, n_at_risk, n_events, n_censored, s, s_se, low, high in zip(
            table.index[observed],
            at_risk[observed],
            deaths[observed],
            table["censored"].to_numpy()[observed],
            survival[observed],
            se[observed],
            lower[observed],
            upper[observed],
            strict=True,
        )
    )
    return KaplanMeierResult(
        n=len(t),
        events=int(e.sum()),
        rows=rows,
        median=_finite(fitter.median_survival_time_),
        median_ci_lower=_finite(median_ci.iloc[0, 0]),
        median_ci_upper=_finite(median_ci.iloc[0, 1]),
        confidence=level,
    )


def logrank(times: Sequence[float], events: Sequence[int], groups: Sequence[Hashable]) -> LogrankResult:
    """Log-rank test of equal survival across two or more groups.

    Refusals: ``too_few_groups`` (one group), ``length_mismatch``, and the survival-data checks.
    With no events at all lifelines reports chi2 = 0, p = 1.

    Source: lifelines ``multivariate_logrank_test`` (Mantel 1966; equals ``logrank_test`` for two
    groups), software.md §7.2.
    """
    t, e = _check_survival_data(times, events)
    labels = _check_sequence(groups, "groups")
    if len(labels) != len(t):
        raise DomainError(
            "length_mismatch", f"{len(t)} times but {len(labels)} group labels.", field="groups"
        )
    distinct = list(dict.fromkeys(labels))
    if len(distinct) < 2:
        raise DomainError("too_few_groups", "The log-rank test needs at least two groups.", field="groups")
    # As in ``kaplan_meier``: one weighted row per (group, time, event), the same statistic.
    codes = pd.factorize(pd.Series(labels, dtype=object))[0]
    (unique_t, unique_e, unique_g), counts = _tally(t, e, codes)
    with np.errstate(all="ignore"):
        result = multivariate_logrank_test(unique_t, unique_g, unique_e, weights=counts)
    return LogrankResult(
        chi2=float(result.test_statistic), df=int(result.degrees_of_freedom), p=float(result.p_value)
    )


def cox_ph(
    df: pd.DataFrame,
    duration_col: str,
    event_col: str,
    covariates: Sequence[str],
    *,
    confidence: float = 0.95,
    concordance: bool = True,
) -> CoxResult:
    """Cox proportional hazards model: a hazard ratio with interval and p for each covariate.

    Covariates must be numeric (dummy-code categories first). Refusals: ``invalid_data`` (not a
    DataFrame, no covariates, non-numeric or missing values), ``missing_column``, ``empty_group``,
    ``no_events``, ``invalid_time``, ``invalid_event``, ``cox_not_converged``. lifelines' warnings
    (e.g. convergence or separation) are returned in ``warnings``; ``converged`` is False when
    one of them is a lifelines ``ConvergenceWarning``.

    Source: Cox 1972; lifelines ``CoxPHFitter`` (Efron ties, Wald intervals), software.md §7.2.
    """
    if not isinstance(df, pd.DataFrame):
        raise DomainError("invalid_data", "df must be a pandas DataFrame.", field="df")
    columns = [duration_col, event_col, *_check_sequence(covariates, "covariates")]
    if len(columns) == 2:
        raise DomainError("invalid_data", "A Cox model needs at least one covariate.", field="covariates")
    for column in columns:
        if not isinstance(column, str) or column not in df.columns:
            raise DomainError("missing_column", f"Column {column!r} is not in the data.", field=str(column))
    if len(set(columns)) != len(columns):
        raise DomainError("invalid_data", "A column is used twice in the model.", field="covariates")
    data = df[columns]
    t, e = _check_survival_data(list(data[duration_col]), list(data[event_col]))
    for column in columns[2:]:
        if not pd.api.types.is_numeric_dtype(data[column]) or pd.api.types.is_bool_dtype(data[column]):
            raise DomainError("invalid_data", f"Covariate {column!r} must be numeric.", field=column)
        if not np.isfinite(data[column].to_numpy(dtype=float)).all():
            raise DomainError(
                "invalid_data", f"Covariate {column!r} has missing or infinite values.", field=column
            )
    if e.sum() == 0:
        raise DomainError("no_events", "A Cox model needs at least one event.", field=event_col)
    level = _check_confidence(confidence)
    frame = data.copy()
    frame[duration_col], frame[event_col] = t, e
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        try:
            fitter = CoxPHFitter(alpha=1 - level).fit(frame, duration_col=duration_col, event_col=event_col)
        except ConvergenceError as error:
            raise DomainError(
                "cox_not_converged",
                f"The Cox model did not converge: {error}".split(". Please")[0] + ".",
                field="covariates",
            ) from None
    intervals = fitter.confidence_intervals_
    summary = fitter.summary
    with np.errstate(over="ignore"):  # a degenerate fit's interval overflows to inf: reported as is
        ratios = tuple(
            HazardRatio(
                covariate=str(name),
                coef=float(summary.loc[name, "coef"]),
                hazard_ratio=float(summary.loc[name, "exp(coef)"]),
                ci_lower=float(np.exp(intervals.loc[name].iloc[0])),
                ci_upper=float(np.exp(intervals.loc[name].iloc[1])),
                p=float(summary.loc[name, "p"]),
            )
            for name in columns[2:]
        )
    return CoxResult(
        n=len(t),
        events=int(e.sum()),
        hazard_ratios=ratios,
        concordance=float(fitter.concordance_index_) if concordance else None,
        confidence=level,
        warnings=tuple(dict.fromkeys(str(w.message).strip() for w in caught)),
        converged=not any(issubclass(w.category, ConvergenceWarning) for w in caught),
    )


# --- JSON-ready reports (CLI, API) -------------------------------------------------------------


def _in_order_of_appearance(labels: Sequence[Hashable]) -> list[Hashable]:
    return list(dict.fromkeys(labels))


def summarise_survival(
    times: Sequence[float], events: Sequence[int], groups: Sequence[Hashable] | None = None
) -> dict[str, Any]:
    """Kaplan–Meier per group (in order of first appearance) and the log-rank test.

    Returns exactly ``{"groups": [{"group", "n", "events", "median", "table": [{"time",
    "at_risk", "events", "censored", "survival", "se", "ci_lower", "ci_upper"}]}], "logrank":
    {"chi2", "df", "p"} | None}``; ``group`` is None without grouping, ``logrank`` None with fewer
    than two groups; every number is finite or None. Source: as :func:`kaplan_meier`, :func:`logrank`.
    """
    t, e = _check_survival_data(times, events)
    labels: list[Hashable] = [None] * len(t) if groups is None else _check_sequence(groups, "groups")
    if len(labels) != len(t):
        raise DomainError(
            "length_mismatch", f"{len(t)} times but {len(labels)} group labels.", field="groups"
        )
    report_groups = []
    for label in _in_order_of_appearance(labels):
        mask = np.array([value == label for value in labels])
        km = kaplan_meier(list(t[mask]), list(e[mask]))
        report_groups.append(
            {
                "group": label,
                "n": km.n,
                "events": km.events,
                "median": _finite(km.median),
                "table": [
                    {
                        "time": row.time,
                        "at_risk": row.at_risk,
                        "events": row.events,
                        "censored": row.censored,
                        "survival": _finite(row.survival),
                        "se": _finite(row.se),
                        "ci_lower": _finite(row.ci_lower),
                        "ci_upper": _finite(row.ci_upper),
                    }
                    for row in km.rows
                ],
            }
        )
    test = None
    if len(report_groups) >= 2:
        result = logrank(list(t), list(e), labels)
        test = {"chi2": _finite(result.chi2), "df": result.df, "p": _finite(result.p)}
    return {"groups": report_groups, "logrank": test}


def summarise_abstinence(groups: Sequence[Hashable], abstinent: Sequence[bool | None]) -> dict[str, Any]:
    """Abstinence per group with Wilson 95% intervals, and a comparison when there are two groups.

    ``abstinent`` is True/False per patient, or None when missing; a missing outcome counts as not
    abstinent (intention to treat) and is reported in ``missing``. Returns exactly ``{"groups":
    [{"group", "n", "abstinent", "missing", "proportion", "ci_lower", "ci_upper"}], "comparison":
    {"risk_difference", "odds_ratio", "fisher_p", "chi2_p"} | None}``, groups in order of first
    appearance, comparison = first group minus second (odds ratio first over second) and only for
    exactly two groups; every number is finite or None.
    Source: issue 6 (ITT); as :func:`wilson_interval`, :func:`compare_proportions`.
    """
    labels = _check_sequence(groups, "groups")
    outcomes = _check_sequence(abstinent, "abstinent")
    if len(labels) != len(outcomes):
        raise DomainError(
            "length_mismatch", f"{len(labels)} group labels but {len(outcomes)} outcomes.", field="abstinent"
        )
    if not labels:
        raise DomainError("empty_group", "No patients to summarise.", field="groups")
    for index, value in enumerate(outcomes):
        if value is not None and not isinstance(value, bool):
            raise DomainError(
                "invalid_value",
                f"abstinent[{index}] must be true, false or null, got {value!r}.",
                field=f"abstinent[{index}]",
            )
    counts: dict[Hashable, list[int]] = {}
    for label, value in zip(labels, outcomes, strict=True):
        count = counts.setdefault(label, [0, 0, 0])
        count[0] += 1
        count[1] += value is True
        count[2] += value is None
    return summarise_abstinence_counts([(label, *count) for label, count in counts.items()])


def summarise_abstinence_counts(groups: Sequence[tuple[Hashable, int, int, int]]) -> dict[str, Any]:
    """:func:`summarise_abstinence` from counts: ``(group, n, abstinent, missing)`` per group, in
    the order given (a cohort report counts 100,000 patients in one pass, then calls this).
    Refusals: ``empty_group``, ``invalid_count`` (as :func:`wilson_interval`)."""
    rows: list[dict[str, Any]] = []
    for label, n, abstinent, missing in groups:
        if not isinstance(missing, int) or isinstance(missing, bool) or not 0 <= missing <= n - abstinent:
            raise DomainError(
                "invalid_count",
                f"missing must be from 0 to the not abstinent, got {missing!r}.",
                field="missing",
            )
        estimate = wilson_interval(abstinent, n)
        rows.append(
            {
                "group": label,
                "n": estimate.n,
                "abstinent": estimate.successes,
                "missing": missing,
                "proportion": _finite(estimate.proportion),
                "ci_lower": _finite(estimate.ci_lower),
                "ci_upper": _finite(estimate.ci_upper),
            }
        )
    comparison = None
    if len(rows) == 2:
        first, second = rows
        result = compare_proportions(first["abstinent"], first["n"], second["abstinent"], second["n"])
        comparison = {
            "risk_difference": _finite(result.risk_difference),
            "odds_ratio": _finite(result.odds_ratio),
            "fisher_p": _finite(result.fisher_p),
            "chi2_p": _finite(result.chi2_p),
        }
    return {"groups": rows, "comparison": comparison}
