"""What a patient has to fill in: the questionnaires due from the follow-up schedule and the
protocol.

Placeholder with the agreed signature only: the helper who builds the portal's questionnaires
(issue 13, worktree wt-pdata) fills it in, and their version replaces this file on merge. Until
then nothing is due, and the home page, the reminders and ``GET /api/v1/portal/me`` show and send
nothing for questionnaires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True)
class DueQuestionnaire:
    instrument: str
    instrument_name: str
    due_date: date
    time_point_months: int | None


def due_for_patient(patient: Any, today: date) -> list[DueQuestionnaire]:
    """The questionnaires ``patient`` should fill in on ``today`` (the clinic's date), soonest first."""
    return []
