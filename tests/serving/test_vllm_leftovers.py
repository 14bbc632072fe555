"""A vLLM server dies with its gateway, and a gateway that starts stops the servers one left behind.

Stand-in servers (small real processes, no model) take vLLM's place: ``StandIn`` runs one through
``VLLMServer`` unchanged but for its command line. Ports 18262-18264 belong to these tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import httpx
import pytest

from verticals.serving.backends.vllm import deathwatch, leftovers
from verticals.serving.backends.vllm.server import EngineError, VLLMServer

PORT_A, PORT_B, PORT_C = 18262, 18263, 18264
# A server that forks a worker, as vLLM forks its engine core, and writes its pid down. The worker
# makes a process group of its own: stopping the server's group alone would miss it.
STAND_IN = (
    "import subprocess, sys, time; worker = subprocess.Popen(['sleep', '600'], process_group=0); "
    "open(sys.argv[1], 'w').write(str(worker.pid)); time.sleep(600)"
)


class StandIn(VLLMServer):
    """``VLLMServer`` with a stand-in for vLLM's command: everything else is the real thing."""

    def command(self) -> list[str]:
        return [sys.executable, "-c", STAND_IN, str(self.log_path.with_suffix(".worker"))]


def stand_in(tmp_path: Path, port: int, name: str = "test/stand-in") -> StandIn:
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text("{}")
    run_file = leftovers.run_file(tmp_path / "home", name)
    return StandIn(model, name, port, log_path=tmp_path / "logs" / "server.log", nice=0, run_file=run_file)


def wait_until(condition: Callable[[], object], timeout: float = 30.0) -> bool:
    """A bounded wait for ``condition``: how long it takes is not what is tested."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def listening(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
    except httpx.TransportError:
        return False
    return True


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts in sessions of their own; whatever is left of them is killed after it."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def http_server(port: int, processes: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """A process in a session of its own holding ``port``, as a vLLM server does."""
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    processes.append(server)
    assert wait_until(lambda: listening(port)), f"the stand-in server did not listen on {port}"
    return server


def record_left_behind(
    server: StandIn, pid: int, *, gateway_pid: int, gateway_started: int, started: int | None = None
) -> None:
    """Write the record a gateway (``gateway_pid``) would have written for its server ``pid``."""
    assert server.run_file is not None
    record = leftovers.RunRecord(
        model=server.served_name,
        port=server.port,
        pid=pid,
        started=started if started is not None else leftovers.start_time(pid) or 0,
        gateway_pid=gateway_pid,
        gateway_started=gateway_started,
    )
    server.run_file.parent.mkdir(parents=True, exist_ok=True)
    server.run_file.write_text(json.dumps(asdict(record)))


def dead_pid() -> int:
    """The pid of a process that has exited: a gateway that is gone."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


GATEWAY = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from test_vllm_leftovers import stand_in

    server = stand_in(Path(sys.argv[1]), int(sys.argv[3]))
    # The gateway starts servers from worker threads (asyncio.to_thread) that may end before it does.
    starter = threading.Thread(target=server.start)
    starter.start()
    starter.join()
    print(server.pid, flush=True)
    threading.Event().wait()
    """
)


def test_a_killed_gateway_takes_its_server_and_the_servers_workers_down(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    gateway = subprocess.Popen(
        [sys.executable, "-c", GATEWAY, str(tmp_path), str(Path(__file__).parent), str(PORT_A)],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    processes.append(gateway)
    assert gateway.stdout is not None
    server = int(gateway.stdout.readline())
    worker_file = tmp_path / "logs" / "server.worker"
    assert wait_until(worker_file.exists)
    worker = int(worker_file.read_text())
    assert worker in leftovers.session_members(server)  # the server and the worker it forked

    os.killpg(gateway.pid, signal.SIGKILL)  # the gateway's group, as the OOM killer or kill -9 would
    gateway.wait()
    assert wait_until(lambda: not leftovers.session_members(server)), (
        f"the server's processes outlived their gateway: {leftovers.session_members(server)}"
    )


def test_a_server_a_dead_gateway_left_running_is_stopped_and_its_port_taken_over(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    left_behind = http_server(PORT_B, processes)
    server = stand_in(tmp_path, PORT_B)
    record_left_behind(server, left_behind.pid, gateway_pid=dead_pid(), gateway_started=1)
    try:
        server.start()
        assert left_behind.wait(timeout=5) == -signal.SIGTERM  # stopped, and gently
        assert not listening(PORT_B)
        assert server.is_alive() and server.pid is not None
        assert server.run_file is not None
        recorded = leftovers.read(server.run_file)
        assert recorded is not None
        assert (recorded.pid, recorded.port, recorded.gateway_pid) == (server.pid, PORT_B, os.getpid())
    finally:
        server.stop()
    assert not server.run_file.exists()


def test_a_server_whose_gateway_still_runs_is_not_touched_and_named(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    left_behind = http_server(PORT_C, processes)
    other_gateway = subprocess.Popen(["sleep", "600"], start_new_session=True)
    processes.append(other_gateway)
    server = stand_in(tmp_path, PORT_C)
    started = leftovers.start_time(other_gateway.pid)
    assert started is not None
    record_left_behind(server, left_behind.pid, gateway_pid=other_gateway.pid, gateway_started=started)
    with pytest.raises(EngineError) as refused:
        server.start()
    message = str(refused.value)
    assert f"pid {left_behind.pid}, port {PORT_C}" in message
    assert f"gateway with pid {other_gateway.pid}, which still runs" in message
    assert left_behind.poll() is None and listening(PORT_C)
    assert not server.is_alive()


def test_a_recorded_pid_that_another_process_has_now_is_left_alone(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    stranger = subprocess.Popen(["sleep", "600"], start_new_session=True)
    processes.append(stranger)
    server = stand_in(tmp_path, PORT_A)
    started = leftovers.start_time(stranger.pid)
    assert started is not None
    # the recorded server had this pid once, but started at another time: pids are reused
    record_left_behind(server, stranger.pid, gateway_pid=dead_pid(), gateway_started=1, started=started - 1)
    try:
        server.start()
        assert stranger.poll() is None
        assert server.run_file is not None
        recorded = leftovers.read(server.run_file)
        assert recorded is not None and recorded.pid == server.pid
    finally:
        server.stop()


def test_a_port_another_process_holds_is_refused_naming_the_process(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    holder = http_server(PORT_A, processes)
    server = stand_in(tmp_path, PORT_A)
    taken = rf"port {PORT_A} on 127.0.0.1 is taken by the process {holder.pid} \(.*http\.server"
    with pytest.raises(EngineError, match=taken):
        server.start()
    assert not server.is_alive() and holder.poll() is None


def test_the_sweep_at_start_stops_servers_of_models_no_longer_served(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    left_behind = http_server(PORT_B, processes)
    gone = stand_in(tmp_path, PORT_B, name="test/not-served-any-more")
    record_left_behind(gone, left_behind.pid, gateway_pid=dead_pid(), gateway_started=1)
    ours = stand_in(tmp_path, PORT_C, name="test/running-here")
    try:
        ours.start()  # a record of this very process: another server of this gateway, kept
        stopped = leftovers.stop_all(tmp_path / "home")
        assert [record.pid for record in stopped] == [left_behind.pid]
        assert left_behind.wait(timeout=5) == -signal.SIGTERM
        assert ours.is_alive()
    finally:
        ours.stop()


@pytest.mark.parametrize(("script", "status"), [("exit 3", 3), ("kill -TERM $$", -signal.SIGTERM)])
def test_the_watcher_exits_as_its_server_does(script: str, status: int) -> None:
    # The supervisor sees the watcher's status: it must be the server's, a signal included.
    watched = subprocess.run(deathwatch.wrap(["sh", "-c", script]), start_new_session=True, timeout=60)
    assert watched.returncode == status
