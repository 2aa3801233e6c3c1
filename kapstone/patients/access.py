"""Whether a user may act on a patient's record as that patient themselves (the portal).

The one home of this rule for every app below the portal: an outcomes service asks here whether
a write "as the patient" comes from the patient's own account, without importing the portal.
The account is read through the ORM relation the portal's ``PatientAccount`` declares
(``user.patient_account``), so this module names no model of the portal.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist

from kapstone.patients.models import Patient


def is_own_record(user: Any, patient: Patient) -> bool:
    """True when ``user`` is an active patient account (accepted, not disabled, the user active)
    linked to ``patient``; False for staff, anonymous users, other patients and closed accounts."""
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_patient", False):
        return False
    if not user.is_active or patient is None or patient.pk is None:
        return False
    try:
        account = user.patient_account
    except ObjectDoesNotExist:
        return False
    return (
        account.patient_id == patient.pk and account.accepted_at is not None and account.disabled_at is None
    )
