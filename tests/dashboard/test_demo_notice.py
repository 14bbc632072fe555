"""The dashboard says when what it shows includes back-filled demo history (issue 16, item 2)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

VERTICALS = str(Path(sys.executable).parent / "verticals")


def test_every_page_says_backfilled_history_is_demo_data(
    app_test: Callable[..., Any], tmp_path: Path
) -> None:
    env = {**os.environ, "VERTICALS_HOME": str(tmp_path), "VERTICALS_LOAD_PLUGINS": ""}
    result = subprocess.run(
        [VERTICALS, "demo", "--backfill-days", "2", "--duration", "0", "--seed", "4"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for page in ("overview", "compute"):
        at = app_test(tmp_path, page)
        notices = [i.value for i in at.info if "Demo data" in i.value]
        assert len(notices) == 1, [i.value for i in at.info]
        assert "synthetic history written by `verticals demo --backfill-days`" in notices[0]


def test_no_demo_notice_over_real_traffic(app_test: Callable[..., Any], seeded_home: Path) -> None:
    at = app_test(seeded_home, "overview")
    assert not [i.value for i in at.info if "Demo data" in i.value]
