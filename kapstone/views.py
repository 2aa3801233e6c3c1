"""Project-level views: home, health check, error pages."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from kapstone.accounts.access import PATIENT_READ, clinic_ids_for, public, require_login
from kapstone.accounts.selectors import memberships_of
from kapstone.screening.access import SCREENING_SIGN_OFF
from kapstone.screening.selectors import screenings_awaiting_sign_off_for_user


@require_login()
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Send each user to where their work starts: a prescriber to the screenings awaiting their
    sign-off, the other clinicians and admins to the patient list."""
    if request.user.is_patient:
        return redirect("portal:home")
    memberships = memberships_of(request.user)
    prescribing_in = clinic_ids_for(request.user, SCREENING_SIGN_OFF)
    if prescribing_in:
        context = {
            "memberships": memberships,
            "worklist": screenings_awaiting_sign_off_for_user(user=request.user),
            "worklist_many_clinics": len(prescribing_in) > 1,
        }
        return render(request, "home.html", context)
    if clinic_ids_for(request.user, PATIENT_READ):
        return redirect("patients:list")
    return render(request, "home.html", {"memberships": memberships})


@public
@require_GET
def health(request: HttpRequest) -> HttpResponse:
    """For load balancers: 200 when the database answers, 503 when it does not. No details."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # any database failure means "not healthy"; the reason goes to the logs
        import logging

        logging.getLogger("kapstone.health").exception("health check: database unavailable")
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "403_csrf.html", status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    # The same body whether the record is missing or belongs to another clinic.
    return render(request, "404.html", status=404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "403.html", status=403)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "400.html", status=400)


def server_error(request: HttpRequest) -> HttpResponse:
    return render(request, "500.html", status=500)
