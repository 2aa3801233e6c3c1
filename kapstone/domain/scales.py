"""Bedside scales scored during and after dosing: MOAA/S (sedation) and the modified Aldrete score.

CADSS (dissociation) is a questionnaire and is scored by :mod:`kapstone.domain.instruments`.
Refusal codes follow the instrument scorer: ``invalid_answers`` (not a list), ``wrong_answer_count``,
``invalid_answer`` (not an integer), ``answer_out_of_range``, plus ``unknown_item`` for a named
Aldrete item that does not exist.

Source: /work/shared/reference/clinical.md §3.5 (MOAA/S, Chernik et al. 1990; the Spravato label's
sedation rule) and §3.7 (modified Aldrete, 1995; ≥ 9 allows discharge).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kapstone.domain.errors import DomainError

# --- MOAA/S --------------------------------------------------------------------------------------

MOAAS_LEVELS: Mapping[int, str] = {
    5: "Responds readily to name spoken in normal tone (alert)",
    4: "Lethargic response to name spoken in normal tone",
    3: "Responds only after name is called loudly and/or repeatedly",
    2: "Responds only after mild prodding or shaking",
    1: "Responds only after painful trapezius squeeze",
    0: "Does not respond to painful trapezius squeeze",
}
"""MOAA/S score → response. Source: clinical.md §3.5 (BMC Anesthesiology table; Spravato label)."""

MOAAS_LOCAL_CODE = "moaas"
"""Local observation code: no LOINC code was found for MOAA/S (clinical.md §4.8, §6)."""


@dataclass(frozen=True)
class MoaasScore:
    """A scored MOAA/S.

    ``sedated`` is True when the score is below the pre-dose ``baseline`` (None without one);
    ``loss_of_consciousness`` is True at 0.
    """

    score: int
    description: str
    baseline: int | None
    sedated: bool | None
    loss_of_consciousness: bool


def _check_int(value: object, *, field: str, label: str, low: int, high: int) -> int:
    # bool is an int subclass; True as a score is a caller bug, not "1".
    if isinstance(value, bool) or not isinstance(value, int):
        raise DomainError("invalid_answer", f"{label} must be an integer, got {value!r}.", field=field)
    if not low <= value <= high:
        raise DomainError(
            "answer_out_of_range", f"{label} must be within {low}–{high}, got {value}.", field=field
        )
    return value


def score_moaas(score: object, *, baseline: object = None) -> MoaasScore:
    """Score one MOAA/S observation, optionally against the pre-dose score.

    Guarantees: ``score`` and ``baseline`` are integers 0–5; ``description`` is the level's wording.
    Refusals: ``invalid_answer`` / ``answer_out_of_range`` with field ``score`` or ``baseline``.
    Source: clinical.md §3.5; Spravato label: any decrease from the pre-dose score is sedation,
    0 is loss of consciousness.
    """
    value = _check_int(score, field="score", label="MOAA/S", low=0, high=5)
    base = (
        None
        if baseline is None
        else _check_int(baseline, field="baseline", label="baseline MOAA/S", low=0, high=5)
    )
    return MoaasScore(
        score=value,
        description=MOAAS_LEVELS[value],
        baseline=base,
        sedated=None if base is None else value < base,
        loss_of_consciousness=value == 0,
    )


# --- Modified Aldrete ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AldreteItem:
    """One modified Aldrete item; ``levels`` maps 2, 1, 0 to the criterion for that score."""

    code: str
    name: str
    levels: Mapping[int, str]


ALDRETE_ITEMS: tuple[AldreteItem, ...] = (
    AldreteItem(
        "activity",
        "Activity",
        {
            2: "Moves 4 extremities voluntarily or on command",
            1: "Moves 2 extremities",
            0: "Moves 0 extremities",
        },
    ),
    AldreteItem(
        "respiration",
        "Respiration",
        {
            2: "Breathes deeply and coughs freely",
            1: "Dyspnoea or limited breathing",
            0: "Apnoeic",
        },
    ),
    AldreteItem(
        "circulation",
        "Circulation",
        {
            2: "BP within ±20% of pre-anaesthetic (pre-dose) level",
            1: "BP within ±20–49% of pre-dose level",
            0: "BP differs by ±50% or more from pre-dose level",
        },
    ),
    AldreteItem(
        "consciousness",
        "Consciousness",
        {
            2: "Fully awake",
            1: "Arousable on calling",
            0: "Not responding",
        },
    ),
    AldreteItem(
        "oxygen_saturation",
        "Oxygen saturation",
        {
            2: "SpO2 > 92% on room air",
            1: "Needs O2 to keep SpO2 > 90%",
            0: "SpO2 < 90% even with O2",
        },
    ),
)
"""The five items in form order. Source: clinical.md §3.7 (modified Aldrete 1995: SpO2 replaces colour)."""

ALDRETE_DISCHARGE_MIN = 9
"""A total of 9 or more allows discharge from recovery. Source: clinical.md §3.7."""

ALDRETE_LOCAL_CODE = "aldrete_total"
"""Local observation code for the total (no LOINC code found)."""


@dataclass(frozen=True)
class AldreteScore:
    """A scored modified Aldrete: item scores in :data:`ALDRETE_ITEMS` order, total 0–10."""

    item_scores: tuple[int, ...]
    total: int
    meets_discharge_threshold: bool

    @property
    def by_item(self) -> dict[str, int]:
        return {item.code: score for item, score in zip(ALDRETE_ITEMS, self.item_scores, strict=True)}


def score_aldrete(answers: object) -> AldreteScore:
    """Score the modified Aldrete from five item answers (0, 1 or 2 each).

    ``answers``: a list in item order (activity, respiration, circulation, consciousness,
    oxygen_saturation) or a mapping of item code to answer with exactly those five keys.
    Guarantees: total = sum of items, within 0–10; ``meets_discharge_threshold`` ⇔ total ≥ 9.
    Refusals: ``invalid_answers`` (neither list nor mapping); ``wrong_answer_count`` (not five);
    ``unknown_item`` (mapping key not an item; field ``answers.<key>``); ``invalid_answer`` and
    ``answer_out_of_range`` (field ``answers[i]``, 0-based, or ``answers.<item>``).
    Source: clinical.md §3.7.
    """
    count = len(ALDRETE_ITEMS)
    if isinstance(answers, Mapping):
        for key in answers:
            if key not in {item.code for item in ALDRETE_ITEMS}:
                raise DomainError(
                    "unknown_item",
                    f"Modified Aldrete has no item {key!r}; items: {', '.join(i.code for i in ALDRETE_ITEMS)}.",
                    field=f"answers.{key}",
                )
        if len(answers) != count:
            missing = [item.name for item in ALDRETE_ITEMS if item.code not in answers]
            raise DomainError(
                "wrong_answer_count",
                f"Modified Aldrete has {count} items; choose a score for: {', '.join(missing)}.",
                field="answers",
            )
        pairs = [(f"answers.{item.code}", item, answers[item.code]) for item in ALDRETE_ITEMS]
    elif isinstance(answers, Sequence) and not isinstance(answers, str | bytes):
        if len(answers) != count:
            raise DomainError(
                "wrong_answer_count",
                f"Modified Aldrete has {count} items; got {len(answers)} answers.",
                field="answers",
            )
        pairs = [
            (f"answers[{i}]", item, answer)
            for i, (item, answer) in enumerate(zip(ALDRETE_ITEMS, answers, strict=True))
        ]
    else:
        raise DomainError(
            "invalid_answers",
            f"Modified Aldrete answers must be a list or an object, got {type(answers).__name__}.",
            field="answers",
        )
    scores = tuple(
        _check_int(answer, field=field, label=f"Modified Aldrete {item.name}", low=0, high=2)
        for field, item, answer in pairs
    )
    total = sum(scores)
    return AldreteScore(
        item_scores=scores, total=total, meets_discharge_threshold=total >= ALDRETE_DISCHARGE_MIN
    )
