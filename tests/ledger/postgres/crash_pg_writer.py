"""Run by test_ingest_crash.py in a subprocess: record events through SpoolWriter + PostgresSink, print each
request id once ``record`` has returned (the acknowledgement), and go on until killed.

Usage: python crash_pg_writer.py SPOOL_DIR DATABASE_URL
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from verticals.ledger.events import UsageEvent
from verticals.ledger.postgres.ingest import PostgresSink
from verticals.ledger.writer import SpoolWriter


def main() -> None:
    spool, url = Path(sys.argv[1]), sys.argv[2]
    # batches of 100 ms, so that many commits happen before the kill and some segments wait after it
    writer = SpoolWriter(None, spool, fsync_ms=20, batch_ms=100, sink=PostgresSink(url))
    start = datetime(2026, 11, 1, 23, 59, tzinfo=UTC)  # crosses midnight: two day partitions
    index = 0
    while True:
        request_id = f"crash-{index}"
        writer.record(
            UsageEvent(
                request_id=request_id,
                ts=start + timedelta(milliseconds=10 * index),
                customer=f"c{index % 7}",
                key_prefix=None if index % 5 == 0 else f"vk_{index % 3}",
                plugin="nlp",
                model="nlp/chat",
                model_version="1",
                endpoint="/v1/chat/completions",
                status=200,
                latency_ms=10.0,
                units_in=5,
                units_out=7,
                unit="tokens",
                revenue_usd=Decimal("0.000012"),
                cost_usd=Decimal("0.000001"),
            )
        )
        print(request_id, flush=True)  # the acknowledgement: record() has returned
        index += 1
        time.sleep(0.0002)  # about 4000 events a second: several commits before the test kills it


if __name__ == "__main__":
    main()
