"""Latency percentiles and error rates per model."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from verticals.ledger.analytics._query import Filters, connection_of, label


def latency_by_model(
    source: Any,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    customer: str | None = None,
    plugin: str | None = None,
    model: str | None = None,
) -> list[dict[str, Any]]:
    """Per model: request count, latency p50/p95/p99 in ms, mean queue time, time-to-first-token
    p50/p95 (streams only; None without any), ``error_rate`` (share of status >= 500) and
    ``client_error_rate`` (share of 400-499).

    Percentiles interpolate linearly between the two nearest requests (numpy's default), over
    every request including failed ones: a timeout is latency a customer saw. Requests that named no
    model are the row "no model".
    """
    where, params = Filters(since, until, customer, plugin, model).where()
    sql = (
        "SELECT model, count(*), quantile_cont(latency_ms, [0.5, 0.95, 0.99]), avg(queue_ms), "  # noqa: S608
        "quantile_cont(ttft_ms, [0.5, 0.95]), count(*) FILTER (WHERE status >= 500), "
        "count(*) FILTER (WHERE status BETWEEN 400 AND 499) "
        f"FROM usage_events WHERE {where} GROUP BY model ORDER BY model"
    )
    out = []
    for name, requests, latency, queue, ttft, errors, client_errors in (
        connection_of(source).execute(sql, params).fetchall()
    ):
        out.append(
            {
                "model": label("model", name),
                "requests": requests,
                "p50_ms": latency[0],
                "p95_ms": latency[1],
                "p99_ms": latency[2],
                "mean_queue_ms": queue,
                "ttft_p50_ms": ttft[0] if ttft else None,
                "ttft_p95_ms": ttft[1] if ttft else None,
                "errors": errors,
                "error_rate": errors / requests,
                "client_error_rate": client_errors / requests,
            }
        )
    return out
