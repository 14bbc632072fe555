"""``verticals models pull`` and the store's columns in ``verticals models list``."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from verticals.models import ModelSpec
    from verticals.store import ModelStore


def store_columns(store: ModelStore, spec: ModelSpec) -> dict[str, Any]:
    """``pulled``, ``version``, ``size_bytes`` and ``sha256`` (of the whole model folder) for a listing."""
    if not spec.needs_files:
        return {"pulled": True, "version": spec.version, "size_bytes": 0, "sha256": None}
    from verticals.store import StoreError

    try:
        manifest = store.status(spec)
    except StoreError:
        manifest = None
    if manifest is None:
        return {"pulled": False, "version": None, "size_bytes": None, "sha256": None}
    return {
        "pulled": True,
        "version": manifest["version"],
        "size_bytes": manifest["size_bytes"],
        "sha256": manifest["sha256"],
    }


def attach(cli: click.Group) -> None:
    """Add ``pull`` to the CLI's ``models`` group; a CLI without a ``models`` group (a test's) is left as it
    is.
    """
    # `models pull` joins the root's `models` group; a group without one (a test's) gets nothing.
    models = cli.commands.get("models")
    if isinstance(models, click.Group):
        models.add_command(pull)


@click.command()
@click.argument("names", nargs=-1)
@click.option("--all", "pull_all", is_flag=True, help="Pull every registered model that has files.")
@click.option("--force", is_flag=True, help="Fetch again even when the cached copy is complete.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifests (without file lists) as JSON.")
def pull(names: tuple[str, ...], pull_all: bool, force: bool, as_json: bool) -> None:
    """Download, verify and prepare models into the model cache (idempotent; repairs missing files)."""
    from verticals.config import ConfigError
    from verticals.output import print_json
    from verticals.registry import Registry, UnknownNameError
    from verticals.store import ModelStore, StoreError

    if not names and not pull_all:
        raise click.UsageError("name the models to pull (see `verticals models list`) or pass --all")
    registry = Registry.load()
    try:
        specs = (
            [registry.model(name) for name in names]
            if names
            else [registered.item for _, registered in sorted(registry.models.items())]
        )
        store = ModelStore.from_settings()
    except (UnknownNameError, ConfigError) as error:
        raise click.ClickException(str(error)) from None
    results = []
    for index, spec in enumerate(specs, start=1):
        if not spec.needs_files:
            if names:
                click.echo(f"{spec.name}: built in, nothing to pull", err=True)
            continue
        click.echo(f"[{index}/{len(specs)}] {spec.name} <- {store.resolve(spec).source}", err=True)
        started = time.perf_counter()
        try:
            store.pull(spec, progress=sys.stderr.isatty() or not as_json, force=force)
            manifest = store.manifest(spec.name, store.resolve(spec).version)
        except StoreError as error:
            raise click.ClickException(str(error)) from None
        seconds = time.perf_counter() - started
        summary = {k: v for k, v in manifest.items() if k != "files"} | {"seconds": round(seconds, 2)}
        results.append(summary)
        if not as_json:
            click.echo(
                f"{spec.name} version {manifest['version']}: {len(manifest['files'])} files, "
                f"{manifest['size_bytes'] / 1e6:.1f} MB, sha256 {manifest['sha256'][:16]}... "
                f"({seconds:.1f} s)"
            )
    if as_json:
        print_json(results)
