"""The one error type of the domain layer.

Every refusal in Kapstone has a stable snake_case ``code`` that web forms, the API and the CLI
show unchanged, a plain-language ``message`` naming the rule and the value, and, where one
input is to blame, the ``field`` it came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class DomainError(Exception):
    """A clinical rule or an input check refused the request.

    ``code`` is part of the public contract (API, CLI, tests): never rename one.
    """

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def as_dict(self) -> dict[str, Any]:
        """The error object shared by the API and ``--json`` CLI output."""
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}

    def __repr__(self) -> str:
        return f"DomainError(code={self.code!r}, message={self.message!r}, field={self.field!r})"


class DomainErrors(DomainError):
    """Several refusals of one request, found together (every implausible value of a vitals set).

    It is a :class:`DomainError` whose ``code``, ``message`` and ``field`` are those of the first
    refusal, so a caller that handles one error keeps working; ``errors`` holds them all, in input
    order, and :meth:`as_dict` lists them under ``errors``.
    """

    def __init__(self, errors: Sequence[DomainError]) -> None:
        if not errors:
            raise ValueError("DomainErrors needs at least one error.")
        first = errors[0]
        super().__init__(first.code, first.message, first.field)
        self.errors: tuple[DomainError, ...] = tuple(errors)

    def as_dict(self) -> dict[str, Any]:
        body = super().as_dict()
        body["error"]["errors"] = [
            {"code": e.code, "message": e.message, "field": e.field} for e in self.errors
        ]
        return body

    def __repr__(self) -> str:
        return f"DomainErrors({list(self.errors)!r})"


class WorkflowConflict(DomainError):
    """The input is well-formed but the current state refuses it (HTTP 409).

    Examples: ordering a dose before the screening is approved, a second dose inside the
    protocol's minimum interval, an illegal session transition.
    """
