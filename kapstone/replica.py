"""Research reads from a streaming replica (``KAPSTONE_REPLICA_DATABASE_URL``).

The cohort report and the de-identified exports read many rows and write almost nothing: on a
busy clinic network they are the reads worth moving off the primary. They, and only they, opt in
with ``reading_from_replica()``; the router then sends their reads of research data to the
``replica`` alias. Everything else stays on the primary:

- every write (``db_for_write`` never answers the replica, not even for an object read from it;
  a hot standby refuses writes anyway);
- every read outside the context: all clinical pages, the API, the worker;
- inside the context, reads of ``PRIMARY_ONLY_APPS``: the audit chain (its head row must be the
  primary's, or the chain would fork), disclosures, users, memberships and roles (a revoked right
  must take effect at once, not after the replica's lag), sessions and login lockouts.

A replica lags. ``replica_data_as_of()`` says how far, so that the report can say how old its
data is instead of pretending to be live. A replica that does not answer is not an outage of the
report: ``research_source()`` notices it and the research views read from the primary instead.

Without a replica configured, the context does nothing and every read goes to the primary.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

REPLICA_ALIAS = "replica"
logger = logging.getLogger("kapstone.replica")

#: Apps whose rows are always read from the primary, even inside ``reading_from_replica()``.
PRIMARY_ONLY_APPS = frozenset(
    {
        "audit",
        "accounts",
        "auth",
        "sessions",
        "contenttypes",
        "axes",
        "otp_totp",
        "django_otp",
        "django_q",
    }
)

# A context variable, not a module global: each thread (gunicorn --threads) and each asyncio task
# has its own value, so one researcher's report never reroutes a nurse's request.
_reading_from_replica: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "kapstone_reading_from_replica", default=False
)


def replica_configured() -> bool:
    return REPLICA_ALIAS in settings.DATABASES


@contextmanager
def reading_from_replica() -> Iterator[None]:
    """Within the block, reads of research data go to the replica (when one is configured)."""
    token = _reading_from_replica.set(True)
    try:
        yield
    finally:
        _reading_from_replica.reset(token)


class ResearchReplicaRouter:
    """Reads inside ``reading_from_replica()`` of models outside ``PRIMARY_ONLY_APPS`` → replica.

    Returns ``None`` (no opinion: the primary) in every other case. Migrations run on the primary
    only; the replica receives them through streaming replication.
    """

    def db_for_read(self, model, **hints):
        if (
            _reading_from_replica.get()
            and model._meta.app_label not in PRIMARY_ONLY_APPS
            and replica_configured()
        ):
            return REPLICA_ALIAS
        return None

    def db_for_write(self, model, **hints):
        # An object read from the replica is saved to the primary (a hot standby refuses writes);
        # otherwise no opinion: Django writes to the object's own database, or to the primary.
        instance = hints.get("instance")
        if instance is not None and instance._state.db == REPLICA_ALIAS:
            return DEFAULT_DB_ALIAS
        return None

    def allow_relation(self, obj1, obj2, **hints):
        # The replica holds the same rows as the primary: an object read from one may point at an
        # object of the other.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return False if db == REPLICA_ALIAS else None


@dataclass(frozen=True)
class DataAsOf:
    """How old the replica's data is: its last replayed change (``as_of``) and the gap to now."""

    as_of: datetime
    behind: timedelta

    @property
    def minutes_behind(self) -> int:
        return int(self.behind.total_seconds() // 60)

    @property
    def behind_words(self) -> str:
        """ "less than a minute behind", "1 minute behind", "25 minutes behind", "3 hours behind"."""
        minutes = self.minutes_behind
        if minutes < 1:
            return "less than a minute behind"
        if minutes < 120:
            return f"{minutes} minute{'s' if minutes != 1 else ''} behind"
        return f"{minutes // 60} hours behind"


# On a standby that has replayed everything it received, the data is as of now (an idle primary
# sends nothing, so the last replayed transaction may be old without the copy being stale).
# Otherwise it is as of the last replayed transaction; NULL when none has been replayed since the
# standby started. A server that is not in recovery (the URL names a primary) is current.
_AS_OF_SQL = """
SELECT CASE
         WHEN NOT pg_is_in_recovery() THEN now()
         WHEN pg_last_wal_receive_lsn() IS NOT NULL
              AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN now()
         ELSE pg_last_xact_replay_timestamp()
       END,
       now()
"""


class ReplicaUnavailable(Exception):
    """The replica does not answer: research reads fall back to the primary."""


def replica_data_as_of() -> DataAsOf | None:
    """How old the research copy of the data is; ``None`` when no replica is configured, when it
    is not PostgreSQL, or when the standby cannot say (nothing replayed since it started).

    Raises :class:`ReplicaUnavailable` when the replica cannot be reached (within the connect
    timeout), so that the caller can read from the primary instead of failing.
    """
    if not replica_configured():
        return None
    connection = connections[REPLICA_ALIAS]
    if connection.vendor != "postgresql":
        return None
    try:
        with connection.cursor() as cursor:
            cursor.execute(_AS_OF_SQL)
            as_of, now = cursor.fetchone()
    except DatabaseError as error:
        connection.close_if_unusable_or_obsolete()
        logger.warning("research replica unavailable (%s); reading from the primary", type(error).__name__)
        raise ReplicaUnavailable from error
    if as_of is None:
        return None
    return DataAsOf(as_of=as_of, behind=max(now - as_of, timedelta(0)))


@dataclass(frozen=True)
class ResearchSource:
    """Where a research read goes: ``replica`` (with ``as_of``), or the primary because none is
    configured (``configured`` false) or because it did not answer (``unavailable``)."""

    configured: bool
    unavailable: bool = False
    as_of: DataAsOf | None = None

    @property
    def replica(self) -> bool:
        return self.configured and not self.unavailable


def research_source() -> ResearchSource:
    """Probe the replica once per research request: how old its data is, or that it is down."""
    if not replica_configured():
        return ResearchSource(configured=False)
    try:
        return ResearchSource(configured=True, as_of=replica_data_as_of())
    except ReplicaUnavailable:
        return ResearchSource(configured=True, unavailable=True)


@contextmanager
def reading_research_from(source: ResearchSource) -> Iterator[None]:
    """``reading_from_replica()`` when ``source`` is the replica; otherwise the primary."""
    if source.replica:
        with reading_from_replica():
            yield
    else:
        yield
