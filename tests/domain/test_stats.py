"""Cohort statistics against hand computations, scipy and lifelines (to 1e-9), and edge cases."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test
from scipy.stats import chi2 as chi2_distribution
from scipy.stats import hypergeom, norm

from kapstone.domain.errors import DomainError
from kapstone.domain.stats import (
    compare_proportions,
    cox_ph,
    kaplan_meier,
    logrank,
    summarise_abstinence,
    summarise_abstinence_counts,
    summarise_survival,
    wilson_interval,
)

TOL = 1e-9


def close(a: float, b: float, tol: float = TOL) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def refusal(call, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call(*args, **kwargs)
    return caught.value


def generated_survival(seed: int, n: int = 80, groups: int = 2):
    """Integer times in days (so there are ties) with about 30% censoring."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, groups, n)
    times = np.ceil(rng.exponential(60 * (1 + labels), n)).astype(float)
    events = (rng.random(n) > 0.3).astype(int)
    return list(times), list(events), [f"arm{g}" for g in labels]


# --- Wilson ------------------------------------------------------------------------------------


def wilson_by_hand(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_wilson_matches_a_hand_computed_case():
    # 5 of 10: the textbook Wilson interval 0.2366–0.7634.
    result = wilson_interval(5, 10)
    assert result.proportion == 0.5
    assert round(result.ci_lower, 4) == 0.2366 and round(result.ci_upper, 4) == 0.7634
    lower, upper = wilson_by_hand(5, 10)
    assert close(result.ci_lower, lower) and close(result.ci_upper, upper)


def test_wilson_at_zero_and_all_successes():
    zero = wilson_interval(0, 10)
    z2 = norm.ppf(0.975) ** 2
    assert zero.ci_lower == 0 and close(zero.ci_upper, z2 / (10 + z2))
    everyone = wilson_interval(10, 10)
    assert everyone.ci_upper == 1 and close(everyone.ci_lower, 10 / (10 + z2))


def test_wilson_for_the_krupitsky_1997_arm():
    result = wilson_interval(73, 111)
    lower, upper = wilson_by_hand(73, 111)
    assert close(result.ci_lower, lower) and close(result.ci_upper, upper)


def test_wilson_other_confidence_levels():
    result = wilson_interval(30, 50, confidence=0.9)
    lower, upper = wilson_by_hand(30, 50, z=norm.ppf(0.95))
    assert close(result.ci_lower, lower) and close(result.ci_upper, upper)


@pytest.mark.parametrize(
    ("args", "code", "field"),
    [
        ((0, 0), "empty_group", "n"),
        ((3, 2), "invalid_count", "successes"),
        ((-1, 2), "invalid_count", "successes"),
        ((1.0, 2), "invalid_count", "successes"),
        ((True, 2), "invalid_count", "successes"),
        ((1, "2"), "invalid_count", "n"),
    ],
)
def test_wilson_refusals(args, code, field):
    error = refusal(wilson_interval, *args)
    assert (error.code, error.field) == (code, field)


@pytest.mark.parametrize("confidence", [0, 1, 1.5, "0.95"])
def test_wilson_refuses_bad_confidence(confidence):
    assert refusal(wilson_interval, 1, 2, confidence=confidence).code == "invalid_confidence"


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 500), data=st.data())
def test_property_wilson_contains_the_proportion_and_matches_the_formula(n, data):
    k = data.draw(st.integers(0, n))
    result = wilson_interval(k, n)
    assert 0 <= result.ci_lower <= result.proportion <= result.ci_upper <= 1
    lower, upper = wilson_by_hand(k, n)
    assert close(result.ci_lower, max(0.0, lower)) and close(result.ci_upper, min(1.0, upper))


# --- two proportions ---------------------------------------------------------------------------


def fisher_by_hand(a: int, b: int, c: int, d: int) -> float:
    """Two-sided Fisher p: sum of table probabilities no larger than the observed one."""
    rows, col = a + b, a + c
    dist = hypergeom(a + b + c + d, col, rows)
    observed = dist.pmf(a)
    support = range(max(0, rows + col - (a + b + c + d)), min(rows, col) + 1)
    return float(sum(dist.pmf(x) for x in support if dist.pmf(x) <= observed * (1 + 1e-7)))


def pearson_by_hand(table: np.ndarray, yates: bool) -> float:
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    diff = np.abs(table - expected)
    if yates:
        diff = np.maximum(diff - 0.5, 0)
    return float(chi2_distribution.sf((diff**2 / expected).sum(), 1))


def test_compare_proportions_dakwar_2019_counts():
    # 13/27 vs 3/28 (clinical.md §1.4, derived there from 48.2% vs 10.7%).
    result = compare_proportions(13, 27, 3, 28)
    assert close(result.risk_difference, 13 / 27 - 3 / 28)
    assert close(result.odds_ratio, (13 * 25) / (14 * 3))
    assert close(result.fisher_p, fisher_by_hand(13, 14, 3, 25))
    assert close(result.chi2_p, pearson_by_hand(np.array([[13, 14], [3, 25]]), yates=False))
    assert result.yates_correction is False


def test_yates_correction_is_optional_and_raises_p():
    plain = compare_proportions(13, 27, 3, 28)
    corrected = compare_proportions(13, 27, 3, 28, yates=True)
    assert corrected.yates_correction is True
    assert close(corrected.chi2_p, pearson_by_hand(np.array([[13, 14], [3, 25]]), yates=True))
    assert corrected.chi2_p > plain.chi2_p


@settings(max_examples=60, deadline=None)
@given(a_n=st.integers(1, 60), b_n=st.integers(1, 60), data=st.data())
def test_property_comparison_agrees_with_hand_formulas(a_n, b_n, data):
    a_k, b_k = data.draw(st.integers(0, a_n)), data.draw(st.integers(0, b_n))
    result = compare_proportions(a_k, a_n, b_k, b_n)
    table = np.array([[a_k, a_n - a_k], [b_k, b_n - b_k]])
    assert close(result.risk_difference, a_k / a_n - b_k / b_n)
    assert math.isclose(result.fisher_p, fisher_by_hand(*table.ravel()), rel_tol=1e-6, abs_tol=1e-9)
    if (table.sum(0) == 0).any():
        assert result.chi2_p is None
    else:
        assert close(result.chi2_p, pearson_by_hand(table, yates=False))


@pytest.mark.parametrize(
    ("counts", "odds_ratio"),
    [((5, 5, 2, 10), math.inf), ((0, 5, 2, 10), 0.0), ((5, 5, 10, 10), None), ((0, 5, 0, 10), None)],
)
def test_odds_ratio_with_zero_cells(counts, odds_ratio):
    assert compare_proportions(*counts).odds_ratio == odds_ratio


def test_chi_square_is_none_when_everyone_shares_one_outcome():
    result = compare_proportions(5, 5, 10, 10)
    assert result.chi2_p is None and result.fisher_p == 1.0 and result.risk_difference == 0


@pytest.mark.parametrize(("args", "field"), [((0, 0, 1, 2), "a_n"), ((1, 2, 0, 0), "b_n")])
def test_compare_refuses_empty_groups(args, field):
    error = refusal(compare_proportions, *args)
    assert (error.code, error.field) == ("empty_group", field)


# --- Kaplan–Meier ------------------------------------------------------------------------------


def km_by_hand(times, events, z=1.959963984540054):
    """Product-limit estimate written out from the definitions (an independent oracle)."""
    t, e = np.asarray(times, float), np.asarray(events, int)
    rows, s, greenwood = [], 1.0, 0.0
    for time in np.unique(t):
        at_risk = int((t >= time).sum())
        deaths = int(((t == time) & (e == 1)).sum())
        censored = int(((t == time) & (e == 0)).sum())
        s *= 1 - deaths / at_risk
        if deaths and at_risk > deaths:
            greenwood += deaths / (at_risk * (at_risk - deaths))
        if s == 1.0:
            lower = upper = 1.0
        elif s == 0.0:
            lower = upper = 0.0
        else:
            spread = z * math.sqrt(greenwood) / math.log(s)
            lower = math.exp(-math.exp(math.log(-math.log(s)) - spread))
            upper = math.exp(-math.exp(math.log(-math.log(s)) + spread))
        rows.append((float(time), at_risk, deaths, censored, s, s * math.sqrt(greenwood), lower, upper))
    return rows


def assert_km_matches(result, times, events):
    expected = km_by_hand(times, events)
    assert len(result.rows) == len(expected)
    for row, (time, at_risk, deaths, censored, s, se, lower, upper) in zip(
        result.rows, expected, strict=True
    ):
        assert (row.time, row.at_risk, row.events, row.censored) == (time, at_risk, deaths, censored)
        assert close(row.survival, s) and close(row.se, se)
        assert close(row.ci_lower, lower) and close(row.ci_upper, upper)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_kaplan_meier_matches_hand_computation_and_lifelines(seed):
    times, events, _ = generated_survival(seed)
    result = kaplan_meier(times, events)
    assert_km_matches(result, times, events)
    fitter = KaplanMeierFitter().fit(times, events)
    survival = fitter.survival_function_.iloc[:, 0]
    interval = fitter.confidence_interval_
    cumulative_sq = fitter._cumulative_sq_  # lifelines' internal Greenwood sum
    for row in result.rows:
        assert close(row.survival, survival.loc[row.time])
        assert close(row.ci_lower, interval.iloc[:, 0].loc[row.time])
        assert close(row.ci_upper, interval.iloc[:, 1].loc[row.time])
        assert close(row.se, row.survival * math.sqrt(cumulative_sq.loc[row.time]))
    assert result.median == fitter.median_survival_time_
    assert (result.n, result.events) == (len(times), sum(events))


def test_kaplan_meier_hand_built_example_with_ties():
    # times 1, 2, 2(censored), 3, 5; at 2 one relapse and one censoring (events first).
    result = kaplan_meier([1, 2, 2, 3, 5], [1, 1, 0, 1, 1])
    assert [(r.time, r.at_risk, r.events, r.censored) for r in result.rows] == [
        (1.0, 5, 1, 0),
        (2.0, 4, 1, 1),
        (3.0, 2, 1, 0),
        (5.0, 1, 1, 0),
    ]
    assert [round(r.survival, 10) for r in result.rows] == [0.8, 0.6, 0.3, 0.0]
    assert close(result.rows[1].se, 0.6 * math.sqrt(1 / 20 + 1 / 12))
    assert result.rows[-1].se == 0.0  # S = 0: the n = d step adds nothing
    assert result.median == 3.0
    assert (result.median_ci_lower, result.median_ci_upper) == (1.0, 5.0)


def test_kaplan_meier_all_censored():
    result = kaplan_meier([3, 5, 8], [0, 0, 0])
    assert all(r.survival == 1.0 and r.se == 0.0 and r.ci_lower == r.ci_upper == 1.0 for r in result.rows)
    assert result.median is None and result.median_ci_upper is None
    assert result.events == 0


def test_kaplan_meier_time_zero_events_are_kept():
    result = kaplan_meier([0, 0, 4, 6], [1, 0, 1, 0])
    assert result.rows[0].time == 0.0 and result.rows[0].events == 1
    assert_km_matches(result, [0, 0, 4, 6], [1, 0, 1, 0])


def test_kaplan_meier_leaves_numpy_error_settings_alone():
    before = np.geterr()
    kaplan_meier([1, 2, 3], [1, 1, 1])
    assert np.geterr() == before


@pytest.mark.parametrize(
    ("times", "events", "code", "field"),
    [
        ([], [], "empty_group", "times"),
        ([1, 2], [1], "length_mismatch", "events"),
        ([1, -1], [1, 1], "invalid_time", "times[1]"),
        ([1, math.nan], [1, 1], "invalid_time", "times[1]"),
        ([1, math.inf], [1, 1], "invalid_time", "times[1]"),
        (["1"], [1], "invalid_time", "times[0]"),
        ([1, 2], [1, 2], "invalid_event", "events[1]"),
        ([1, 2], [1, 0.5], "invalid_event", "events[1]"),
        ("12", [1, 1], "invalid_data", "times"),
    ],
)
def test_kaplan_meier_refusals(times, events, code, field):
    error = refusal(kaplan_meier, times, events)
    assert (error.code, error.field) == (code, field)


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 1)), min_size=1, max_size=40),
)
def test_property_kaplan_meier_matches_the_oracle_and_never_increases(data):
    times, events = [t for t, _ in data], [e for _, e in data]
    result = kaplan_meier(times, events)
    assert_km_matches(result, times, events)
    survival = [r.survival for r in result.rows]
    assert all(a >= b for a, b in itertools.pairwise(survival))
    assert all(0 <= r.ci_lower <= r.survival <= r.ci_upper <= 1 for r in result.rows)


# --- log-rank ----------------------------------------------------------------------------------


def logrank_by_hand(times, events, groups) -> tuple[float, int]:
    """k-group log-rank statistic (O − E)ᵀ V⁻¹ (O − E) over the first k − 1 groups."""
    t, e, g = np.asarray(times, float), np.asarray(events), np.asarray(groups)
    labels = list(dict.fromkeys(groups))
    k = len(labels)
    o_minus_e, v = np.zeros(k), np.zeros((k, k))
    for time in np.unique(t[e == 1]):
        at_risk = np.array([((t >= time) & (g == lab)).sum() for lab in labels], float)
        deaths = np.array([((t == time) & (e == 1) & (g == lab)).sum() for lab in labels], float)
        n, d = at_risk.sum(), deaths.sum()
        o_minus_e += deaths - d * at_risk / n
        if n > 1:
            factor = d * (n - d) / (n * n * (n - 1))
            v += factor * (np.diag(at_risk) * n - np.outer(at_risk, at_risk))
    stat = float(o_minus_e[:-1] @ np.linalg.solve(v[:-1, :-1], o_minus_e[:-1]))
    return stat, k - 1


@pytest.mark.parametrize(("seed", "k"), [(11, 2), (12, 2), (13, 3), (14, 4)])
def test_logrank_matches_hand_computation_and_lifelines(seed, k):
    times, events, groups = generated_survival(seed, n=90, groups=k)
    result = logrank(times, events, groups)
    stat, df = logrank_by_hand(times, events, groups)
    assert close(result.chi2, stat) and result.df == df
    assert close(result.p, float(chi2_distribution.sf(stat, df)))
    reference = multivariate_logrank_test(times, groups, events)
    assert close(result.chi2, reference.test_statistic) and close(result.p, reference.p_value)
    if k == 2:
        g = np.asarray(groups)
        t, e = np.asarray(times), np.asarray(events)
        a, b = g == "arm0", g == "arm1"
        two = logrank_test(t[a], t[b], e[a], e[b])
        assert close(result.chi2, two.test_statistic)


def test_logrank_with_no_events_reports_no_difference():
    result = logrank([1, 2, 3, 4], [0, 0, 0, 0], ["a", "a", "b", "b"])
    assert (result.chi2, result.df, result.p) == (0.0, 1, 1.0)


def test_logrank_refuses_one_group_and_mismatched_labels():
    error = refusal(logrank, [1, 2], [1, 1], ["a", "a"])
    assert (error.code, error.field) == ("too_few_groups", "groups")
    error = refusal(logrank, [1, 2], [1, 1], ["a"])
    assert (error.code, error.field) == ("length_mismatch", "groups")


# --- Cox ---------------------------------------------------------------------------------------


def cox_frame(seed: int, n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ketamine = rng.integers(0, 2, n)
    age = rng.normal(45, 10, n)
    hazard = np.exp(-0.7 * ketamine + 0.02 * (age - 45))
    return pd.DataFrame(
        {
            "days": np.ceil(rng.exponential(100 / hazard)),
            "relapse": (rng.random(n) > 0.25).astype(int),
            "ketamine": ketamine,
            "age": age,
        }
    )


@pytest.mark.parametrize("seed", [21, 22])
def test_cox_matches_lifelines(seed):
    frame = cox_frame(seed)
    result = cox_ph(frame, "days", "relapse", ["ketamine", "age"])
    reference = CoxPHFitter().fit(frame, "days", "relapse")
    z = norm.ppf(0.975)
    for ratio in result.hazard_ratios:
        row = reference.summary.loc[ratio.covariate]
        assert close(ratio.coef, row["coef"]) and close(ratio.hazard_ratio, row["exp(coef)"])
        assert close(ratio.hazard_ratio, math.exp(ratio.coef))
        assert close(ratio.ci_lower, math.exp(row["coef"] - z * row["se(coef)"]))
        assert close(ratio.ci_upper, math.exp(row["coef"] + z * row["se(coef)"]))
        assert close(ratio.p, row["p"])
    assert close(result.concordance, reference.concordance_index_)
    assert (result.n, result.events) == (len(frame), int(frame["relapse"].sum()))


def test_cox_single_binary_covariate_matches_an_independent_likelihood_fit():
    # No tied times, so Efron's and the plain partial likelihood coincide.
    rng = np.random.default_rng(5)
    n = 60
    x = rng.integers(0, 2, n)
    times = rng.permutation(np.arange(1, n + 1)).astype(float)
    events = (rng.random(n) > 0.2).astype(int)
    frame = pd.DataFrame({"t": times, "e": events, "x": x})

    def score(beta: float) -> float:  # derivative of the log partial likelihood
        total = 0.0
        for i in np.flatnonzero(events):
            risk = times >= times[i]
            w = np.exp(beta * x[risk])
            total += x[i] - (x[risk] * w).sum() / w.sum()
        return total

    from scipy.optimize import brentq

    beta = brentq(score, -5, 5, xtol=1e-12)
    result = cox_ph(frame, "t", "e", ["x"])
    assert math.isclose(result.hazard_ratios[0].coef, beta, abs_tol=1e-6)


@pytest.mark.parametrize(
    ("frame", "covariates", "code", "field"),
    [
        ({"t": [1, 2], "e": [1, 0], "x": [0, 1]}, ["y"], "missing_column", "y"),
        ({"t": [1, 2], "e": [1, 0], "x": ["a", "b"]}, ["x"], "invalid_data", "x"),
        ({"t": [1, 2], "e": [1, 0], "x": [0, math.nan]}, ["x"], "invalid_data", "x"),
        ({"t": [1, 2], "e": [0, 0], "x": [0, 1]}, ["x"], "no_events", "e"),
        ({"t": [1, -2], "e": [1, 0], "x": [0, 1]}, ["x"], "invalid_time", "times[1]"),
        ({"t": [1, 2], "e": [1, 0], "x": [0, 1]}, [], "invalid_data", "covariates"),
    ],
)
def test_cox_refusals(frame, covariates, code, field):
    error = refusal(cox_ph, pd.DataFrame(frame), "t", "e", covariates)
    assert (error.code, error.field) == (code, field)


def test_cox_refuses_a_non_dataframe():
    assert refusal(cox_ph, {"t": [1]}, "t", "e", ["x"]).code == "invalid_data"


def test_cox_reports_non_convergence_as_domain_error():
    frame = pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 1, 0, 1], "x": [1, 1, 1, 1], "y": [2, 2, 2, 2]})
    error = refusal(cox_ph, frame, "t", "e", ["x", "y"])
    assert error.code == "cox_not_converged"


# --- JSON-ready reports ------------------------------------------------------------------------


def strict_json(payload) -> str:
    return json.dumps(payload, allow_nan=False)


def test_survival_report_shape_group_order_and_logrank():
    times, events, groups = [5, 3, 8, 2, 9, 4], [1, 0, 1, 1, 0, 1], ["K", "C", "K", "C", "K", "C"]
    report = summarise_survival(times, events, groups)
    strict_json(report)
    assert list(report) == ["groups", "logrank"]
    assert [g["group"] for g in report["groups"]] == ["K", "C"]
    group = report["groups"][0]
    assert list(group) == ["group", "n", "events", "median", "table"]
    assert list(group["table"][0]) == [
        "time",
        "at_risk",
        "events",
        "censored",
        "survival",
        "se",
        "ci_lower",
        "ci_upper",
    ]
    assert list(report["logrank"]) == ["chi2", "df", "p"]
    assert close(report["logrank"]["chi2"], logrank(times, events, groups).chi2)


def test_survival_report_without_groups_has_null_group_and_logrank():
    report = summarise_survival([1, 2, 3], [0, 0, 0])
    strict_json(report)
    assert report["logrank"] is None
    assert report["groups"][0]["group"] is None and report["groups"][0]["median"] is None


def test_survival_report_with_one_group_label_has_null_logrank():
    assert summarise_survival([1, 2], [1, 1], ["A", "A"])["logrank"] is None


def test_abstinence_report_counts_missing_as_not_abstinent():
    groups = ["K", "K", "K", "K", "C", "C", "C"]
    outcomes = [True, True, None, False, True, False, False]
    report = summarise_abstinence(groups, outcomes)
    strict_json(report)
    first, second = report["groups"]
    assert (first["group"], first["n"], first["abstinent"], first["missing"]) == ("K", 4, 2, 1)
    assert close(first["proportion"], 0.5)
    expected = wilson_interval(2, 4)
    assert (first["ci_lower"], first["ci_upper"]) == (expected.ci_lower, expected.ci_upper)
    assert (second["n"], second["abstinent"], second["missing"]) == (3, 1, 0)
    comparison = report["comparison"]
    assert list(comparison) == ["risk_difference", "odds_ratio", "fisher_p", "chi2_p"]
    assert close(comparison["risk_difference"], 0.5 - 1 / 3)
    assert close(comparison["odds_ratio"], (2 * 2) / (2 * 1))


def test_abstinence_report_turns_infinite_odds_ratio_and_undefined_chi2_into_null():
    report = summarise_abstinence(["A", "A", "B", "B"], [True, True, True, False])
    strict_json(report)
    assert report["comparison"]["odds_ratio"] is None
    report = summarise_abstinence(["A", "B"], [True, True])
    assert report["comparison"]["chi2_p"] is None and report["comparison"]["odds_ratio"] is None


@pytest.mark.parametrize("labels", [["A", "A"], ["A", "B", "C"]])
def test_abstinence_comparison_only_for_exactly_two_groups(labels):
    assert summarise_abstinence(labels, [True] * len(labels))["comparison"] is None


def test_abstinence_report_refusals():
    error = refusal(summarise_abstinence, ["A"], [1])
    assert (error.code, error.field) == ("invalid_value", "abstinent[0]")
    assert refusal(summarise_abstinence, [], []).code == "empty_group"
    assert refusal(summarise_abstinence, ["A"], [True, False]).code == "length_mismatch"


# --- 100,000-patient inputs: arrays, heavy ties, counts ------------------------------------------


def tied_cohort(n: int = 20_000, seed: int = 7):
    """Many patients on few distinct days, as a cohort's whole-day relapse times are."""
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 3, n)
    times = np.minimum(rng.exponential(20 + 10 * groups).astype(np.int64), 60)
    events = (times < 60).astype(np.int64) * (rng.random(n) < 0.9)
    return times, events, groups


def test_kaplan_meier_on_tied_arrays_equals_lifelines_on_every_patient():
    times, events, _ = tied_cohort()
    result = kaplan_meier(times, events)
    fitter = KaplanMeierFitter().fit(times, events)
    table = fitter.event_table
    assert len(result.rows) == int((table["removed"] > 0).sum()) < 100
    for row in result.rows:
        assert (row.at_risk, row.events, row.censored) == tuple(
            int(table.loc[row.time, c]) for c in ("at_risk", "observed", "censored")
        )
        assert close(row.survival, fitter.survival_function_.iloc[:, 0].loc[row.time])
        assert close(row.ci_lower, fitter.confidence_interval_.iloc[:, 0].loc[row.time])
        assert close(row.ci_upper, fitter.confidence_interval_.iloc[:, 1].loc[row.time])
        assert close(row.se, row.survival * math.sqrt(fitter._cumulative_sq_.loc[row.time]))
    assert result.median == fitter.median_survival_time_
    assert (result.n, result.events) == (len(times), int(events.sum()))
    assert kaplan_meier(times.tolist(), events.tolist()) == result  # lists and arrays agree


def test_logrank_on_tied_arrays_equals_lifelines_on_every_patient():
    times, events, groups = tied_cohort()
    labels = np.array([f"arm{g}" for g in groups], dtype=object)
    result = logrank(times, events, labels)
    reference = multivariate_logrank_test(times, labels, events)
    assert close(result.chi2, reference.test_statistic) and close(result.p, reference.p_value)
    assert result.df == 2


@pytest.mark.parametrize(
    ("times", "events", "code", "field"),
    [
        (np.array([1, -1]), np.array([1, 1]), "invalid_time", "times[1]"),
        (np.array([1.0, math.nan]), np.array([1, 1]), "invalid_time", "times[1]"),
        (np.array([1, 2]), np.array([1, 2]), "invalid_event", "events[1]"),
        (np.array([1, 2]), np.array([1.0, 0.0]), "invalid_event", "events[0]"),
        (np.array([1, 2]), np.array([1]), "length_mismatch", "events"),
        (np.array([], dtype=np.int64), np.array([], dtype=np.int64), "empty_group", "times"),
    ],
)
def test_array_inputs_are_refused_as_lists_are(times, events, code, field):
    error = refusal(kaplan_meier, times, events)
    assert (error.code, error.field) == (code, field)
    listed = refusal(kaplan_meier, times.tolist(), events.tolist())
    assert (listed.code, listed.field) == (code, field)


def test_abstinence_from_counts_equals_abstinence_per_patient():
    labels = ["ketamine"] * 40 + ["control"] * 30
    outcomes = [True] * 25 + [False] * 10 + [None] * 5 + [True] * 8 + [None] * 22
    counts = [("ketamine", 40, 25, 5), ("control", 30, 8, 22)]
    assert summarise_abstinence_counts(counts) == summarise_abstinence(labels, outcomes)


@pytest.mark.parametrize(
    ("counts", "code"),
    [
        ([("A", 0, 0, 0)], "empty_group"),
        ([("A", 10, 11, 0)], "invalid_count"),
        ([("A", 10, 4, 7)], "invalid_count"),  # more missing than not abstinent
        ([("A", 10, 4, -1)], "invalid_count"),
    ],
)
def test_abstinence_from_counts_refusals(counts, code):
    assert refusal(summarise_abstinence_counts, counts).code == code
