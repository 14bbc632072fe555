"""verticals-vision: ``vision/digits``, a CNN digit classifier, with image adapters and its evaluation.

Importing this module is cheap: torch, numpy, Pillow and scikit-learn load inside functions.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from verticals import hookimpl
from verticals.adapters import DataAdapter
from verticals.evaluation import Evaluation
from verticals.models import Backend, ModelSpec, Task, TensorSpec, Unit
from verticals_vision.digits import MODEL, RECIPE, DigitsPredictor, prepare
from verticals_vision.images import read_image_source, read_images

__version__ = "0.1.0"

PRICE_PER_IMAGE_USD = Decimal("0.0005")


def digits_spec() -> ModelSpec:
    return ModelSpec(
        name=MODEL,
        task=Task.IMAGE_CLASSIFICATION,
        backend=Backend.TORCH,
        source="builtin://vision/digits",
        unit=Unit.IMAGES,
        price_per_unit_usd=PRICE_PER_IMAGE_USD,
        description="Handwritten digit (0-9) classifier: a small CNN trained on scikit-learn's digits.",
        version=__version__,
        prepare=prepare,
        predictor=DigitsPredictor,
        input_adapter="vision/image",
        inputs=(TensorSpec(name="image", datatype="FP32", shape=(-1, 8, 8)),),
        outputs=(
            TensorSpec(name="label", datatype="INT64", shape=(-1,)),
            TensorSpec(name="probabilities", datatype="FP32", shape=(-1, 10)),
        ),
        training=RECIPE,
    )


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(digits_spec())


@hookimpl
def register_data_adapters(register: Callable[[DataAdapter], None]) -> None:
    from verticals_vision.evaluation import read_holdout

    register(
        DataAdapter(
            name="vision/image",
            formats=("png", "jpeg", "base64", "array"),
            read_payload=read_images,
            read_source=read_image_source,
            description="Requests: PNG/JPEG bytes, base64 (data: URLs too) or a pixel array of any size and "
            "colour mode; operator: an image file -> 8x8 grey digits on the 0..16 scale",
        )
    )
    register(
        DataAdapter(
            name="vision/digits-holdout",
            formats=("json",),
            read_source=read_holdout,
            description="The held-out quarter of scikit-learn's digits, as labelled 8x8 images",
        )
    )


@hookimpl
def register_evaluations(register: Callable[[Evaluation], None]) -> None:
    from verticals_vision.evaluation import SUITE

    register(SUITE)
