"""Checks from apps above dosing that can refuse a new dose order or the start of giving one.

dosing sits below safety in the layer order, so it cannot ask the dependence watch itself. An app
above registers a gate here from its ``AppConfig.ready()``; :func:`dose_order_create` and the
order form consult every gate before anything is written. A gate takes the care session being
ordered for and returns ``None`` (no objection) or the refusal to raise: a
:class:`~kapstone.domain.errors.DomainError` (usually a ``WorkflowConflict``) whose code and
message say what is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kapstone.domain.errors import DomainError, WorkflowConflict

OrderGate = Callable[[Any], DomainError | None]

_GATES: dict[str, OrderGate] = {}


def register_order_gate(key: str, gate: OrderGate) -> None:
    """Add (or replace, by ``key``) a gate; idempotent, so a repeated ``ready()`` is harmless."""
    _GATES[key] = gate


def unregister_order_gate(key: str) -> None:
    _GATES.pop(key, None)


def order_refusals(session: Any) -> list[DomainError]:
    """Every refusal the gates give for ordering a dose in ``session`` (gates in key order): the
    order page names them all, so clearing one (a liver panel) does not reveal another (a
    suicide-risk hold) only at the next try."""
    return [refusal for key in sorted(_GATES) if (refusal := _GATES[key](session)) is not None]


def order_refusal(session: Any) -> DomainError | None:
    """The first refusal any gate gives for ordering a dose in ``session`` (gates in key order)."""
    refusals = order_refusals(session)
    return refusals[0] if refusals else None


def check_order_gates(session: Any) -> None:
    refusal = order_refusal(session)
    if refusal is not None:
        raise refusal


# --- Gates on starting an administration ---------------------------------------------------------
#
# The same registry pattern for the start of giving a verified dose: an app above dosing (the
# monitoring app's baseline-vitals rule) registers a gate from its ``AppConfig.ready()``; the
# order page (before the nurse presses start) and :func:`administration_start` (again inside its
# transaction) consult every gate. A gate takes the care session and the time the administration
# is to start, and returns ``None`` (no objection) or a :class:`StartObjection`.


@dataclass(frozen=True)
class StartObjection:
    """Why an administration may not start yet.

    ``code`` and ``message`` are the refusal (the message names what is missing, in words);
    ``detail`` is JSON-able and stored with an override (e.g. ``{"missing": [...]}``);
    ``overridable``: a prescriber may start anyway with a written reason, which is stored and
    audited; otherwise the objection is a hard stop.
    """

    gate: str
    code: str
    message: str
    detail: dict[str, Any] = field(default_factory=dict)
    overridable: bool = False

    def as_error(self) -> WorkflowConflict:
        # Not tied to one field of the start: the whole start waits for what is missing.
        return WorkflowConflict(self.code, self.message)


StartGate = Callable[[Any, datetime], StartObjection | None]

_START_GATES: dict[str, StartGate] = {}


def register_start_gate(key: str, gate: StartGate) -> None:
    """Add (or replace, by ``key``) a gate on starting an administration; idempotent."""
    _START_GATES[key] = gate


def start_objections(session: Any, started_at: datetime) -> list[StartObjection]:
    """Every objection the gates raise to starting an administration in ``session`` at
    ``started_at`` (gates in key order)."""
    found = []
    for key in sorted(_START_GATES):
        objection = _START_GATES[key](session, started_at)
        if objection is not None:
            found.append(objection)
    return found
