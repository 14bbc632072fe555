"""The pydantic contracts refuse bad registrations with messages that say what to write instead."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from verticals.evaluation import Evaluation, Threshold
from verticals.models import Backend, ModelSpec, Task, Unit


def spec(**changes):
    fields = dict(
        name="nlp/chat",
        task="chat",
        backend="vllm",
        source="hf://org/m",
        unit="tokens",
        price_per_unit_usd="0.000002",
    )
    fields.update(changes)
    return ModelSpec(**fields)


def test_valid_spec_is_coerced_to_enums() -> None:
    model = spec()
    assert model.task is Task.CHAT and model.backend is Backend.VLLM and model.unit is Unit.TOKENS
    assert model.price_per_unit_usd == Decimal("0.000002")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "chat"}, "<plugin>/<model>"),
        ({"source": "s3://bucket/model"}, "must start with hf://"),
        ({"task": "dance"}, "chat"),
        ({"price_per_unit_usd": "-1"}, "greater than or equal to 0"),
        ({"backend": "torch"}, "gives no predictor"),
    ],
)
def test_bad_spec_names_the_problem(changes, message) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(**changes)


def test_threshold_needs_a_bound() -> None:
    with pytest.raises(ValidationError, match="min, max or both"):
        Threshold()


def test_thresholds_must_name_reported_metrics() -> None:
    with pytest.raises(ValidationError, match="does not report"):
        Evaluation(
            name="e",
            model="a/b",
            dataset="d",
            adapter="x",
            metrics=("accuracy",),
            thresholds={"f1": Threshold(min=0.5)},
            score=lambda records, predict: {},
        )


def test_linear_default_model_scores_by_hand() -> None:
    from math import exp

    from verticals.default_plugins.tabular import LinearPredictor

    predictor = LinearPredictor()
    predictor.load(None)
    [score] = predictor.predict([[1, 2, 3, 4]])
    assert score == pytest.approx(1 / (1 + exp(-(0.5 - 0.5 + 3 + 8 - 1))), rel=1e-6)


def test_echo_default_model_answers_last_user_message() -> None:
    from verticals.default_plugins.echo import EchoPredictor

    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi there"},
        {"role": "assistant", "content": "x"},
        {"role": "user", "content": [{"type": "text", "text": "bye"}]},
    ]
    predictor = EchoPredictor()
    assert predictor.predict([messages]) == ["bye"]
    assert predictor.units(messages) == 6  # be brief, hi there, x, bye
