"""``verticals eval MODEL``: run the suites, store them in the ledger, exit 1 on a failed threshold."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

ENGINES = ("auto", "vllm", "transformers")  # kept here so that `verticals --help` imports no runner

if TYPE_CHECKING:
    from verticals.evaluate.runner import SuiteResult


def attach(cli: click.Group) -> None:
    """Add ``eval`` to the ``verticals`` CLI group ``cli``."""
    cli.add_command(eval_command)


@click.command(name="eval")
@click.argument("model")
@click.option("--suite", help="Run only this suite (default: every suite of the model).")
@click.option(
    "--version", help="Evaluate this stored version (default: the promoted one, else the pulled one)."
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="auto",
    show_default=True,
    help="For vllm models: the vLLM server, or the transformers fallback; auto takes vLLM when installed.",
)
@click.option(
    "--port", type=click.IntRange(1, 65535), help="Port for the vLLM server it starts (default: a free one)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def eval_command(
    model: str, suite: str | None, version: str | None, engine: str, port: int | None, as_json: bool
) -> None:
    """Run MODEL's evaluation suites through its serving backend and record them in the ledger.

    Exits with status 1 when a metric misses its threshold, so it can gate a release.
    """
    from verticals.config import ConfigError, load_settings
    from verticals.evaluate.backends import EvalError
    from verticals.evaluate.runner import record_results, run_evaluations
    from verticals.output import print_json
    from verticals.registry import Registry, UnknownNameError
    from verticals.store import ModelStore, StoreError

    try:
        settings = load_settings()
        results = run_evaluations(
            Registry.load(),
            model,
            ModelStore.from_settings(settings),
            suite=suite,
            version=version,
            engine=engine,
            port=port,
            log_dir=settings.home / "logs",
            progress=True,
        )
    except (ConfigError, EvalError, StoreError, UnknownNameError) as error:
        raise click.ClickException(str(error)) from None
    record_problem = record_results(settings.home, results)
    rows = [result.to_json() for result in results]
    if as_json:
        print_json(rows[0] if len(rows) == 1 else rows)
    else:
        _print(results)
    if record_problem:
        raise click.ClickException(record_problem)
    if not all(result.passed for result in results):
        sys.exit(1)


def _print(results: list[SuiteResult]) -> None:
    for result in results:
        verdict = "PASSED" if result.passed else f"FAILED ({', '.join(result.failed)})"
        click.echo(f"{result.model} {result.version} {result.suite} [{result.backend}]: {verdict}")
        for name, value in result.metrics.items():
            bounds: Any = result.thresholds.get(name)
            limit = ""
            if bounds:
                limit = " ".join(f"{k} {v}" for k, v in bounds.items() if v is not None)
                limit = f"  (threshold: {limit})"
            click.echo(f"  {name} = {value:.4f}{limit}")
