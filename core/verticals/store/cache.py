"""The model cache: one folder per model version, each with a manifest of every file's sha256.

Layout under the cache directory::

    <plugin>/<model>/versions/<version>/manifest.json   name, version, source, files, size, prepared_at
    <plugin>/<model>/versions/<version>/files/...       what the backend loads
    <plugin>/<model>/pulled                             the version last pulled from the spec's source
    <plugin>/<model>/promoted                           the version to serve, when one was promoted
    _downloads/pypi/<package>-<version>/*.whl           verified wheels, so a repair needs no network

A version is built in a staging folder and renamed into place with its manifest, so a folder
without a manifest is a partial pull and is redone.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from verticals.models import ModelSpec
from verticals.store.checksums import hash_tree, sha256_file, tree_digest
from verticals.store.errors import ChecksumMismatch, StoreError
from verticals.store.sources import fetch

if TYPE_CHECKING:
    from verticals.config import Settings

_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_SCHEMES = ("hf://", "pypi://", "file://", "builtin://")


@dataclass(frozen=True)
class Resolved:
    """Where a model comes from once verticals.toml overrides are applied."""

    source: str
    sha256: str | None
    prepare: Callable[[Path, Path], None] | None
    version: str
    overridden: bool


class ModelStore:
    """The model cache under ``cache_dir``: versions of each model (``plugin/model``) with a manifest of every
    file's sha256, and the ``pulled`` / ``promoted`` pointers (layout in the module docstring).

    ``overrides`` are the ``[models."NAME"]`` tables of verticals.toml, by model name (source, sha256, ...).
    """

    def __init__(self, cache_dir: Path, *, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.cache_dir = Path(cache_dir)
        self.overrides = overrides or {}

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ModelStore:
        """The store at ``settings.model_dir``, honouring ``[models."NAME"]`` overrides."""
        from verticals.config import load_settings

        settings = settings if settings is not None else load_settings()
        return cls(
            settings.model_dir, overrides={name: settings.model_override(name) for name in settings.models}
        )

    # -- where a model comes from -------------------------------------------------------------

    def resolve(self, spec: ModelSpec) -> Resolved:
        """Apply ``[models."NAME"] source = ...`` from the config.

        An overridden source gets its own version id and skips the plugin's preparation step and
        sha256, which belong to the plugin's own artifact (a 7B from the hub needs neither).
        """
        override = self.overrides.get(spec.name, {})
        source = str(override.get("source", spec.source))
        if source == spec.source:
            return Resolved(
                spec.source,
                override.get("sha256", spec.sha256),
                spec.prepare,
                str(override.get("version", spec.version)),
                False,
            )
        if not source.startswith(_SCHEMES):
            raise StoreError(
                f'[models."{spec.name}"] source = {source!r} in verticals.toml must start with '
                "hf://, pypi://, file:// or builtin://"
            )
        digest = hashlib.sha256(source.encode()).hexdigest()[:8]
        version = str(override.get("version") or f"{spec.version}+{digest}")
        return Resolved(source, override.get("sha256"), None, _check_version(spec.name, version), True)

    # -- pulling ------------------------------------------------------------------------------

    def pull(self, spec: ModelSpec, *, progress: bool = False, force: bool = False) -> Path:
        """Make ``spec``'s files present and verified; return the folder the backend loads.

        Idempotent: a complete pull is only re-hashed. Missing files (or a partial pull) are fetched
        and prepared again; a file whose bytes changed raises ``ChecksumMismatch`` unless ``force``.
        """
        resolved = self.resolve(spec)
        version_dir = self._version_dir(spec.name, resolved.version)
        with self._lock(spec.name):
            self._clean_staging(spec.name)
            manifest = _read_manifest(version_dir)
            if manifest is not None and manifest.get("source") == resolved.source and not force:
                missing = self._verify(spec.name, version_dir, manifest, progress=progress)
                if not missing:
                    self._write_pointer(spec.name, "pulled", resolved.version)
                    return version_dir / "files"
                _say(progress, f"{spec.name}: {len(missing)} file(s) missing ({missing[0]}, ...): repairing")
            self._build(spec.name, resolved, progress=progress)
            self._write_pointer(spec.name, "pulled", resolved.version)
        return version_dir / "files"

    def _build(self, name: str, resolved: Resolved, *, progress: bool) -> None:
        model_root = self._model_root(name)
        with tempfile.TemporaryDirectory(dir=model_root, prefix=".staging-") as tmp:
            stage = Path(tmp)
            fetched, files = stage / "fetched", stage / "version" / "files"
            fetched.mkdir()
            files.parent.mkdir()
            _say(progress, f"{name}: fetching {resolved.source}")
            fetch(
                name,
                resolved.source,
                resolved.sha256,
                fetched,
                self.cache_dir / "_downloads",
                progress=progress,
            )
            if resolved.prepare is not None:
                _say(progress, f"{name}: preparing (cached once done)")
                files.mkdir()
                try:
                    resolved.prepare(fetched, files)
                except Exception as error:
                    raise StoreError(
                        f"model {name!r}: preparing the files fetched from {resolved.source} failed: "
                        f"{type(error).__name__}: {error}"
                    ) from error
            else:
                fetched.rename(files)
            _say(progress, f"{name}: recording checksums")
            self._install(
                name,
                resolved.version,
                stage / "version",
                {"source": resolved.source, "source_sha256": resolved.sha256, "kind": "pulled"},
            )

    def _install(self, name: str, version: str, built: Path, extra: dict[str, Any]) -> None:
        """Write the manifest of ``built`` (holding ``files/``) and swap it in as ``version``."""
        files = hash_tree(built / "files")
        manifest = {
            "name": name,
            "version": version,
            **extra,
            "files": files,
            "size_bytes": sum((built / "files" / p).stat().st_size for p in files),
            "sha256": tree_digest(files),
            "prepared_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        (built / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
        target = self._version_dir(name, version)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            trash = target.with_name(f".trash-{version}-{os.getpid()}")
            target.rename(trash)
            built.rename(target)
            shutil.rmtree(trash)
        else:
            built.rename(target)

    def _verify(self, name: str, version_dir: Path, manifest: dict[str, Any], *, progress: bool) -> list[str]:
        """Missing files, for repair; raises ``ChecksumMismatch`` on the first changed one."""
        missing: list[str] = []
        files: dict[str, str] = manifest["files"]
        for relative, expected in _progress_items(progress, f"verifying {name}", files):
            path = version_dir / "files" / relative
            if not path.is_file():
                missing.append(relative)
            elif (actual := sha256_file(path)) != expected:
                raise ChecksumMismatch(
                    f"model {name!r} version {manifest['version']}: {relative} has sha256 {actual}, the "
                    f"manifest recorded {expected} when it was pulled: the file was changed since and is "
                    f"refused. Run `verticals models pull {name} --force` to replace it with a fresh copy"
                )
        return missing

    # -- reading the cache --------------------------------------------------------------------

    def path(self, name: str, version: str | None = None) -> Path:
        """The folder holding the version's files (the promoted one, else the pulled one)."""
        version = self._version_or_current(name, version)
        folder = self._version_dir(name, version)
        if _read_manifest(folder) is None:
            raise StoreError(
                f"model {name!r} version {version} is not in the model cache {self.cache_dir}; run "
                f"`verticals models pull {name}`"
            )
        return folder / "files"

    def manifest(self, name: str, version: str | None = None) -> dict[str, Any]:
        """The manifest (parsed ``manifest.json``: name, version, source, files, size, prepared_at) of
        ``version`` of ``name``, by default the promoted version, else the one last pulled.

        Raises StoreError when the model or that version is not in the cache (naming ``verticals models
        pull``), or the version string is not a valid version id.
        """
        version = self._version_or_current(name, version)
        manifest = _read_manifest(self._version_dir(name, version))
        if manifest is None:
            raise StoreError(
                f"model {name!r} version {version} is not in the model cache {self.cache_dir}; run "
                f"`verticals models pull {name}`"
            )
        return manifest

    def status(self, spec: ModelSpec) -> dict[str, Any] | None:
        """The manifest of the version ``spec`` serves now (promoted, else from its source), or None."""
        promoted = self.promoted_version(spec.name)
        resolved = self.resolve(spec)
        manifest = _read_manifest(self._version_dir(spec.name, promoted or resolved.version))
        if manifest is not None and promoted is None and manifest.get("source") != resolved.source:
            return None  # pulled from a source the config no longer names
        return manifest

    def versions(self, name: str) -> list[str]:
        """The complete versions of ``name`` in the cache (those with a manifest; a partial pull is left out),
        sorted as strings; an empty list when none.
        """
        root = self._model_root(name) / "versions"
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if (p / "manifest.json").is_file())

    # -- trained versions ---------------------------------------------------------------------

    def add_version(self, name: str, files_dir: Path, card: dict[str, Any]) -> str:
        """Store the files of a trained model as a new version (not promoted); returns its id."""
        if not Path(files_dir).is_dir() or not any(Path(files_dir).iterdir()):
            raise StoreError(f"model {name!r}: {files_dir} holds no files to store as a version")
        model_root = self._model_root(name)
        with self._lock(name), tempfile.TemporaryDirectory(dir=model_root, prefix=".staging-") as tmp:
            built = Path(tmp) / "version"
            shutil.copytree(files_dir, built / "files")
            digest = tree_digest(hash_tree(built / "files"))
            version = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{digest[:8]}"
            self._install(
                name,
                version,
                built,
                {"source": f"trained://{name}", "source_sha256": None, "kind": "trained", "card": card},
            )
        return version

    def promote(self, name: str, version: str) -> None:
        """Serve ``version`` from now on (``path(name)`` returns it)."""
        if _read_manifest(self._version_dir(name, _check_version(name, version))) is None:
            known = ", ".join(self.versions(name)) or "none"
            raise StoreError(f"model {name!r} has no version {version!r} in the cache; versions: {known}")
        with self._lock(name):
            self._write_pointer(name, "promoted", version)

    def promoted_version(self, name: str) -> str | None:
        """The version ``verticals models promote`` chose for ``name``, or None when none was promoted."""
        return self._read_pointer(name, "promoted")

    # -- helpers ------------------------------------------------------------------------------

    def _model_root(self, name: str, *, create: bool = False) -> Path:
        plugin, model = name.split("/", 1)
        root = self.cache_dir / plugin / model
        if create:  # only writers create folders: listing models leaves the cache as it is
            root.mkdir(parents=True, exist_ok=True)
        return root

    def _version_dir(self, name: str, version: str) -> Path:
        return self._model_root(name) / "versions" / _check_version(name, version)

    def _version_or_current(self, name: str, version: str | None) -> str:
        if version is not None:
            return _check_version(name, version)
        current = self.promoted_version(name) or self._read_pointer(name, "pulled")
        if current is None:
            raise StoreError(
                f"model {name!r} is not pulled into {self.cache_dir}; run `verticals models pull {name}`"
            )
        return current

    def _read_pointer(self, name: str, which: str) -> str | None:
        pointer = self._model_root(name) / which
        return pointer.read_text().strip() or None if pointer.is_file() else None

    def _write_pointer(self, name: str, which: str, version: str) -> None:
        pointer = self._model_root(name) / which
        tmp = pointer.with_name(f".{which}.tmp")
        tmp.write_text(version + "\n")
        tmp.replace(pointer)

    def _clean_staging(self, name: str) -> None:
        """Remove what an interrupted pull left behind (we hold the model's lock)."""
        root = self._model_root(name)
        for leftover in [*root.glob(".staging-*"), *(root / "versions").glob(".trash-*")]:
            shutil.rmtree(leftover, ignore_errors=True)

    @contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        """One pull of a model at a time, across processes (tests and the CLI may pull together)."""
        with (self._model_root(name, create=True) / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _check_version(name: str, version: str) -> str:
    if not _VERSION.match(version):
        raise StoreError(f"model {name!r}: version {version!r} must be letters, digits, '.', '_', '+' or '-'")
    return version


def _read_manifest(version_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((version_dir / "manifest.json").read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("files"), dict) else None


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def _progress_items(progress: bool, label: str, files: dict[str, str]) -> Iterator[tuple[str, str]]:
    if not progress or len(files) < 2:
        yield from files.items()
        return
    import click

    with click.progressbar(list(files.items()), label=label, file=sys.stderr) as bar:
        yield from bar
