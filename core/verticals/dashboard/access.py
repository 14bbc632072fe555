"""Who may open the dashboard: loopback binds are open, any other bind asks for a secret first.

The secret is the gateway's admin token, or a dashboard password that is stored only as an scrypt hash
in ``<home>/dashboard_password`` (written by ``verticals dashboard --set-password``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from pathlib import Path

from verticals.config import Settings
from verticals.private_files import ADMIN_TOKEN_FILE as ADMIN_TOKEN_FILE  # re-exported
from verticals.private_files import read_admin_token, write_private

PASSWORD_FILE = "dashboard_password"
# scrypt cost parameters: about 50 ms per check here, cheap for a person, slow for a guesser.
_N, _R, _P = 2**14, 8, 1
MIN_PASSWORD_LENGTH = 8
ADMIN_TOKEN_SECRET, PASSWORD_SECRET = "admin token", "dashboard password"
# st.session_state key holding which secret this browser session signed in with (absent: none yet)
SIGNED_IN_WITH = "signed_in_with"


class AccessError(ValueError):
    """A password or token that cannot be used, with the reason and the fix."""


def is_loopback(address: str | None) -> bool:
    """True when only this machine can reach ``address``. Unset or empty means every interface."""
    if not address:
        return False
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``password`` as ``scrypt$N$r$p$<salt hex>$<digest hex>`` (N=2**14, r=8, p=1; 64-byte digest), with
    ``salt`` or 16 random bytes.

    Raises AccessError when the password is shorter than MIN_PASSWORD_LENGTH (8) characters.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccessError(f"the password has {len(password)} characters: use at least {MIN_PASSWORD_LENGTH}")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` hashes to ``stored`` (a ``hash_password`` string), compared in constant time;
    False for a wrong password or a malformed or non-scrypt ``stored``.
    """
    try:
        scheme, n, r, p, salt, digest = stored.strip().split("$")
        if scheme != "scrypt":
            return False
        candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    except ValueError:
        return False
    return hmac.compare_digest(candidate.hex(), digest)


def set_password(home: Path, password: str) -> Path:
    """Store the password's hash, readable by the owner only; the plaintext is never written."""
    return write_private(home / PASSWORD_FILE, hash_password(password) + "\n")


def stored_password_hash(home: Path) -> str | None:
    """The dashboard password hash stored in ``home/dashboard_password`` (stripped), or None when there is no
    such file.
    """
    path = home / PASSWORD_FILE
    return path.read_text().strip() if path.is_file() else None


def admin_token(settings: Settings) -> str | None:
    """The gateway's admin token (``VERTICALS_ADMIN_TOKEN`` or ``<home>/admin_token``), or None."""
    return read_admin_token(settings.home, settings.admin_token)


def can_gate(settings: Settings) -> bool:
    """True when there is some secret to ask for."""
    return admin_token(settings) is not None or stored_password_hash(settings.home) is not None


def check_secret(settings: Settings, secret: str) -> bool:
    """True when ``secret`` is the admin token or the dashboard password."""
    return secret_kind(settings, secret) is not None


def secret_kind(settings: Settings, secret: str) -> str | None:
    """Which secret ``secret`` is: ``ADMIN_TOKEN_SECRET`` ("admin token"), ``PASSWORD_SECRET``
    ("dashboard password"), or None when it is neither (or empty). The admin audit log names it beside
    the dashboard user."""
    if not secret:
        return None
    token = admin_token(settings)
    if token is not None and hmac.compare_digest(token.encode(), secret.encode()):
        return ADMIN_TOKEN_SECRET
    stored = stored_password_hash(settings.home)
    if stored is not None and verify_password(secret, stored):
        return PASSWORD_SECRET
    return None
