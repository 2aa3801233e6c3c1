"""The dependence and misuse watch over a patient's doses and craving.

Source: ASRA/AAPM/ASA 2018 (Cohen et al.): serial infusions should not be given to patients with an
active substance abuse problem; monitor for abuse with universal precautions. The review thresholds
are local policy (``DependenceThresholds``; set per protocol in ``monitoring.dependence_limits``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal

from kapstone.domain.errors import DomainError
from kapstone.domain.monitoring._common import (
    bool_arg,
    format_number,
    int_arg,
    non_negative_threshold,
    sequence_arg,
    to_number,
)

# --- Dependence and misuse watch -----------------------------------------------------------------


@dataclass(frozen=True)
class DependenceThresholds:
    """Review thresholds for the dependence watch. All defaults are local policy (no published
    cut-offs exist for ketamine courses in addiction care; a search of the references and the docs
    corpus found none); each names its reasoning. The app takes the four main ones from the
    protocol (``monitoring.dependence_limits``).
    """

    # More sessions than the largest courses studied (KARE 3 infusions; Krupitsky 2007: 3 sessions).
    sessions_review_above: int = 3
    # 3 × 2.0 mg/kg IM (the largest course in clinical.md §1) for a 100 kg adult (derived here).
    cumulative_dose_review_at_mg: Decimal = Decimal(600)
    # Dosing more often than weekly.
    min_interval_days: int = 7
    # Repeated requests for extra or earlier sessions.
    extra_session_requests_review_at: int = 2
    # Any ketamine-positive urine test outside treatment (label: assess abuse and misuse).
    positive_tests_review_at: int = 1
    # Craving for ketamine on a 0–10 numeric rating (no validated ketamine craving scale found).
    craving_review_at: Decimal = Decimal(5)
    craving_scale_max: Decimal = Decimal(10)

    def __post_init__(self) -> None:
        for item in fields(self):
            raw = getattr(self, item.name)
            value = non_negative_threshold(item.name, raw)
            if item.type in ("int", int) and value != value.to_integral_value():
                raise DomainError(
                    "invalid_thresholds", f"{item.name} must be a whole number, got {raw!r}.", field=item.name
                )
            object.__setattr__(self, item.name, int(value) if item.type in ("int", int) else value)


@dataclass(frozen=True)
class DoseRecord:
    """One ketamine dose given in the programme: the session date and the total dose in mg."""

    session_date: date
    dose_mg: Decimal


@dataclass(frozen=True)
class CravingScore:
    """A ketamine craving rating (0 to the scale maximum) on a date."""

    rated_on: date
    score: Decimal


@dataclass(frozen=True)
class DependenceFlag:
    """A review flag: code, what was found, the threshold crossed and the source."""

    code: str
    message: str
    source: str


@dataclass(frozen=True)
class DependenceReview:
    """Cumulative exposure and any review flags; ``review_required`` when any flag is raised.

    ``prescriber_decision_required``: ``serial_dosing_with_active_misuse`` is flagged and no
    prescriber decision is documented; the app should block the next dose order until there is one.
    """

    total_dose_mg: Decimal
    session_count: int
    mean_interval_days: Decimal | None
    shortest_interval_days: int | None
    latest_craving: Decimal | None
    flags: tuple[DependenceFlag, ...]
    review_required: bool
    prescriber_decision_required: bool

    @property
    def flag_codes(self) -> tuple[str, ...]:
        return tuple(flag.code for flag in self.flags)


def _coerce_dates(raw: object, *, field: str, kind: str) -> list[tuple[date, Decimal]]:
    items = sequence_arg(raw, field=field, code="invalid_argument")
    result = []
    for index, item in enumerate(items):
        where = f"{field}[{index}]"
        if kind == "dose":
            if isinstance(item, DoseRecord):
                when, amount = item.session_date, item.dose_mg
            elif isinstance(item, Mapping) and "session_date" in item and "dose_mg" in item:
                when, amount = item["session_date"], item["dose_mg"]
            elif isinstance(item, tuple | list) and len(item) == 2:
                when, amount = item
            else:
                raise DomainError(
                    "invalid_argument", f"{where} must be (session_date, dose_mg).", field=where
                )
        elif isinstance(item, CravingScore):
            when, amount = item.rated_on, item.score
        elif isinstance(item, Mapping) and "rated_on" in item and "score" in item:
            when, amount = item["rated_on"], item["score"]
        elif isinstance(item, tuple | list) and len(item) == 2:
            when, amount = item
        else:
            raise DomainError("invalid_argument", f"{where} must be (rated_on, score).", field=where)
        if isinstance(when, datetime) or not isinstance(when, date):
            raise DomainError("invalid_date", f"{where}: give a calendar date, got {when!r}.", field=where)
        value = to_number(amount)
        if value is None or value < 0:
            raise DomainError(
                "invalid_number",
                f"{where}: amount must be a non-negative number, got {amount!r}.",
                field=where,
            )
        result.append((when, value))
    return result


def evaluate_dependence(
    *,
    dosing_history: object,
    extra_session_requests: int,
    ketamine_positive_tests_outside_treatment: int,
    ketamine_craving_scores: object = (),
    active_substance_misuse: bool = False,
    prescriber_decision_documented: bool = False,
    thresholds: DependenceThresholds | None = None,
) -> DependenceReview:
    """Per-patient exposure to ketamine and misuse signals, with review flags.

    ``dosing_history``: :class:`DoseRecord`, ``{"session_date", "dose_mg"}`` or ``(date, mg)``
    items, in any order. ``ketamine_craving_scores``: :class:`CravingScore`, ``{"rated_on",
    "score"}`` or ``(date, score)`` items on a 0–``craving_scale_max`` rating.

    Exposure: total mg, number of sessions, mean interval between consecutive session dates
    (days, one decimal; None with fewer than two sessions), shortest interval (days).
    Flags (each a threshold in :class:`DependenceThresholds`):
    ``sessions_above_review_count`` (sessions > 3), ``cumulative_dose_at_review`` (≥ 600 mg),
    ``short_dosing_interval`` (an interval < 7 days), ``extra_session_requests`` (≥ 2),
    ``ketamine_positive_outside_treatment`` (≥ 1), ``ketamine_craving`` (latest rating ≥ 5/10),
    and ``serial_dosing_with_active_misuse`` (active substance misuse and at least one dose already
    given, so any further dose is serial dosing: ASRA 2018 says serial infusions should not be
    given with an active substance abuse problem; in this programme it requires a prescriber's
    documented decision).

    Refusals: ``invalid_argument``, ``invalid_date`` (a datetime or non-date), ``invalid_number``,
    ``answer_out_of_range`` (a craving rating above the scale maximum), ``invalid_thresholds``.
    Source: ASRA/AAPM/ASA 2018 (clinical.md §3.3: serial infusions and active substance abuse;
    universal precautions against abuse); Spravato label (§3.2: assess abuse and misuse risk);
    thresholds are local policy (see :class:`DependenceThresholds`).
    """
    limits = thresholds if thresholds is not None else DependenceThresholds()
    if not isinstance(limits, DependenceThresholds):
        raise DomainError(
            "invalid_thresholds", "thresholds must be DependenceThresholds.", field="thresholds"
        )
    doses = sorted(_coerce_dates(dosing_history, field="dosing_history", kind="dose"))
    cravings = sorted(_coerce_dates(ketamine_craving_scores, field="ketamine_craving_scores", kind="craving"))
    requests = int_arg(extra_session_requests, field="extra_session_requests")
    positives = int_arg(
        ketamine_positive_tests_outside_treatment, field="ketamine_positive_tests_outside_treatment"
    )
    misuse = bool_arg(active_substance_misuse, field="active_substance_misuse")
    decided = bool_arg(prescriber_decision_documented, field="prescriber_decision_documented")
    for index, (_, score) in enumerate(cravings):
        if score > limits.craving_scale_max:
            raise DomainError(
                "answer_out_of_range",
                f"Craving rating {format_number(score)} is above the scale maximum {format_number(limits.craving_scale_max)}.",
                field=f"ketamine_craving_scores[{index}]",
            )

    total = sum((mg for _, mg in doses), Decimal(0))
    count = len(doses)
    intervals = [(later - earlier).days for (earlier, _), (later, _) in itertools.pairwise(doses)]
    mean_interval = (
        (Decimal(sum(intervals)) / Decimal(len(intervals))).quantize(Decimal("0.1")) if intervals else None
    )
    shortest = min(intervals) if intervals else None
    latest_craving = cravings[-1][1] if cravings else None

    protocol = "Local policy: a threshold set in the protocol; no published cut-off."
    flags: list[DependenceFlag] = []
    if count > limits.sessions_review_above:
        flags.append(
            DependenceFlag(
                "sessions_above_review_count",
                f"{count} sessions, more than the review count of {limits.sessions_review_above}.",
                protocol + " Courses studied: KARE 3 infusions, Krupitsky 2007 3 sessions (clinical.md §1).",
            )
        )
    if total >= limits.cumulative_dose_review_at_mg:
        flags.append(
            DependenceFlag(
                "cumulative_dose_at_review",
                f"Cumulative ketamine {format_number(total)} mg ≥ {format_number(limits.cumulative_dose_review_at_mg)} mg.",
                protocol,
            )
        )
    if shortest is not None and shortest < limits.min_interval_days:
        flags.append(
            DependenceFlag(
                "short_dosing_interval",
                f"Shortest interval between sessions {shortest} days < {limits.min_interval_days} days.",
                protocol,
            )
        )
    if requests >= limits.extra_session_requests_review_at:
        flags.append(
            DependenceFlag(
                "extra_session_requests",
                f"{requests} requests for extra or earlier sessions "
                f"(review at {limits.extra_session_requests_review_at}).",
                protocol + " ASRA 2018: monitor for abuse (clinical.md §3.3).",
            )
        )
    if positives >= limits.positive_tests_review_at:
        flags.append(
            DependenceFlag(
                "ketamine_positive_outside_treatment",
                f"{positives} ketamine-positive urine test(s) outside treatment.",
                "Spravato label: assess abuse and misuse (clinical.md §3.2); ASRA 2018 (§3.3).",
            )
        )
    if latest_craving is not None and latest_craving >= limits.craving_review_at:
        flags.append(
            DependenceFlag(
                "ketamine_craving",
                f"Latest ketamine craving {format_number(latest_craving)}/{format_number(limits.craving_scale_max)} "
                f"≥ {format_number(limits.craving_review_at)}.",
                protocol,
            )
        )
    serial_flag = misuse and count >= 1
    if serial_flag:
        flags.append(
            DependenceFlag(
                "serial_dosing_with_active_misuse",
                f"Active substance misuse after {count} session(s): further dosing is serial dosing and "
                + (
                    "a prescriber's decision is documented."
                    if decided
                    else "needs a prescriber's documented decision."
                ),
                "ASRA/AAPM/ASA 2018: serial infusions should not be given to patients with an active "
                "substance abuse problem (clinical.md §3.3).",
            )
        )
    return DependenceReview(
        total_dose_mg=total,
        session_count=count,
        mean_interval_days=mean_interval,
        shortest_interval_days=shortest,
        latest_craving=latest_craving,
        flags=tuple(flags),
        review_required=bool(flags),
        prescriber_decision_required=serial_flag and not decided,
    )
