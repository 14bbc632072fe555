"""Every dashboard page over a PostgreSQL ledger (``database_url`` set) shows what it shows over the DuckDB
ledger holding the same rows.

The seeded ledger of ``conftest.seed_ledger`` is copied row for row into a PostgreSQL database; the pages
then run under AppTest twice: over the DuckDB home, and over an empty home whose settings name the
PostgreSQL ledger (so a page that read the DuckDB file there would show the empty state). Metrics, captions
and tables must agree (floats to 1e-9 relative).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ledger" / "postgres"))  # parity_data

import parity_data as data

from .test_pages import PAGES, Run, problems


@pytest.fixture(scope="module")
def pg_home(
    postgres_server: Any, seeded_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    from verticals.ledger import Ledger

    url = postgres_server.database()
    home = tmp_path_factory.mktemp("pg-home")
    Ledger.open(home, database_url=url, fsync_ms=0).close()  # the schema
    with Ledger.open(seeded_home, read_only=True) as duck, psycopg.connect(url, autocommit=True) as raw:
        data.copy_control(duck.connection, raw)
        data.copy_events(duck.connection, raw)
    return home, url


# figures that move with the wall clock between the two runs (a month-to-date run-rate and its forecast)
_MOVING = ("history_days", "run_rate", "forecast")


def _shown(at: Any) -> dict[str, Any]:
    """What a page shows, comparable across runs: metrics, captions and markdown, tables as records."""
    return {
        "title": [t.value for t in at.title],
        "metrics": [(m.label, m.value) for m in at.metric],
        "captions": [c.value for c in at.caption if "source" not in c.value.lower()],
        "info": [i.value for i in at.info],
        "tables": [
            frame.value.drop(columns=[c for c in frame.value.columns if str(c).startswith(_MOVING)])
            for frame in at.dataframe
        ],
    }


@pytest.mark.parametrize("page", PAGES)
def test_page_over_postgres_shows_what_it_shows_over_duckdb(
    app_test: Run, seeded_home: Path, pg_home: tuple[Path, str], page: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    on_duckdb = app_test(seeded_home, page)
    home, url = pg_home
    monkeypatch.setenv("VERTICALS_DATABASE_URL", url)
    on_postgres = app_test(home, page)
    assert not problems(on_postgres), problems(on_postgres)
    assert not [i for i in on_postgres.info if "No " in i.value], [i.value for i in on_postgres.info]
    duck, pg = _shown(on_duckdb), _shown(on_postgres)
    for part in ("title", "metrics", "info"):
        assert duck[part] == pg[part], part
    assert len(duck["tables"]) == len(pg["tables"])
    for left, right in zip(duck["tables"], pg["tables"], strict=True):
        pd.testing.assert_frame_equal(left, right, check_exact=False, rtol=1e-9)
