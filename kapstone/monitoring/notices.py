"""Notices on the live monitoring board contributed by apps above monitoring (safety).

The board belongs to ``monitoring``, but a serious adverse event lives in ``safety``, which sits
above it and may not be imported from here. Safety registers a provider in its
``AppConfig.ready()``; the board asks every provider for its notices on each render, and the
board's change token includes each notice's ``key`` so that a new or reviewed event reaches the
screens within one poll.

A provider is ``fn(user, clinic_ids, session_ids) -> list[BoardNotice]``: ``clinic_ids`` are
the clinics whose board the user sees (already scoped by the board's selector), ``session_ids``
the sessions on the board. It must only read (the board's own read event covers what it shows)
and must be cheap: it runs on every poll of every board screen (twice a second).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BoardNotice:
    """One notice. ``session_id`` None: a clinic-wide notice (the banner at the top), otherwise
    also shown in that session's row. ``key`` identifies the notice and its state (it goes into the
    change token); ``url``/``link_text`` an optional link for the person who can act on it."""

    key: str
    clinic_id: int
    patient_id: int
    session_id: int | None
    severity: str  # "critical" or "warning": the board's colours
    text: str
    url: str = ""
    link_text: str = ""


Provider = Callable[[Any, list[int], list[int]], list[BoardNotice]]

_PROVIDERS: dict[str, Provider] = {}


def register_board_notice(key: str, provider: Provider) -> None:
    """Register (or replace, on a second ``ready()``) the provider called ``key``."""
    _PROVIDERS[key] = provider


def board_notices_for(
    *, user: Any, clinic_ids: Iterable[int], session_ids: Iterable[int]
) -> list[BoardNotice]:
    """Every provider's notices for these clinics and sessions, in a stable order (by key)."""
    clinics, sessions = sorted(set(clinic_ids)), sorted(set(session_ids))
    if not clinics:
        return []
    allowed = set(clinics)
    notices: list[BoardNotice] = []
    for name in sorted(_PROVIDERS):
        # A provider that answered for another clinic would leak it: keep only the user's.
        notices += [n for n in _PROVIDERS[name](user, clinics, sessions) if n.clinic_id in allowed]
    return sorted(notices, key=lambda n: n.key)
