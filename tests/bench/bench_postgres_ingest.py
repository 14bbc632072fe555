"""Usage events into PostgreSQL (issue 18): sustained ingest, duplicates after a replay, bytes per event.

Run with `.venv/bin/python -m pytest -p no:cacheprovider -o python_files='bench_*.py'
tests/bench/bench_postgres_ingest.py -s` (PostgreSQL is started on loopback by tests/conftest.py, as in the
tests). Figures printed, each beside its goal and the DuckDB sink on the same events:

- ingest through SpoolWriter + PostgresSink, record() to committed, one replica and three replicas (three
  writers with their own spools and connections, their request ids interleaved in the primary key as a
  fleet's are): goal >= 10,000 events/s sustained (anchor: Lago's 10K events/s on Postgres);
- every event recorded again (a replay of every segment): 0 duplicates, and the hourly rollup unchanged;
- bytes per event on disk, pg_total_relation_size of the day partitions (table + primary key) over the
  events: goal <= 300 B (anchor: LiteLLM's 1-6 KB spend-log rows); usage_dims and the rollup beside it.

``VERTICALS_BENCH_PG_EVENTS`` changes the 120,000 events of one replica (three replicas record as many in
all). Rates are wall-clock on whatever else the machine runs; the load average is printed with them.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg

from verticals.ledger import Ledger, UsageEvent
from verticals.ledger.postgres.ingest import PostgresSink
from verticals.ledger.postgres.opening import open_postgres
from verticals.ledger.writer import SpoolWriter

TOTAL = int(os.environ.get("VERTICALS_BENCH_PG_EVENTS", "120000"))
PACED_S = 10  # seconds of steady load
START = datetime(2026, 11, 1, 20, 0, tzinfo=UTC)  # 120,000 events 0.15 s apart cross midnight
_MODELS = (
    ("nlp/chat", "nlp", "tokens", "h100", "/v1/chat/completions", 612, 250, "0.000002"),
    ("nlp/embed", "nlp", "tokens", "cpu", "/v1/embeddings", 300, 0, "0.0000001"),
    ("vision/classify", "vision", "images", "l4", "/v1/vision/classify", 2, 0, "0.002"),
    ("speech/transcribe", "speech", "audio-seconds", "cpu", "/v1/audio/transcriptions", 40, 0, "0.0001"),
    ("finance/score", "finance", "rows", "cpu", "/v1/finance/score", 20, 0, "0.0005"),
)


def _events(count: int, replica: int, replicas: int) -> list[UsageEvent]:
    """``count`` events of one gateway replica: request ids as the gateway makes them (``req_`` + a random
    per-process prefix + a counter), 50 customers, five models, 2% errors, 0.15 s apart over all replicas
    (so 120,000 events span five hours and a midnight)."""
    prefix = uuid.uuid4().hex[:16]
    events = []
    for n in range(count):
        index = n * replicas + replica
        model, plugin, unit, device, endpoint, units_in, units_out, price = _MODELS[index % len(_MODELS)]
        customer = index // len(_MODELS) * 7919 % 50  # every customer calls every model
        status = 500 if index % 50 == 0 else 200
        billed = units_in + units_out if unit == "tokens" else units_in
        events.append(
            UsageEvent(
                request_id=f"req_{prefix}{n:016x}",
                ts=START + timedelta(milliseconds=150 * index),
                customer=f"customer-{customer:03d}",
                key_prefix=f"vk_c{customer:07d}",
                plugin=plugin,
                model=model,
                model_version="1",
                endpoint=endpoint,
                status=status,
                latency_ms=80.0 + index % 400,
                queue_ms=index % 7 / 4,
                ttft_ms=30.0 + index % 90 if unit == "tokens" else None,
                units_in=units_in + index % 11,
                units_out=units_out,
                unit=unit,
                compute_seconds=0.0004 * (index % 100),
                device_class=device,
                revenue_usd=Decimal(price) * billed if status == 200 else Decimal(0),
                cost_usd=Decimal("0.000000833") * (index % 100),
            )
        )
    return events


def _record_all(writers: list[SpoolWriter], batches: list[list[UsageEvent]]) -> float:
    """Record each batch through its writer from a thread of its own, then flush them all: seconds taken."""

    def run(writer: SpoolWriter, events: list[UsageEvent]) -> None:
        for event in events:
            writer.record(event)
        writer.flush()

    threads = [threading.Thread(target=run, args=pair) for pair in zip(writers, batches, strict=True)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began


def _postgres_run(url: str, spools: Path, batches: list[list[UsageEvent]]) -> tuple[float, float]:
    """Ingest ``batches`` (one per replica) into ``url``, then all of them again; (first s, replay s)."""
    writers = [
        SpoolWriter(None, spools / f"replica-{n}", fsync_ms=50, sink=PostgresSink(url))
        for n in range(len(batches))
    ]
    try:
        first = _record_all(writers, batches)
        replay = _record_all(writers, batches)
    finally:
        for writer in writers:
            writer.close()
    return first, replay


def _sizes(url: str) -> dict[str, float]:
    with psycopg.connect(url) as conn:
        conn.execute("ANALYZE")
        events, distinct, requests = conn.execute(
            "SELECT count(*), count(DISTINCT request_id), (SELECT sum(requests) FROM usage_hourly_rows) "
            "FROM usage_events"
        ).fetchone() or (0, 0, 0)
        partitions = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0), count(*) FROM pg_inherits "
            "WHERE inhparent = 'usage_event_rows'::regclass"
        ).fetchone() or (0, 0)
        dims, rollup = conn.execute(
            "SELECT pg_total_relation_size('usage_dims'), pg_total_relation_size('usage_hourly_rows')"
        ).fetchone() or (0, 0)
        dims_rows = (conn.execute("SELECT count(*) FROM usage_dims").fetchone() or (0,))[0]
        rollup_rows = (conn.execute("SELECT count(*) FROM usage_hourly_rows").fetchone() or (0,))[0]
    return {
        "events": events,
        "distinct": distinct,
        "rollup_requests": int(requests or 0),
        "bytes": partitions[0],
        "partitions": partitions[1],
        "dims": dims,
        "dims_rows": dims_rows,
        "rollup": rollup,
        "rollup_rows": rollup_rows,
    }


def test_postgres_ingest(postgres_server: object, tmp_path: Path) -> None:
    database = getattr(postgres_server, "database")  # noqa: B009 - the session fixture's method
    load = os.getloadavg()[0]
    print(f"\nPostgreSQL ingest, {TOTAL:,} events per run; load average {load:.1f} on {os.cpu_count()} cores")
    results: dict[int, tuple[float, float, dict[str, float]]] = {}
    for replicas in (1, 3):
        url = database()
        open_postgres(url, read_only=False).close()
        per = TOTAL // replicas
        batches = [_events(per, n, replicas) for n in range(replicas)]
        first, replay = _postgres_run(url, tmp_path / f"pg-{replicas}", batches)
        sizes = _sizes(url)
        results[replicas] = (first, replay, sizes)
        total = per * replicas
        print(
            f"  {replicas} replica(s): {total:,} events recorded and committed in {first:.2f} s = "
            f"{total / first:,.0f} events/s (goal >= 10,000); all recorded again in {replay:.2f} s = "
            f"{total / replay:,.0f} events/s; stored {sizes['events']:,.0f} events, "
            f"{sizes['distinct']:,.0f} distinct ids: {sizes['events'] - total:,.0f} duplicates; "
            f"rollup counts {sizes['rollup_requests']:,}"
        )
        print(
            f"    on disk: {sizes['bytes'] / sizes['events']:.0f} B per event in "
            f"{sizes['partitions']:.0f} day partitions (table + primary key; goal <= 300 B); "
            f"usage_dims {sizes['dims'] / 1024:.0f} KiB for {sizes['dims_rows']:,.0f} rows; "
            f"rollup {sizes['rollup'] / 1024:.0f} KiB for "
            f"{sizes['rollup_rows']:,.0f} rows ({sizes['rollup'] / sizes['events']:.0f} B per event)"
        )
        assert sizes["events"] == sizes["distinct"] == total  # 0 duplicates after the replay, 0 lost
        assert sizes["rollup_requests"] == total  # the replay added nothing to the rollup
        assert sizes["bytes"] / sizes["events"] <= 300
    # the DuckDB sink, same events, same writer: the embedded ledger's figure beside it
    events = _events(TOTAL, 0, 1)
    with Ledger.open(tmp_path / "duckdb", fsync_ms=50) as ledger:
        writer = ledger._writer
        assert writer is not None
        duck = _record_all([writer], [events])
        duck_replay = _record_all([writer], [events])
        stored = ledger.connection.execute(
            "SELECT count(*), count(DISTINCT request_id) FROM usage_events"
        ).fetchone()
        ledger.connection.execute("CHECKPOINT")
    duck_bytes = (tmp_path / "duckdb" / "ledger.duckdb").stat().st_size
    print(
        f"  DuckDB sink (one process): {TOTAL / duck:,.0f} events/s, "
        f"replay {TOTAL / duck_replay:,.0f} events/s; "
        f"stored {stored[0]:,} events, {stored[1]:,} distinct; ledger file {duck_bytes / TOTAL:.0f} B per "
        "event (whole file, control tables included)"
    )
    assert stored == (TOTAL, TOTAL)


def test_postgres_ingest_keeps_up_with_a_steady_15000_per_second(
    postgres_server: object, tmp_path: Path
) -> None:
    """Three replicas each record 5,000 events/s for ``PACED_S`` seconds, paced as traffic is, not a burst:
    the spool backlog stays at a segment or two (the writers keep up), and the last event is committed
    within about a batch interval (1 s) of being recorded."""
    database = getattr(postgres_server, "database")  # noqa: B009 - the session fixture's method
    url = database()
    open_postgres(url, read_only=False).close()
    rate, replicas = 15_000, 3
    batches = [_events(rate // replicas * PACED_S, n, replicas) for n in range(replicas)]
    writers = [
        SpoolWriter(None, tmp_path / f"paced-{n}", fsync_ms=50, sink=PostgresSink(url))
        for n in range(replicas)
    ]
    backlog = [0]

    def run(writer: SpoolWriter, events: list[UsageEvent]) -> None:
        per_tick = rate // replicas // 100  # every 10 ms
        began = time.perf_counter()
        for tick, at in enumerate(range(0, len(events), per_tick)):
            for event in events[at : at + per_tick]:
                writer.record(event)
            backlog[0] = max(backlog[0], writer.backlog)
            time.sleep(max(0.0, began + (tick + 1) / 100 - time.perf_counter()))

    try:
        threads = [threading.Thread(target=run, args=pair) for pair in zip(writers, batches, strict=True)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        recorded = time.perf_counter()
        for writer in writers:
            writer.flush()
        lag = time.perf_counter() - recorded
    finally:
        for writer in writers:
            writer.close()
    sizes = _sizes(url)
    total = sum(len(batch) for batch in batches)
    print(
        f"\nsteady load: {total:,} events at {total / (recorded - began):,.0f} events/s over "
        f"{recorded - began:.1f} s from {replicas} replicas; largest spool backlog {backlog[0]} segments "
        "per replica; the last event "
        f"committed {lag:.2f} s after it was recorded; stored {sizes['events']:,.0f}, "
        f"{sizes['distinct']:,.0f} distinct; load average {os.getloadavg()[0]:.1f}"
    )
    assert sizes["events"] == sizes["distinct"] == total
