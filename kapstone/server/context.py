"""The request id and the signed-in user's id, for every log line written while a request runs.

``RequestIdMiddleware`` (outermost) keeps a sane incoming ``X-Request-ID`` — the TLS proxy's own,
see docs/deployment.md — or makes one, returns it in the response header and holds it in a
context variable; ``UserIdMiddleware`` (after authentication) holds the user's numeric id.
``RequestContextFilter`` (kapstone/server/logs.py) copies both onto each log record. Both are
also written into the WSGI environ, where gunicorn's access log (kapstone/server/logs.py) reads
them after the response: never a username, an e-mail or anything of a patient.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.conf import settings
from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
#: A proxy's id (nginx: 32 hex digits; Caddy: a UUID) or a client's tracing id: 16–128 of
#: letters, digits and ``._:-``. Anything else (too long, spaces, quotes, control characters, a
#: log-injection attempt) is replaced by an id of our own.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{15,127}")

#: Keys of the WSGI environ (``request.META`` is the environ itself under WSGI).
ENVIRON_REQUEST_ID = "kapstone.request_id"
ENVIRON_USER_ID = "kapstone.user_id"
ENVIRON_LOG_PATH = "kapstone.log_path"

#: Path parameters that are secrets (a portal invitation's token): the access log shows the
#: route's path with the value replaced.
SECRET_PATH_PARAMETERS = frozenset({"token"})
REDACTED = "[redacted]"

request_id_var: ContextVar[str | None] = ContextVar("kapstone_request_id", default=None)
user_id_var: ContextVar[int | None] = ContextVar("kapstone_user_id", default=None)


def valid_request_id(value: str | None) -> bool:
    return bool(value) and REQUEST_ID_PATTERN.fullmatch(value) is not None


def new_request_id() -> str:
    return uuid.uuid4().hex


def loggable_path(request: HttpRequest) -> str:
    """The request's path (never its query string), with secret path parameters redacted."""
    path = request.path_info
    match = getattr(request, "resolver_match", None)
    if match is not None:
        for name in SECRET_PATH_PARAMETERS & set(match.kwargs):
            value = str(match.kwargs[name])
            if value:
                path = path.replace(value, REDACTED)
    return path


class RequestIdMiddleware:
    """Outermost: every response, even a static file or a redirect, carries ``X-Request-ID``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER)
        request_id = incoming if valid_request_id(incoming) else new_request_id()
        request.request_id = request_id
        request.META[ENVIRON_REQUEST_ID] = request_id
        request_id_var.set(request_id)
        user_id_var.set(None)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        request.META[ENVIRON_LOG_PATH] = loggable_path(request)
        return response


ENVIRON_PEER_ADDR = "kapstone.peer_addr"


def client_address(meta: dict, trusted: list) -> str | None:
    """The visitor's address behind our TLS proxy: the last ``X-Forwarded-For`` entry — the one
    the proxy appended; entries before it are the client's own say — when the connection comes
    from a trusted proxy; otherwise None (keep ``REMOTE_ADDR``)."""
    try:
        peer = ipaddress.ip_address(meta.get("REMOTE_ADDR", ""))
    except ValueError:
        return None
    if not any(peer in network for network in trusted):
        return None
    forwarded = meta.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(forwarded))
    except ValueError:
        return None


class TrustedProxyMiddleware:
    """Behind the TLS proxy (``KAPSTONE_BEHIND_TLS_PROXY=1``) every connection comes from the
    proxy's address, so the per-address rate limits of the public pages and the audit trail's
    address would all see one visitor. From a trusted proxy (``KAPSTONE_FORWARDED_ALLOW_IPS``),
    ``REMOTE_ADDR`` becomes the address the proxy forwarded; the connection's own address is kept
    in the environ (``kapstone.peer_addr``). Outermost, before anything reads the address."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.META[ENVIRON_PEER_ADDR] = request.META.get("REMOTE_ADDR")
        if settings.BEHIND_TLS_PROXY:
            client = client_address(request.META, settings.FORWARDED_ALLOW_IPS)
            if client is not None:
                request.META["REMOTE_ADDR"] = client
        return self.get_response(request)


def clear_request_context(**kwargs: object) -> None:
    """Django logs a 4xx/5xx response after the middleware has returned, so the ids stay set
    until the response is closed (``request_finished``), then are cleared for the thread's next
    work; each request sets its own at the start in any case."""
    request_id_var.set(None)
    user_id_var.set(None)


request_finished.connect(clear_request_context, dispatch_uid="kapstone.server.clear_request_context")


class UserIdMiddleware:
    """After authentication: the signed-in user's numeric id, for the logs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            user_id_var.set(user.pk)
            request.META[ENVIRON_USER_ID] = user.pk
        return self.get_response(request)
