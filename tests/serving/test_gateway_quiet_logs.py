"""``verticals serve --log-dir`` (what ``make up`` runs) with a real sentence-transformers model: the
terminal shows no third-party progress bar, no access line and no "nanobind: leaked" at exit; the
requests are in ``access.log``. Port 18296."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

PORT = 18296
TOKEN = "vadm_quiet_logs_test_token"


@pytest.mark.slow
def test_serve_with_a_log_dir_keeps_the_terminal_to_warnings(tmp_path: Path, model_cache: Path) -> None:
    pytest.importorskip("verticals_nlp")
    home, logs = tmp_path / "home", tmp_path / "home" / "logs"
    env = {
        **os.environ,
        "VERTICALS_HOME": str(home),
        "VERTICALS_MODEL_CACHE": str(model_cache),
        "VERTICALS_LOAD_PLUGINS": "nlp",
        "VERTICALS_ADMIN_TOKEN": TOKEN,
    }
    for name in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS"):  # the gateway must set them itself
        env.pop(name, None)
    command = [sys.executable, "-m", "verticals", "serve", "--port", str(PORT), "--model", "nlp/embed"]
    process = subprocess.Popen(
        [*command, "--log-dir", str(logs)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{PORT}"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None, process.communicate()[0][-3000:]
            try:
                if httpx.get(url + "/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "verticals serve did not become ready"
            time.sleep(0.3)
        admin = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.post(
            url + "/admin/customers", json={"name": "acme", "plan": "pro"}, headers=admin
        ).is_success
        key = httpx.post(url + "/admin/keys", json={"customer": "acme"}, headers=admin).json()["key"]
        for text in ("the first sentence", ["a batch", "of three", "sentences"]):
            response = httpx.post(
                url + "/v1/embeddings",
                json={"model": "nlp/embed", "input": text},
                headers={"Authorization": f"Bearer {key}"},
                timeout=60,
            )
            assert response.status_code == 200, response.text
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C: the exit that printed the leaks
        terminal = process.communicate(timeout=120)[0]
    assert process.returncode == 0, terminal[-3000:]
    for noise in ("Batches", "Loading weights", "it/s]", "nanobind", '"path"', "/v1/embeddings"):
        assert noise not in terminal, f"{noise!r} on the terminal:\n{terminal[-3000:]}"
    access = [json.loads(line) for line in (logs / "access.log").read_text().splitlines()]
    assert [a["status"] for a in access if a["path"] == "/v1/embeddings"] == [200, 200]
    gateway_log = (logs / "gateway.log").read_text()
    assert "Application startup complete" in gateway_log  # the INFO lines are kept, in the file
