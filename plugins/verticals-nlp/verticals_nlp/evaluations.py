"""Scoring for the three suites; metrics come from scikit-learn and scipy."""

from __future__ import annotations

import re
import string
from typing import Any

from verticals.evaluation import PredictFn

TICKET_LABELS = ["billing", "account access", "shipping", "technical problem", "cancellation"]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize(text: str) -> str:
    """SQuAD's answer normalization: lower case, no punctuation, no articles, single spaces."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def score_chat_qa(records: list[dict[str, Any]], predict: PredictFn) -> dict[str, float]:
    """exact_match: the normalized answer equals a reference; containment: a reference occurs in it."""
    from sklearn.metrics import accuracy_score

    outputs = predict([record["messages"] for record in records])
    exact, contained = [], []
    for record, output in zip(records, outputs, strict=True):
        answer = normalize(str(output))
        references = [normalize(reference) for reference in record["answers"]]
        exact.append(any(answer == reference for reference in references))
        contained.append(any(f" {reference} " in f" {answer} " for reference in references))
    truth = [True] * len(records)
    return {
        "exact_match": float(accuracy_score(truth, exact)),
        "containment": float(accuracy_score(truth, contained)),
    }


def score_similarity(records: list[dict[str, Any]], predict: PredictFn) -> dict[str, float]:
    """Spearman (and Pearson) correlation of embedding cosine similarity with the human scores."""
    import numpy as np
    from scipy.stats import pearsonr, spearmanr

    left = np.asarray(predict([record["text"] for record in records]))
    right = np.asarray(predict([record["text_pair"] for record in records]))
    cosine = (left * right).sum(axis=1) / (np.linalg.norm(left, axis=1) * np.linalg.norm(right, axis=1))
    gold = np.asarray([float(record["score"]) for record in records])
    return {
        "spearman": float(spearmanr(cosine, gold).statistic),
        "pearson": float(pearsonr(cosine, gold).statistic),
    }


def score_tickets(records: list[dict[str, Any]], predict: PredictFn) -> dict[str, float]:
    """Accuracy and macro-F1 of zero-shot routing over the five ticket queues."""
    from sklearn.metrics import accuracy_score, f1_score

    outputs = predict([{"text": record["text"], "labels": TICKET_LABELS} for record in records])
    truth = [record["label"] for record in records]
    predicted = [output["label"] for output in outputs]
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, labels=TICKET_LABELS, average="macro")),
    }
