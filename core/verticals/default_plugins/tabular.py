"""``tabular/linear``: a trivial torch scorer, ``sigmoid(w . x + b)`` over four features.

Its fixed weights make every score computable by hand, so it serves as the core's reference
torch model: dynamic batching, the v2 protocol and per-row metering are tested against it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from verticals import hookimpl
from verticals.adapters import AdapterError, DataAdapter
from verticals.models import Backend, ModelSpec, Predictor, Task, TensorSpec, Unit

WEIGHTS = (0.5, -0.25, 1.0, 2.0)
BIAS = -1.0
FEATURES = len(WEIGHTS)


class LinearPredictor(Predictor):
    """``sigmoid(0.5 a - 0.25 b + c + 2 d - 1)`` for rows of four numbers ``[a, b, c, d]``: a fixed torch
    linear layer, the reference torch model.
    """

    def __init__(self) -> None:
        self._layer: Any = None

    def load(self, model_dir: Path | None) -> None:
        """Build the linear layer with the fixed WEIGHTS and BIAS; ``model_dir`` is ignored (there are no
        files).
        """
        import torch  # heavy: imported only when the model is loaded

        layer = torch.nn.Linear(FEATURES, 1)
        with torch.no_grad():
            layer.weight.copy_(torch.tensor([WEIGHTS]))
            layer.bias.fill_(BIAS)
        self._layer = layer.eval()

    def predict(self, batch: Sequence[Any]) -> list[Any]:
        """One score in (0, 1) (float) per row of ``batch`` (each a list of 4 numbers, or ``{"features":
        [...]}``), loading the layer first if needed; AdapterError for a row that is not 4 numbers.
        """
        import torch

        if self._layer is None:
            self.load(None)
        rows = torch.tensor([read_row(row) for row in batch], dtype=torch.float32)
        with torch.inference_mode():
            scores = torch.sigmoid(self._layer(rows)).squeeze(1)
        return [float(score) for score in scores]


def read_row(row: Any) -> list[float]:
    """Validate one row of four numbers."""
    if isinstance(row, dict):
        row = row.get("features")
    if not isinstance(row, list | tuple) or len(row) != FEATURES:
        raise AdapterError(f"each row must be a list of {FEATURES} numbers, got {row!r}")
    try:
        return [float(value) for value in row]
    except (TypeError, ValueError):
        raise AdapterError(f"each row must hold only numbers, got {row!r}") from None


def read_rows(source: Any) -> list[list[float]]:
    """``tabular/rows``' payload door: a JSON list of rows; reads nothing but the payload."""
    if not isinstance(source, list):
        raise AdapterError(f"expected a list of rows of {FEATURES} numbers, got {type(source).__name__}")
    return [read_row(row) for row in source]


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    """Register ``tabular/linear``: the reference torch scoring model, input FP32 ``[-1, 4]``, output FP32
    ``[-1]``, priced at 0.0001 USD per row.
    """
    register(
        ModelSpec(
            name="tabular/linear",
            task=Task.TABULAR_SCORING,
            backend=Backend.TORCH,
            source="builtin://linear",
            unit=Unit.ROWS,
            price_per_unit_usd=Decimal("0.0001"),
            description="sigmoid(0.5 a - 0.25 b + c + 2 d - 1); a reference torch model.",
            predictor=LinearPredictor,
            inputs=(TensorSpec(name="features", datatype="FP32", shape=(-1, FEATURES)),),
            outputs=(TensorSpec(name="score", datatype="FP32", shape=(-1,)),),
        )
    )


@hookimpl
def register_data_adapters(register: Callable[[DataAdapter], None]) -> None:
    """Register the ``tabular/rows`` adapter: a JSON list of rows of 4 numbers."""
    register(
        DataAdapter(
            name="tabular/rows",
            formats=("json",),
            read_payload=read_rows,
            description=f"A JSON list of rows, each {FEATURES} numbers.",
        )
    )
