"""Numbers typed by people: one way to read them and one way to write them back.

Every clinical value that arrives as text, an int, a float or a Decimal is read here, exactly:
a float goes through ``str`` (``0.1`` is ``Decimal("0.1")``, not its binary expansion), a bool
is never a number, and NaN and the infinities are refused. Every value shown to a clinician is
written here, as a clinician writes it (``185``, ``37.5``, no exponent, no trailing zeros).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from kapstone.domain.errors import DomainError


def to_number(value: object) -> Decimal | None:
    """``value`` as a finite Decimal, or ``None`` when it is not a number (bool is not one)."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, Decimal):
            result = value
        elif isinstance(value, int):
            result = Decimal(value)
        elif isinstance(value, float):
            result = Decimal(str(value))
        elif isinstance(value, str):
            result = Decimal(value.strip())
        else:
            return None
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def to_decimal(value: object, *, field: str, code: str = "invalid_number") -> Decimal:
    """``value`` as a finite Decimal, else DomainError ``code`` (default ``invalid_number``) on
    ``field``, naming what was given."""
    result = to_number(value)
    if result is None:
        raise DomainError(code, f"{field} must be a finite number, got {value!r}.", field=field)
    return result


def format_number(value: Decimal | int) -> str:
    """A number as a clinician writes it: ``185``, ``37.5`` (no exponent, no trailing zeros).

    Absurd magnitudes (a pasted ``1e999999``) are shown in exponent form, never expanded."""
    number = Decimal(value)
    if number.is_finite() and number and abs(number.adjusted()) > 12:
        return str(number)
    return format(number.normalize(), "f")
