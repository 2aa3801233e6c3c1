"""Session lifetime, cache headers and audit context for every request."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

from kapstone.audit.context import remote_addr

SESSION_LOGIN_AT = "_kapstone_login_at"


class SessionLifetimeMiddleware:
    """An absolute cap on a session's life, on top of the 15-minute idle timeout.

    The idle timeout is the session's own expiry (``SESSION_COOKIE_AGE`` renewed on every
    request, checked by the database session store). This adds the absolute maximum that ASVS
    7.3.2 asks for, and records the client address for the audit trail.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Never trust X-Forwarded-For here: the proxy, if any, must set REMOTE_ADDR properly.
        token = remote_addr.set(request.META.get("REMOTE_ADDR") or None)
        try:
            if request.user.is_authenticated:
                started = request.session.get(SESSION_LOGIN_AT)
                now = time.time()
                if started is None:
                    request.session[SESSION_LOGIN_AT] = now
                elif now - float(started) > settings.SESSION_ABSOLUTE_TIMEOUT_S:
                    logout(request)
            return self.get_response(request)
        finally:
            remote_addr.reset(token)


class NoStoreMiddleware:
    """``Cache-Control: no-store`` on every page Django renders: any of them may show PHI.

    Static files never reach this (WhiteNoise answers them first, with long cache lifetimes).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response["Cache-Control"] = "no-store"
        response["Pragma"] = "no-cache"
        return response


class ClinicTimezoneMiddleware:
    """Show and read times in the clinic's own time zone (stored times stay UTC).

    A user's first active clinic decides; staff working across time zones are rare enough that
    the page says which zone it shows (the footer of base.html).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from zoneinfo import ZoneInfo

        from django.utils import timezone

        from kapstone.accounts.models import Membership

        zone = None
        if request.user.is_authenticated:
            name = (
                Membership.objects.filter(user=request.user, is_active=True)
                .order_by("clinic_id")
                .values_list("clinic__timezone", flat=True)
                .first()
            )
            zone = ZoneInfo(name) if name else None
        if zone is None:
            return self.get_response(request)
        with timezone.override(zone):
            return self.get_response(request)
