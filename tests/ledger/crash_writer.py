"""Run by test_writer.py in a subprocess: record events, acknowledge each batch, then wait to be killed.

Usage: python crash_writer.py HOME N
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from verticals.ledger import Ledger, UsageEvent


def main() -> None:
    home, total = Path(sys.argv[1]), int(sys.argv[2])
    ledger = Ledger.open(home, fsync_ms=50)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for index in range(total):
        ledger.record(
            UsageEvent(
                request_id=f"crash-{index}",
                ts=start + timedelta(seconds=index),
                customer="acme",
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
        if index == total // 2:
            time.sleep(0.5)  # let the writer move the first half into DuckDB; the rest stays spooled
        print(index, flush=True)  # the acknowledgement: record() has returned
    print("done", flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main()
