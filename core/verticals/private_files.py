"""Files in the data directory that only their owner may read: the admin token and the like.

``write_private(path, text)`` writes such a file (mode 0600 from the first byte, and again after, in
case it existed with looser bits); ``read_admin_token(home, configured)`` is the one place that knows
where the gateway's admin token comes from.
"""

from __future__ import annotations

import os
from pathlib import Path

# The gateway writes a generated admin token here when VERTICALS_ADMIN_TOKEN is unset.
ADMIN_TOKEN_FILE = "admin_token"


def write_private(path: Path, text: str) -> Path:
    """Replace ``path``'s content with ``text``, readable and writable by the owner only (0600).

    The parent folder is created when missing. The file is created with mode 0600, so no other user
    can open it between its creation and the write; an existing file keeps its inode and is set to
    0600 afterwards. Raises ``OSError`` when the folder or file cannot be written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)
    return path


def read_admin_token(home: Path, configured: str | None) -> str | None:
    """The admin token: ``configured`` (``VERTICALS_ADMIN_TOKEN``) when set, else the stripped text of
    ``<home>/admin_token``; None when neither gives one (no file, an unreadable or empty one)."""
    if configured:
        return configured
    try:
        return (home / ADMIN_TOKEN_FILE).read_text().strip() or None
    except OSError:
        return None
