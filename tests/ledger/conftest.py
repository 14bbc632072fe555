"""Fixtures for the ledger tests: a fresh ledger on a clock the test controls.

A test module that sets ``ENGINES = ("duckdb", "postgres")`` runs each of its tests that takes ``ledger``
once per engine (``engine``): on PostgreSQL the ledger is a fresh database of the session's server.
``reopen`` opens the same ledger again (the same home, and database on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from verticals.ledger import Ledger, UsageEvent


class Clock:
    """A settable clock, so tests can move time forward past effective dates."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 15, 12, 0, tzinfo=UTC))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    engines = getattr(metafunc.module, "ENGINES", None)
    if not engines or "engine" not in metafunc.fixturenames:
        return
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0]
        if "engine" in (names.replace(" ", "").split(",") if isinstance(names, str) else names):
            return  # the test names its own engines
    metafunc.parametrize("engine", engines)


@pytest.fixture
def engine() -> str:
    """The ledger's engine: ``duckdb`` unless the module asks for both (``ENGINES``)."""
    return "duckdb"


@pytest.fixture
def ledger_url(engine: str, request: pytest.FixtureRequest) -> str | None:
    """The ``database_url`` of the test's ledger: None on DuckDB, a fresh database on PostgreSQL."""
    return None if engine == "duckdb" else str(request.getfixturevalue("database_url"))


@pytest.fixture
def reopen(tmp_path: Path, clock: Clock, ledger_url: str | None) -> Callable[..., Ledger]:
    """Open the test's ledger again (``read_only`` and other ``Ledger.open`` options as keywords)."""

    def opener(**options: Any) -> Ledger:
        options.setdefault("clock", clock)
        if not options.get("read_only"):
            options.setdefault("fsync_ms", 20)
        return Ledger.open(tmp_path / "home", database_url=ledger_url, **options)

    return opener


@pytest.fixture
def ledger(reopen: Callable[..., Ledger]) -> Iterator[Ledger]:
    opened = reopen()
    yield opened
    opened.close()


def make_event(**fields: Any) -> UsageEvent:
    values: dict[str, Any] = {
        "request_id": "req-1",
        "ts": datetime(2026, 11, 15, 12, 0, tzinfo=UTC),
        "customer": "acme",
        "key_prefix": None,
        "plugin": "nlp",
        "model": "nlp/chat",
        "model_version": "1",
        "endpoint": "/v1/chat/completions",
        "status": 200,
        "latency_ms": 100.0,
        "units_in": 10,
        "units_out": 20,
        "unit": "tokens",
        "compute_seconds": 0.5,
        "revenue_usd": Decimal("0.003"),
        "cost_usd": Decimal("0.001"),
    }
    values.update(fields)
    return UsageEvent(**values)
