"""Prometheus metrics for ``GET /metrics``: requests, latency, tokens and cost by model and status.

Customer ids are never labels: they are unbounded (one time series each) and belong in the ledger,
which the admin API and the dashboard query.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# fine below 5 ms, where a gateway's own cost should be
_OVERHEAD_BUCKETS = (0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.01, 0.025, 0.1, 1)


class Metrics:
    """One private registry per app, so tests can build many apps in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.requests = Counter(
            "verticals_requests",
            "Requests served, by model, endpoint and status",
            ["model", "endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "verticals_request_latency_seconds",
            "End-to-end request latency",
            ["model", "endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue = Histogram(
            "verticals_queue_seconds",
            "Time waiting for a batch or backend",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.ttft = Histogram(
            "verticals_time_to_first_token_seconds",
            "Time to first streamed token",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.units = Counter(
            "verticals_units",
            "Metered units, by model, unit and direction",
            ["model", "unit", "direction"],
            registry=self.registry,
        )
        self.revenue = Counter(
            "verticals_revenue_usd", "Revenue at list or plan price", ["model"], registry=self.registry
        )
        self.cost = Counter(
            "verticals_compute_cost_usd", "Allocated compute cost", ["model"], registry=self.registry
        )
        self.compute = Counter(
            "verticals_compute_seconds", "Allocated compute seconds", ["model"], registry=self.registry
        )
        self.overhead = Histogram(
            "verticals_gateway_overhead_seconds",
            "Time a proxied request spent in the gateway itself (admission, relaying, metering): its "
            "latency minus the time it waited on the vLLM server",
            ["model"],
            buckets=_OVERHEAD_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "verticals_batch_size",
            "Items per dynamic batch",
            ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )
        self.overrun = Counter(
            "verticals_backend_overrun_units",
            "Units a backend answered beyond the request's reserved worst case (it did not honour "
            "max_tokens): a backend fault, not billed",
            ["model"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "verticals_requests_in_flight", "Requests being served", ["model"], registry=self.registry
        )
        self.backend_up = Gauge(
            "verticals_backend_up",
            "1 when the model's backend takes requests",
            ["model"],
            registry=self.registry,
        )
        self.restarts = Counter(
            "verticals_backend_restarts",
            "Backend restarts by the supervisor",
            ["model"],
            registry=self.registry,
        )

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, cached: prometheus-client validates labels on every call."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def render(self) -> bytes:
        """The app's metrics in the Prometheus text exposition format (bytes), for ``GET /metrics``."""
        return generate_latest(self.registry)
