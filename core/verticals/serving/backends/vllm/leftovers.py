"""Records of the vLLM servers a gateway runs, so that the next gateway finds any left behind.

While a server runs, ``<home>/run/vllm-<model>.json`` (``run_file``) holds a ``RunRecord``: the pid of
its session leader (the ``deathwatch`` process, whose pid is also the session's id), that
process's start time, its port, and the same two facts of the gateway that started it. A pid
alone could name an unrelated process by the time it is read (pids are reused); a pid with its start
time (``/proc/<pid>/stat``, clock ticks after boot) cannot.

A server is normally stopped with its gateway, even a killed one (``deathwatch``). A record still
pointing at live processes means a gateway died and its server has not finished stopping yet, or a
watcher was killed along with it; ``stop_leftover`` stops that server before a new one takes its
port, unless the gateway that started it still runs: then ``InTheWay`` names both and the port.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import signal
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

PROC = Path("/proc")
log = logging.getLogger("verticals.serving")


class InTheWay(RuntimeError):
    """Another process holds what a server needs (its port, its record); the message names it."""


@dataclass(frozen=True)
class RunRecord:
    """What ``run_file`` holds for a running vLLM server: its model and port, the pid and start time (clock
    ticks after boot, from ``/proc/<pid>/stat``) of its session leader, and the same two facts of the
    gateway that started it.
    """

    model: str
    port: int
    #: the session leader; its process group and session have the same id
    pid: int
    #: its start time in clock ticks after boot (field 22 of /proc/<pid>/stat)
    started: int
    gateway_pid: int
    gateway_started: int


def run_file(home: Path, model: str) -> Path:
    """``<home>/run/vllm-<model>.json``, ``/`` in the model's name written as ``-``."""
    return home / "run" / f"vllm-{model.replace('/', '-')}.json"


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, session, start time) of ``pid``, or None when there is no such process."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid pgrp session ... starttime ...": comm may hold spaces and parentheses
    fields = text.rpartition(")")[2].split()
    return fields[0], int(fields[3]), int(fields[19])


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks after boot), or None when it does not exist."""
    found = _stat(pid)
    return found[2] if found is not None else None


def session_members(sid: int) -> list[int]:
    """The live processes (zombies excluded) of session ``sid``, whatever process group each is in."""
    members = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            found = _stat(int(entry.name))
            if found is not None and found[1] == sid and found[0] != "Z":
                members.append(int(entry.name))
    return members


def signal_session(sid: int, sig: signal.Signals, *, spare: int | None = None) -> None:
    """Send ``sig`` to every process of session ``sid`` (but ``spare``); raises PermissionError."""
    for pid in session_members(sid):
        if pid != spare:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


def write(path: Path, model: str, port: int, pid: int) -> RunRecord:
    """Record the server whose session leader is ``pid``, started by this process."""
    started, gateway_started = start_time(pid), start_time(os.getpid())
    if started is None or gateway_started is None:
        raise InTheWay(f"the vLLM server for {model} (pid {pid}) exited as it started")
    record = RunRecord(model, port, pid, started, os.getpid(), gateway_started)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(record)))
    temporary.replace(path)  # a reader never sees half a record
    return record


def read(path: Path) -> RunRecord | None:
    """The RunRecord stored at ``path``, or None when the file is missing, unreadable, not JSON, or not a
    record's fields.
    """
    try:
        return RunRecord(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def forget(path: Path, pid: int) -> None:
    """Remove the record if it still names ``pid`` (a later server may have replaced it)."""
    record = read(path)
    if record is not None and record.pid == pid:
        path.unlink(missing_ok=True)


def running(record: RunRecord) -> list[int]:
    """The live processes of the recorded server's session; [] when none is left."""
    leader = _stat(record.pid)
    if leader is not None and leader[2] != record.started:
        return []  # the pid is another process's now, so its session is not the recorded one
    # With the leader gone its pid is not given to a new process while the session has members.
    return session_members(record.pid)


def owned_by_this_process(record: RunRecord) -> bool:
    """True when ``record`` was written by this very process (same pid and same start time, so not a reused
    pid).
    """
    return record.gateway_pid == os.getpid() and start_time(os.getpid()) == record.gateway_started


def stop_leftover(path: Path, *, grace_s: float = 10.0) -> RunRecord | None:
    """Stop the server recorded in ``path`` when its gateway is gone; return its record, or None.

    None when there is no record or no process of it is left. The server gets SIGTERM, then
    SIGKILL after ``grace_s`` seconds; a warning names what was stopped. Raises ``InTheWay`` when the
    gateway that started it still runs (this one excepted), or when it could not be stopped; the
    message names pid and port.
    """
    record = read(path)
    if record is None or not running(record):
        path.unlink(missing_ok=True)
        return None
    if not owned_by_this_process(record) and start_time(record.gateway_pid) == record.gateway_started:
        raise InTheWay(
            f"the vLLM server for {record.model} (pid {record.pid}, port {record.port}) belongs to the "
            f"gateway with pid {record.gateway_pid}, which still runs: stop that gateway first, or "
            "give this one another VERTICALS_HOME"
        )
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            signal_session(record.pid, sig)
        except PermissionError as error:
            raise InTheWay(
                f"the vLLM server for {record.model} a previous gateway left running (pid {record.pid}, "
                f"port {record.port}) could not be stopped ({error}): stop it with "
                f"`pkill -TERM -s {record.pid}`"
            ) from None
        deadline = time.monotonic() + wait_s
        while running(record) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not running(record):
            break
    if running(record):
        raise InTheWay(
            f"the vLLM server for {record.model} (pid {record.pid}, port {record.port}) survived SIGKILL"
        )
    path.unlink(missing_ok=True)
    log.warning(
        "stopped the vLLM server for %s that the gateway with pid %d left running (pid %d, port %d)",
        record.model,
        record.gateway_pid,
        record.pid,
        record.port,
    )
    return record


def stop_all(home: Path) -> list[RunRecord]:
    """Stop every server recorded under ``home`` by gateways that are gone; return their records.

    For the servers of models this gateway no longer serves: each of its own servers clears its
    record itself as it starts. A record of a gateway that still runs is left alone and logged.
    """
    stopped = []
    for path in sorted((home / "run").glob("vllm-*.json")):
        record = read(path)
        if record is not None and owned_by_this_process(record):
            continue
        try:
            left = stop_leftover(path)
        except InTheWay as error:
            log.warning("%s", error)
            continue
        if left is not None:
            stopped.append(left)
    return stopped


def check_port_free(port: int, host: str = "127.0.0.1") -> None:
    """Raise ``InTheWay`` naming the process that listens on ``host``:``port``, if one does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR as servers set it: a port in TIME_WAIT after a stopped server counts as free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
        else:
            return
    holder = port_holder(port)
    who = f"the process {describe(holder)}" if holder is not None else "another process"
    raise InTheWay(
        f"port {port} on {host} is taken by {who}: stop it, or set another `port` for this model "
        "in verticals.toml"
    )


def port_holder(port: int) -> int | None:
    """The pid of a process listening on TCP ``port``, when this user may see it."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in (PROC / "net" / table).read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rpartition(":")[2], 16) == port and fields[3] == "0A":  # LISTEN
                    inodes.add(f"socket:[{fields[9]}]")
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or not inodes:
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        return int(entry.name)
    return None


def describe(pid: int) -> str:
    """``1234 (python -m vllm.entrypoints...)``: the pid and its command line, for messages."""
    try:
        command = (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return str(pid)
    return f"{pid} ({command.strip()[:200]})"
