"""verticals-health: ``health/diagnosis``, a breast-cancer diagnostic classifier with reason codes,
FHIR R4 and table adapters, and a PHI guard.

Importing this module is cheap: torch, numpy, pandas and scikit-learn load inside functions.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from verticals import hookimpl
from verticals.adapters import DataAdapter
from verticals.evaluation import Evaluation
from verticals.models import Backend, ModelSpec, Task, TensorSpec, Unit
from verticals_health.cases import read_case_table, read_cases
from verticals_health.model import MODEL, RECIPE, DiagnosisPredictor, prepare

__version__ = "0.1.0"

PRICE_PER_ROW_USD = Decimal("0.01")


def diagnosis_spec() -> ModelSpec:
    return ModelSpec(
        name=MODEL,
        task=Task.TABULAR_SCORING,
        backend=Backend.TORCH,
        source="builtin://health/diagnosis",
        unit=Unit.ROWS,
        price_per_unit_usd=PRICE_PER_ROW_USD,
        description="Probability that a breast fine-needle aspirate is malignant, with reason codes.",
        version=__version__,
        prepare=prepare,
        predictor=DiagnosisPredictor,
        input_adapter="health/cases",
        inputs=(TensorSpec(name="features", datatype="FP32", shape=(-1, 30)),),
        outputs=(
            TensorSpec(name="score", datatype="FP32", shape=(-1,)),
            TensorSpec(name="diagnosis", datatype="BYTES", shape=(-1,)),
            TensorSpec(name="reason_codes", datatype="BYTES", shape=(-1,)),
        ),
        training=RECIPE,
    )


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(diagnosis_spec())


@hookimpl
def register_data_adapters(register: Callable[[DataAdapter], None]) -> None:
    from verticals_health.evaluation import read_holdout

    register(
        DataAdapter(
            name="health/cases",
            formats=("fhir-json", "json", "csv", "parquet"),
            read_payload=read_cases,
            read_source=read_case_table,
            description="A FHIR R4 Bundle of Observations (one row per patient), JSON records of the 30 "
            "WDBC features, or CSV/Parquet bytes; the operator's CSV/Parquet files -> feature rows; "
            "identifiers are never kept",
        )
    )
    register(
        DataAdapter(
            name="health/diagnosis-holdout",
            formats=("json",),
            read_source=read_holdout,
            description="The evaluation's held-out breast-cancer cases, with labels",
        )
    )


@hookimpl
def register_evaluations(register: Callable[[Evaluation], None]) -> None:
    from verticals_health.evaluation import SUITE

    register(SUITE)
