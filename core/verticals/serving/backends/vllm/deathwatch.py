"""Run a server so that it ends with the process that started it, even when that one is killed.

``python -m verticals.serving.backends.vllm.deathwatch --parent PID [--nice N] -- COMMAND ...``

The gateway starts each vLLM server in a session of its own, so that stopping it stops the engine
processes vLLM forks too. A session is not tied to its parent's life: after ``kill -9`` of the
gateway (the OOM killer, a node drain) the server lived on, holding the model's memory and its
port, supervised by nobody. This process leads that session and runs COMMAND in it:

- When COMMAND exits, it exits the same way (the same status, or the same signal), so the gateway
  sees the server's own fate.
- When the process PID goes away, it stops the whole session: SIGTERM, then SIGKILL to what is left
  after ``GRACE_S`` seconds, itself last.
- SIGTERM and SIGINT sent to the session reach COMMAND; this process only waits for it to exit.

Why not ``PR_SET_PDEATHSIG`` in the server: it fires when the *thread* that forked the child
exits, and the gateway starts servers from worker threads; and it reaches only that one process,
not the engine processes vLLM forks. Here the gateway's whole process is watched (a pidfd, so no
polling on Linux 5.3+), and the whole session is stopped. The child still gets a parent-death
signal, from this single-threaded process: should this watcher itself be killed, the server
follows it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

#: Seconds a server gets to exit on SIGTERM once its gateway is gone, before SIGKILL.
GRACE_S = 10.0
#: How often the watcher checks its parent where the kernel has no pidfds (Linux before 5.3).
POLL_S = 0.5
_PR_SET_PDEATHSIG = 1


def wrap(command: Sequence[str], *, parent: int | None = None, nice: int = 0) -> list[str]:
    """The command line running ``command`` under this watcher, tied to ``parent`` (default: this process)."""
    return [
        sys.executable, "-m", __name__,
        "--parent", str(os.getpid() if parent is None else parent),
        "--nice", str(nice),
        "--", *command,
    ]  # fmt: skip


def _die_with_parent() -> None:
    """In the child, between fork and exec: SIGTERM when this (single-threaded) watcher dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _parse(argv: Sequence[str]) -> tuple[int, int, list[str]]:
    """``--parent PID [--nice N] -- COMMAND ...`` -> (parent pid, nice, command)."""
    if "--" not in argv:
        raise SystemExit(
            "usage: python -m verticals.serving.backends.vllm.deathwatch --parent PID [--nice N] "
            "-- COMMAND ..."
        )
    split = list(argv).index("--")
    options, command = list(argv[:split]), list(argv[split + 1 :])
    values = dict(zip(options[::2], options[1::2], strict=False))
    if "--parent" not in values or not command:
        raise SystemExit("deathwatch: --parent PID and a COMMAND after -- are required")
    return int(values["--parent"]), int(values.get("--nice", "0")), command


def _gone(parent: int) -> bool:
    # Once the parent died this process was handed to init (or a subreaper): another parent pid.
    return os.getppid() != parent


def _wait(child: subprocess.Popen[bytes], parent: int) -> bool:
    """Block until the child exits (False) or the parent goes away (True)."""
    try:
        parent_fd = os.pidfd_open(parent)
    except ProcessLookupError:
        return True
    except (OSError, AttributeError):  # no pidfds here (Linux before 5.3)
        return _poll(child, parent)
    try:
        child_fd = os.pidfd_open(child.pid)
    except OSError:
        os.close(parent_fd)
        return _poll(child, parent)
    try:
        if _gone(parent):  # died before its pidfd was opened: the pid may be another process's now
            return True
        poller = select.poll()
        poller.register(parent_fd, select.POLLIN)
        poller.register(child_fd, select.POLLIN)
        ready = {fd for fd, _ in poller.poll()}
        return parent_fd in ready
    finally:
        os.close(parent_fd)
        os.close(child_fd)


def _poll(child: subprocess.Popen[bytes], parent: int) -> bool:
    """``_wait`` without pidfds: look at the parent every ``POLL_S`` seconds."""
    while not _gone(parent):
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=POLL_S)
            return False
    return True


def _stop_session(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM every process of this session, SIGKILL whatever is left after the grace period.

    Process by process, not by process group: an engine process may have made a group of its own.
    """
    from verticals.serving.backends.vllm.leftovers import signal_session

    me = os.getpid()
    with contextlib.suppress(PermissionError):
        signal_session(me, signal.SIGTERM, spare=me)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=GRACE_S)
        signal_session(me, signal.SIGKILL, spare=me)


def _exit_like(status: int) -> None:
    """Exit with the child's status, or die of the signal that killed it."""
    if status < 0:
        with contextlib.suppress(OSError, ValueError):  # SIGKILL has no handler to reset
            signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
        time.sleep(1)  # a stopped-but-not-killed signal would land here; fall through to an exit
        raise SystemExit(128 - status)
    raise SystemExit(status)


def main(argv: Sequence[str]) -> None:
    """Run the deathwatch: ``argv`` is ``--parent PID [--nice N] -- COMMAND ...`` (without the program name).
    See the module docstring.

    Never returns: exits as COMMAND exited (its status, or killed by the same signal). Raises SystemExit with
    a usage message for bad arguments, or when this process cannot start a session of its own.
    """
    parent, nice, command = _parse(argv)
    if os.getsid(0) != os.getpid():
        # It stops its whole session when the parent goes: that must never be the parent's own.
        try:
            os.setsid()
        except PermissionError:  # a process group leader cannot start a session
            raise SystemExit(
                "deathwatch: start it in a session of its own (setsid, start_new_session=True)"
            ) from None
    # The session gets SIGTERM (or SIGINT) as a whole when it is stopped: the server handles it;
    # this process waits for the server's exit. A handler, not SIG_IGN: an ignored signal would
    # stay ignored in the server after exec.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    if nice:
        # Before the fork: the server, and every engine process it forks, inherit it.
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    # preexec_fn is unsafe only in a threaded parent; this process has one thread.
    child = subprocess.Popen(command, preexec_fn=_die_with_parent)
    if _wait(child, parent):
        print(
            f"deathwatch: the process {parent} that started this server is gone; stopping the server",
            file=sys.stderr,
            flush=True,
        )
        _stop_session(child)
    _exit_like(child.wait())


if __name__ == "__main__":
    main(sys.argv[1:])
