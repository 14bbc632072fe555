"""The embedding and zero-shot models on the real all-MiniLM-L6-v2 weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from verticals_nlp.evaluations import normalize
from verticals_nlp.predictors import ClassifyPredictor, EmbedPredictor

from verticals.adapters import AdapterError
from verticals.registry import Registry


def test_the_plugin_registers_models_adapters_and_suites(nlp_registry: Registry) -> None:
    assert nlp_registry.models["nlp/chat"].provenance.distribution == "verticals-nlp"
    chat = nlp_registry.model("nlp/chat")
    assert (chat.backend, chat.unit, chat.task) == ("vllm", "tokens", "chat")
    assert chat.sha256 is not None and chat.prepare is not None
    assert nlp_registry.model("nlp/embed").backend == "torch"
    assert nlp_registry.model("nlp/classify").unit == "calls"
    assert {"nlp/text-table", "nlp/chat-transcripts"} <= set(nlp_registry.adapters)
    suites = {
        e.name: e.model
        for e in nlp_registry.evaluations_for("nlp/chat")
        + nlp_registry.evaluations_for("nlp/embed")
        + nlp_registry.evaluations_for("nlp/classify")
    }
    assert suites == {
        "nlp/chat-qa": "nlp/chat",
        "nlp/sentence-similarity": "nlp/embed",
        "nlp/ticket-routing": "nlp/classify",
    }


@pytest.mark.slow
def test_embeddings_are_unit_length_and_batching_changes_nothing(minilm_dir: Path) -> None:
    predictor = EmbedPredictor()
    predictor.load(minilm_dir)
    texts = ["The cat sleeps on the sofa.", "A cat naps on the couch.", "Stock prices fell sharply."]
    batched = np.asarray(predictor.predict(texts))
    single = np.asarray([predictor.predict([text])[0] for text in texts])
    assert batched.shape == (3, 384)
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    assert np.allclose(batched, single, atol=1e-5)
    assert batched[0] @ batched[1] > batched[0] @ batched[2] + 0.3
    assert predictor.units("The cat sleeps.") == 6.0  # [CLS] the cat sleeps . [SEP]
    with pytest.raises(AdapterError, match="non-empty text"):
        predictor.predict(["ok", ""])


@pytest.mark.slow
def test_zero_shot_routes_tickets_over_caller_labels(minilm_dir: Path) -> None:
    predictor = ClassifyPredictor()
    predictor.load(minilm_dir)
    labels = ["billing", "shipping", "account access"]
    outputs = predictor.predict(
        [
            {"text": "You charged my credit card twice this month", "labels": labels},
            {"text": "My parcel never arrived", "labels": labels},
            {"text": "I cannot sign in, my password reset email never comes", "labels": labels},
            {"text": "The parcel is late", "labels": ["late delivery", "refund"]},
        ]
    )
    assert [o["label"] for o in outputs] == ["billing", "shipping", "account access", "late delivery"]
    assert set(outputs[0]["scores"]) == set(labels)
    assert outputs[0]["scores"]["billing"] == max(outputs[0]["scores"].values())
    with pytest.raises(AdapterError, match="at least two candidate labels"):
        predictor.predict([{"text": "x", "labels": ["only"]}])
    with pytest.raises(AdapterError, match="duplicates"):
        predictor.predict([{"text": "x", "labels": ["a", "a"]}])
    with pytest.raises(AdapterError, match=r'\{"text": "...", "labels"'):
        predictor.predict(["just text"])


def test_answer_normalization_follows_squad() -> None:
    assert normalize("The  Pacific Ocean!") == "pacific ocean"
    assert normalize("An answer, a test.") == "answer test"
