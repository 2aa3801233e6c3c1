"""The baseline set of vital signs that must be on record before ketamine is given.

A dose starts only when the session holds, within the protocol's window before the start, a
blood pressure (systolic and diastolic), a heart rate, an SpO2 and a respiratory rate, and a
MOAA/S score where the protocol scores sedation with it. The set is what every later reading is
compared with: the blood-pressure rise, the fall in MOAA/S that defines sedation, the discharge's
"within 20 % of baseline". Without it the monitoring rules have nothing to compare with, and the
check schedule shows the baseline overdue while the drug is already running.

Sources (reference clinical.md §3.1, §3.2, §3.5):

- Spravato (esketamine) label: blood pressure before dosing; pulse oximetry at each session;
  sedation is any fall in MOAA/S from the pre-dose score.
- APA consensus (Sanacora et al., JAMA Psychiatry 2017;74:399–405): baseline blood pressure;
  continuous respiratory and cardiovascular assessment (heart rate, respiratory rate).
- The window (60 min by default, ``monitoring.baseline_window_min`` of the protocol) is protocol
  practice: no source gives a number; it is the monitoring schedule's baseline window.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from kapstone.domain.errors import DomainError

BASELINE_WINDOW_MIN_DEFAULT = 60
#: The protocol's window may be set within these bounds (minutes). Chosen: a set older than 4 h
#: no longer describes the patient at the start.
BASELINE_WINDOW_MIN_BOUNDS = (1, 240)


@dataclass(frozen=True)
class BaselineItem:
    """One part of the baseline set: its key, its name in words, the observation codes it needs."""

    key: str
    words: str
    codes: tuple[str, ...]


VITAL_ITEMS: tuple[BaselineItem, ...] = (
    BaselineItem("blood_pressure", "blood pressure", ("systolic_bp", "diastolic_bp")),
    BaselineItem("heart_rate", "heart rate", ("heart_rate",)),
    BaselineItem("spo2", "SpO2", ("spo2",)),
    BaselineItem("respiratory_rate", "respiratory rate", ("respiratory_rate",)),
)
MOAAS_ITEM = BaselineItem("moaas", "MOAA/S sedation score", ("moaas",))


def baseline_items(*, moaas_required: bool) -> tuple[BaselineItem, ...]:
    """The items of a complete baseline set, in the order they are named."""
    return VITAL_ITEMS + ((MOAAS_ITEM,) if moaas_required else ())


def words_list(items: Iterable[BaselineItem], *, capitalise: bool = True, last: str = ", ") -> str:
    """``Blood pressure, respiratory rate``: the items in words (the first capitalised; ``last``
    joins the last two, e.g. " and ")."""
    words = [item.words for item in items]
    text = last.join([", ".join(words[:-1]), words[-1]]) if len(words) > 1 else "".join(words)
    return text[:1].upper() + text[1:] if capitalise else text


@dataclass(frozen=True)
class BaselineCheck:
    """What :func:`check_baseline` found: the window searched and the items with no reading in it."""

    window_start: datetime
    dosing_starts_at: datetime
    window_min: int
    required: tuple[BaselineItem, ...]
    missing: tuple[BaselineItem, ...]

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def missing_keys(self) -> list[str]:
        return [item.key for item in self.missing]

    @property
    def message(self) -> str:
        """The refusal in words, naming what is missing (empty when complete)."""
        if self.complete:
            return ""
        return (
            f"Baseline vital signs missing: {words_list(self.missing)}. A dose starts after a "
            f"complete set ({words_list(self.required, capitalise=False, last=' and ')}) recorded "
            f"in the {self.window_min} minutes before it."
        )


def check_baseline(
    readings: Iterable[tuple[str, datetime]],
    *,
    dosing_starts_at: datetime,
    window_min: int = BASELINE_WINDOW_MIN_DEFAULT,
    moaas_required: bool = True,
) -> BaselineCheck:
    """Which items of the baseline set have no reading within the window before the start.

    ``readings`` are the session's valid (not voided) observations as ``(code, observed_at)``
    pairs. A reading counts when ``dosing_starts_at - window_min ≤ observed_at ≤
    dosing_starts_at`` (the start itself included, as in the check schedule's baseline window);
    blood pressure needs both a systolic and a diastolic reading in the window. Each item may
    come from a different set (a MOAA/S scored a few minutes after the monitor's set counts).

    Refusals: ``naive_datetime`` (a time without a zone), ``invalid_baseline_window`` (a window
    outside :data:`BASELINE_WINDOW_MIN_BOUNDS`).
    Source: Spravato label (BP before dosing, pulse oximetry, pre-dose MOAA/S); APA consensus
    2017 (baseline BP, respiratory and cardiovascular assessment); window: protocol practice.
    """
    if not isinstance(dosing_starts_at, datetime) or dosing_starts_at.utcoffset() is None:
        raise DomainError(
            "naive_datetime", "The start of dosing must carry a time zone.", field="dosing_starts_at"
        )
    low, high = BASELINE_WINDOW_MIN_BOUNDS
    if isinstance(window_min, bool) or not isinstance(window_min, int) or not low <= window_min <= high:
        raise DomainError(
            "invalid_baseline_window",
            f"The baseline window must be a whole number of minutes within {low}–{high}, got {window_min!r}.",
            field="baseline_window_min",
        )
    window_start = dosing_starts_at - timedelta(minutes=window_min)
    seen: set[str] = set()
    for index, (code, observed_at) in enumerate(readings):
        if not isinstance(observed_at, datetime) or observed_at.utcoffset() is None:
            raise DomainError(
                "naive_datetime", "Each reading's time must carry a time zone.", field=f"readings[{index}]"
            )
        if window_start <= observed_at <= dosing_starts_at:
            seen.add(code)
    required = baseline_items(moaas_required=moaas_required)
    missing = tuple(item for item in required if not all(code in seen for code in item.codes))
    return BaselineCheck(
        window_start=window_start,
        dosing_starts_at=dosing_starts_at,
        window_min=window_min,
        required=required,
        missing=missing,
    )
