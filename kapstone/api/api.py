"""The NinjaAPI at /api/v1: mounts each app's router and turns every failure into the one
error shape ``{"error": {"code", "message", "field"}}``. No request answers 500 for bad input.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from kapstone.accounts.api_kit import BearerToken, declare_total_headers
from kapstone.domain.errors import DomainError, DomainErrors, WorkflowConflict

logger = logging.getLogger("kapstone.api")

#: Where the API is served (kapstone/urls.py); everything under it answers JSON.
API_PREFIX = "/api/v1/"

api = NinjaAPI(
    title="Kapstone API",
    version="1",
    description="Clinical API of Kapstone. Authenticate with `Authorization: Bearer <token>` "
    "(create one with `kapstone token create USERNAME`).",
    auth=BearerToken(),
    urls_namespace="api",
    docs_url=None,  # the interactive docs page loads scripts from a CDN; the schema is enough
)


def error_response(
    request: HttpRequest, status: int, code: str, message: str, field: str | None = None
) -> HttpResponse:
    return api.create_response(
        request, {"error": {"code": code, "message": message, "field": field}}, status=status
    )


_PYDANTIC_CODES = {
    "missing": "missing_field",
    "extra_forbidden": "unknown_field",
    "json_invalid": "invalid_json",
    "model_attributes_type": "invalid_body",
    "model_type": "invalid_body",
    "dict_type": "invalid_body",
}


def _field_of(loc: list[Any]) -> str | None:
    # ninja prefixes locations with the parameter source ("body", "query", "path") and the
    # parameter name; the client knows its fields by the part after that.
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path"):
        parts = parts[1:]
    if len(parts) > 1 and parts[0] in ("payload", "data", "body"):
        parts = parts[1:]
    return ".".join(parts) or None


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    if any(list(error.get("loc", []))[:1] == ["path"] for error in exc.errors):
        # A path value no record can have (an id beyond the database's integers): the same 404
        # as a record that does not exist, whatever the query and the body say.
        return _not_found(request, Http404())
    first = exc.errors[0] if exc.errors else {}
    kind = first.get("type", "")
    code = _PYDANTIC_CODES.get(kind, "invalid_value")
    field = _field_of(list(first.get("loc", [])))
    message = first.get("msg", "Invalid input.")
    if field:
        message = f"{field}: {message}"
    return error_response(request, 422, code, message, field)


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    # A refusal may carry its own HTTP status (``rate_limited`` is 429).
    status = getattr(exc, "http_status", None) or (409 if isinstance(exc, WorkflowConflict) else 422)
    return error_response(request, status, exc.code, exc.message, exc.field)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(
        request, 401, "unauthorized", "A valid API token is required (Authorization: Bearer …)."
    )


#: The code of an answer by its status where nothing more specific is known (docs/api.md).
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    429: "too_many_requests",
    500: "internal_error",
}


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400:
        return error_response(request, 400, "invalid_json", "The request body is not valid JSON.")
    return error_response(request, exc.status_code, STATUS_CODES.get(exc.status_code, "http_error"), str(exc))


@api.exception_handler(DomainErrors)
def _domain_errors(request: HttpRequest, exc: DomainErrors) -> HttpResponse:
    """Several refusals found together (a vitals batch): the one error shape of the first, plus
    ``errors`` listing them all (``DomainErrors.as_dict``)."""
    status = 409 if isinstance(exc, WorkflowConflict) else 422
    return api.create_response(request, exc.as_dict(), status=status)


NOT_FOUND_MESSAGE = "Not found."


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    # Identical for "does not exist", "not yours" and a path no operation has: nothing to learn
    # from the difference.
    return error_response(request, 404, "not_found", NOT_FOUND_MESSAGE)


@api.exception_handler(SuspiciousOperation)
def _suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    return error_response(request, 400, "bad_request", "The request was refused (too large or malformed).")


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("unhandled API error")
    return error_response(
        request, 500, "internal_error", "Something went wrong on our side; nothing was saved."
    )


def _mount() -> None:
    from kapstone.audit.api import router as audit_router
    from kapstone.care.api import router as care_router
    from kapstone.dosing.api import router as dosing_router
    from kapstone.interop.api import router as hl7_router
    from kapstone.inventory.api import router as inventory_router
    from kapstone.monitoring.api import router as monitoring_router
    from kapstone.outcomes.api import router as outcomes_router
    from kapstone.patients.api import router as patients_router
    from kapstone.portal.api import public_router
    from kapstone.portal.api import router as referrals_router
    from kapstone.portal.outcome_api import router as portal_outcomes_router
    from kapstone.portal.patient_api import me_router as portal_me_router
    from kapstone.safety.api import router as safety_router
    from kapstone.screening.api import router as screening_router

    api.add_router("/patients", patients_router, tags=["patients"])
    api.add_router("/audit", audit_router, tags=["audit"])
    api.add_router("", care_router, tags=["care"])
    api.add_router("", screening_router, tags=["screening"])
    api.add_router("/inventory", inventory_router, tags=["inventory"])
    api.add_router("", safety_router, tags=["safety"])
    api.add_router("", dosing_router, tags=["dosing"])
    api.add_router("", outcomes_router, tags=["outcomes"])
    api.add_router("", monitoring_router, tags=["monitoring"])
    api.add_router("/hl7", hl7_router, tags=["hl7"])
    api.add_router("/public", public_router, tags=["public"])
    api.add_router("/referrals", referrals_router, tags=["referrals"])
    api.add_router("/portal", portal_me_router, tags=["portal"])
    api.add_router("/portal", portal_outcomes_router, tags=["portal"])
    declare_total_headers(
        operation
        for _prefix, router in api._routers
        for path_view in router.path_operations.values()
        for operation in path_view.operations
    )


_mount()
