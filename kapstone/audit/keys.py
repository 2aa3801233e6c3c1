"""The audit chain's keys: the current one, and the earlier ones that verification still needs.

The keys come from configuration only (``KAPSTONE_AUDIT_KEY`` or ``_FILE``, earlier keys in
``KAPSTONE_AUDIT_OLD_KEYS`` or ``_FILE``) and are never stored in the database: a row records only
its key's id, a fingerprint from which the key cannot be recovered. Development
(``KAPSTONE_DEV=1``) without a configured key uses one generated on first use in
``settings.AUDIT_DEV_KEY_FILE`` (mode 0600). Production without a key fails ``check --deploy``
(``kapstone.E001``) and refuses to write audit events, so that no record is read or written
without its audit row.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEY_MIN_LENGTH = 32
MISSING_KEY_MESSAGE = (
    "No audit key: set KAPSTONE_AUDIT_KEY or KAPSTONE_AUDIT_KEY_FILE "
    "(at least 32 random characters, e.g. `openssl rand -hex 32`)."
)


class AuditKeyMissing(ImproperlyConfigured):
    """No audit key is configured (production without ``KAPSTONE_AUDIT_KEY``)."""

    code = "audit_key_missing"


@dataclass(frozen=True)
class AuditKey:
    key_id: str
    secret: bytes = field(repr=False)


@lru_cache(maxsize=16)
def audit_key_from_text(text: str) -> AuditKey:
    secret = text.encode("utf-8")
    # The id is a keyed fingerprint: it names the key on each row without revealing it.
    key_id = hmac.new(secret, b"kapstone audit key id", hashlib.sha256).hexdigest()[:16]
    return AuditKey(key_id=key_id, secret=secret)


def audit_key_current() -> AuditKey:
    """The key that signs new rows and checkpoints; raises ``AuditKeyMissing`` without one."""
    if settings.AUDIT_KEY:
        return audit_key_from_text(settings.AUDIT_KEY)
    if settings.DEV:
        return audit_key_from_text(_development_key(Path(settings.AUDIT_DEV_KEY_FILE)))
    raise AuditKeyMissing(MISSING_KEY_MESSAGE)


def audit_keys_known() -> dict[str, AuditKey]:
    """Every key verification may use, by key id: the current one and the configured old ones."""
    current = audit_key_current()
    keys = {current.key_id: current}
    for text in settings.AUDIT_OLD_KEYS:
        key = audit_key_from_text(text)
        keys.setdefault(key.key_id, key)
    return keys


def _development_key(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        text = _development_key_create(path)
    if len(text) < KEY_MIN_LENGTH:
        raise ImproperlyConfigured(
            f"{path}: the development audit key is shorter than {KEY_MIN_LENGTH} characters."
        )
    return text


def _development_key_create(path: Path) -> str:
    """Write a new random key to ``path`` (mode 0600) unless another process got there first.

    The key is written to a private temporary file and then linked into place, which fails if
    the file already exists: two processes starting at once end up with the same key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process's key is the key
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path.read_text(encoding="utf-8").strip()
