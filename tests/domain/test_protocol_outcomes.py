"""The outcome model of a protocol (issue 14): the relapse window, the dropout rule and the
published effect estimates, with their validation and boundaries; the Welch difference and the
Woolf odds-ratio interval the cohort report sets beside them."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from scipy.stats import contingency, ttest_ind

from kapstone.domain import stats
from kapstone.domain.errors import DomainError
from kapstone.domain.protocols import MAX_DAY_OFFSET, get_protocol, protocol_from_dict, protocol_to_dict

DAKWAR_2019 = "ketamine-mbrp-cocaine-dakwar-2019"  # one infusion on course day 1


def data(slug: str = DAKWAR_2019) -> dict[str, Any]:
    return json.loads(json.dumps(protocol_to_dict(get_protocol(slug))))


def outcome_with(**changes: Any) -> dict[str, Any]:
    d = data()
    d["outcome"].update(changes)
    return d


def refusal(d: dict[str, Any]) -> tuple[str, str | None]:
    with pytest.raises(DomainError) as caught:
        protocol_from_dict(d)
    return caught.value.code, caught.value.field


def test_each_shipped_protocol_names_its_measure_and_how_relapse_is_counted() -> None:
    measures = {p: get_protocol(p).outcome for p in (DAKWAR_2019, "ketamine-met-alcohol-dakwar-2020")}
    assert [
        (o.kind, o.relapse_start_day, o.relapse_until_day, o.dropout_counts_as_relapse)
        for o in measures.values()
    ] == [
        ("abstinence", 1, 35, True),
        ("daily_abstinence", 8, 29, True),
    ]
    for slug in ("kpt-alcohol-krupitsky-1997", "kpt-heroin-krupitsky-2007"):
        assert get_protocol(slug).outcome.kind == "abstinence"
    kare = get_protocol("kare-alcohol-grabski-2022")
    assert kare.outcome.kind == "percent_days_abstinent"
    first = kare.published_result.estimates[0]
    assert (first.statistic, first.measure, str(first.value), str(first.ci_lower), str(first.ci_upper)) == (
        "difference",
        "percent_days_abstinent",
        "10.1",
        "1.1",
        "19.0",
    )


def test_a_protocol_written_before_the_outcome_fields_validates_with_their_defaults() -> None:
    """A file without the new keys (e.g. a protocol added in parallel) reads as before: relapse
    after the acute phase, no end, dropout censored, no estimates."""
    d = data("kpt-heroin-krupitsky-2007")
    for key in ("relapse_from_day", "relapse_until_day", "dropout_counts_as_relapse"):
        del d["outcome"][key]
    del d["published_result"]["estimates"]
    protocol = protocol_from_dict(d)
    assert protocol == get_protocol("kpt-heroin-krupitsky-2007")
    assert protocol.outcome.relapse_start_day == protocol.outcome.acute_phase_end_day


@pytest.mark.parametrize(
    ("changes", "refused"),
    [
        (
            {"relapse_from_day": 0},
            ("invalid_relapse_window", "outcome.relapse_from_day"),
        ),  # before the infusion
        ({"relapse_from_day": 1}, None),  # the infusion day
        (
            {
                "relapse_from_day": MAX_DAY_OFFSET,
                "relapse_until_day": None,
                "dropout_counts_as_relapse": False,
            },
            None,
        ),
        ({"relapse_from_day": MAX_DAY_OFFSET + 1}, ("invalid_relapse_window", "outcome.relapse_from_day")),
        ({"relapse_until_day": 1}, ("invalid_relapse_window", "outcome.relapse_until_day")),  # = its start
        ({"relapse_until_day": 2}, None),
        ({"relapse_until_day": MAX_DAY_OFFSET}, None),
        ({"relapse_until_day": MAX_DAY_OFFSET + 1}, ("invalid_relapse_window", "outcome.relapse_until_day")),
        ({"relapse_until_day": None}, ("dropout_rule_needs_window", "outcome.dropout_counts_as_relapse")),
        ({"relapse_until_day": None, "dropout_counts_as_relapse": False}, None),
        (
            {"dropout_counts_as_relapse": "yes"},
            ("invalid_protocol_field", "outcome.dropout_counts_as_relapse"),
        ),
    ],
)
def test_the_relapse_window_and_dropout_rule_at_their_boundaries(changes, refused) -> None:
    d = outcome_with(**changes)
    if refused is None:
        outcome = protocol_from_dict(d).outcome
        assert {key: getattr(outcome, key) for key in changes} == changes
    else:
        assert refusal(d) == refused


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"statistic": "risk_ratio"}, "statistic"),
        ({"measure": "relapse"}, "measure"),  # an odds ratio summarises abstinence
        ({"compared": "  "}, "compared"),
        ({"ci_upper": None}, "ci_upper"),
        ({"ci_lower": None}, "ci_lower"),
        ({"value": "0.9"}, "value"),  # below its interval 1.3–25.1
        ({"value": "25.2"}, "value"),
        ({"value": "0", "ci_lower": "0", "ci_upper": "1"}, "value"),  # a ratio is above 0
        (
            {"statistic": "difference", "value": "100.1", "ci_lower": "90", "ci_upper": "101"},
            "value",
        ),  # a difference is at most 100 points
    ],
)
def test_a_published_estimate_is_refused_naming_its_field(changes, field) -> None:
    d = data()
    d["published_result"]["estimates"][0].update(changes)
    code, where = refusal(d)
    assert (code, where) == ("invalid_published_estimate", f"published_result.estimates.0.{field}")


@pytest.mark.parametrize(
    ("value", "valid"), [("1.3", True), ("25.1", True), ("1.29", False), ("25.11", False)]
)
def test_an_estimate_at_the_ends_of_its_interval_is_accepted(value, valid) -> None:
    d = data()
    d["published_result"]["estimates"][0]["value"] = value
    if valid:
        assert str(protocol_from_dict(d).published_result.estimates[0].value) == value
    else:
        assert refusal(d) == ("invalid_published_estimate", "published_result.estimates.0.value")


def test_mean_difference_is_welchs_interval() -> None:
    a = np.array([91.0, 80.5, 77.0, 99.5, 64.0, 88.0])
    b = np.array([70.0, 81.0, 59.5, 66.0, 90.0])
    result = stats.mean_difference((len(a), a.sum(), (a * a).sum()), (len(b), b.sum(), (b * b).sum()))
    reference = ttest_ind(a, b, equal_var=False)
    interval = reference.confidence_interval()
    assert result.difference == pytest.approx(a.mean() - b.mean())
    assert (result.ci_lower, result.ci_upper) == (pytest.approx(interval.low), pytest.approx(interval.high))
    assert result.df == pytest.approx(reference.df)
    assert stats.mean_difference((1, 5.0, 25.0), (len(b), b.sum(), (b * b).sum())) is None  # one value
    assert stats.mean_difference((2, 10.0, 50.0), (2, 4.0, 8.0)) is None  # no spread anywhere


def test_odds_ratio_interval_is_woolfs() -> None:
    ratio, low, high = stats.odds_ratio_interval(13, 27, 3, 28)
    reference = contingency.odds_ratio([[13, 14], [3, 25]], kind="sample")
    interval = reference.confidence_interval()
    assert ratio == pytest.approx(reference.statistic) == pytest.approx(13 * 25 / (14 * 3))
    assert (low, high) == (pytest.approx(interval.low), pytest.approx(interval.high))
    assert stats.odds_ratio_interval(0, 27, 3, 28) is None
    with pytest.raises(DomainError) as caught:
        stats.odds_ratio_interval(13, 0, 3, 28)
    assert caught.value.code in ("empty_group", "invalid_count")
