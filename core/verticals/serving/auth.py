"""Customer keys (``Authorization: Bearer vk_...``) and the admin token.

Keys are checked against the ledger's stored sha256 hashes (the ledger keeps them in memory and this
process is the only writer, so a revocation takes effect on the next request). The admin token is
compared with ``hmac.compare_digest``, which takes the same time whichever byte differs.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Any

from verticals.private_files import ADMIN_TOKEN_FILE, read_admin_token, write_private
from verticals.serving.errors import APIError
from verticals.serving.metering import LedgerLike, Principal

KEY_PREFIX = "vk_"


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value (scheme case-insensitive, whitespace
    stripped), or None when the header is missing, of another scheme, or empty.
    """
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class Authenticator:
    """Turns an API key into a Principal by looking its SHA-256 up in ``ledger``."""

    def __init__(self, ledger: LedgerLike) -> None:
        self.ledger = ledger

    def authenticate(self, header: str | None) -> Principal:
        """The Principal (customer, key prefix, rpm and tpm limits) of the bearer key in ``header``; raises
        APIError 401 when the key is missing, does not start with ``vk_``, is unknown, or was revoked.
        """
        token = bearer(header)
        if token is None:
            raise APIError(
                401,
                "no API key: send the header `Authorization: Bearer vk_...` with a key from "
                "`verticals keys create --customer NAME`",
                code="missing_api_key",
            )
        if not token.startswith(KEY_PREFIX):
            raise APIError(
                401,
                "the API key is not a verticals key (they start with 'vk_'); create one with "
                "`verticals keys create --customer NAME`",
                code="invalid_api_key",
            )
        # The ledger looks keys up by the sha256 of the plaintext: what is compared is a hash the
        # caller cannot steer byte by byte, so the lookup leaks nothing about stored keys.
        key: Any = self.ledger.find_key(token)
        if key is None:
            raise APIError(
                401,
                "the API key is not valid: check it was copied whole, or create a new one with "
                "`verticals keys create --customer NAME`",
                code="invalid_api_key",
            )
        if key.revoked_at is not None:
            raise APIError(
                401,
                f"the API key {key.prefix}... was revoked on {key.revoked_at:%Y-%m-%d}; create "
                "a new one with `verticals keys create`",
                code="revoked_api_key",
            )
        return Principal(customer=key.customer, key_prefix=key.prefix, rpm=key.rpm, tpm=key.tpm)


def load_admin_token(home: Path, configured: str | None) -> str:
    """``VERTICALS_ADMIN_TOKEN`` when set, else the token in ``<home>/admin_token``, created (0600) once."""
    token = read_admin_token(home, configured)
    if token is None:
        token = "vadm_" + secrets.token_urlsafe(32)
        write_private(home / ADMIN_TOKEN_FILE, token + "\n")
    return token


def check_admin(header: str | None, token: str) -> None:
    """Return when ``header`` carries the admin ``token`` (compared in constant time); raises APIError 401
    when it is missing or wrong, 403 when it is a customer key.
    """
    given = bearer(header)
    if given is None:
        raise APIError(
            401,
            "the admin API needs `Authorization: Bearer <admin token>`; the token is "
            "VERTICALS_ADMIN_TOKEN or the file admin_token in the data directory",
            code="missing_admin_token",
        )
    if given.startswith(KEY_PREFIX):
        raise APIError(403, "customer keys cannot use the admin API; use the admin token", code="forbidden")
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise APIError(
            401,
            "the admin token is wrong; it is VERTICALS_ADMIN_TOKEN or the file admin_token "
            "in the data directory",
            code="invalid_admin_token",
        )
