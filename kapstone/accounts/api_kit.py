"""The API's building blocks shared by every app's router: bearer-token authentication, role
declarations for operations, and strict input schemas.

Lives in accounts (below every clinical app) so that each app's ``api.py`` can use it; the
NinjaAPI itself, which mounts those routers, lives at the top in ``kapstone.api``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Schema
from ninja.errors import HttpError
from ninja.security import HttpBearer
from pydantic import AfterValidator, ConfigDict, Field, StringConstraints

from kapstone.accounts.access import PUBLIC, clinic_ids_for
from kapstone.accounts.models import Role
from kapstone.accounts.services import api_token_authenticate
from kapstone.audit.services import audit_record
from kapstone.forms import EARLIEST_DATE, FILTER_TEXT_MAX, LATEST_DATE, RECORD_ID_MAX


class BearerToken(HttpBearer):
    """``Authorization: Bearer <token>``; the request then acts as the token's user."""

    def authenticate(self, request: HttpRequest, token: str) -> Any | None:
        user = api_token_authenticate(token=token)
        if user is not None:
            request.user = user
        return user


class Forbidden(HttpError):
    def __init__(self) -> None:
        super().__init__(403, "Your role does not allow this.")


def api_roles(*roles: str) -> Callable:
    """Declare (and enforce) which roles may call an API operation. Default deny: an operation
    without this decorator fails the URL-access test."""
    unknown = set(roles) - set(Role.values)
    if not roles or unknown:
        raise ValueError(f"api_roles needs known roles, got {roles!r}")
    allowed = frozenset(roles)

    def decorator(func: Callable) -> Callable:
        @wraps(func)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not clinic_ids_for(request.auth, allowed):
                audit_record(
                    actor=request.auth,
                    action="denied",
                    object_type="api",
                    object_id=func.__name__[:64],
                    outcome="denied",
                    detail={"reason": "role"},
                )
                raise Forbidden()
            return func(request, *args, **kwargs)

        wrapper.kapstone_access = allowed  # type: ignore[attr-defined]
        return wrapper

    return decorator


def api_public(func: Callable) -> Callable:
    """Declare an API operation open to anyone, without a token (register it with ``auth=None``).
    Such operations are on the explicit allow-list of the URL-access test; keep it short."""
    func.kapstone_access = PUBLIC  # type: ignore[attr-defined]
    return func


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text; refuse it here rather than fail at the database.
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


def text(max_length: int, *, min_length: int = 0) -> type[str]:
    return Annotated[  # type: ignore[return-value]
        str,
        StringConstraints(strip_whitespace=True, max_length=max_length, min_length=min_length),
        AfterValidator(_no_nul),
    ]


#: Query and path values, bounded as the web forms bound them (kapstone/forms.py): a number the
#: database cannot hold or a date at the edge of Python's range is a 422, never a 500.
RecordId = Annotated[int, Field(ge=1, le=RECORD_ID_MAX)]
FilterDate = Annotated[date, Field(ge=EARLIEST_DATE, le=LATEST_DATE)]
FilterText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=FILTER_TEXT_MAX),
    AfterValidator(_no_nul),
]


class StrictSchema(Schema):
    """Input schemas refuse unknown fields (no mass assignment of clinic, owner, role…)."""

    model_config = ConfigDict(extra="forbid")


class ErrorBody(Schema):
    code: str
    message: str
    field: str | None = None


class ErrorOut(Schema):
    error: ErrorBody
