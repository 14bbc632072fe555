"""Two gateway replicas on one PostgreSQL ledger: a key made on one is served by the other at once, and a
revocation or suspension made anywhere - the other replica's admin API, or psql - is enforced by every
replica within a second."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest

from .conftest import ADMIN_TOKEN, Running, ServerThread, _free_port

T = TypeVar("T")
PROPAGATION_S = 1.0


def eventually(read: Callable[[], T], wanted: Callable[[T], bool], deadline_s: float = PROPAGATION_S) -> T:
    """``read()`` polled until ``wanted`` holds of it; fails with the last value after ``deadline_s``."""
    end = time.monotonic() + deadline_s
    while True:
        value = read()
        if wanted(value):
            return value
        if time.monotonic() > end:
            pytest.fail(f"not within {deadline_s} s: last value {value!r}")
        time.sleep(0.02)


def _replica(home: Path, database_url: str) -> tuple[ServerThread, Running]:
    from verticals.config import load_settings
    from verticals.ledger import Ledger
    from verticals.registry import Registry
    from verticals.serving.app import create_app
    from verticals.serving.gateway import ServingOptions

    settings = load_settings(home=home, database_url=database_url)
    ledger = Ledger.open(home, fsync_ms=5, database_url=database_url)
    options = ServingOptions(models=("echo/chat",), log_requests=False)
    app = create_app(settings, Registry.load(), ledger, admin_token=ADMIN_TOKEN, options=options)
    server = ServerThread(app, _free_port()).start()
    return server, Running(server.url, ledger, app, home)


@pytest.fixture
def replicas(database_url: str, tmp_path: Path) -> Iterator[tuple[Running, Running]]:
    with contextlib.ExitStack() as stack:  # each replica is stopped and closed, whatever the others do
        started = []
        for name in ("a", "b"):
            server, running = _replica(tmp_path / name, database_url)
            stack.callback(running.ledger.close)
            stack.callback(server.stop)
            started.append(running)
        yield started[0], started[1]


def _chat(gw: Running, key: str) -> int:
    body: dict[str, Any] = {"model": "echo/chat", "messages": [{"role": "user", "content": "hello"}]}
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(f"{gw.url}/v1/chat/completions", json=body, headers=headers, timeout=30).status_code


def test_a_key_revoked_on_one_replica_is_refused_by_the_other_within_a_second(
    replicas: tuple[Running, Running],
) -> None:
    a, b = replicas
    key = a.customer("acme")
    assert _chat(b, key) == 200  # made on a, served by b at once
    revoked = a.admin("POST", f"/admin/keys/{key[:11]}/revoke")
    assert revoked.status_code == 200, revoked.text
    eventually(lambda: _chat(b, key), lambda status: status == 401)


def test_a_suspension_made_in_psql_is_enforced_by_every_replica_within_a_second(
    replicas: tuple[Running, Running], database_url: str
) -> None:
    a, b = replicas
    key = a.customer("globex")
    assert [_chat(a, key), _chat(b, key)] == [200, 200]  # each replica has the customer cached now
    with psycopg.connect(database_url, autocommit=True) as psql:
        psql.execute("UPDATE customers SET status = 'suspended' WHERE name = 'globex'")
    for replica in (a, b):
        eventually(lambda replica=replica: _chat(replica, key), lambda status: status == 403)
