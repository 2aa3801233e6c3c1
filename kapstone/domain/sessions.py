"""The treatment-session state machine and the day-of checks that gate a dosing session.

States::

    scheduled ─► checked_in ─► cleared ─► in_progress ─► recovering ─► discharged
        │                                     │              │
        ├─► no_show                           └──► stopped ◄─┘   (reason required)
        └─► cancelled

``discharged``, ``stopped``, ``no_show`` and ``cancelled`` are final. For a dosing session the
service may move ``checked_in → cleared`` only when :func:`evaluate_day_of_checks` says
``cleared``; this module does not know the session kind, the service does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.protocols import CIWA_AR_MAX, COWS_MAX, DAY_OF_CHECKS, DayOfRules
from kapstone.domain.text import REASON_MAX_CHARS, clean_text

# --- State machine -------------------------------------------------------------------------------

SCHEDULED = "scheduled"
CHECKED_IN = "checked_in"
CLEARED = "cleared"
IN_PROGRESS = "in_progress"
RECOVERING = "recovering"
DISCHARGED = "discharged"
STOPPED = "stopped"
NO_SHOW = "no_show"
CANCELLED = "cancelled"

SESSION_STATES: tuple[str, ...] = (
    SCHEDULED,
    CHECKED_IN,
    CLEARED,
    IN_PROGRESS,
    RECOVERING,
    DISCHARGED,
    STOPPED,
    NO_SHOW,
    CANCELLED,
)

#: The states in the clinic's words (screens show these; codes stay in the API and the audit).
STATE_LABELS: Mapping[str, str] = {
    SCHEDULED: "Scheduled",
    CHECKED_IN: "Checked in",
    CLEARED: "Cleared",
    IN_PROGRESS: "In progress",
    RECOVERING: "Recovering",
    DISCHARGED: "Discharged",
    STOPPED: "Stopped",
    NO_SHOW: "No-show",
    CANCELLED: "Cancelled",
}


def state_label(state: str) -> str:
    """A session state in words ("Checked in"); an unknown code is returned as it is."""
    return STATE_LABELS.get(state, state)


#: Every legal move of a dosing session: state -> the states it may move to (issue 3).
#: One addition to the issue's table: ``checked_in → cancelled`` (with a reason), because a
#: patient who fails a day-of check that no one may override must be sent home, and the
#: issue's table had no way out of ``checked_in`` but ``cleared``.
SESSION_TRANSITIONS: dict[str, frozenset[str]] = {
    SCHEDULED: frozenset({CHECKED_IN, NO_SHOW, CANCELLED}),
    CHECKED_IN: frozenset({CLEARED, CANCELLED}),
    CLEARED: frozenset({IN_PROGRESS}),
    IN_PROGRESS: frozenset({RECOVERING, STOPPED}),
    RECOVERING: frozenset({DISCHARGED, STOPPED}),
    DISCHARGED: frozenset(),
    STOPPED: frozenset(),
    NO_SHOW: frozenset(),
    CANCELLED: frozenset(),
}

#: Preparation, integration and follow-up sessions have no drug, so no clearance and no
#: recovery: checked in, in progress, then ``discharged`` (shown as "completed").
THERAPY_SESSION_TRANSITIONS: dict[str, frozenset[str]] = {
    SCHEDULED: frozenset({CHECKED_IN, NO_SHOW, CANCELLED}),
    CHECKED_IN: frozenset({IN_PROGRESS, CANCELLED}),
    CLEARED: frozenset(),
    IN_PROGRESS: frozenset({DISCHARGED, STOPPED}),
    RECOVERING: frozenset(),
    DISCHARGED: frozenset(),
    STOPPED: frozenset(),
    NO_SHOW: frozenset(),
    CANCELLED: frozenset(),
}

#: A patient is in the clinic for the session: checked in, cleared, dosing or recovering. A course
#: is not paused, completed or withdrawn while one of its sessions is in these states, because
#: the moves that bring the patient safely out of them (dosing's end, the discharge) need an
#: active course.
UNDER_WAY_STATES: frozenset[str] = frozenset({CHECKED_IN, CLEARED, IN_PROGRESS, RECOVERING})

FINAL_STATES: frozenset[str] = frozenset(state for state, moves in SESSION_TRANSITIONS.items() if not moves)

#: Target states that need a written reason.
REASON_REQUIRED: frozenset[str] = frozenset({STOPPED, CANCELLED})

#: A move to each state, named as a step in time ("The check-in (13:02) is before …").
MOVE_NAMES: dict[str, str] = {
    CHECKED_IN: "The check-in",
    CLEARED: "The clearance by the day-of checks",
    IN_PROGRESS: "The start of the session",
    RECOVERING: "The end of dosing",
    DISCHARGED: "The discharge",
    STOPPED: "The stop",
    NO_SHOW: "The no-show",
    CANCELLED: "The cancellation",
}
#: The same moves as earlier steps ("… before the patient was checked in (13:02)").
MOVES_DONE: dict[str, str] = {
    SCHEDULED: "the session was scheduled",
    CHECKED_IN: "the patient was checked in",
    CLEARED: "the day-of checks were completed",
    IN_PROGRESS: "the session started",
    RECOVERING: "dosing ended",
    DISCHARGED: "the patient was discharged",
    STOPPED: "the session was stopped",
    NO_SHOW: "the patient did not come",
    CANCELLED: "the session was cancelled",
}


def allowed_transitions(current: str, *, dosing: bool = True) -> frozenset[str]:
    """The states ``current`` may move to (empty for a final state).

    Refuses an unknown state with DomainError ``unknown_session_state`` (field ``current``).
    """
    _require_state(current, "current")
    return (SESSION_TRANSITIONS if dosing else THERAPY_SESSION_TRANSITIONS)[current]


def _require_state(state: object, field: str) -> str:
    if not isinstance(state, str) or state not in SESSION_TRANSITIONS:
        raise DomainError(
            "unknown_session_state",
            f"Unknown session state {state!r}; expected one of {', '.join(SESSION_STATES)}.",
            field=field,
        )
    return state


def transition_session(current: str, to: str, *, reason: str | None = None, dosing: bool = True) -> str:
    """Check the move ``current → to`` and return the new state.

    Guarantees: only the moves in :data:`SESSION_TRANSITIONS` pass; any other (including staying
    put or leaving a final state) is a WorkflowConflict ``invalid_transition`` naming both states;
    a move to ``stopped`` or ``cancelled`` without a non-blank reason is DomainError
    ``reason_required`` (field ``reason``); ``dosing=False`` uses the therapy-session table; unknown
    states are DomainError ``unknown_session_state``; a reason is free text
    (:func:`kapstone.domain.text.clean_text`: ``invalid_text``, ``text_too_long``). A reason may
    accompany any move.
    """
    _require_state(current, "current")
    _require_state(to, "to")
    reason = clean_text(reason, field="reason", max_chars=REASON_MAX_CHARS, label="The reason")
    table = SESSION_TRANSITIONS if dosing else THERAPY_SESSION_TRANSITIONS
    if to not in table[current]:
        allowed = ", ".join(state_label(s).lower() for s in sorted(table[current])) or "nothing (final state)"
        raise WorkflowConflict(
            "invalid_transition",
            f"A session cannot move from {state_label(current).lower()} to {state_label(to).lower()}; "
            f"from {state_label(current).lower()} it may move to: {allowed}.",
            field="to",
        )
    if to in REASON_REQUIRED and not reason:
        raise DomainError(
            "reason_required",
            f"Moving a session to {state_label(to).lower()} needs a written reason.",
            field="reason",
        )
    return to


# --- The order of the steps in time --------------------------------------------------------------

#: How far a time may lie after ``now`` and still be taken as now: a clock a little ahead, or a
#: time typed to the minute (the forms' ``datetime-local``) in the minute that has just begun.
FUTURE_TOLERANCE = timedelta(minutes=1)


def describe_time(at: datetime, *, now: datetime, tz: tzinfo) -> str:
    """``at`` as a clinician reads it in the clinic's time zone: ``14:05`` today, ``14:05
    yesterday`` / ``14:05 tomorrow``, ``3 Mar 14:05`` this year, ``22 Nov 2025 14:05`` otherwise."""
    local, today = at.astimezone(tz), now.astimezone(tz).date()
    clock = local.strftime("%H:%M")
    days = (local.date() - today).days
    if days == 0:
        return clock
    if days == 1:
        return f"{clock} tomorrow"
    if days == -1:
        return f"{clock} yesterday"
    day = f"{local.day} {local:%b}" if local.year == today.year else f"{local.day} {local:%b %Y}"
    return f"{day} {clock}"


def check_step_time(
    at: object,
    *,
    now: datetime,
    what: str,
    tz: tzinfo,
    recorded: Sequence[tuple[str, datetime | None]] = (),
    after: Sequence[tuple[str, datetime | None]] = (),
    field: str | None = None,
) -> datetime:
    """Check that a step of a session happened at ``at``: not in the future, and not before any of
    the steps it follows. Returns ``at``.

    ``what`` names the step in words ("The start of the administration"). The earlier steps are
    ``(words, time)`` pairs ("the order was verified", its time; a time of None is skipped), in
    the order they happen: first ``recorded``, the steps the system timed itself when they were
    entered (check-in, day-of checks, order, verification, discharge), then ``after``, the times
    people typed (the start, rate changes, the end). The rule, in the order of the session:
    scheduled → checked in → day-of checks → order → verification → start of the administration
    → rate changes → end → discharge; a step is never before the one it follows.

    Typed times have minutes, not seconds (the forms' ``datetime-local``), while the system
    times its own steps to the microsecond: a step typed in the same minute as a ``recorded``
    step is in order (that step's time is compared to the minute). ``after`` is compared
    exactly, so rate segments never overlap. ``at`` may be up to :data:`FUTURE_TOLERANCE` after
    ``now``.

    Refusals: ``naive_datetime`` (no time zone), ``time_in_future``, ``time_out_of_order`` naming
    the first earlier step that ``at`` precedes, with both times in the clinic's time zone.
    Source: Kapstone rule (issue 11): a dose is given only after the day-of checks, the order and
    its independent verification; each later record follows the one before it.
    """
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise DomainError("naive_datetime", f"{what} must carry a time zone.", field=field)
    if at > now + FUTURE_TOLERANCE:
        raise DomainError(
            "time_in_future",
            f"{what} ({describe_time(at, now=now, tz=tz)}) is in the future.",
            field=field,
        )
    steps = [(words, time, True) for words, time in recorded] + [
        (words, time, False) for words, time in after
    ]
    for words, previous, to_the_minute in steps:
        if previous is None:
            continue
        limit = previous.replace(second=0, microsecond=0) if to_the_minute else previous
        if at < limit:
            raise DomainError(
                "time_out_of_order",
                f"{what} ({describe_time(at, now=now, tz=tz)}) is before {words} "
                f"({describe_time(previous, now=now, tz=tz)}).",
                field=field,
            )
    return at


# --- Day-of checks -------------------------------------------------------------------------------

#: The inputs ``evaluate_day_of_checks`` understands.
CHECK_INPUTS: tuple[str, ...] = (
    "breath_alcohol_g_per_210l",
    "urine_drug_screen_result",
    "childbearing_potential",
    "pregnancy_test_result",
    "systolic_bp",
    "diastolic_bp",
    "fasting_hours",
    "escort_confirmed",
    "consent_current",
    "ciwa_ar_total",
    "cows_total",
    "benzodiazepine_use",
    "sedative_or_opioid_use",
    "stimulant_use",
    "maoi_use",
    "theophylline_use",
    "airway_clinician_present",
    "resuscitation_equipment_checked",
    "vital_signs_monitoring_available",
    "prescriber_on_site",
)

#: The yes/no checks: check -> (input, failing answer, failure code, message on failure, message when met).
#: The readiness checks fail on "no" (not confirmed); the medicines on "yes" (taken).
_YES_NO_CHECKS: Mapping[str, tuple[str, bool, str, str, str]] = {
    "benzodiazepines": (
        "benzodiazepine_use",
        True,
        "benzodiazepine_taken",
        "Takes a benzodiazepine: sedation and breathing may be deeper.",
        "No benzodiazepine.",
    ),
    "sedatives_opioids": (
        "sedative_or_opioid_use",
        True,
        "sedative_or_opioid_taken",
        "Takes another sedative, sleeping tablet or opioid: sedation and breathing may be deeper.",
        "No other sedative, sleeping tablet or opioid.",
    ),
    "stimulants": (
        "stimulant_use",
        True,
        "stimulant_taken",
        "Takes a stimulant: blood pressure may rise further.",
        "No stimulant.",
    ),
    "maoi": (
        "maoi_use",
        True,
        "maoi_taken",
        "Takes an MAOI: blood pressure may rise further.",
        "No MAOI.",
    ),
    "theophylline": (
        "theophylline_use",
        True,
        "theophylline_taken",
        "Takes theophylline or aminophylline: the seizure threshold is lower.",
        "No theophylline or aminophylline.",
    ),
    "airway_clinician": (
        "airway_clinician_present",
        False,
        "airway_clinician_absent",
        "No clinician trained in airway management is present: do not dose.",
        "A clinician trained in airway management is present.",
    ),
    "resuscitation_equipment": (
        "resuscitation_equipment_checked",
        False,
        "resuscitation_equipment_not_checked",
        "Emergency airway and resuscitation equipment has not been checked: do not dose.",
        "Emergency airway and resuscitation equipment checked.",
    ),
    "vital_signs_monitoring": (
        "vital_signs_monitoring_available",
        False,
        "vital_signs_monitoring_unavailable",
        "Continuous monitoring of vital signs is not available: do not dose.",
        "Continuous vital-sign monitoring available.",
    ),
    "prescriber_on_site": (
        "prescriber_on_site",
        False,
        "prescriber_not_on_site",
        "No prescriber is on site for dosing and monitoring: do not dose.",
        "A prescriber is on site for dosing and monitoring.",
    ),
}

#: The withdrawal checks: check -> (input, scale in words, highest total, the rules' threshold field, code).
_WITHDRAWAL_CHECKS: Mapping[str, tuple[str, str, int, str, str]] = {
    "alcohol_withdrawal": (
        "ciwa_ar_total",
        "CIWA-Ar",
        CIWA_AR_MAX,
        "ciwa_ar_stop_at",
        "alcohol_withdrawal_score_high",
    ),
    "opioid_withdrawal": ("cows_total", "COWS", COWS_MAX, "cows_stop_at", "opioid_withdrawal_score_high"),
}

URINE_DRUG_SCREEN_RESULTS: tuple[str, ...] = ("negative", "positive", "inconclusive")
PREGNANCY_TEST_RESULTS: tuple[str, ...] = ("negative", "positive")
SEXES_AT_BIRTH: tuple[str, ...] = ("female", "male", "intersex", "unknown")

_SYSTOLIC_PLAUSIBLE_MMHG = (50, 300)
_DIASTOLIC_PLAUSIBLE_MMHG = (20, 200)

#: The day-of checks in the clinic's words, and the unit a check's value is read in.
CHECK_LABELS: Mapping[str, str] = {
    "breath_alcohol": "Breath alcohol",
    "urine_drug_screen": "Urine drug screen",
    "pregnancy_test": "Pregnancy test",
    "blood_pressure": "Blood pressure",
    "fasting": "Fasting",
    "escort": "Escort home",
    "consent": "Consent current",
    "alcohol_withdrawal": "Alcohol withdrawal (CIWA-Ar)",
    "opioid_withdrawal": "Opioid withdrawal (COWS)",
    "benzodiazepines": "Benzodiazepines",
    "sedatives_opioids": "Other sedatives, sleeping tablets or opioids",
    "stimulants": "Stimulants",
    "maoi": "MAOI antidepressant",
    "theophylline": "Theophylline or aminophylline",
    "airway_clinician": "Clinician trained in airway management present",
    "resuscitation_equipment": "Emergency airway and resuscitation equipment checked",
    "vital_signs_monitoring": "Continuous vital-sign monitoring available",
    "prescriber_on_site": "Prescriber on site",
}
_CHECK_UNITS = {"breath_alcohol": "g/210 L", "blood_pressure": "mmHg", "fasting": "h"}

_SPRAVATO_PI = "Spravato (esketamine) nasal spray prescribing information (FDA label, 2026)"
#: IV/IM racemic ketamine is governed by this label, not Spravato's (issue 14; clinical.md §8).
_KETALAR_PI = "Ketalar (ketamine hydrochloride injection) prescribing information (DailyMed setid 46dab560-8ecd-4d92-8c92-6baa2310b09b)"
_REMS_FORM = (
    "Spravato REMS (FDA REMS id 386) patient monitoring form: asks about concomitant benzodiazepines, "
    "other sedatives/hypnotics, stimulants and MAOIs at each session"
)
_SOURCES: dict[str, str] = {
    "breath_alcohol": (
        "Clinic rule: no intoxication at dosing. Dakwar E et al., Am J Psychiatry 2020;177(2):125-133 "
        "(doi:10.1176/appi.ajp.2019.19070684) dosed on a quit day at least 24 h after the last drink"
    ),
    "urine_drug_screen": (
        "Sanacora G et al., JAMA Psychiatry 2017;74(4):399-405 (APA consensus): urine toxicology when "
        "substance use is suspected"
    ),
    "pregnancy_test": (
        f"{_SPRAVATO_PI}: not advised in pregnancy (applied to racemic ketamine by analogy; the Ketalar "
        "label is not the source of this check)"
    ),
    "blood_pressure": (
        f"{_KETALAR_PI}: not for patients in whom a significant rise in blood pressure would be a serious "
        "hazard, vital signs monitored; the threshold numbers are the severe categories of the "
        f"{_SPRAVATO_PI} (SBP ≥180 / DBP ≥110 mmHg, Table 6), a protocol parameter"
    ),
    "fasting": (
        f"{_KETALAR_PI}: nil-by-mouth guidance without numbers; the hours are a protocol parameter "
        "(default: ASA Practice Guidelines for Preoperative Fasting, Anesthesiology 2017;126(3):376-393)"
    ),
    "escort": (
        f"{_KETALAR_PI}: no driving or hazardous machinery for 24 hours or more (the 24-hour wording "
        f"unverified against the US text); {_SPRAVATO_PI}: transport must be arranged (the source of the escort)"
    ),
    "consent": "Clinic rule: treatment only under current informed consent",
    "alcohol_withdrawal": (
        "CIWA-Ar, Sullivan JT et al., Br J Addict 1989;84(11):1353-1357 (PMID 2597811): total 0-67; "
        "the threshold (default 10) is a protocol parameter: cut-offs vary by institution, local policy"
    ),
    "opioid_withdrawal": (
        "COWS, Wesson DR & Ling W, J Psychoactive Drugs 2003;35(2):253-259 (PMID 12924748): total 0-48, "
        "13-24 moderate; the threshold (default 13) is a protocol parameter"
    ),
    "benzodiazepines": (
        f"{_REMS_FORM}; {_SPRAVATO_PI} medication guide: CNS depressants deepen sedation (clinical.md §3.4). "
        "Soft stop: Kapstone's choice"
    ),
    "sedatives_opioids": (
        f"{_REMS_FORM}; {_SPRAVATO_PI} medication guide: CNS depressants deepen sedation (clinical.md §3.4). "
        "Soft stop: Kapstone's choice"
    ),
    "stimulants": (
        f"{_REMS_FORM}; {_SPRAVATO_PI} medication guide: psychostimulants raise blood pressure (clinical.md §3.4). "
        "Soft stop: Kapstone's choice (the blood pressure is itself a day-of check)"
    ),
    "maoi": (
        f"{_REMS_FORM}; {_SPRAVATO_PI} medication guide: MAOIs raise blood pressure (clinical.md §3.4). "
        "Hard stop unless a prescriber overrides: local policy (no source makes an MAOI a contraindication)"
    ),
    "theophylline": f"{_KETALAR_PI}: theophylline or aminophylline with ketamine may lower the seizure threshold",
    "airway_clinician": (f"{_KETALAR_PI}: given by or under clinicians experienced in airway management"),
    "resuscitation_equipment": f"{_KETALAR_PI}: emergency airway and resuscitation equipment at hand",
    "vital_signs_monitoring": f"{_KETALAR_PI}: continuous monitoring of vital signs",
    "prescriber_on_site": (
        "REMS practice (Spravato REMS, FDA REMS id 386: dosing and monitoring under direct observation in a "
        "certified setting); a prescriber on site is not stated in the sources consulted: local policy, "
        "required where the protocol lists the check"
    ),
}


@dataclass(frozen=True)
class CheckOutcome:
    """One day-of check: met or failed, the value it was judged on, and override status.

    ``code`` is the stable failure code when ``met`` is False, else None. A check that does not
    apply (a pregnancy test for a patient without child-bearing potential) is met and not
    ``applicable``.
    """

    check: str
    met: bool
    applicable: bool
    value: Any
    code: str | None
    message: str
    source: str
    overridable: bool
    overridden: bool = False
    override_reason: str | None = None
    #: A soft stop: the clinician recording the checks may proceed with a reason (else a hard
    #: stop: only a prescriber overrides, and only where ``overridable``).
    soft: bool = False

    @property
    def label(self) -> str:
        """The check in words: "Breath alcohol"."""
        return CHECK_LABELS.get(self.check, self.check)

    @property
    def stop_text(self) -> str:
        """What a failure of this check allows, in words (empty for a hard stop nobody waives)."""
        if not self.overridable:
            return ""
        if self.soft:
            return "the clinician may proceed with a written reason"
        return "a prescriber may override with a written reason"

    @property
    def value_text(self) -> str:
        """The value the check was judged on, as a clinician writes it ("Escort: yes" reads
        ``label``: ``value_text``); empty when nothing was entered or the check does not apply."""
        if self.value is None or not self.applicable:
            return "not applicable" if not self.applicable else ""
        if isinstance(self.value, bool):
            return "yes" if self.value else "no"
        unit = _CHECK_UNITS.get(self.check)
        return f"{self.value} {unit}" if unit else str(self.value)

    def as_dict(self) -> dict[str, Any]:
        value = str(self.value) if isinstance(self.value, Decimal) else self.value
        return {
            "check": self.check,
            "met": self.met,
            "applicable": self.applicable,
            "value": value,
            "code": self.code,
            "message": self.message,
            "source": self.source,
            "overridable": self.overridable,
            "overridden": self.overridden,
            "override_reason": self.override_reason,
            "soft": self.soft,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckOutcome:
        """The inverse of :meth:`as_dict` (a stored recording read back; values stay as stored)."""
        values = {name: data.get(name) for name in cls.__dataclass_fields__ if name in data}
        values["soft"] = bool(values.get("soft"))  # recordings before issue 14 have no "soft"
        return cls(**values)


@dataclass(frozen=True)
class DayOfResult:
    """Every check of the protocol, in the protocol's order, and whether the session may be cleared."""

    cleared: bool
    checks: tuple[CheckOutcome, ...]

    @property
    def failed(self) -> tuple[CheckOutcome, ...]:
        return tuple(c for c in self.checks if not c.met)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DayOfResult:
        """The inverse of :meth:`as_dict`."""
        return cls(
            cleared=bool(data.get("cleared")),
            checks=tuple(CheckOutcome.from_dict(c) for c in data.get("checks", ())),
        )

    @property
    def failure_codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.checks if c.code is not None)

    @property
    def blocking(self) -> tuple[CheckOutcome, ...]:
        """Failed checks that are not overridden: what stops the session being cleared."""
        return tuple(c for c in self.checks if not c.met and not c.overridden)

    def as_dict(self) -> dict[str, Any]:
        return {"cleared": self.cleared, "checks": [c.as_dict() for c in self.checks]}


# The entered values in words, for messages shown beside the form's fields.
_INPUT_WORDS = {
    "breath_alcohol_g_per_210l": "Breath alcohol",
    "urine_drug_screen_result": "The urine drug screen result",
    "childbearing_potential": "Child-bearing potential",
    "pregnancy_test_result": "The pregnancy test result",
    "systolic_bp": "Systolic blood pressure",
    "diastolic_bp": "Diastolic blood pressure",
    "fasting_hours": "Hours fasted",
    "escort_confirmed": "Escort home",
    "consent_current": "Current consent",
    "ciwa_ar_total": "The CIWA-Ar total",
    "cows_total": "The COWS total",
    "benzodiazepine_use": "Benzodiazepine use",
    "sedative_or_opioid_use": "Other sedative, sleeping tablet or opioid use",
    "stimulant_use": "Stimulant use",
    "maoi_use": "MAOI use",
    "theophylline_use": "Theophylline or aminophylline use",
    "airway_clinician_present": "A clinician trained in airway management present",
    "resuscitation_equipment_checked": "Emergency airway and resuscitation equipment checked",
    "vital_signs_monitoring_available": "Continuous vital-sign monitoring available",
    "prescriber_on_site": "A prescriber on site",
}


def _words(name: str) -> str:
    return _INPUT_WORDS.get(name, name.replace("_", " ").capitalize())


def _invalid(name: str, expected: str, value: object) -> DomainError:
    return DomainError(
        "invalid_check_value", f"{_words(name)} must be {expected}, got {value!r}.", field=name
    )


def _decimal(checks: Mapping[str, Any], name: str) -> Decimal:
    value = checks[name]
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise _invalid(name, "a number", value)
    try:
        number = Decimal(repr(value) if isinstance(value, float) else value)
    except InvalidOperation:
        raise _invalid(name, "a number", value) from None
    if not number.is_finite():
        raise _invalid(name, "a finite number", value)
    if number < 0:
        raise DomainError("implausible_value", f"{_words(name)} {value} cannot be negative.", field=name)
    return number


def _bool(checks: Mapping[str, Any], name: str) -> bool:
    value = checks[name]
    if not isinstance(value, bool):
        raise _invalid(name, "true or false", value)
    return value


def _int(checks: Mapping[str, Any], name: str, low: int, high: int, unit: str = " mmHg") -> int:
    value = checks[name]
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid(name, "a whole number", value)
    if not low <= value <= high:
        raise DomainError(
            "implausible_value",
            f"{_words(name)} {value}{unit} is not plausible (expected {low}–{high}).",
            field=name,
        )
    return value


def _choice(checks: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> str | None:
    value = checks.get(name)
    if value is None or value == "":
        return None
    if value not in allowed:
        raise _invalid(name, "one of " + ", ".join(allowed), value)
    return value


def _require(checks: Mapping[str, Any], name: str, check: str) -> None:
    if checks.get(name) is None:
        raise DomainError(
            "missing_check",
            f"{_words(name)} is needed for the {CHECK_LABELS.get(check, check).lower()} check.",
            field=name,
        )


def _evaluate_one(
    check: str, checks: Mapping[str, Any], rules: DayOfRules, sex_at_birth: str
) -> tuple[Any, ...]:
    """(met, applicable, value, failure code, message) for one check."""
    if check == "breath_alcohol":
        _require(checks, "breath_alcohol_g_per_210l", check)
        level = _decimal(checks, "breath_alcohol_g_per_210l")
        if level == 0:
            return True, True, level, None, "Breath alcohol 0.00."
        return (
            False,
            True,
            level,
            "breath_alcohol_positive",
            f"Breath alcohol {level} is not 0.00: do not dose today.",
        )
    if check == "urine_drug_screen":
        result = _choice(checks, "urine_drug_screen_result", URINE_DRUG_SCREEN_RESULTS)
        if result is None:
            return (
                False,
                True,
                None,
                "urine_drug_screen_missing",
                "No urine drug screen result has been entered.",
            )
        return True, True, result, None, f"Urine drug screen result entered: {result}."
    if check == "pregnancy_test":
        if sex_at_birth == "male":
            if checks.get("childbearing_potential") is True:
                raise _invalid("childbearing_potential", "false for sex at birth male", True)
            return True, False, None, None, "Pregnancy test not applicable."
        _require(checks, "childbearing_potential", check)
        if not _bool(checks, "childbearing_potential"):
            return True, False, None, None, "Pregnancy test not applicable (no child-bearing potential)."
        result = _choice(checks, "pregnancy_test_result", PREGNANCY_TEST_RESULTS)
        if result is None:
            return False, True, None, "pregnancy_test_missing", "No pregnancy test result has been entered."
        if result == "positive":
            return False, True, result, "pregnancy_test_positive", "Pregnancy test positive: do not dose."
        return True, True, result, None, "Pregnancy test negative."
    if check == "blood_pressure":
        _require(checks, "systolic_bp", check)
        _require(checks, "diastolic_bp", check)
        systolic = _int(checks, "systolic_bp", *_SYSTOLIC_PLAUSIBLE_MMHG)
        diastolic = _int(checks, "diastolic_bp", *_DIASTOLIC_PLAUSIBLE_MMHG)
        if diastolic >= systolic:
            raise DomainError(
                "implausible_value",
                f"Diastolic {diastolic} mmHg is not below systolic {systolic} mmHg; check the entry.",
                field="diastolic_bp",
            )
        value = f"{systolic}/{diastolic}"
        if systolic < rules.bp_defer_systolic_at_mmhg and diastolic < rules.bp_defer_diastolic_at_mmhg:
            return True, True, value, None, f"Blood pressure {value} mmHg is below the deferral threshold."
        return (
            False,
            True,
            value,
            "blood_pressure_too_high",
            f"Blood pressure {value} mmHg is at or above {rules.bp_defer_systolic_at_mmhg} systolic or "
            f"{rules.bp_defer_diastolic_at_mmhg} diastolic: defer dosing.",
        )
    if check == "fasting":
        _require(checks, "fasting_hours", check)
        hours = _decimal(checks, "fasting_hours")
        if hours >= rules.fasting_min_hours:
            return True, True, hours, None, f"Fasted {hours} h (needs {rules.fasting_min_hours} h)."
        return (
            False,
            True,
            hours,
            "fasting_too_short",
            f"Fasted {hours} h, less than the protocol's {rules.fasting_min_hours} h.",
        )
    if check == "escort":
        _require(checks, "escort_confirmed", check)
        if _bool(checks, "escort_confirmed"):
            return True, True, True, None, "Escort home confirmed."
        return (
            False,
            True,
            False,
            "escort_not_confirmed",
            "No escort home confirmed: the patient may not drive.",
        )
    if check == "consent":
        _require(checks, "consent_current", check)
        if _bool(checks, "consent_current"):
            return True, True, True, None, "Consent is current."
        return False, True, False, "consent_not_current", "Consent is not current: renew it before dosing."
    if check in _YES_NO_CHECKS:
        name, failing, code, failed_message, met_message = _YES_NO_CHECKS[check]
        _require(checks, name, check)
        answer = _bool(checks, name)
        if answer is failing:
            return False, True, answer, code, failed_message
        return True, True, answer, None, met_message
    if check in _WITHDRAWAL_CHECKS:
        name, scale, highest, threshold_field, code = _WITHDRAWAL_CHECKS[check]
        _require(checks, name, check)
        total = _int(checks, name, 0, highest, unit="")
        threshold = getattr(rules, threshold_field)
        if total < threshold:
            return True, True, total, None, f"{scale} {total}, below the protocol's {threshold}."
        return (
            False,
            True,
            total,
            code,
            f"{scale} {total} is at or above the protocol's {threshold}: signs of withdrawal; not today's "
            "dose without a written reason.",
        )
    raise AssertionError(f"unknown check {check}")  # pragma: no cover - protocols validate check names


def describe_day_of_rules(rules: DayOfRules) -> list[tuple[str, str]]:
    """The protocol's day-of checks as a clinician reads them: (check in words, what a failure
    means), in the protocol's order; the withdrawal checks name their threshold."""
    rows = []
    for rule in rules.checks:
        label = CHECK_LABELS.get(rule.check, rule.check)
        if rule.check in _WITHDRAWAL_CHECKS:
            threshold_field = _WITHDRAWAL_CHECKS[rule.check][3]
            label = f"{label}: {getattr(rules, threshold_field)} or more stops the dose"
        if not rule.overridable:
            stop = "hard stop"
        elif rule.soft:
            stop = "soft stop: the clinician may proceed with a written reason"
        else:
            stop = "hard stop unless a prescriber overrides with a written reason"
        rows.append((label, stop))
    return rows


def evaluate_day_of_checks(
    checks: Mapping[str, Any],
    *,
    protocol_checks: DayOfRules,
    sex_at_birth: str,
    overrides: Mapping[str, str] | None = None,
    prescriber: bool = False,
) -> DayOfResult:
    """Judge the day-of checks of a dosing session against the protocol's rules.

    ``checks`` holds the entered values: ``breath_alcohol_g_per_210l`` (must be exactly 0),
    ``urine_drug_screen_result`` (negative / positive / inconclusive; a result must be entered,
    whatever it is), ``childbearing_potential`` and ``pregnancy_test_result`` (negative needed
    where applicable: not for sex at birth ``male``, otherwise when ``childbearing_potential``),
    ``systolic_bp`` / ``diastolic_bp`` (below the protocol's deferral threshold, default 180/110),
    ``fasting_hours`` (at least the protocol's requirement), ``escort_confirmed`` and
    ``consent_current``; the withdrawal totals ``ciwa_ar_total`` (0–67) and ``cows_total`` (0–48),
    each below the protocol's threshold (default 10 and 13); the concomitant medicines
    ``benzodiazepine_use``, ``sedative_or_opioid_use``, ``stimulant_use``, ``maoi_use``,
    ``theophylline_use`` (false to pass); the readiness confirmations ``airway_clinician_present``,
    ``resuscitation_equipment_checked``, ``vital_signs_monitoring_available``, ``prescriber_on_site``
    (true to pass). Only the inputs of the checks the protocol lists are needed. ``overrides``
    maps a check name (e.g. ``"fasting"``) to the written reason; ``prescriber`` says whether the
    person giving them is a prescriber.

    Guarantees: every check of the protocol is reported, in its order, met or failed with the
    value and a stable failure code; ``cleared`` is True only when every check is met or every
    failed one is overridable and overridden with a reason. Refuses (DomainError): unknown inputs
    (``unknown_check``), missing inputs a check needs (``missing_check``), wrong types
    (``invalid_check_value``), implausible values (``implausible_value``), an unknown
    ``sex_at_birth`` (``invalid_sex_at_birth``), an override of a check the protocol does not mark
    overridable (``override_not_allowed``) or of an unknown check (``unknown_override``), an
    override without a reason (``reason_required``), and (WorkflowConflict
    ``override_requires_prescriber``) a reason for a hard-stop check from someone who is not a
    prescriber: only a soft stop (``soft`` in the protocol) may be passed by the clinician
    recording the checks. An override of a check that was met is ignored (reported as not
    overridden).

    Source: per check in :data:`CheckOutcome.source`; issue 3 for the list of checks.
    """
    if not isinstance(protocol_checks, DayOfRules):
        raise DomainError(
            "invalid_protocol_checks",
            "protocol_checks must be a protocol's DayOfRules.",
            field="protocol_checks",
        )
    if sex_at_birth not in SEXES_AT_BIRTH:
        raise DomainError(
            "invalid_sex_at_birth",
            f"Sex at birth {sex_at_birth!r} is not one of {', '.join(SEXES_AT_BIRTH)}.",
            field="sex_at_birth",
        )
    if not isinstance(checks, Mapping):
        raise DomainError(
            "invalid_check_value", "The checks must be an object of input name to value.", field="checks"
        )
    for key in checks:
        if key not in CHECK_INPUTS:
            raise DomainError(
                "unknown_check",
                f"Unknown day-of check input {key!r}; expected: {', '.join(CHECK_INPUTS)}.",
                field=str(key),
            )
    override_reasons = _validate_overrides(overrides, protocol_checks, prescriber=prescriber)

    outcomes: list[CheckOutcome] = []
    for rule in protocol_checks.checks:
        met, applicable, value, code, message = _evaluate_one(
            rule.check, checks, protocol_checks, sex_at_birth
        )
        reason = override_reasons.get(rule.check) if not met else None
        outcomes.append(
            CheckOutcome(
                check=rule.check,
                met=met,
                applicable=applicable,
                value=value,
                code=code,
                message=message,
                source=_SOURCES[rule.check],
                overridable=rule.overridable,
                overridden=reason is not None,
                override_reason=reason,
                soft=rule.soft,
            )
        )
    cleared = all(outcome.met or outcome.overridden for outcome in outcomes)
    return DayOfResult(cleared=cleared, checks=tuple(outcomes))


def _validate_overrides(
    overrides: Mapping[str, str] | None, rules: DayOfRules, *, prescriber: bool
) -> dict[str, str]:
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise DomainError(
            "invalid_override", "Overrides must be an object of check name to reason.", field="overrides"
        )
    reasons: dict[str, str] = {}
    for check, reason in overrides.items():
        field = f"overrides.{check}"
        if check not in DAY_OF_CHECKS:
            raise DomainError(
                "unknown_override",
                f"Unknown day-of check {check!r}; expected one of {', '.join(DAY_OF_CHECKS)}.",
                field=field,
            )
        rule = rules.rule_for(check)
        label = CHECK_LABELS.get(check, check)
        if rule is None or not rule.overridable:
            raise DomainError(
                "override_not_allowed",
                f"The protocol does not let anyone override the {label.lower()} check.",
                field=field,
            )
        if not rule.soft and not prescriber:
            raise WorkflowConflict(
                "override_requires_prescriber",
                f"Only a prescriber may override the {label.lower()} check.",
                field=field,
            )
        reasons[check] = clean_text(
            reason,
            field=field,
            name="reason",
            max_chars=REASON_MAX_CHARS,
            required=True,
            label="The reason",
            missing_message=f"Overriding the {label.lower()} check needs a written reason.",
        )
    return reasons
