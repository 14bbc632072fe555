"""How long a control change takes to reach another replica of a PostgreSQL ledger (goal: within 1 s).

Two ``Ledger`` objects on one database stand for two gateway replicas. Each round revokes a fresh key
through one (or through psql, as an operator outside verticals would) and times until the other's
``find_key`` answers it revoked: commit -> NOTIFY -> the listener's burst -> reload of the control cache.
Also timed: ``find_key`` of a key the replica has cached, and of one it has not (an indexed lookup).

Run: .venv/bin/python -m pytest -p no:cacheprovider -o python_files='bench_*.py' \
    tests/bench/bench_change_propagation.py -s
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import psycopg

from verticals.ledger import Ledger

ROUNDS = 40
KEYS = 2_000  # keys in the ledger, so a reload reads a realistic table


def _wait_revoked(ledger: Ledger, plaintext: str, start: float) -> float:
    while True:
        key = ledger.find_key(plaintext)
        if key is not None and not key.active:
            return time.perf_counter() - start
        if time.perf_counter() - start > 5:
            raise AssertionError("the revocation did not arrive within 5 s")
        time.sleep(0.0005)


def _summary(name: str, seconds: list[float]) -> None:
    ms = sorted(s * 1000 for s in seconds)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(
        f"{name:<44} n={len(ms):>4}  p50={statistics.median(ms):8.2f} ms  p99={p99:8.2f} ms  "
        f"max={ms[-1]:8.2f} ms"
    )


def test_change_propagation(database_url: str, tmp_path: Path) -> None:
    a = Ledger.open(tmp_path / "a", database_url=database_url, fsync_ms=20)
    b = Ledger.open(tmp_path / "b", database_url=database_url, fsync_ms=20)
    try:
        a.create_customer("acme", "pro")
        with psycopg.connect(database_url, autocommit=True) as psql:
            psql.execute(
                "INSERT INTO api_keys SELECT 'vk_bulk' || i, md5(i::text) || md5((i + 1)::text), 'acme', "
                "NULL, NULL, now(), NULL FROM generate_series(1, %s) AS i",
                [KEYS],
            )
            keys = [a.create_key("acme") for _ in range(2 * ROUNDS)]
            for plaintext, _ in keys:  # b caches each (its first lookup of a new key asks the table)
                assert b.find_key(plaintext) is not None
            through_replica, through_psql = [], []
            for plaintext, key in keys[:ROUNDS]:
                start = time.perf_counter()
                a.revoke_key(key.prefix)
                through_replica.append(_wait_revoked(b, plaintext, start))
            for plaintext, key in keys[ROUNDS:]:
                start = time.perf_counter()
                psql.execute("UPDATE api_keys SET revoked_at = now() WHERE prefix = %s", [key.prefix])
                through_psql.append(_wait_revoked(b, plaintext, start))
        cached, missing = [], []
        for plaintext, _ in keys:
            start = time.perf_counter()
            b.find_key(plaintext)
            cached.append(time.perf_counter() - start)
            start = time.perf_counter()
            b.find_key(plaintext + "-unknown")
            missing.append(time.perf_counter() - start)
        print(f"\nchange propagation between two replicas ({KEYS + 2 * ROUNDS} keys in the ledger)")
        _summary("revoke on replica a -> refused on b", through_replica)
        _summary("UPDATE in psql -> refused on b", through_psql)
        _summary("find_key, cached", cached)
        _summary("find_key, unknown key (indexed lookup)", missing)
        slowest = max(through_replica + through_psql)
        print(f"slowest propagation {slowest * 1000:.1f} ms (goal: within 1000 ms)")
    finally:
        a.close()
        b.close()
