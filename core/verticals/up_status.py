"""The status line ``verticals up`` prints while it runs: requests per second, errors and refusals, models
down, and where the gateway and the dashboard are, read from the gateway's ``/metrics``.

It replaces the JSON access lines (now in ``<home>/logs/access.log``) on the operator's terminal: one
line every few seconds says whether traffic flows and fails, and the warnings stay readable around it.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True)
class Totals:
    """Counts read from ``/metrics`` at ``at`` (monotonic seconds): requests answered since the gateway
    started, those answered 5xx (``errors``) and 4xx (``refused``: keys, budgets, limits, bad input), and
    the models whose backend is down (``verticals_backend_up`` 0), sorted."""

    at: float
    requests: float
    errors: float
    refused: float
    down: tuple[str, ...] = ()


def read_totals(gateway_url: str, timeout: float = 2.0) -> Totals | None:
    """The gateway's ``Totals`` now, or None when it does not answer ``/metrics``."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"{gateway_url}/metrics", timeout=timeout) as response:
            text = response.read().decode()
    except (urllib.error.URLError, OSError):
        return None
    requests = errors = refused = 0.0
    down: list[str] = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "verticals_requests_total":
                status = str(sample.labels.get("status", ""))
                requests += sample.value
                errors += sample.value if status.startswith("5") else 0.0
                refused += sample.value if status.startswith("4") else 0.0
            elif sample.name == "verticals_backend_up" and sample.value == 0:
                down.append(sample.labels.get("model", "?"))
    return Totals(time.monotonic(), requests, errors, refused, tuple(sorted(down)))


def status_line(before: Totals | None, now: Totals | None, gateway_url: str, dashboard_url: str) -> str:
    """One line for the terminal, such as ``12:00:05  7.9 req/s  0 errors  2 refused (4xx)  gateway
    http://127.0.0.1:8000  dashboard http://127.0.0.1:8501``: the rates are over the time between the two
    readings (None ``now``: the gateway did not answer; None ``before``: the first reading, counted since
    the gateway started), models down are named.
    """
    clock = time.strftime("%H:%M:%S")
    where = f"gateway {gateway_url}  dashboard {dashboard_url}"
    if now is None:
        return f"{clock}  the gateway does not answer {gateway_url}/metrics  {where}"
    base = before or Totals(now.at, 0.0, 0.0, 0.0)
    seconds = now.at - base.at
    served = max(now.requests - base.requests, 0.0)
    rate = f"{served / seconds:.1f} req/s" if seconds > 0 else f"{served:.0f} requests"
    errors = max(now.errors - base.errors, 0.0)
    refused = max(now.refused - base.refused, 0.0)
    parts = [clock, rate, f"{errors:.0f} errors", f"{refused:.0f} refused (4xx)"]
    if now.down:
        parts.append(f"down: {', '.join(now.down)}")
    return "  ".join([*parts, where])
