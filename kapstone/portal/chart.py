"""The patient chart's portal section: the account's state and the staff's actions on it."""

from __future__ import annotations

from typing import Any

from kapstone.accounts.access import PATIENT_WRITE, clinic_ids_for
from kapstone.portal.models import PatientAccount
from kapstone.portal.patient_services import STATUS_WORDS, account_status


def portal_chart_context(user: Any, patient: Any, can_write: bool) -> dict[str, Any] | None:
    """The account (if any), its state in words and whether this user may invite or disable."""
    if patient.clinic_id not in clinic_ids_for(user, PATIENT_WRITE):
        return None
    account = PatientAccount.objects.filter(patient=patient).select_related("user", "disabled_by").first()
    status = account_status(account) if account else None
    last = account.invitations.order_by("-created_at", "-id").first() if account else None
    return {
        "portal": {
            "account": account,
            "status": status,
            "status_words": STATUS_WORDS.get(status, "") if status else "No portal account",
            "last_invitation": last,
            "can_invite": status in (None, "pending", "expired"),
            "can_disable": status in ("pending", "expired", "accepted"),
        }
    }
