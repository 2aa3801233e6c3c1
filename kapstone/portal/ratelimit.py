"""Per-source request limits for the public endpoints, counted in the database.

Every app server sees the same counts (nothing in process memory). The source address is kept
only as a keyed hash (HMAC-SHA-256 with the secret key), never as the address itself, and
counters older than a day are removed by ``kapstone referrals purge``.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from kapstone.domain.errors import DomainError
from kapstone.portal.models import RateCounter


class RateLimited(DomainError):
    """Too many requests from one source in the window (HTTP 429, code ``rate_limited``)."""

    http_status = 429

    def __init__(self, message: str) -> None:
        super().__init__("rate_limited", message)


def source_key(address: str | None) -> str:
    """A keyed hash of the client address (the same address gives the same key)."""
    secret = settings.SECRET_KEY.encode()
    return hmac.new(secret, (address or "unknown").encode(), hashlib.sha256).hexdigest()


def _window_start(now: datetime, window_s: int) -> datetime:
    seconds = int(now.timestamp()) // window_s * window_s
    return datetime.fromtimestamp(seconds, tz=now.tzinfo)


def rate_limit_hit(*, scope: str, address: str | None, limit: int, window_s: int, now: datetime) -> int:
    """Count one request of ``scope`` from ``address``; refuse it with :class:`RateLimited` when
    it is over ``limit`` in the current fixed window of ``window_s`` seconds. Returns the count."""
    key = source_key(address)
    start = _window_start(now, window_s)
    with transaction.atomic():
        try:
            with transaction.atomic():
                RateCounter.objects.get_or_create(scope=scope, source=key, window_start=start)
        except IntegrityError:
            pass  # created by a concurrent request: count on it
        RateCounter.objects.filter(scope=scope, source=key, window_start=start).update(count=F("count") + 1)
        count = RateCounter.objects.get(scope=scope, source=key, window_start=start).count
    if count > limit:
        minutes = max(1, round(window_s / 60))
        raise RateLimited(
            f"Too many requests from your connection; please try again in {minutes} minute"
            f"{'s' if minutes != 1 else ''}."
        )
    return count


def rate_counters_prune(*, now: datetime) -> int:
    """Remove counters of windows that ended more than a day ago; returns how many."""
    deleted, _ = RateCounter.objects.filter(window_start__lt=now - timedelta(days=1)).delete()
    return deleted
