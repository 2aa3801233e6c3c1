"""Where the current request came from, for the audit trail.

Set once per request by middleware (and left empty for the CLI), so that services need not pass
the transport's remote address through every clinical call.
"""

from __future__ import annotations

from contextvars import ContextVar

remote_addr: ContextVar[str | None] = ContextVar("kapstone_remote_addr", default=None)
