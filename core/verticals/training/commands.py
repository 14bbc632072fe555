"""``verticals train MODEL`` and ``verticals models promote MODEL VERSION``."""

from __future__ import annotations

import sys
from typing import Any

import click


def attach(cli: click.Group) -> None:
    """Add ``train`` to the CLI, and ``promote`` to its ``models`` group when it has one."""
    cli.add_command(train_command)
    models = cli.commands.get("models")
    if isinstance(models, click.Group):
        models.add_command(promote_command)


@click.command(name="train")
@click.argument("model")
@click.option(
    "--data", help="Training data: a file, folder or table the model's recipe reads (default: its own)."
)
@click.option(
    "--epochs", type=click.IntRange(min=1), help="Most epochs to run (early stopping may end sooner)."
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed for the split, the weights and the order."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def train_command(model: str, data: str | None, epochs: int | None, seed: int, as_json: bool) -> None:
    """Train MODEL and store the result as a new version (not served until promoted).

    Splits the data into training and validation parts, stops early when the validation loss stops
    improving, lowers the learning rate on plateaus, and reproduces the same metrics for the same
    --seed and data. Promote the version with `verticals models promote MODEL VERSION`.
    """
    from verticals.adapters import AdapterError
    from verticals.config import ConfigError
    from verticals.output import print_json
    from verticals.registry import Registry, UnknownNameError
    from verticals.store import ModelStore, StoreError
    from verticals.training.version import NotTrainableError, train_version

    try:
        spec = Registry.load().model(model)
        if spec.training is None:
            raise NotTrainableError(
                f"model {model!r} has no training recipe, so `verticals train` cannot fit it; trainable "
                "models are torch models whose plugin gives ModelSpec(training=...)"
            )
        store = ModelStore.from_settings()
        max_epochs = epochs or spec.training.epochs
        with click.progressbar(
            length=max_epochs,
            label=f"training {model}",
            file=sys.stderr,
            show_eta=False,
            item_show_func=_show,
        ) as bar:

            def progress(epoch: int, total: int, row: dict[str, float]) -> None:
                bar.update(1, row)

            trained = train_version(spec, store, data=data, epochs=epochs, seed=seed, progress=progress)
    except (AdapterError, ConfigError, NotTrainableError, StoreError, UnknownNameError) as error:
        raise click.ClickException(str(error)) from None
    result = {
        "model": trained.model,
        "version": trained.version,
        "metrics": trained.metrics,
        "card": trained.card,
    }
    if as_json:
        print_json(result)
        return
    run = trained.card["training"]
    click.echo(
        f"{model}: version {trained.version} (epochs run {run['epochs_run']}, best {run['best_epoch']})"
    )
    for name, value in trained.metrics.items():
        click.echo(f"  {name} = {value:.4f}")
    click.echo(f"serve it with: verticals models promote {model} {trained.version}")


def _show(row: dict[str, float] | None) -> str:
    return "" if row is None else f"val_loss {row['val_loss']:.4f}"


@click.command(name="promote")
@click.argument("model")
@click.argument("version")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def promote_command(model: str, version: str, as_json: bool) -> None:
    """Serve VERSION of MODEL from now on, if every evaluation suite of MODEL passes on it.

    A version that fails a threshold is refused (exit status 1) and the one served stays.
    """
    from verticals.adapters import AdapterError
    from verticals.config import ConfigError, load_settings
    from verticals.evaluate import EvalError
    from verticals.output import print_json
    from verticals.registry import Registry, UnknownNameError
    from verticals.store import ModelStore, StoreError
    from verticals.training.promote import PromotionRefused, promote_version
    from verticals.training.weights import WeightsError

    refused: PromotionRefused | None = None
    try:
        settings = load_settings()
        store = ModelStore.from_settings(settings)
        results = promote_version(Registry.load(), store, model, version, home=settings.home)
    except PromotionRefused as error:
        refused, results = error, error.results
    except (AdapterError, ConfigError, EvalError, StoreError, UnknownNameError, WeightsError) as error:
        raise click.ClickException(str(error)) from None
    summary: dict[str, Any] = {
        "model": model,
        "version": version,
        "promoted": refused is None,
        "suites": [result.to_json() for result in results],
    }
    if as_json:
        print_json(summary)
    elif refused is None:
        click.echo(f"{model}: version {version} promoted; the gateway serves it from its next start")
    if refused is not None:
        if not as_json:
            click.echo(f"Error: {refused}", err=True)
        sys.exit(1)
