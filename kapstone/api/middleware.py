"""Every answer under /api/v1 is JSON in the one error shape (DESIGN.md, "Errors").

The NinjaAPI turns what its operations raise into ``{"error": {"code", "message", "field"}}``
(``kapstone.api.api``). Some answers never reach an operation: a path no operation has (an
unknown path, an id that is not a number), a method the path does not have (ninja answers a
bare "Method not allowed"), an error before the view. Django answers those with the web site's
HTML pages; this middleware gives them the API's shape instead, with the code of their status.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from kapstone.api.api import API_PREFIX, NOT_FOUND_MESSAGE, STATUS_CODES, error_response


def _message(request: HttpRequest, response: HttpResponse) -> str:
    if response.status_code == 404:
        return NOT_FOUND_MESSAGE  # the same words as a missing record: nothing to tell apart
    if response.status_code == 405:
        allowed = response.get("Allow", "")
        return f"{request.method} is not allowed here" + (f"; use {allowed}." if allowed else ".")
    if response.status_code >= 500:
        return "Something went wrong on our side; nothing was saved."
    return response.reason_phrase + "."


class ApiJsonErrorsMiddleware:
    """Gives an error answer under ``API_PREFIX`` that is not JSON the API's error shape.

    Sits inside the other middleware (it sees the handler's 404 and 500 pages before the others
    add their headers) and keeps an ``Allow`` header, as HTTP asks of a 405.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path_info.startswith(API_PREFIX)
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        status = response.status_code
        answer = error_response(
            request, status, STATUS_CODES.get(status, "http_error"), _message(request, response)
        )
        if "Allow" in response:
            answer["Allow"] = response["Allow"]
        return answer
