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


def start_up(tmp_path: Path, port: int, *args: str, plugins: str = "") -> subprocess.Popen[str]:
    """``verticals up ARGS``, gateway on ``port`` and dashboard on ``port + 1``, once both answer; only the
    installed ``plugins`` (comma-separated) load."""
    env = {
        **os.environ,
        "VERTICALS_HOME": str(tmp_path / "home"),
        "VERTICALS_PORT": str(port),
        "VERTICALS_DASHBOARD_PORT": str(port + 1),
        # the default models start in seconds; plugins have tests of their own
        "VERTICALS_LOAD_PLUGINS": plugins,
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


# A plugin with one suite on the builtin torch echo model: it answers what it is sent, so accuracy is 1.
ECHO_SUITE = """
import json
from verticals import hookimpl
from verticals.adapters import DataAdapter
from verticals.evaluation import Evaluation, Threshold

def read(path):
    return [json.loads(line) for line in open(path)]

def score(records, predict):
    outputs = predict([[{{"role": "user", "content": r["say"]}}] for r in records])
    return {{"accuracy": sum(o == r["say"] for o, r in zip(outputs, records)) / len(records)}}

@hookimpl
def register_data_adapters(register):
    register(DataAdapter(name="evaltest/lines", formats=("jsonl",), read_source=read))

@hookimpl
def register_evaluations(register):
    register(Evaluation(name="evaltest/echo", model="echo/chat", dataset={dataset!r},
                        adapter="evaltest/lines", metrics=("accuracy",),
                        thresholds={{"accuracy": Threshold(min=0.9)}}, score=score))
"""


def test_evaluation_line_says_how_the_background_evaluations_ended() -> None:
    from verticals.up import evaluation_line

    progress = "evaltest/echo\n"  # click's progress bar label, before the summary
    assert evaluation_line(0, progress + "2 of 2 suites passed on 2 models\n") == (
        "evaluations done: 2 of 2 suites passed on 2 models; the Models page shows the scores"
    )
    assert evaluation_line(1, "1 of 2 suites passed on 2 models\nError: could not be stored\n") == (
        "evaluations done, not all passed: could not be stored; `verticals eval --fast` reruns them"
    )
    assert evaluation_line(-signal.SIGTERM, "") is None  # up stopped it on the way out: nothing to say


@pytest.mark.slow
def test_up_evaluates_the_fast_models_once_serving_is_up(tmp_path: Path, site_packages) -> None:  # type: ignore[no-untyped-def]
    """A plugin with a suite on the torch echo model: once the gateway is ready, up runs it in the
    background, logs one line, and the run is in the ledger the gateway holds."""
    import json
    import threading

    dataset = tmp_path / "echo.jsonl"
    dataset.write_text("".join(json.dumps({"say": f"hello {i}"}) + "\n" for i in range(20)))
    site_packages.add(
        "verticals-evaltest",
        "verticals_evaltest_up",
        ECHO_SUITE.format(dataset=str(dataset)),
        entry_point="evaltest",
    )
    process = start_up(tmp_path, 18015, "--no-demo", plugins="evaltest")
    seen: list[str] = []
    done = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            if line.startswith("evaluations done"):
                done.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert done.wait(180), "".join(seen)[-3000:]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    [line] = [line for line in seen if line.startswith("evaluations done")]
    assert line.strip() == (
        "evaluations done: 1 of 1 suites passed on 1 models; the Models page shows the scores"
    )
    import duckdb

    with duckdb.connect(str(tmp_path / "home" / "ledger.duckdb"), read_only=True) as ledger:
        runs = ledger.execute("SELECT model, suite, passed FROM evaluation_runs").fetchall()
    assert runs == [("echo/chat", "evaltest/echo", True)]
