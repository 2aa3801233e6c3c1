"""The alert state after a value is marked entered in error.

Source: issue 15 (a value entered in error must not count in alerts or discharge); the episode
model of :func:`kapstone.domain.monitoring.alerts.evaluate_vitals`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from kapstone.domain.errors import DomainError
from kapstone.domain.monitoring._common import aware_arg
from kapstone.domain.monitoring.alerts import (
    RULE_CHECKS,
    AlertEvaluation,
    EpisodeEnd,
    RaisedAlert,
    coerce_episodes,
    evaluate_vitals,
)
from kapstone.domain.monitoring.discharge import title_for
from kapstone.domain.monitoring.observations import OBSERVATION_DEFINITIONS

#: The observation codes each alert family reads: its own rule, and for the two that compare
#: with the baseline (``bp_rise_from_baseline``, ``sedation``) the baseline of the same codes.
FAMILY_CODES: Mapping[str, tuple[str, ...]] = {
    "hypertension": ("systolic_bp", "diastolic_bp"),
    "bp_rise_from_baseline": ("systolic_bp", "diastolic_bp"),
    "tachycardia": ("heart_rate",),
    "bradycardia": ("heart_rate",),
    "hypoxemia": ("spo2",),
    "bradypnea": ("respiratory_rate",),
    "sedation": ("moaas",),
}

ENTERED_IN_ERROR_NOTE = "Re-evaluated after a value was marked entered in error."


def reevaluate_after_void(
    *,
    observations: object,
    baseline: object,
    open_episodes: object,
    voided_code: str,
    now: datetime,
    thresholds: object = None,
) -> AlertEvaluation:
    """The alert state once a value has been marked entered in error, from the values that remain.

    ``observations`` is the session's whole valid record (the voided value left out) and
    ``baseline`` the baseline derived from it. The record is replayed from the start through
    :func:`evaluate_vitals`; for each family that reads ``voided_code`` (:data:`FAMILY_CODES`),
    the episode the replay leaves open is compared with the stored open episode:

    - the same code and severity (the remaining values still show it): nothing changes, its
      acknowledgement stands;
    - otherwise the stored episode ends at ``now`` ("<title> ended: value entered in error.") —
      the app records that it ended because of the error, not because the patient recovered —
      and the replay's episode, if any, is raised anew (``raised_at`` its first abnormal
      reading, the message noting the re-evaluation). So a critical level that only the
      mistaken value reached ends, and the warning the other values show is raised again in its
      own right; a normal value that had ended an episode, once voided, brings that episode back.

    Families that do not read the voided code, and ``vitals_overdue``, are left alone (the check
    schedule is the app's to re-evaluate with :func:`evaluate_overdue`). No episode is upgraded:
    severity never falls within an episode, so a change of severity is an end and a new raise.
    Refusals: as :func:`evaluate_vitals`; ``unknown_vital`` for an unknown ``voided_code``;
    ``invalid_datetime``/``naive_datetime`` for ``now``.
    Source: issue 15 (an entered-in-error value must not count in alerts or discharge); the
    episode model of :func:`evaluate_vitals`.
    """
    now = aware_arg(now, field="now")
    if not isinstance(voided_code, str) or voided_code not in OBSERVATION_DEFINITIONS:
        raise DomainError("unknown_vital", f"Unknown observation code {voided_code!r}.", field="voided_code")
    stored = coerce_episodes(open_episodes)
    replay = evaluate_vitals(
        new_observations=observations, baseline=baseline, open_episodes=(), thresholds=thresholds
    )
    still_open = {alert.episode: alert for alert in replay.raised if alert.ended_at is None}
    raised: list[RaisedAlert] = []
    ended: list[EpisodeEnd] = []
    for family, _ in RULE_CHECKS:
        if voided_code not in FAMILY_CODES[family]:
            continue
        episode, current = stored.get(family), still_open.get(family)
        if (
            episode is not None
            and current is not None
            and (episode.code, episode.severity) == (current.code, current.severity)
        ):
            continue
        if episode is not None:
            ended.append(
                EpisodeEnd(
                    episode_id=episode.episode_id,
                    code=episode.code,
                    ended_at=now,
                    message=f"{title_for(episode.code)} ended: value entered in error.",
                )
            )
        if current is not None:
            raised.append(
                RaisedAlert(
                    current.code,
                    current.severity,
                    f"{current.message} {ENTERED_IN_ERROR_NOTE}",
                    current.raised_at,
                    family,
                )
            )
    return AlertEvaluation(raised=tuple(raised), ended=tuple(ended))
