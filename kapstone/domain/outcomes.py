"""Outcome derivation per patient: abstinence in a window, time to relapse, intention-to-treat counts.

The rules are the parameters of an :class:`OutcomeDefinition`; every default is cited or listed
as chosen in docs/clinical-rules.md (outcomes). Windows and the acute phase are counted in days
from a per-patient ``anchor_date`` = day 0 of the protocol's day numbering (the course start, as
in ``protocols.OutcomeDefinition``; :meth:`OutcomeDefinition.from_course_days` converts). Inputs
are a TLFB calendar and toxicology results (:mod:`kapstone.domain.tlfb`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.tlfb import (
    ALCOHOL,
    HeavyDrinkingThresholds,
    TlfbDay,
    ToxicologyResult,
    check_calendar_date,
    check_substance,
    merge_tests_into_calendar,
)

ABSTINENT = "abstinent"
NOT_ABSTINENT = "not_abstinent"
UNKNOWN = "unknown"
RELAPSE_DEFINITIONS = ("any_use", "heavy_day")


def _check_int(value: object, field: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DomainError(
            "invalid_outcome_definition", f"{field} must be an integer, got {value!r}.", field=field
        )
    if minimum is not None and value < minimum:
        raise DomainError(
            "invalid_outcome_definition", f"{field} must be at least {minimum}, got {value}.", field=field
        )
    return value


@dataclass(frozen=True)
class OutcomeDefinition:
    """Rules for deriving a protocol's outcome. Days count from the patient's anchor date (day 0).

    - ``window_start_day``/``window_end_day``: the abstinence window, inclusive (e.g. 1 and 365
      for "abstinent for the year after treatment", Krupitsky 1997, clinical.md §1.1).
    - ``acute_phase_days``: the acute phase ends on anchor + this; relapse is looked for strictly
      after it and time to relapse is counted from it.
    - ``relapse_definition``: ``"any_use"`` (first use) or ``"heavy_day"`` (first heavy drinking
      day; alcohol only), with ``heavy_drinks_male``/``heavy_drinks_female`` (default 5/4, FDA 2015
      draft guidance, clinical.md §4.7).
    - ``minimum_coverage``: the fraction of window days that must be reported for "abstinent";
      below it, with no use found, the result is "unknown". Default 1 (every day accounted for):
      chosen, no source; the conservative reading of "totally abstinent".
    - ``require_test_confirmation``: only confirmed positive tests count as use (issue 6).
    - ``dropout_counts_as_relapse``: a dropout date is a relapse event (Dakwar 2019 defined relapse
      as "first use or dropout", clinical.md §1.4). Default False.
    - ``relapse_horizon_days``: events after acute end + horizon are censored at the horizon
      (e.g. 365 for time to relapse within one year). None = no horizon.
    - ``unknown_amount_counts_as_heavy``: whether a positive test day (drinks unknown) counts as a
      heavy day under ``"heavy_day"``. Default False (chosen: the amount is unknown).
    """

    substance: str
    window_start_day: int
    window_end_day: int
    acute_phase_days: int = 0
    relapse_definition: str = "any_use"
    heavy_drinks_male: Decimal = Decimal(5)
    heavy_drinks_female: Decimal = Decimal(4)
    minimum_coverage: Decimal = Decimal(1)
    require_test_confirmation: bool = True
    dropout_counts_as_relapse: bool = False
    relapse_horizon_days: int | None = None
    unknown_amount_counts_as_heavy: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "substance", check_substance(self.substance))
        _check_int(self.window_start_day, "window_start_day")
        _check_int(self.window_end_day, "window_end_day")
        if self.window_end_day < self.window_start_day:
            raise DomainError(
                "invalid_outcome_definition",
                f"window_end_day {self.window_end_day} is before window_start_day {self.window_start_day}.",
                field="window_end_day",
            )
        _check_int(self.acute_phase_days, "acute_phase_days", minimum=0)
        if self.relapse_horizon_days is not None:
            _check_int(self.relapse_horizon_days, "relapse_horizon_days", minimum=1)
        if self.relapse_definition not in RELAPSE_DEFINITIONS:
            raise DomainError(
                "invalid_outcome_definition",
                f"relapse_definition must be one of {', '.join(RELAPSE_DEFINITIONS)}, "
                f"got {self.relapse_definition!r}.",
                field="relapse_definition",
            )
        if self.relapse_definition == "heavy_day" and self.substance != ALCOHOL:
            raise DomainError(
                "invalid_outcome_definition",
                f"relapse_definition 'heavy_day' applies to alcohol only, not {self.substance}.",
                field="relapse_definition",
            )
        coverage = self.minimum_coverage
        if isinstance(coverage, bool) or not isinstance(coverage, int | Decimal) or not 0 <= coverage <= 1:
            raise DomainError(
                "invalid_outcome_definition",
                f"minimum_coverage must be a Decimal from 0 to 1, got {coverage!r}.",
                field="minimum_coverage",
            )
        object.__setattr__(self, "minimum_coverage", Decimal(coverage))
        for flag in (
            "require_test_confirmation",
            "dropout_counts_as_relapse",
            "unknown_amount_counts_as_heavy",
        ):
            if not isinstance(getattr(self, flag), bool):
                raise DomainError("invalid_outcome_definition", f"{flag} must be true or false.", field=flag)
        # Validates the thresholds (positive numbers) with the same rule and codes as TLFB.
        thresholds = HeavyDrinkingThresholds(male=self.heavy_drinks_male, female=self.heavy_drinks_female)
        object.__setattr__(self, "heavy_drinks_male", thresholds.male)
        object.__setattr__(self, "heavy_drinks_female", thresholds.female)

    @classmethod
    def from_course_days(
        cls,
        *,
        substance: str,
        window_days: int,
        window_ends_day: int,
        acute_phase_end_day: int,
        heavy_day_min_drinks_men: int | Decimal | None = None,
        heavy_day_min_drinks_women: int | Decimal | None = None,
        **rules: object,
    ) -> OutcomeDefinition:
        """Build from the protocol library's numbering (``protocols.OutcomeDefinition``): a window
        of ``window_days`` days ending on course day ``window_ends_day``, the acute phase ending on
        course day ``acute_phase_end_day``; the anchor date is then course day 0. Missing heavy-day
        thresholds take the defaults; other rules pass through as keywords."""
        _check_int(window_days, "window_days", minimum=1)
        _check_int(window_ends_day, "window_ends_day")
        thresholds = {}
        if heavy_day_min_drinks_men is not None:
            thresholds["heavy_drinks_male"] = heavy_day_min_drinks_men
        if heavy_day_min_drinks_women is not None:
            thresholds["heavy_drinks_female"] = heavy_day_min_drinks_women
        return cls(
            substance=substance,
            window_start_day=window_ends_day - window_days + 1,
            window_end_day=window_ends_day,
            acute_phase_days=acute_phase_end_day,
            **thresholds,
            **rules,  # type: ignore[arg-type]
        )

    @property
    def thresholds(self) -> HeavyDrinkingThresholds:
        return HeavyDrinkingThresholds(male=self.heavy_drinks_male, female=self.heavy_drinks_female)


@dataclass(frozen=True)
class AbstinenceResult:
    """Abstinence in one window for one patient.

    ``itt_abstinent`` is True only for "abstinent": in intention-to-treat counts an unknown
    (missing) outcome counts as not abstinent; ``missing`` marks it so it is reported separately.
    ``coverage`` is days reported / days in window (4 decimals).
    """

    status: str
    window_start: date
    window_end: date
    days_in_window: int
    days_reported: int
    days_with_use: int
    first_use: date | None
    self_reports_overridden: int
    coverage: Decimal
    itt_abstinent: bool
    missing: bool
    reason: str


@dataclass(frozen=True)
class RelapseResult:
    """Time to relapse, counted in days from the end of the acute phase.

    ``event`` True: relapse on ``relapse_date`` (``cause`` "use", "heavy_day" or "dropout").
    ``event`` False: censored on ``censored_date``, the last day known relapse-free (the acute
    phase end itself when nothing was reported after it; then ``has_follow_up`` is False).
    """

    event: bool
    time_days: int
    relapse_date: date | None
    censored_date: date | None
    acute_phase_end: date
    cause: str | None
    has_follow_up: bool


@dataclass(frozen=True)
class AbstinenceCounts:
    """Intention-to-treat counts over a group.

    ``not_abstinent`` includes the ``missing`` (ITT: a missing outcome is a failure); ``missing``
    reports them separately; ``completers_n`` is ``n - missing`` for a completers-only view.
    """

    n: int
    abstinent: int
    not_abstinent: int
    missing: int
    completers_n: int


def _check_definition(definition: object) -> OutcomeDefinition:
    if not isinstance(definition, OutcomeDefinition):
        raise DomainError(
            "invalid_outcome_definition", "definition must be an OutcomeDefinition.", field="definition"
        )
    return definition


def derive_abstinence(
    days: Sequence[TlfbDay],
    tests: Sequence[ToxicologyResult],
    *,
    definition: OutcomeDefinition,
    anchor_date: date,
    as_of: date | None = None,
) -> AbstinenceResult:
    """Abstinent / not abstinent / unknown for the definition's window.

    Rules, in order: (1) any use in the window — self-reported, or a positive test (confirmed,
    unless the definition says otherwise), which overrides a self-report of abstinence — makes
    the patient not abstinent, whatever the coverage; (2) otherwise, abstinent when the days
    reported cover at least ``minimum_coverage`` of the window; (3) otherwise unknown (missing).
    A negative test does not fill a missing day.

    With ``as_of`` (today, passed by the caller), a window that has not closed yet is refused
    with ``WorkflowConflict("outcome_window_open")`` so it is never counted as a failure.

    Source: issue 6; positive test overrides self-report (EtG confirmation as in Dakwar 2020,
    clinical.md §1.5); ITT with missing as not abstinent (Dakwar 2019 ITT, clinical.md §1.4).
    """
    definition = _check_definition(definition)
    check_calendar_date(anchor_date, "anchor_date")
    window_start = anchor_date + timedelta(days=definition.window_start_day)
    window_end = anchor_date + timedelta(days=definition.window_end_day)
    if as_of is not None:
        check_calendar_date(as_of, "as_of")
        if as_of < window_end:
            raise WorkflowConflict(
                "outcome_window_open",
                f"The outcome window ends on {window_end}, after {as_of}; abstinence is not known yet.",
                field="as_of",
            )
    calendar = merge_tests_into_calendar(
        days, tests, substance=definition.substance, require_confirmation=definition.require_test_confirmation
    )
    in_window = [entry for entry in calendar if window_start <= entry.day <= window_end]
    use_days = [entry for entry in in_window if entry.used]
    days_in_window = (window_end - window_start).days + 1
    coverage = Decimal(len(in_window)) / Decimal(days_in_window)
    overridden = sum(1 for entry in in_window if entry.self_report_overridden)

    if use_days:
        status = NOT_ABSTINENT
        first = use_days[0]
        how = "positive test" if first.source == "test" else "reported use"
        reason = f"{how} on {first.day}; {len(use_days)} day(s) with use in the window"
    elif coverage >= definition.minimum_coverage:
        status = ABSTINENT
        reason = f"no use on {len(in_window)} of {days_in_window} days reported"
    else:
        status = UNKNOWN
        reason = (
            f"no use reported, but only {len(in_window)} of {days_in_window} days reported "
            f"(minimum coverage {definition.minimum_coverage})"
        )
    return AbstinenceResult(
        status=status,
        window_start=window_start,
        window_end=window_end,
        days_in_window=days_in_window,
        days_reported=len(in_window),
        days_with_use=len(use_days),
        first_use=use_days[0].day if use_days else None,
        self_reports_overridden=overridden,
        coverage=coverage.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP),
        itt_abstinent=status == ABSTINENT,
        missing=status == UNKNOWN,
        reason=reason,
    )


def derive_relapse(
    days: Sequence[TlfbDay],
    tests: Sequence[ToxicologyResult],
    *,
    definition: OutcomeDefinition,
    anchor_date: date,
    sex: str | None = None,
    dropout_date: date | None = None,
) -> RelapseResult:
    """Time to relapse after the acute phase, with censoring, for Kaplan–Meier and Cox.

    Relapse is the first day strictly after the acute phase end with use (``any_use``) or with
    a heavy drinking day (``heavy_day``; ``sex`` then required). Positive tests count as use as
    in :func:`derive_abstinence`. Without relapse the patient is censored at the last reported day
    after the acute phase end (gaps in between are taken as relapse-free: the issue's rule). With
    ``dropout_counts_as_relapse`` a ``dropout_date`` before any relapse is the event (time 0 if
    it falls in the acute phase). A horizon truncates follow-up at acute end + horizon.
    Guarantees ``time_days >= 0``.

    Source: issue 6; time to first drink / first heavy day as survival endpoints (clinical.md
    §4.7); "first use or dropout" (Dakwar 2019, clinical.md §1.4).
    """
    definition = _check_definition(definition)
    check_calendar_date(anchor_date, "anchor_date")
    acute_end = anchor_date + timedelta(days=definition.acute_phase_days)
    horizon_end = (
        acute_end + timedelta(days=definition.relapse_horizon_days)
        if definition.relapse_horizon_days is not None
        else date.max
    )
    threshold = definition.thresholds.for_sex(sex) if definition.relapse_definition == "heavy_day" else None
    if dropout_date is not None:
        check_calendar_date(dropout_date, "dropout_date")
    calendar = merge_tests_into_calendar(
        days, tests, substance=definition.substance, require_confirmation=definition.require_test_confirmation
    )
    followed = [entry for entry in calendar if acute_end < entry.day <= horizon_end]

    def is_relapse(entry: TlfbDay) -> bool:
        if not entry.used:
            return False
        if threshold is None:
            return True
        if entry.standard_drinks is None:
            return definition.unknown_amount_counts_as_heavy
        return entry.standard_drinks >= threshold

    relapse = next((entry.day for entry in followed if is_relapse(entry)), None)
    cause = None if relapse is None else ("use" if threshold is None else "heavy_day")
    if (
        definition.dropout_counts_as_relapse
        and dropout_date is not None
        and dropout_date <= horizon_end
        and (relapse is None or dropout_date < relapse)
    ):
        relapse, cause = dropout_date, "dropout"

    if relapse is not None:
        return RelapseResult(
            event=True,
            time_days=max(0, (relapse - acute_end).days),
            relapse_date=relapse,
            censored_date=None,
            acute_phase_end=acute_end,
            cause=cause,
            has_follow_up=bool(followed),
        )
    censored = followed[-1].day if followed else acute_end
    return RelapseResult(
        event=False,
        time_days=(censored - acute_end).days,
        relapse_date=None,
        censored_date=censored,
        acute_phase_end=acute_end,
        cause=None,
        has_follow_up=bool(followed),
    )


def count_abstinence(results: Sequence[AbstinenceResult]) -> AbstinenceCounts:
    """Intention-to-treat counts for a group: missing outcomes count as not abstinent in ``n``
    and are reported separately. Source: issue 6 (ITT); Dakwar 2019 ITT (clinical.md §1.4)."""
    if isinstance(results, str | bytes) or not isinstance(results, Sequence):
        raise DomainError("invalid_results", "results must be a list of AbstinenceResult.", field="results")
    for index, result in enumerate(results):
        if not isinstance(result, AbstinenceResult):
            raise DomainError(
                "invalid_results", f"results[{index}] is not an AbstinenceResult.", field=f"results[{index}]"
            )
    abstinent = sum(1 for r in results if r.status == ABSTINENT)
    missing = sum(1 for r in results if r.status == UNKNOWN)
    return AbstinenceCounts(
        n=len(results),
        abstinent=abstinent,
        not_abstinent=len(results) - abstinent,
        missing=missing,
        completers_n=len(results) - missing,
    )
