"""The evaluation contract: a data set, metrics and pass thresholds that gate a model's release."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from verticals._naming import check_model_name, check_plain_name

PredictFn = Callable[[Sequence[Any]], list[Any]]
"""Runs a batch of inputs through the model's serving backend and returns one output per input."""


class Threshold(BaseModel):
    """A metric passes when it is at least ``min`` and at most ``max`` (either may be left out)."""

    model_config = ConfigDict(frozen=True)

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> Threshold:
        if self.min is None and self.max is None:
            raise ValueError("a threshold needs min, max or both")
        return self

    def passes(self, value: float) -> bool:
        """True when ``value`` is at least ``min`` and at most ``max`` (a None bound is open). NaN passes only
        when both bounds are None.
        """
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


class Evaluation(BaseModel):
    """A suite registered by ``register_evaluations``.

    ``score(records, predict)`` receives the records that ``adapter``'s ``read_source`` read from
    ``dataset`` (the operator door: evaluation data never comes from a request) and a
    ``predict`` function bound to the model's serving backend, and returns ``{metric: value}``.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    model: str
    dataset: str = Field(description="path of the data set the plugin ships")
    adapter: str = Field(description="name of the registered adapter whose read_source reads the data set")
    metrics: tuple[str, ...] = Field(min_length=1)
    thresholds: dict[str, Threshold]
    score: Callable[[list[Any], PredictFn], dict[str, float]]
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_plain_name(value, "evaluation")

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        return check_model_name(value)

    @model_validator(mode="after")
    def _thresholds_name_metrics(self) -> Evaluation:
        unknown = sorted(set(self.thresholds) - set(self.metrics))
        if unknown:
            raise ValueError(
                f"thresholds name metrics the suite does not report: {unknown}; "
                f"the suite reports {list(self.metrics)}"
            )
        return self
