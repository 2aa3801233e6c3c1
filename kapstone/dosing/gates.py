"""Checks from apps above dosing that can refuse a new dose order.

dosing sits below safety in the layer order, so it cannot ask the dependence watch itself. An app
above registers a gate here from its ``AppConfig.ready()``; :func:`dose_order_create` and the
order form consult every gate before anything is written. A gate takes the care session being
ordered for and returns ``None`` (no objection) or the refusal to raise: a
:class:`~kapstone.domain.errors.DomainError` (usually a ``WorkflowConflict``) whose code and
message say what is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kapstone.domain.errors import DomainError

OrderGate = Callable[[Any], DomainError | None]

_GATES: dict[str, OrderGate] = {}


def register_order_gate(key: str, gate: OrderGate) -> None:
    """Add (or replace, by ``key``) a gate; idempotent, so a repeated ``ready()`` is harmless."""
    _GATES[key] = gate


def unregister_order_gate(key: str) -> None:
    _GATES.pop(key, None)


def order_refusal(session: Any) -> DomainError | None:
    """The first refusal any gate gives for ordering a dose in ``session`` (gates in key order)."""
    for key in sorted(_GATES):
        refusal = _GATES[key](session)
        if refusal is not None:
            return refusal
    return None


def check_order_gates(session: Any) -> None:
    refusal = order_refusal(session)
    if refusal is not None:
        raise refusal
