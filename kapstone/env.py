"""Strict parsers for KAPSTONE_* environment variables.

A typo in production configuration must stop the server at start-up, not silently fall back
to a default: every parser here raises ImproperlyConfigured on a malformed value.
Secrets may also come from a file: ``KAPSTONE_SECRET_KEY_FILE`` wins over ``KAPSTONE_SECRET_KEY``.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

PREFIX = "KAPSTONE_"


def _raw(name: str) -> str | None:
    value = os.environ.get(PREFIX + name)
    return None if value is None else value.strip()


def env_bool(name: str, default: bool) -> bool:
    """``1``/``0`` or ``true``/``false`` (any case); anything else is refused."""
    raw = _raw(name)
    if raw is None or raw == "":
        return default
    lowered = raw.lower()
    if lowered in ("1", "true"):
        return True
    if lowered in ("0", "false"):
        return False
    raise ImproperlyConfigured(f"{PREFIX}{name}={raw!r}: use 1 or 0 (or true/false).")


def env_int(name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = _raw(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{PREFIX}{name}={raw!r}: expected a whole number.") from None
    if not minimum <= value <= maximum:
        raise ImproperlyConfigured(f"{PREFIX}{name}={value}: must be between {minimum} and {maximum}.")
    return value


def env_str(name: str, default: str | None = None) -> str | None:
    raw = _raw(name)
    return default if raw is None or raw == "" else raw


def env_list(name: str, default: list[str]) -> list[str]:
    """Comma-separated list; empty items are refused so ``a,,b`` is caught."""
    raw = _raw(name)
    if raw is None or raw == "":
        return list(default)
    items = [item.strip() for item in raw.split(",")]
    if any(item == "" for item in items):
        raise ImproperlyConfigured(f"{PREFIX}{name}={raw!r}: empty item in comma-separated list.")
    return items


def env_secret(name: str) -> str | None:
    """Read ``NAME_FILE`` (Docker/Kubernetes secrets) first, then ``NAME``."""
    path = _raw(name + "_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ImproperlyConfigured(f"{PREFIX}{name}_FILE={path!r}: cannot read ({error}).") from None
    return env_str(name)


def parse_keys(name: str, raw: str | None, *, min_length: int) -> list[str]:
    """Secret keys read from ``KAPSTONE_<name>`` (or its ``_FILE``): separated by white space or
    one a line, a line starting with ``#`` being a comment. Each must have at least ``min_length``
    characters. The message never shows a key."""
    keys: list[str] = []
    for line in (raw or "").splitlines():
        if not line.strip().startswith("#"):
            keys.extend(line.split())
    for number, key in enumerate(keys, start=1):
        if len(key) < min_length:
            raise ImproperlyConfigured(
                f"{PREFIX}{name} (or {PREFIX}{name}_FILE): key {number} has {len(key)} characters; "
                f"at least {min_length} are needed."
            )
    return keys


def parse_path(raw: str | None, default: Path, *, base_dir: Path) -> Path:
    """A file path; a relative one is relative to the project directory (like the SQLite URL)."""
    path = Path(raw) if raw else default
    return path if path.is_absolute() else base_dir / path


def parse_syslog_address(name: str, raw: str | None) -> str | tuple[str, int] | None:
    """Empty: off. ``/dev/log`` (a path: the local syslog socket) or ``host:port`` (UDP)."""
    if not raw:
        return None
    if raw.startswith("/"):
        return raw
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ImproperlyConfigured(
            f"{PREFIX}{name}={raw!r}: use a socket path such as /dev/log, or host:port (UDP)."
        )
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class DatabaseUrl:
    engine: str
    settings: dict


def parse_database_url(url: str, *, base_dir: Path, variable: str = "DATABASE_URL") -> DatabaseUrl:
    """``sqlite:///relative/or/absolute.db`` or ``postgres://user:pass@host:port/name?sslmode=…``.

    SQLite runs in WAL mode with immediate transactions, so two writers queue instead of
    failing with "database is locked" half-way through a clinical write.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        raw_path = unquote(parts.path)
        if raw_path in ("", "/"):
            raise ImproperlyConfigured(f"{PREFIX}{variable}={url!r}: no SQLite file path.")
        # sqlite:///var/db.sqlite3 is relative to the project; sqlite:////abs/path is absolute.
        path = Path(raw_path[1:]) if raw_path.startswith("/") else Path(raw_path)
        if not path.is_absolute():
            path = base_dir / path
        return DatabaseUrl(
            "sqlite",
            {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(path),
                "OPTIONS": {
                    "transaction_mode": "IMMEDIATE",
                    "timeout": 20,
                    "init_command": (
                        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                    ),
                },
            },
        )
    if scheme in ("postgres", "postgresql"):
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured(f"{PREFIX}{variable}={url!r}: no database name.")
        options = dict(parse_qsl(parts.query, keep_blank_values=False))
        # A database that does not answer (host down, network cut) fails a request after 5 s
        # (``/health`` answers 503) instead of hanging a worker for the TCP timeout (minutes).
        options.setdefault("connect_timeout", "5")
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured(f"{PREFIX}{variable}: invalid port.") from None
        return DatabaseUrl(
            "postgresql",
            {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": name,
                "USER": unquote(parts.username or ""),
                "PASSWORD": unquote(parts.password or ""),
                "HOST": parts.hostname or "",
                "PORT": str(port or ""),
                "CONN_MAX_AGE": 60,
                # A pooled connection that died (database restart, failover) is replaced at the
                # start of the next request instead of failing it.
                "CONN_HEALTH_CHECKS": True,
                "OPTIONS": options,
            },
        )
    raise ImproperlyConfigured(
        f"{PREFIX}{variable}: unsupported scheme {parts.scheme!r} (use sqlite:/// or postgres://)."
    )


def parse_choice(name: str, raw: str | None, choices: tuple[str, ...], *, default: str) -> str:
    """One of ``choices`` (any case); empty: ``default``; anything else is refused."""
    if not raw:
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{PREFIX}{name}={raw!r}: use one of {', '.join(choices)}.")
    return value


def parse_networks(name: str, raw: str | None, default: list[str]) -> list:
    """Comma-separated IP networks (``127.0.0.1/32,10.0.0.0/8``; a bare address is one host);
    ``none`` for none at all. A malformed one is refused."""
    if raw is not None and raw.strip().lower() == "none":
        return []
    items = default if not raw else [item.strip() for item in raw.split(",")]
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{PREFIX}{name}={raw!r}: {item!r} is not an IP network (e.g. 10.0.0.0/8), or use none."
            ) from None
    return networks
