"""verticals-finance: ``finance/fraud``, a transaction fraud scorer with reason codes.

Importing this module is cheap: torch, numpy, pandas and scikit-learn load inside functions.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from verticals import hookimpl
from verticals.adapters import DataAdapter
from verticals.evaluation import Evaluation
from verticals.models import Backend, ModelSpec, Task, TensorSpec, Unit
from verticals_finance.model import MODEL, RECIPE, FraudPredictor, FraudSettings, prepare
from verticals_finance.schema import read_transaction_payload, read_transaction_source

__version__ = "0.2.0"  # also keys the default weights in the model store: bump it when build() changes

PRICE_PER_ROW_USD = Decimal("0.001")


def fraud_spec() -> ModelSpec:
    return ModelSpec(
        name=MODEL,
        task=Task.TABULAR_SCORING,
        backend=Backend.TORCH,
        source="builtin://finance/fraud",
        unit=Unit.ROWS,
        price_per_unit_usd=PRICE_PER_ROW_USD,
        description="Card-transaction fraud score (0-1) with the top reason codes, per transaction.",
        version=__version__,
        prepare=prepare,
        predictor=FraudPredictor,
        input_adapter="finance/transactions",
        inputs=(TensorSpec(name="transaction", datatype="BYTES", shape=(-1,)),),
        outputs=(
            TensorSpec(name="score", datatype="FP32", shape=(-1,)),
            TensorSpec(name="flagged", datatype="BOOL", shape=(-1,)),
            TensorSpec(name="reason_codes", datatype="BYTES", shape=(-1,)),
            TensorSpec(name="transaction_id", datatype="BYTES", shape=(-1,)),
        ),
        training=RECIPE,
        settings=FraudSettings,
    )


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(fraud_spec())


@hookimpl
def register_data_adapters(register: Callable[[DataAdapter], None]) -> None:
    from verticals_finance.evaluation import read_holdout

    register(
        DataAdapter(
            name="finance/transactions",
            formats=("json", "csv", "parquet", "duckdb"),
            read_payload=read_transaction_payload,
            read_source=read_transaction_source,
            description="Requests: JSON transaction record(s) or CSV/Parquet bytes. Operator: CSV/Parquet "
            "files or 'duckdb:PATH:TABLE'. Validated against the transaction schema",
        )
    )
    register(
        DataAdapter(
            name="finance/fraud-holdout",
            formats=("json",),
            read_source=read_holdout,
            description="The evaluation's generated hold-out transactions, with labels",
        )
    )


@hookimpl
def register_evaluations(register: Callable[[Evaluation], None]) -> None:
    from verticals_finance.evaluation import SUITE

    register(SUITE)
