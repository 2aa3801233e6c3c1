"""The referral counts in the navigation of every staff page (no PHI: counts only).

Lazy: the counts are read only when a page shows them (the full pages' navigation), never for
the partial pages that htmx polls (the monitoring board twice a second).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from kapstone.accounts.access import clinic_ids_for, mfa_satisfied
from kapstone.portal.models import Referral
from kapstone.portal.selectors import REFERRAL_STAFF, referral_overdue_count_for_user


def referral_counts(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if not (user and user.is_authenticated and mfa_satisfied(request)):
        return {}

    def counts() -> dict[str, int]:
        clinic_ids = clinic_ids_for(user, REFERRAL_STAFF)
        if not clinic_ids:
            return {"new": 0, "overdue": 0}
        new = Referral.objects.filter(
            clinic_id__in=clinic_ids, status="new", anonymised_at__isnull=True
        ).count()
        return {"new": new, "overdue": referral_overdue_count_for_user(user=user) if new else 0}

    return {"referral_counts": SimpleLazyObject(counts)}
