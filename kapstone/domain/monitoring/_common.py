"""Severities, check statuses and small input helpers shared by the monitoring rules.

Numbers are read and written by :mod:`kapstone.domain.numbers` (``to_number``,
``format_number`` are re-exported here for the monitoring modules)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kapstone.domain.errors import DomainError
from kapstone.domain.numbers import format_number, to_number

if TYPE_CHECKING:
    from kapstone.domain.monitoring.observations import ObservationDefinition

WARNING = "warning"
CRITICAL = "critical"
SEVERITIES = (WARNING, CRITICAL)
SEVERITY_RANK = {WARNING: 1, CRITICAL: 2}

STATUS_DONE = "done"
STATUS_DUE = "due"
STATUS_OVERDUE = "overdue"

HUNDRED = Decimal(100)
ONE_MINUTE = timedelta(minutes=1)


# --- Small input helpers ---------------------------------------------------------------------------


def non_negative_threshold(name: str, raw: object) -> Decimal:
    """A threshold parameter as a Decimal; refuses a non-number or a negative one."""
    value = to_number(raw)
    if value is None or value < 0:
        raise DomainError(
            "invalid_thresholds", f"{name} must be a non-negative number, got {raw!r}.", field=name
        )
    return value


def decimal_arg(value: object, *, field: str, code: str = "invalid_number") -> Decimal:
    result = to_number(value)
    if result is None:
        raise DomainError(code, f"{field} must be a finite number, got {value!r}.", field=field)
    return result


def int_arg(value: object, *, field: str, code: str = "invalid_number", minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DomainError(code, f"{field} must be a whole number, got {value!r}.", field=field)
    if value < minimum:
        raise DomainError(code, f"{field} must be at least {minimum}, got {value}.", field=field)
    return value


def bool_arg(value: object, *, field: str) -> bool:
    if not isinstance(value, bool):
        raise DomainError("invalid_argument", f"{field} must be true or false, got {value!r}.", field=field)
    return value


def aware_arg(value: object, *, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise DomainError("invalid_datetime", f"{field} must be a datetime, got {value!r}.", field=field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise DomainError("naive_datetime", f"{field} must carry a time zone.", field=field)
    return value


def optional_aware_arg(value: object, *, field: str) -> datetime | None:
    return None if value is None else aware_arg(value, field=field)


def sequence_arg(value: object, *, field: str, code: str) -> Sequence[Any]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise DomainError(code, f"{field} must be a list, got {type(value).__name__}.", field=field)
    return value


def with_unit(value: Decimal, definition: ObservationDefinition) -> str:
    return f"{format_number(value)} {definition.unit_display}".rstrip()


def minutes_between(start: datetime, end: datetime) -> Decimal:
    return Decimal((end - start).total_seconds()) / Decimal(60)
