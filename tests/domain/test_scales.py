"""MOAA/S and modified Aldrete: levels, totals, thresholds and every refusal."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapstone.domain.errors import DomainError
from kapstone.domain.scales import (
    ALDRETE_DISCHARGE_MIN,
    ALDRETE_ITEMS,
    MOAAS_LEVELS,
    score_aldrete,
    score_moaas,
)


def refused(func, *args, **kwargs) -> DomainError:  # type: ignore[no-untyped-def]
    with pytest.raises(DomainError) as caught:
        func(*args, **kwargs)
    return caught.value


# --- MOAA/S --------------------------------------------------------------------------------------


def test_moaas_has_six_levels_with_the_reference_wording() -> None:
    assert sorted(MOAAS_LEVELS) == [0, 1, 2, 3, 4, 5]
    assert MOAAS_LEVELS[5].startswith("Responds readily to name")
    assert MOAAS_LEVELS[2] == "Responds only after mild prodding or shaking"
    assert MOAAS_LEVELS[0] == "Does not respond to painful trapezius squeeze"


@pytest.mark.parametrize(
    ("score", "baseline", "sedated"), [(5, 5, False), (4, 5, True), (4, 4, False), (3, None, None)]
)
def test_moaas_sedation_is_any_fall_from_baseline(
    score: int, baseline: int | None, sedated: bool | None
) -> None:
    result = score_moaas(score, baseline=baseline)
    assert (result.score, result.sedated, result.description) == (score, sedated, MOAAS_LEVELS[score])


@pytest.mark.parametrize(("score", "unconscious"), [(0, True), (1, False)])
def test_moaas_zero_is_loss_of_consciousness(score: int, unconscious: bool) -> None:
    assert score_moaas(score).loss_of_consciousness is unconscious


@pytest.mark.parametrize(
    ("score", "baseline", "code", "field"),
    [
        (6, None, "answer_out_of_range", "score"),
        (-1, None, "answer_out_of_range", "score"),
        ("5", None, "invalid_answer", "score"),
        (True, None, "invalid_answer", "score"),
        (4.0, None, "invalid_answer", "score"),
        (4, 6, "answer_out_of_range", "baseline"),
        (4, "5", "invalid_answer", "baseline"),
    ],
)
def test_moaas_refusals(score: object, baseline: object, code: str, field: str) -> None:
    error = refused(score_moaas, score, baseline=baseline)
    assert (error.code, error.field) == (code, field)


# --- modified Aldrete ----------------------------------------------------------------------------


def test_aldrete_has_five_items_scored_0_to_2_with_descriptions() -> None:
    assert [item.code for item in ALDRETE_ITEMS] == [
        "activity",
        "respiration",
        "circulation",
        "consciousness",
        "oxygen_saturation",
    ]
    for item in ALDRETE_ITEMS:
        assert sorted(item.levels) == [0, 1, 2] and all(item.levels.values())
    assert "±20%" in ALDRETE_ITEMS[2].levels[2]


@pytest.mark.parametrize(
    ("answers", "total", "meets"),
    [
        ([2, 2, 2, 2, 2], 10, True),
        ([2, 2, 1, 2, 2], 9, True),
        ([2, 1, 1, 2, 2], 8, False),
        ([0] * 5, 0, False),
    ],
)
def test_aldrete_total_and_discharge_threshold_of_9(answers: list[int], total: int, meets: bool) -> None:
    result = score_aldrete(answers)
    assert (result.total, result.meets_discharge_threshold, result.item_scores) == (
        total,
        meets,
        tuple(answers),
    )
    assert ALDRETE_DISCHARGE_MIN == 9


def test_aldrete_accepts_answers_by_item_name() -> None:
    result = score_aldrete(
        {"activity": 2, "respiration": 2, "circulation": 1, "consciousness": 2, "oxygen_saturation": 1}
    )
    assert result.total == 8 and result.by_item["circulation"] == 1


@pytest.mark.parametrize(
    ("answers", "code", "field"),
    [
        ([2, 2, 2, 2], "wrong_answer_count", "answers"),
        ([2, 2, 2, 2, 2, 2], "wrong_answer_count", "answers"),
        ([2, 2, 2, 3, 2], "answer_out_of_range", "answers[3]"),
        ([2, -1, 2, 2, 2], "answer_out_of_range", "answers[1]"),
        ([2, 2, "2", 2, 2], "invalid_answer", "answers[2]"),
        ([2, 2, 2, 2, None], "invalid_answer", "answers[4]"),
        (
            {"activity": 2, "respiration": 2, "circulation": 2, "consciousness": 2},
            "wrong_answer_count",
            "answers",
        ),
        (
            {"activity": 2, "respiration": 2, "circulation": 3, "consciousness": 2, "oxygen_saturation": 2},
            "answer_out_of_range",
            "answers.circulation",
        ),
        ({"activity": 2, "colour": 2}, "unknown_item", "answers.colour"),
        ("22222", "invalid_answers", "answers"),
        (10, "invalid_answers", "answers"),
    ],
)
def test_aldrete_refusals(answers: object, code: str, field: str) -> None:
    error = refused(score_aldrete, answers)
    assert (error.code, error.field) == (code, field)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 2), min_size=5, max_size=5), st.integers(0, 4))
def test_aldrete_total_is_the_sum_and_raising_an_item_never_lowers_it(answers: list[int], index: int) -> None:
    result = score_aldrete(answers)
    assert result.total == sum(answers) and 0 <= result.total <= 10
    assert result.meets_discharge_threshold is (result.total >= 9)
    if answers[index] < 2:
        better = [*answers]
        better[index] += 1
        assert score_aldrete(better).total == result.total + 1


def test_aldrete_names_each_missing_item_in_words() -> None:
    error = refused(score_aldrete, {"activity": 2, "circulation": 2, "consciousness": 1})
    assert (error.code, error.field) == ("wrong_answer_count", "answers")
    assert (
        error.message == "Modified Aldrete has 5 items; choose a score for: Respiration, Oxygen saturation."
    )
    out_of_range = refused(score_aldrete, [2, 2, 2, 2, 3])
    assert out_of_range.message == "Modified Aldrete Oxygen saturation must be within 0–2, got 3."
