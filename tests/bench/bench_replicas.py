"""Requests/s of one gateway replica against three, all on one PostgreSQL and one Redis, measured in the same
run (one replica first and last, three between, so a drift of the machine shows).

Each replica serves echo/chat to a customer with a monthly budget and a tokens-per-minute limit high
enough never to refuse, so every request takes the Redis admission path (rate window, budget hold,
settlement) and is drained to PostgreSQL. Load: wrk, 32 connections in all, split evenly over the
replicas (one wrk per replica, run at once; their requests/s added up). Baseline: the single-machine gateway
(embedded DuckDB ledger, limits in process) under the same load, first in the same run.

This machine has two cores: three replicas compete with PostgreSQL, Redis and wrk for them, so the
figure says what replication costs here, not how it scales on a node per replica.

Run: pytest -o python_files='bench_*.py' tests/bench/bench_replicas.py -s  (wrk from Debian's packages).
"""

from __future__ import annotations

import concurrent.futures
import shutil
from collections.abc import Callable
from typing import Any

import pytest

from .bench_gateway import wrk

CHAT = {"model": "echo/chat", "messages": [{"role": "user", "content": "one two three"}], "max_tokens": 2}
CONNECTIONS = 32


def customer(replicas: Any) -> str:
    body = {"name": "bench", "plan": "pro", "budget_usd": "1000000"}
    assert replicas.admin("POST", "/admin/customers", json=body).status_code == 201
    response = replicas.admin("POST", "/admin/keys", json={"customer": "bench", "tpm": 1_000_000_000})
    return str(response.json()["key"])


def load(urls: list[str], key: str) -> dict[str, float]:
    """wrk on every URL at once, ``CONNECTIONS`` split over them: total requests/s, worst p50, non-2xx."""
    headers = {"Authorization": f"Bearer {key}"}
    each = CONNECTIONS // len(urls)
    with concurrent.futures.ThreadPoolExecutor(len(urls)) as pool:
        runs = list(
            pool.map(lambda url: wrk(url + "/v1/chat/completions", CHAT, headers, connections=each), urls)
        )
    return {
        "rps": sum(r["rps"] for r in runs),
        "p50_ms": max(r["p50_ms"] for r in runs),
        "non2xx": sum(r["non2xx"] for r in runs),
    }


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")
def test_one_replica_against_three(launch_replicas: Callable[..., Any]) -> None:
    single = launch_replicas(1, shared=False)
    embedded = load(single.urls, customer(single))
    single.close()
    replicas = launch_replicas(3)
    key = customer(replicas)
    one = load(replicas.urls[:1], key)
    three = load(replicas.urls, key)
    one_again = load(replicas.urls[:1], key)
    print(f"\n[wrk, {CONNECTIONS} connections in all, echo/chat with a budget and a tpm limit]")
    runs = (
        ("single machine (DuckDB, limits in process)", embedded),
        ("1 replica (PostgreSQL + Redis)", one),
        ("3 replicas (PostgreSQL + Redis)", three),
        ("1 replica, again", one_again),
    )
    for name, run in runs:
        print(
            f"  {name:<18} {run['rps']:>8,.0f} req/s  p50 {run['p50_ms']:.2f} ms  non-2xx {run['non2xx']:.0f}"
        )
    assert one["non2xx"] == three["non2xx"] == 0
