"""The "Disclosures" section of the patient chart (registered in ``ResearchConfig.ready``): the
accounting of disclosures of the patient's records (42 CFR §2.25), for the clinic admin only.
Covered by the chart's own read event."""

from __future__ import annotations

from typing import Any

from kapstone.accounts.access import AUDIT_REVIEW, clinic_ids_for
from kapstone.audit.disclosures import disclosures_of_patient


def disclosures_chart_context(user: Any, patient: Any, can_write: bool) -> dict[str, Any] | None:
    if patient.clinic_id not in clinic_ids_for(user, AUDIT_REVIEW):
        return None
    return {"disclosures": disclosures_of_patient(patient_id=patient.pk, clinic_id=patient.clinic_id)}
