"""``verticals eval MODEL`` (or ``--fast``, every model that evaluates in seconds): run the suites, store
them in the ledger, exit 1 on a failed threshold."""

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
@click.argument("model", required=False)
@click.option(
    "--fast",
    is_flag=True,
    help="Instead of MODEL: every model whose suites run in seconds on a CPU (the torch models with "
    "suites), one after another; a model that cannot run is reported and the others still run.",
)
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
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts (a list with --fast).")
def eval_command(
    model: str | None,
    fast: bool,
    suite: str | None,
    version: str | None,
    engine: str,
    port: int | None,
    as_json: bool,
) -> None:
    """Run MODEL's evaluation suites (or, with --fast, every fast model's) through its serving backend and
    record them in the ledger: through the gateway's admin API while `verticals serve` runs.

    Exits with status 1 when a metric misses its threshold, so it can gate a release, or when a model could
    not be evaluated.
    """
    from verticals.config import ConfigError, load_settings
    from verticals.evaluate.backends import EvalError
    from verticals.evaluate.runner import fast_models, record_results, run_evaluations
    from verticals.output import print_json
    from verticals.registry import Registry, UnknownNameError
    from verticals.store import ModelStore, StoreError

    if (model is None) != fast:
        raise click.UsageError("name a MODEL, or pass --fast for every model that evaluates in seconds")
    if fast and (suite or version):
        raise click.UsageError("--suite and --version pick one model's suite or version: name the MODEL")
    results: list[SuiteResult] = []
    problems: list[str] = []
    try:
        settings = load_settings()
        registry = Registry.load()
        store = ModelStore.from_settings(settings)
    except (ConfigError, StoreError) as error:
        raise click.ClickException(str(error)) from None
    names = fast_models(registry) if fast else [str(model)]
    for name in names:
        try:
            results += run_evaluations(
                registry,
                name,
                store,
                suite=suite,
                version=version,
                engine=engine,
                port=port,
                log_dir=settings.home / "logs",
                progress=True,
            )
        except (EvalError, StoreError, UnknownNameError) as error:
            if not fast:
                raise click.ClickException(str(error)) from None
            problems.append(f"{name}: {error}")
            click.echo(f"could not evaluate {name}: {error}", err=True)
    record_problem = record_results(settings.home, results) if results else None
    rows = [result.to_json() for result in results]
    if as_json:
        print_json(rows if fast else rows[0] if len(rows) == 1 else rows)
    else:
        _print(results)
    if fast:
        click.echo(_summary(names, results, problems), err=True)
    if record_problem:
        raise click.ClickException(record_problem)
    if problems or not all(result.passed for result in results):
        sys.exit(1)


def _summary(names: list[str], results: list[SuiteResult], problems: list[str]) -> str:
    if not names:
        return "no model evaluates in seconds on a CPU: no torch model has an evaluation suite"
    passed = sum(result.passed for result in results)
    line = f"{passed} of {len(results)} suites passed on {len(names) - len(problems)} models"
    return line + (f"; {len(problems)} could not run ({'; '.join(problems)})" if problems else "")


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
