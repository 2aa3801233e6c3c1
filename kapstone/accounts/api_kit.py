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
from ninja import Router, Schema
from ninja.constants import NOT_SET
from ninja.errors import HttpError
from ninja.security import HttpBearer
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
)

from kapstone.accounts.access import PUBLIC, clinic_ids_for
from kapstone.accounts.models import Role
from kapstone.accounts.services import api_token_authenticate
from kapstone.audit.services import audit_record
from kapstone.domain.text import clean_text
from kapstone.forms import EARLIEST_DATE, FILTER_TEXT_MAX, LATEST_DATE, RECORD_ID_MAX


class BearerToken(HttpBearer):
    """``Authorization: Bearer <token>``; the request then acts as the token's user."""

    def authenticate(self, request: HttpRequest, token: str) -> Any | None:
        user = api_token_authenticate(token=token)
        if user is not None:
            request.user = user
        return user


class Forbidden(HttpError):
    def __init__(self, message: str = "Your role does not allow this.") -> None:
        super().__init__(403, message)


def api_denied(*, actor: Any, operation: str, reason: str, message: str | None = None) -> Forbidden:
    """Audit a refused API call and return the 403 to raise."""
    audit_record(
        actor=actor,
        action="denied",
        object_type="api",
        object_id=operation[:64],
        outcome="denied",
        detail={"reason": reason},
    )
    return Forbidden(message) if message else Forbidden()


class GuardedBearer(BearerToken):
    """A bearer token that must also pass the operation's access rule.

    Ninja authenticates before it reads the path, query and body, so the rule checked here
    answers 403 to a caller who may not use the operation whatever they sent: a caller never
    learns from a 422 what an operation they cannot use expects (DESIGN: the role check comes
    first). The operation's own wrapper checks again, so a router that forgets this still denies.
    """

    def __init__(self, *, allows: Callable[[Any], bool], operation: str, reason: str, message: str | None):
        super().__init__()
        self.allows, self.operation, self.reason, self.message = allows, operation, reason, message

    def authenticate(self, request: HttpRequest, token: str) -> Any | None:
        user = super().authenticate(request, token)
        if user is not None and not self.allows(user):
            raise api_denied(actor=user, operation=self.operation, reason=self.reason, message=self.message)
        return user


class KapstoneRouter(Router):
    """A router whose operations authenticate with their own access rule (``kapstone_auth``,
    set by ``api_roles`` and the portal's ``api_patient``) unless given ``auth=`` explicitly."""

    def add_api_operation(self, path: str, methods: list[str], view_func: Callable, **kwargs: Any) -> None:
        if kwargs.get("auth", NOT_SET) is NOT_SET and hasattr(view_func, "kapstone_auth"):
            kwargs["auth"] = view_func.kapstone_auth
        super().add_api_operation(path, methods, view_func, **kwargs)


def api_roles(*roles: str) -> Callable:
    """Declare (and enforce) which roles may call an API operation. Default deny: an operation
    without this decorator fails the URL-access test."""
    unknown = set(roles) - set(Role.values)
    if not roles or unknown:
        raise ValueError(f"api_roles needs known roles, got {roles!r}")
    allowed = frozenset(roles)

    def has_role(user: Any) -> bool:
        return bool(clinic_ids_for(user, allowed))

    def decorator(func: Callable) -> Callable:
        @wraps(func)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not has_role(request.auth):
                raise api_denied(actor=request.auth, operation=func.__name__, reason="role")
            return func(request, *args, **kwargs)

        wrapper.kapstone_access = allowed  # type: ignore[attr-defined]
        wrapper.kapstone_auth = GuardedBearer(  # type: ignore[attr-defined]
            allows=has_role, operation=func.__name__, reason="role", message=None
        )
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
    """Text in a body, cleaned by the one rule of the web forms and the services
    (:func:`kapstone.domain.text.clean_text`): the same codes (``invalid_text``,
    ``text_too_long``, ``<field>_required`` when ``min_length``), answered 422 in the error shape.
    The schema still tells clients the limits."""

    def clean(value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return value  # for ``text(…) | None``: the None branch takes it
        return clean_text(
            value, field=info.field_name or "text", max_chars=max_length, required=min_length > 0
        )

    schema: dict[str, Any] = {"type": "string", "maxLength": max_length}
    if min_length:
        schema["minLength"] = min_length
    return Annotated[str, BeforeValidator(clean), WithJsonSchema(schema)]  # type: ignore[return-value]


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
