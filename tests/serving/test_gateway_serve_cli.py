"""``verticals serve`` as a user runs it: a subprocess that serves, and on SIGTERM drains, flushes the
ledger, closes its capacity record and removes server.json."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

PORT = 18202


def verticals() -> str:
    return str(Path(sys.executable).parent / "verticals")


@pytest.mark.slow
def test_serve_drains_flushes_and_cleans_up_on_sigterm(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "VERTICALS_HOME": str(home), "VERTICALS_LOAD_PLUGINS": ""}
    env.pop("VERTICALS_ADMIN_TOKEN", None)
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [verticals(), "serve", "--port", str(PORT), "--model", "echo/chat", "--model", "tabular/linear"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        url = f"http://127.0.0.1:{PORT}"
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(url + "/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "verticals serve did not become ready"
            time.sleep(0.3)
        token_file = home / "admin_token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert json.loads((home / "server.json").read_text()) == {"url": url, "pid": process.pid}
        admin = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
        assert (
            httpx.post(
                url + "/admin/customers", json={"name": "acme", "plan": "pro"}, headers=admin
            ).status_code
            == 201
        )
        key = httpx.post(url + "/admin/keys", json={"customer": "acme"}, headers=admin).json()["key"]

        async def load() -> list[int]:
            """20 clients loop until the server goes away; SIGTERM lands while requests are in flight."""
            statuses: list[int] = []

            async def client_loop(client: httpx.AsyncClient) -> None:
                while True:
                    try:
                        response = await client.post(
                            "/v1/chat/completions",
                            json={
                                "model": "echo/chat",
                                "messages": [{"role": "user", "content": "drain me"}],
                            },
                        )
                    except httpx.TransportError:
                        return  # refused once shutdown began: never accepted
                    statuses.append(response.status_code)

            async with httpx.AsyncClient(
                base_url=url, timeout=30, headers={"Authorization": f"Bearer {key}"}
            ) as client:
                tasks = [asyncio.create_task(client_loop(client)) for _ in range(20)]
                await asyncio.sleep(1.0)
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(asyncio.gather(*tasks), 60)
            return statuses

        statuses = asyncio.run(load())
        # uvicorn re-raises the SIGTERM once its graceful shutdown is done, as process managers expect.
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
        assert set(statuses) <= {200, 503}
        answered = statuses.count(200)
        assert answered > 0
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    assert not (home / "server.json").exists()
    lines = [
        json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines() if line.startswith("{")
    ]
    access = [line for line in lines if "request_id" in line and line.get("path") == "/v1/chat/completions"]
    assert access and all(line["request_id"].startswith("req_") for line in access)

    from verticals.ledger import Ledger

    with Ledger.open(home, read_only=True) as ledger:
        rows = ledger.connection.execute(
            "SELECT count(*) FROM usage_events WHERE customer = 'acme' AND status = 200"
        ).fetchone()
        assert rows[0] == answered  # every answered request was flushed to the ledger before exit
        capacity = ledger.connection.execute("SELECT down_at FROM capacity").fetchall()
        assert capacity and all(row[0] is not None for row in capacity)
        # both models ran on this process's CPUs: one device, paid for once, serving the two
        devices = ledger.connection.execute("SELECT device_id, down_at FROM devices").fetchall()
        [(device, down_at)] = devices
        assert device.startswith("gateway-") and down_at is not None
        served = ledger.connection.execute("SELECT model FROM device_models ORDER BY model").fetchall()
        assert [model for (model,) in served] == ["echo/chat", "tabular/linear"]
