"""Every analytics function on PostgreSQL beside DuckDB, over the same synthetic events (issue 18's goal: 10M
events, under 1 s each on PostgreSQL).

The data set is the analytics parity test's (``tests/ledger/postgres/parity_data.py``: the synthetic
generator's events over 70 days plus plans, tiered prices, subscriptions, credits, devices, ...), at
``VERTICALS_BENCH_EVENTS`` events (default 10,000,000). It is generated in DuckDB, copied into a
PostgreSQL ledger (COPY into a staging table, then ingest's ``load_event_table``: day partitions, dims,
rows and the hourly rollup), and September is finalized on both. Each function then runs once to warm
caches and once timed (a first call over 5 s is timed alone), with the first case of
``parity_cases.CASES`` (its default filters) plus a few filtered calls the dashboard makes; the table
prints both engines' seconds, and whether the two results agree (as the parity test compares them).

    .venv/bin/python -m pytest -p no:cacheprovider -o python_files='bench_*.py' \\
        tests/bench/bench_postgres_analytics.py -s
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ledger" / "postgres"))  # parity_data, _cases

import parity_data as data
from parity_cases import CASES, MONTH_OCT, WEEK, differences

from verticals.billing.invoices import finalize_month
from verticals.ledger import Ledger, analytics

EVENTS = int(os.environ.get("VERTICALS_BENCH_EVENTS", "10000000"))
GOAL_S = 1.0
COLD_ONLY_S = 5.0
# the dashboard's usual filtered calls, beside each function's default
EXTRA: list[tuple[str, dict[str, Any]]] = [
    ("usage_summary", {"by": ["day", "customer"], **MONTH_OCT}),
    ("usage_summary", {"by": ["hour", "model"], **WEEK}),
    ("latency_by_model", {**WEEK}),
    ("request_log", {"customer": "customer-002", "status_class": "5xx"}),
    ("utilization", {"by": "device", **MONTH_OCT}),
]


def _timed(ledger: Ledger, name: str, case: dict[str, Any]) -> tuple[float, Any]:
    """Seconds of a warm call (the statement cache and the server's buffers filled by a first one) and its
    result; a first call over ``COLD_ONLY_S`` is the figure itself, as a second would add nothing but time
    (it is bound by scanning the events, not by warming up)."""
    began = time.perf_counter()
    result = ledger.analytics(name, **case)
    first = time.perf_counter() - began
    if first > COLD_ONLY_S:
        return first, result
    began = time.perf_counter()
    result = ledger.analytics(name, **case)
    return time.perf_counter() - began, result


@pytest.fixture(scope="module")
def engines(postgres_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    began = time.perf_counter()
    duck = data.build_duckdb(tmp_path_factory.mktemp("duck"), EVENTS, customers=200)
    built = time.perf_counter() - began
    url = postgres_server.database()
    home = tmp_path_factory.mktemp("pg")
    Ledger.open(home, database_url=url, fsync_ms=0).close()
    began = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as raw:
        data.copy_control(duck.connection, raw)
        count = data.copy_events(duck.connection, raw)
        size = raw.execute("SELECT pg_database_size(current_database())").fetchone()
    copied = time.perf_counter() - began
    pg = Ledger.open(home, database_url=url, fsync_ms=0, clock=data.Clock(data.NOW))
    for ledger in (duck, pg):
        finalize_month(ledger, "2026-09", now=data.NOW)
    print(
        f"\n{count:,} events: generated in DuckDB in {built:.1f} s; copied into PostgreSQL "
        f"(COPY, partitions, dims, rollup, ANALYZE) in {copied:.1f} s ({count / copied:,.0f} events/s); "
        f"PostgreSQL database {(size[0] if size else 0) / 1e6:,.0f} MB"
    )
    yield duck, pg
    pg.close()
    duck.close()


def test_every_analytics_function_on_both_engines(engines: Any) -> None:
    duck, pg = engines
    calls = [(name, CASES[name][0]) for name in analytics.__all__] + EXTRA
    lines = []
    for name, case in calls:
        duck_s, on_duckdb = _timed(duck, name, case)
        pg_s, on_postgres = _timed(pg, name, case)
        same = not differences(on_duckdb, on_postgres)
        label = f"{name}({', '.join(f'{k}={v}' for k, v in case.items())[:60]})"
        flag = "" if pg_s < GOAL_S else "  over 1 s"
        lines.append(
            f"{label:<80} {duck_s:>8.3f} {pg_s:>9.3f} {pg_s / max(duck_s, 1e-6):>6.1f}x  "
            f"{'yes' if same else 'NO'}{flag}"
        )
    print(f"\n{EVENTS:,} events: seconds per call (warm), DuckDB beside PostgreSQL")
    print(f"{'call':<80} {'duckdb':>8} {'postgres':>9} {'ratio':>7}  same")
    print("\n".join(lines))
