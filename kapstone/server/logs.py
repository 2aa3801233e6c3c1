"""Structured logs: JSON lines (``KAPSTONE_LOG_FORMAT=json``, production's default) or plain
text (``plain``, the default with ``KAPSTONE_DEV=1``), for Django's loggers and gunicorn's.

Every line has the time (UTC, ISO 8601), the level, the logger, the message, the request id and
the signed-in user's numeric id. An exception is logged as its traceback and class, never its
text, which may quote the value it failed on (an MRN in a unique violation). Nothing else of a
record is written: Django attaches the request
object to some records (``extra={"request": …}``), whose text holds the query string, so extra
attributes are allowed by name only (``SAFE_EXTRAS``). No username, e-mail or patient data.

Gunicorn's access log (``GunicornLogger.access``) writes the method, the path without its query
string (secret path parameters redacted, kapstone/server/context.py), the status, the duration
and the request id and user id the application left in the WSGI environ — not the client's
address, user agent or referrer (a referrer holds the previous page's query string).
"""

from __future__ import annotations

import logging
import re
import traceback
from datetime import UTC, datetime
from typing import Any

from gunicorn import glogging
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from kapstone.env import env_bool, env_str, parse_choice
from kapstone.server.context import (
    ENVIRON_LOG_PATH,
    ENVIRON_REQUEST_ID,
    ENVIRON_USER_ID,
    request_id_var,
    user_id_var,
)

LOG_FORMATS = ("json", "plain")

#: Extra record attributes written besides the fixed fields: the access log's, and Django's
#: response status. Each is a number or a short token, never free text.
SAFE_EXTRAS = ("method", "path", "status", "status_code", "duration_ms")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _escape_controls(text: str) -> str:
    """A decoded path may hold a line break (``%0A``): shown escaped, so it cannot forge a line."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


#: What stands in a logged exception for its text (see :func:`exception_without_text`).
WITHHELD = "[text withheld: it may quote patient data]"


def exception_without_text(exc_info: Any) -> str:
    """A logged exception as its traceback and class, without its text.

    The text of an exception may quote the data it failed on: a database's unique-violation
    message names the duplicate value (an MRN), a validation error the value typed. The frames
    (file, line, function, the line of code) and the class are what an operator needs to find
    the fault; the text stays out of every log. Causes and contexts are shown the same way.
    """
    chain: list[traceback.TracebackException] = []
    seen: set[int] = set()
    current: traceback.TracebackException | None = traceback.TracebackException(*exc_info)
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    parts = []
    for exception in reversed(chain):
        kind = exception.exc_type
        name = f"{kind.__module__}.{kind.__qualname__}" if kind is not None else "Exception"
        parts.append(
            "Traceback (most recent call last):\n" + "".join(exception.stack.format()) + f"{name}: {WITHHELD}"
        )
    return "\n\nDuring or because of the exception above, another occurred:\n\n".join(parts)


class RequestContextFilter(logging.Filter):
    """Puts the current request id and user id on every record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        if getattr(record, "user_id", None) is None:
            record.user_id = user_id_var.get()
        return True


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")


class JsonFormatter(_JsonFormatter):
    """One JSON object a line, with the fixed fields and the allowed extras only; an exception
    as its traceback and class, without its text (:func:`exception_without_text`)."""

    def formatException(self, ei: Any) -> str:
        return exception_without_text(ei)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["timestamp"] = _timestamp(record)
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = record.message
        log_data["request_id"] = getattr(record, "request_id", None)
        log_data["user_id"] = getattr(record, "user_id", None)
        for key in SAFE_EXTRAS:
            if hasattr(record, key):
                log_data[key] = getattr(record, key)
        for key in ("exc_info", "stack_info"):
            if message_dict.get(key):
                log_data[key] = message_dict[key]


class PlainFormatter(logging.Formatter):
    """``2026-01-01T10:00:00.000+00:00 WARNING django.request [req=… user=7] Not Found: /x/``;
    an exception as its traceback and class, without its text (:func:`exception_without_text`)."""

    def formatException(self, ei: Any) -> str:
        return exception_without_text(ei)

    def format(self, record: logging.LogRecord) -> str:
        line = (
            f"{_timestamp(record)} {record.levelname} {record.name} "
            f"[req={getattr(record, 'request_id', None) or '-'} user={getattr(record, 'user_id', None) or '-'}] "
            f"{_escape_controls(record.getMessage())}"
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def log_format_from_env() -> str:
    """``KAPSTONE_LOG_FORMAT``: ``json`` or ``plain``; ``plain`` by default with ``KAPSTONE_DEV=1``."""
    dev = env_bool("DEV", default=False)
    return parse_choice("LOG_FORMAT", env_str("LOG_FORMAT"), LOG_FORMATS, default="plain" if dev else "json")


def formatter_for(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else PlainFormatter()


def access_record_fields(resp: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
    """The access log's fields for one response (see the module docstring)."""
    status = resp.status
    if isinstance(status, str):
        status = status.split(None, 1)[0]
    try:
        status = int(status)
    except (TypeError, ValueError):
        status = None
    path = environ.get(ENVIRON_LOG_PATH) or environ.get("PATH_INFO") or "/"
    request_id = environ.get(ENVIRON_REQUEST_ID)
    if request_id is None:
        # A response the application did not make (gunicorn's own 400 for a malformed request).
        request_id = next((v for k, v in resp.headers if k.lower() == "x-request-id"), None)
    return {
        "method": environ.get("REQUEST_METHOD", "-"),
        "path": _escape_controls(path),
        "status": status,
        "duration_ms": round(request_time.total_seconds() * 1000, 1),
        "request_id": request_id,
        "user_id": environ.get(ENVIRON_USER_ID),
    }


class GunicornLogger(glogging.Logger):
    """Gunicorn's logger (``logger_class`` in kapstone/server/gunicorn_conf.py), writing its
    error log and access log in the format ``KAPSTONE_LOG_FORMAT`` chooses."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        formatter = formatter_for(log_format_from_env())
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        fields = access_record_fields(resp, environ, request_time)
        try:
            self.access_log.info(
                "%s %s %s %sms",
                fields["method"],
                fields["path"],
                fields["status"],
                fields["duration_ms"],
                extra=fields,
            )
        except Exception:  # never let a log line fail a response; gunicorn does the same
            self.exception("access log line failed")
