"""Measure each model's latency, one request at a time, for the demo's latency table.

Run against a gateway serving every plugin, with no other traffic:

    VERTICALS_HOME=/tmp/m verticals serve --port 18931 &
    VERTICALS_HOME=/tmp/m .venv/bin/python tests/bench/measure_demo_latency.py [REQUESTS_PER_MODEL]

It sends ``REQUESTS_PER_MODEL`` (default 12) requests per model through the public API with a customer
key, one at a time: the real payloads of ``gateway_plugins_workloads`` (a digit, a transaction, a
patient record, a sentence, a 10 s espeak-ng clip, ...) and, for the LLMs, ``verticals demo``'s own
chat call (64 tokens at most). Then it prints the gateway's measured p50 and p95 latency per model
(``latency_by_model``) and the mean units in and out per request: the numbers
``verticals.demo.fleet.LATENCY_MS`` holds.
"""

from __future__ import annotations

import contextlib
import random
import sys
import tempfile
from pathlib import Path

import httpx
from openai import OpenAI

from verticals.client import AdminError, running_server
from verticals.config import load_settings
from verticals.demo import call, served_targets

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling, gateway_plugins_workloads.py
from gateway_plugins_workloads import workloads

PROBE = "latency-probe"


def main() -> None:
    per_model = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    server = running_server(load_settings())
    if server is None:
        raise SystemExit("no gateway is running for VERTICALS_HOME: start `verticals serve` first")
    with contextlib.suppress(AdminError):  # it exists from an earlier run
        server.post("/admin/customers", {"name": PROBE, "plan": "pro", "budget_usd": None})
    key = server.post("/admin/keys", {"customer": PROBE})["key"]
    headers = {"Authorization": f"Bearer {key}"}
    served = {row["name"] for row in server.get("/admin/models") if row.get("ready", True)}
    with tempfile.TemporaryDirectory() as scratch:
        payloads = [w for w in workloads(Path(scratch)) if w.model in served]
    for work in payloads:
        for i in range(per_model):
            args = work.body(i)
            args["headers"] = {**args.get("headers", {}), **headers}
            httpx.post(f"{server.base_url}{work.path}", timeout=300, **args).raise_for_status()
    covered = {w.model for w in payloads}
    client = OpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0, timeout=300)
    rng = random.Random(3)
    for target in served_targets(server.get("/admin/models")):
        if target.name not in covered:
            for _ in range(per_model):
                call(client, target, key, server.base_url, rng, big=False, broken=False)
    server.post("/admin/flush")
    units = {
        row["model"]: (row["units_in"] / row["requests"], row["units_out"] / row["requests"])
        for row in server.get("/admin/analytics/unit_economics", customer=PROBE)
        if row["requests"]
    }
    print(f"{'model':24} {'requests':>8} {'p50 ms':>9} {'p95 ms':>9} {'units in':>9} {'units out':>9}")
    for row in server.get("/admin/analytics/latency_by_model", customer=PROBE):
        units_in, units_out = units.get(row["model"], (0.0, 0.0))
        print(
            f"{row['model']:24} {row['requests']:>8} {row['p50_ms']:>9.1f} {row['p95_ms']:>9.1f} "
            f"{units_in:>9.1f} {units_out:>9.1f}"
        )


if __name__ == "__main__":
    main()
