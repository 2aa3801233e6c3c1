from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from kapstone.accounts.access import (
    ADMINS,
    ALL_STAFF,
    AUDIT_REVIEW,
    CARE_TEAM,
    CLINICAL,
    DOSING_CLINICIANS,
    OPERATIONS_REVIEW,
    PATIENT_READ,
    PRESCRIBERS,
    REPORT_READERS,
    clinic_ids_for,
    mfa_satisfied,
)


def kapstone(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    signed_in = bool(user and user.is_authenticated and mfa_satisfied(request))
    return {
        "nav": {
            "signed_in": signed_in,
            "patients": signed_in and bool(clinic_ids_for(user, PATIENT_READ)),
            "audit": signed_in and bool(clinic_ids_for(user, AUDIT_REVIEW)),
            "operations": signed_in and bool(clinic_ids_for(user, OPERATIONS_REVIEW)),
            "board": signed_in and bool(clinic_ids_for(user, CARE_TEAM)),
            "monitoring": signed_in and bool(clinic_ids_for(user, DOSING_CLINICIANS)),
            "follow_ups": signed_in and bool(clinic_ids_for(user, PATIENT_READ)),
            "referrals": signed_in and bool(clinic_ids_for(user, PATIENT_READ)),
            "groups": signed_in and bool(clinic_ids_for(user, CLINICAL)),
            "safety": signed_in and bool(clinic_ids_for(user, PRESCRIBERS)),
            "research": signed_in and bool(clinic_ids_for(user, REPORT_READERS)),
            "protocols": signed_in and bool(clinic_ids_for(user, ALL_STAFF)),
            "inventory": signed_in and bool(clinic_ids_for(user, DOSING_CLINICIANS | ADMINS)),
        },
        "mfa_required": settings.MFA_REQUIRED,
        "dev_mode": settings.DEV,
    }
