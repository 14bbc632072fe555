"""``verticals up`` (what ``make up`` runs) starts the gateway and the dashboard, and stops both."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
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


def start_up(
    tmp_path: Path, port: int, *args: str, plugins: str = "", session: bool = False
) -> subprocess.Popen[str]:
    """``verticals up ARGS``, gateway on ``port`` and dashboard on ``port + 1``, once both answer; only the
    installed ``plugins`` (comma-separated) load. ``session``: in a process group of its own, as in a
    terminal, so that a test can send Ctrl-C's SIGINT to the group."""
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
        start_new_session=session,
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
        row = ledger.execute(
            "SELECT count(*) FILTER (WHERE ts < now() - INTERVAL 1 HOUR),"
            " count(*) FILTER (WHERE ts >= now() - INTERVAL 1 HOUR) FROM usage_events"
        ).fetchone()
    assert row is not None
    old, recent = row
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
    assert "the gateway ended on a signal; stopping the dashboard" in output
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


STATUS = re.compile(
    r"^\d\d:\d\d:\d\d  (\d+\.\d) req/s  \d+ errors  \d+ refused \(4xx\)  "
    r"gateway http://127\.0\.0\.1:18017  dashboard http://127\.0\.0\.1:18018$"
)


@pytest.mark.slow
def test_up_terminal_shows_urls_a_status_line_and_one_stopped_line(tmp_path: Path) -> None:
    """The issue's example: `make up` printed ~8 JSON access lines a second, progress bars, and ~30 lines
    of "nanobind: leaked" at Ctrl-C, and never said it stopped. Now: the URLs, a status line (requests/s,
    errors), warnings; the access lines in <home>/logs/access.log; one "stopped" line last."""
    process = start_up(
        tmp_path,
        18017,
        "--demo-duration",
        "60",
        "--backfill-days",
        "1",
        "--no-eval",
        "--status-every",
        "2",
        session=True,
    )
    lines: list[str] = []
    traffic = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            found = STATUS.match(line.strip())
            if found and float(found.group(1)) > 0:
                traffic.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert traffic.wait(120), "no status line with traffic:\n" + "".join(lines)[-3000:]
    finally:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches every process of the group
        process.wait(120)
        reader.join(30)
    terminal = "".join(lines)
    assert process.returncode == 0, terminal[-3000:]
    assert "http://127.0.0.1:18017" in terminal and "http://127.0.0.1:18018" in terminal
    noises = ('"path"', "nanobind", "it/s]", "Batches", "Loading weights", "Uvicorn running", "Streamlit")
    for noise in noises:
        assert noise not in terminal, f"{noise!r} on the terminal:\n{terminal[-3000:]}"
    assert not [line for line in lines if line.lstrip().startswith("{")], terminal[-3000:]  # no JSON logs
    said = [line.strip() for line in lines if line.strip()]
    assert [line for line in said if "stopped" in line] == [said[-1]], terminal[-3000:]
    assert said[-1].startswith("stopped"), said[-1]
    access_log = (tmp_path / "home" / "logs" / "access.log").read_text()
    paths = {json.loads(line)["path"] for line in access_log.splitlines()}
    # the demo's requests, one line each
    assert any(path.startswith(("/v1/", "/v2/models/")) for path in paths), sorted(paths)


def test_the_status_line_gives_rates_errors_and_models_down() -> None:
    from verticals.up_status import Totals, status_line

    before = Totals(at=100.0, requests=10, errors=1, refused=2)
    now = Totals(at=110.0, requests=90, errors=1, refused=5, down=("nlp/chat",))
    line = status_line(before, now, "http://127.0.0.1:8000", "http://127.0.0.1:8501")
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d  8\.0 req/s  0 errors  3 refused \(4xx\)  down: nlp/chat  "
        r"gateway http://127\.0\.0\.1:8000  dashboard http://127\.0\.0\.1:8501",
        line,
    ), line
    silent = status_line(before, None, "http://127.0.0.1:8000", "http://127.0.0.1:8501")
    assert "the gateway does not answer http://127.0.0.1:8000/metrics" in silent


BROKEN = """
from decimal import Decimal
from verticals import hookimpl
from verticals.default_plugins.echo import EchoPredictor
from verticals.models import Backend, ModelSpec, Task, Unit

class Broken(EchoPredictor):
    def load(self, model_dir):
        raise RuntimeError("weights missing")

@hookimpl
def register_models(register):
    register(ModelSpec(name="broken/chat", task=Task.CHAT, backend=Backend.TORCH, source="builtin://broken",
                       unit=Unit.TOKENS, price_per_unit_usd=Decimal("0.000001"), predictor=Broken))
"""


@pytest.mark.slow
def test_up_serves_the_other_models_when_one_does_not_start(tmp_path: Path, site_packages) -> None:  # type: ignore[no-untyped-def]
    """A model whose backend fails to start left `up` waiting on readiness for its 15-minute timeout,
    with nothing on the terminal. Now the error shows, `up` says so and goes on, and the status line
    names the model down."""
    site_packages.add("verticals-broken", "verticals_broken_up", BROKEN, entry_point="broken")
    env = {
        **os.environ,
        "VERTICALS_HOME": str(tmp_path / "home"),
        "VERTICALS_PORT": "18019",
        "VERTICALS_DASHBOARD_PORT": "18020",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "verticals", "up", "--no-demo", "--no-eval", "--status-every", "1"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    down = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if " down: broken/chat " in line:
                down.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert down.wait(120), "".join(lines)[-3000:]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
        reader.join(30)
    terminal = "".join(lines)
    assert "ERROR verticals.serving: the backend of broken/chat did not start: weights missing" in terminal
    assert "warning: not every model is up" in terminal
    assert process.returncode == 0, terminal[-3000:]
