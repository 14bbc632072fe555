"""``verticals up`` (what ``make up`` runs) starts the gateway and the dashboard, and stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def wait_for(url: str, process: subprocess.Popen[str], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"verticals up exited early: {process.communicate()[0][-3000:]}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return int(response.status)
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def start_up(tmp_path: Path, port: int, *args: str) -> subprocess.Popen[str]:
    """``verticals up ARGS``, gateway on ``port`` and dashboard on ``port + 1``, once both answer."""
    env = {
        **os.environ,
        "VERTICALS_HOME": str(tmp_path / "home"),
        "VERTICALS_PORT": str(port),
        "VERTICALS_DASHBOARD_PORT": str(port + 1),
        "VERTICALS_LOAD_PLUGINS": "",  # the default models start in seconds; plugins have tests of their own
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "verticals", "up", *args],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert wait_for(f"http://127.0.0.1:{port}/v2/health/ready", process, 120) == 200
        assert wait_for(f"http://127.0.0.1:{port + 1}/_stcore/health", process, 120) == 200
    except BaseException:
        process.kill()
        raise
    return process


@pytest.mark.slow
def test_up_serves_gateway_dashboard_and_demo_and_stops_cleanly(tmp_path: Path) -> None:
    process = start_up(tmp_path, 18011, "--demo-duration", "8", "--backfill-days", "2")
    try:
        time.sleep(12)  # the live demo sends traffic for 8 s
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output[-3000:]
    assert "http://127.0.0.1:18011" in output and "http://127.0.0.1:18012" in output
    import duckdb

    with duckdb.connect(str(tmp_path / "home" / "ledger.duckdb"), read_only=True) as ledger:
        old, recent = ledger.execute(
            "SELECT count(*) FILTER (WHERE ts < now() - INTERVAL 1 HOUR),"
            " count(*) FILTER (WHERE ts >= now() - INTERVAL 1 HOUR) FROM usage_events"
        ).fetchone()
    assert old > 100  # two days of backfilled history
    assert recent > 0  # live demo requests metered by the gateway


@pytest.mark.slow
def test_when_the_gateway_is_stopped_alone_up_stops_the_dashboard_and_exits_cleanly(tmp_path: Path) -> None:
    process = start_up(tmp_path, 18013, "--no-demo")
    try:
        children = subprocess.run(
            ["pgrep", "-P", str(process.pid), "-f", "verticals serve"], capture_output=True, text=True
        ).stdout.split()
        assert len(children) == 1, children
        os.kill(int(children[0]), signal.SIGTERM)  # an operator stopping the gateway by itself
        output = process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output[-3000:]
    assert "the gateway stopped; stopping the dashboard" in output
    with pytest.raises(OSError):
        urllib.request.urlopen("http://127.0.0.1:18014/_stcore/health", timeout=2)
