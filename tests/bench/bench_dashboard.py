"""Dashboard page render times over a ledger of 10 million events (make bench).

Each page is rendered by Streamlit's AppTest, the same script run a browser session triggers:
- cold: Streamlit's cache empty, so every analytics query runs over the 10M events;
- warm: the same filters again, served from the cache keyed on them (the target: under 2 s);
- baseline: the same page over an empty ledger, i.e. the cost of drawing alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import pytest

from verticals.dashboard.command import app_path

APP = app_path()
PAGES = ("overview", "customers", "models", "compute", "pricing", "risk")
EVENTS = 10_000_000


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    from verticals.ledger import Ledger
    from verticals.ledger.synthetic import generate_usage

    big, empty = tmp_path_factory.mktemp("big"), tmp_path_factory.mktemp("empty")
    start = datetime.combine(datetime.now(UTC).date() - timedelta(days=29), dtime.min, tzinfo=UTC)
    with Ledger.open(big, fsync_ms=50) as ledger:
        began = time.perf_counter()
        generate_usage(ledger, EVENTS, start=start, days=30, customers=200)
        ledger.connection.execute("CHECKPOINT")
        print(
            f"\ngenerated {EVENTS:,} events over the dashboard's default 30 days in "
            f"{time.perf_counter() - began:.1f} s"
        )
    Ledger.open(empty, fsync_ms=50).close()
    yield big, empty


def render(home: Path, page: str, monkeypatch: pytest.MonkeyPatch) -> tuple[float, float]:
    """(cold, warm) seconds to render ``page``."""
    import streamlit as st
    from streamlit import config
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VERTICALS_HOME", str(home))
    monkeypatch.setenv("VERTICALS_DASHBOARD_SOURCE", "ledger")
    config.set_option("server.address", "127.0.0.1")
    at = AppTest.from_file(str(APP), default_timeout=600).run()
    st.cache_data.clear()
    if page != "overview":
        at.switch_page(f"views/{page}.py")
    began = time.perf_counter()
    at.run()
    cold = time.perf_counter() - began
    assert not at.exception, [e.value for e in at.exception]
    began = time.perf_counter()
    at.run()
    warm = time.perf_counter() - began
    assert not at.exception and not at.error
    return cold, warm


def test_page_render_times_over_10m_events(homes: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    big, empty = homes
    render(empty, "overview", monkeypatch)  # imports and first-run costs out of the way
    rows = []
    for page in PAGES:
        _, baseline = render(empty, page, monkeypatch)
        cold, warm = render(big, page, monkeypatch)
        rows.append((page, baseline, cold, warm))
    print(f"\n{'page':<10} {'empty ledger':>13} {'10M cold':>10} {'10M warm':>10} {'warm/empty':>11}")
    for page, baseline, cold, warm in rows:
        print(f"{page:<10} {baseline:>12.2f}s {cold:>9.2f}s {warm:>9.2f}s {warm / baseline:>10.2f}x")
    slow = [(page, warm) for page, _, _, warm in rows if warm >= 2.0]
    assert not slow, f"pages over 2 s with the cache warm: {slow}"
