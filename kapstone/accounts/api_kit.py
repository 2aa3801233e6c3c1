"""The API's building blocks shared by every app's router: bearer-token authentication, role
declarations for operations, and strict input schemas.

Lives in accounts (below every clinical app) so that each app's ``api.py`` can use it; the
NinjaAPI itself, which mounts those routers, lives at the top in ``kapstone.api``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from functools import wraps
from typing import Annotated, Any, NamedTuple

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema
from ninja.constants import NOT_SET
from ninja.errors import ConfigError, HttpError
from ninja.pagination import PaginationBase, paginate
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
    set by ``api_roles`` and the portal's ``api_patient``) unless given ``auth=`` explicitly,
    and declare in the OpenAPI document every error status they can answer (``ERROR_STATUSES``)
    with the one error schema, so that no operation has to list them by hand."""

    def add_api_operation(self, path: str, methods: list[str], view_func: Callable, **kwargs: Any) -> None:
        if kwargs.get("auth", NOT_SET) is NOT_SET and hasattr(view_func, "kapstone_auth"):
            kwargs["auth"] = view_func.kapstone_auth
        kwargs["response"] = with_error_responses(
            kwargs.get("response", NOT_SET), public=kwargs.get("auth") is None
        )
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


#: Every record id an operation reads, in its path, its query or its body: a whole number from 1
#: to the largest the databases hold (kapstone/forms.py). Out of range it is a 422 naming the
#: field (query, body), or the 404 of a missing record (path; ``kapstone.api`` maps it), never
#: the 500 of an OverflowError. tests/api/test_record_ids.py checks that every id is this type.
RecordId = Annotated[int, Field(ge=1, le=RECORD_ID_MAX, description=f"A record id, 1 to {RECORD_ID_MAX}.")]
#: Query values, bounded as the web forms bound them: a date at the edge of Python's range is a
#: 422, never a 500.
FilterDate = Annotated[date, Field(ge=EARLIEST_DATE, le=LATEST_DATE)]
FilterText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=FILTER_TEXT_MAX),
    AfterValidator(_no_nul),
]


class StrictSchema(Schema):
    """Input schemas refuse unknown fields (no mass assignment of clinic, owner, role…)."""

    model_config = ConfigDict(extra="forbid")


class ErrorItem(Schema):
    code: str
    message: str
    field: str | None


class ErrorBody(ErrorItem):
    #: Only when several refusals were found together (a vitals batch): all of them, the first
    #: being the one above (``DomainErrors.as_dict``).
    errors: list[ErrorItem] | None = None


class ErrorOut(Schema):
    """The one error shape of the API (docs/api.md, "Errors")."""

    error: ErrorBody


#: The error statuses an operation can answer, declared for each with ``ErrorOut``: a malformed
#: or oversized body (400), no valid token (401), a role without the right (403), a record
#: missing or another clinic's (404), a state that refuses the request (409), an input or a rule
#: that refuses it (422). The public operations need no token and are rate-limited (429).
ERROR_STATUSES = (400, 401, 403, 404, 409, 422)
PUBLIC_ERROR_STATUSES = (400, 404, 409, 422, 429)


def with_error_responses(response: Any, *, public: bool) -> dict[Any, Any]:
    """``response`` (a schema, or a dict of status to schema) with the error statuses added."""
    if response is NOT_SET:
        raise ConfigError("Declare the response schema of every API operation (response=…).")
    declared = dict(response) if isinstance(response, dict) else {200: response}
    for status in PUBLIC_ERROR_STATUSES if public else ERROR_STATUSES:
        declared.setdefault(status, ErrorOut)
    return declared


# --- Lists ------------------------------------------------------------------------------------

#: How many rows a list answers when ``limit`` is not given, and the most it answers (docs/api.md,
#: "Lists"). The audit trail used to stop silently at 500 rows: a list now says how many there are.
PAGE_LIMIT_DEFAULT = 100
PAGE_LIMIT_MAX = 500


class PageQuery(Schema):
    limit: int = Field(
        PAGE_LIMIT_DEFAULT, ge=1, le=PAGE_LIMIT_MAX, description=f"Rows to answer, 1 to {PAGE_LIMIT_MAX}."
    )
    offset: int = Field(
        0, ge=0, le=RECORD_ID_MAX, description="Rows to skip, in the list's order (0 = from the first)."
    )


class Page(NamedTuple):
    """A page a selector read (and audited) itself: its rows and how many match in all."""

    items: Sequence[Any]
    count: int


def _window(rows: Any, query: PageQuery) -> Page:
    if isinstance(rows, Page):
        return rows
    count = rows.count() if isinstance(rows, QuerySet) else len(rows)
    return Page(list(rows[query.offset : query.offset + query.limit]), count)


class LimitOffset(PaginationBase):
    """django-ninja's limit/offset pagination, with our bounds: the answer is ``{"items",
    "count"}``. The operation returns its rows in their documented order (a list or a queryset,
    cut here) or, when its selector reads one page itself, a :class:`Page` for the window it is
    given (``paginated(window=True)``: the view takes ``**kwargs`` and reads ``kwargs["page"]``)."""

    Input = PageQuery

    def paginate_queryset(
        self, queryset: Any, pagination: PageQuery, request: HttpRequest, **params: Any
    ) -> Any:
        return _window(queryset, pagination)._asdict()


class LimitOffsetArray(LimitOffset):
    """The same for a list whose bare JSON array an issue pins: the answer stays the array and the
    count goes in the ``X-Total-Count`` header. The operation takes ``response: HttpResponse``."""

    Output = None  # type: ignore[assignment]

    def paginate_queryset(
        self, queryset: Any, pagination: PageQuery, request: HttpRequest, **params: Any
    ) -> Any:
        page = _window(queryset, pagination)
        params["response"]["X-Total-Count"] = str(page.count)
        return list(page.items)


def paginated(func: Callable | None = None, *, window: bool = False, array: bool = False) -> Callable:
    """Page a list operation (put it under ``api_roles``). ``window``: the view is given the page
    asked for (``kwargs["page"]``, a :class:`PageQuery`) and returns a :class:`Page`. ``array``:
    keep a pinned bare array (:class:`LimitOffsetArray`; the view takes ``response: HttpResponse``)."""
    pagination = paginate(
        LimitOffsetArray if array else LimitOffset, pass_parameter="page" if window else None
    )

    def decorate(view: Callable) -> Callable:
        annotations = [p.annotation for p in inspect.signature(view).parameters.values()]
        if array and not any(a in (HttpResponse, "HttpResponse") for a in annotations):
            raise ConfigError(f"{view.__name__} is paged as an array: it takes `response: HttpResponse`.")
        paged = pagination(view)
        if array:
            paged.kapstone_total_header = True  # declared in the OpenAPI document (TOTAL_HEADER)
        return paged

    return decorate(func) if func is not None else decorate


#: How a pinned array's total is declared on its 200 answer in the OpenAPI document.
TOTAL_HEADER = {
    "X-Total-Count": {
        "description": "How many rows match in all (the array holds one page of them).",
        "schema": {"type": "integer", "minimum": 0},
    }
}


def declare_total_headers(operations: Iterable[Any]) -> None:
    """Declare ``X-Total-Count`` on the 200 answer of every operation paged as a pinned array."""
    for operation in operations:
        if getattr(operation.view_func, "kapstone_total_header", False):
            extra = dict(operation.openapi_extra or {})
            extra.setdefault("responses", {}).setdefault(200, {})["headers"] = TOTAL_HEADER
            operation.openapi_extra = extra
