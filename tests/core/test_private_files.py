"""The one owner-only file writer and the one reader of the admin token."""

from __future__ import annotations

import stat
from pathlib import Path

from verticals.private_files import ADMIN_TOKEN_FILE, read_admin_token, write_private


def test_write_private_creates_the_folder_and_leaves_the_file_to_its_owner(tmp_path: Path) -> None:
    path = write_private(tmp_path / "home" / "secret", "one\n")
    assert path.read_text() == "one\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_private_tightens_and_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("a longer old content")
    path.chmod(0o644)
    write_private(path, "new")
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_configured_token_wins_over_the_file(tmp_path: Path) -> None:
    (tmp_path / ADMIN_TOKEN_FILE).write_text("from-file\n")
    assert read_admin_token(tmp_path, "from-env") == "from-env"
    assert read_admin_token(tmp_path, None) == "from-file"
    assert read_admin_token(tmp_path, "") == "from-file"


def test_no_token_is_none(tmp_path: Path) -> None:
    assert read_admin_token(tmp_path, None) is None
    (tmp_path / ADMIN_TOKEN_FILE).write_text(" \n")
    assert read_admin_token(tmp_path, None) is None
