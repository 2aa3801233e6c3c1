"""API token generation and hashing."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "kap_"  # noqa: S105 - a public marker, not a secret


def new_token() -> str:
    # 256 bits from the OS CSPRNG (ASVS 11.5.1 asks for at least 128).
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # A fast hash is right here: the token has 256 bits of entropy, so it cannot be guessed
    # from its hash, and a slow KDF would add latency to every API request.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
