"""Shared by the PostgreSQL ingest tests: events, a migrated database, counts and the rollup check."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from verticals.ledger.events import UsageEvent
from verticals.ledger.postgres.opening import open_postgres

EPOCH = datetime(2026, 11, 14, 22, 0, tzinfo=UTC)
_MODELS = (
    ("nlp/chat", "nlp", "tokens", "h100", "/v1/chat/completions"),
    ("nlp/embed", "nlp", "tokens", "cpu", "/v1/embeddings"),
    ("speech/transcribe", "speech", "audio-seconds", "cpu", "/v1/audio/transcriptions"),
)


def event(index: int, **fields: Any) -> UsageEvent:
    """Event number ``index``: a varied customer, key, model, status and amounts, ``index`` minutes after
    ``EPOCH`` (so a few thousand cross several hours and a midnight)."""
    model, plugin, unit, device, endpoint = _MODELS[index % len(_MODELS)]
    values: dict[str, Any] = {
        "request_id": f"req_{index:08d}",
        "ts": EPOCH + timedelta(minutes=index, microseconds=index % 997),
        "customer": f"customer-{index % 4}",
        "key_prefix": None if index % 6 == 0 else f"vk_{index % 4}{index % 2}",
        "plugin": plugin,
        "model": model,
        "model_version": "1",
        "endpoint": endpoint,
        "status": (200, 200, 200, 500, 499, 429)[index % 6],
        "latency_ms": 10.0 + index % 17 / 3,
        "queue_ms": index % 5 / 7,
        "ttft_ms": None if index % 3 else 1.5 + index % 11,
        "units_in": float(index % 300) + 0.1,
        "units_out": float(index % 50),
        "unit": unit,
        "compute_seconds": index % 13 / 9,
        "device_class": device,
        "revenue_usd": Decimal(index % 1000 + 1) / Decimal(10**9) * 7,
        "cost_usd": Decimal(index % 100) / Decimal(10**8),
    }
    values.update(fields)
    return UsageEvent(**values)


def write_segment(path: Path, events: Iterable[UsageEvent], tail: bytes = b"") -> Path:
    """A spool segment of ``events`` as the writer writes them, then ``tail`` (a torn line, say)."""
    path.write_bytes(b"".join(e.model_dump_json().encode() + b"\n" for e in events) + tail)
    return path


def migrated(url: str) -> None:
    """Bring the database at ``url`` to the current schema (the ledger's migration runner)."""
    open_postgres(url, read_only=False).close()


def counts(url: str) -> tuple[int, int]:
    """(events, distinct request ids) in usage_events."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT request_id) FROM usage_events").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def request_ids(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT request_id FROM usage_events").fetchall()]


_GROUPED = """
SELECT date_trunc('hour', ts), customer, key_prefix, plugin, model, model_version, endpoint, unit,
       device_class, status, count(*), sum(units_in), sum(units_out), sum(compute_seconds), sum(latency_ms),
       sum(queue_ms), coalesce(sum(ttft_ms), 0), count(ttft_ms),
       sum(CAST(CASE WHEN unit = 'tokens' THEN units_in + units_out ELSE units_in END AS numeric(38,6))),
       sum(revenue_usd), sum(cost_usd)
FROM usage_events GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
"""
_ROLLUP = """
SELECT hour, customer, key_prefix, plugin, model, model_version, endpoint, unit, device_class, status,
       requests, units_in, units_out, compute_seconds, latency_ms, queue_ms, ttft_ms, ttft_count,
       billed_units, revenue_usd, cost_usd
FROM usage_hourly ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
"""


def assert_rollup_matches_events(url: str) -> int:
    """The hourly rollup equals GROUP BY over usage_events: keys, counts and money exactly, float sums to
    1e-9 relative (summed in another order); returns the number of rollup rows."""
    with psycopg.connect(url) as conn:
        grouped = conn.execute(_GROUPED).fetchall()
        rollup = conn.execute(_ROLLUP).fetchall()
    assert len(rollup) == len(grouped)
    for got, want in zip(rollup, grouped, strict=True):
        assert got[:11] == want[:11]
        assert got[17:] == want[17:]  # ttft count, billed units, revenue, cost: exact
        assert all(isinstance(v, Decimal) for v in got[18:])
        for a, b in zip(got[11:17], want[11:17], strict=True):
            assert abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1e-300)
    return len(rollup)
