"""The screening section of the patient chart (registered in ``ScreeningConfig.ready``)."""

from __future__ import annotations

from typing import Any

from kapstone.accounts.access import clinic_ids_for
from kapstone.screening.access import SCREENING_RECORD
from kapstone.screening.selectors import screening_current, screening_is_approved, sign_off_of


def screening_chart_context(user: Any, patient: Any, can_write: bool) -> dict[str, Any]:
    """The current decision, its sign-off and whether the user may screen: one query, whatever
    the length of the history. Covered by the chart's own read event."""
    current = screening_current(patient)
    return {
        "current": current,
        "sign_off": sign_off_of(current) if current is not None else None,
        "approved": screening_is_approved(current),
        "can_record": patient.clinic_id in clinic_ids_for(user, SCREENING_RECORD),
    }
