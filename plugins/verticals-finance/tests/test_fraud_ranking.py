"""finance/fraud ranks the riskiest transactions: distinct rows get distinct, correctly ordered scores.

A fraud team reviews the top of the score ranking, so a score that stops moving once a transaction
is risky enough (every one of them at the same value) leaves that top unordered.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from verticals_finance.evaluation import DATASET, read_holdout

# A card-not-present electronics purchase abroad, then one more fraud signal at each step. Each step
# raises the generator's own likelihood ratio of fraud (generator.py's table): night hours are 5x
# likelier in fraud, a new merchant 2.7x, an amount far above the card's mean and a burst of recent
# transactions many times more; so each row is riskier than the one before it.
START = {
    "transaction_id": "t-0", "amount": 300.0, "merchant_category": "electronics", "hour": 14,
    "card_present": False, "foreign": True, "distance_km": 3000.0, "txn_count_1h": 1, "txn_count_24h": 5,
    "amount_to_avg_30d": 3.0, "new_merchant": False,
}  # fmt: skip
STEPS: list[dict[str, Any]] = [
    {"hour": 3},
    {"new_merchant": True},
    {"amount": 800.0, "amount_to_avg_30d": 8.0},
    {"txn_count_1h": 4, "txn_count_24h": 10},
    {"amount": 2000.0, "amount_to_avg_30d": 20.0},
    {"txn_count_1h": 8, "txn_count_24h": 16},
]


def riskier_and_riskier() -> list[dict[str, Any]]:
    rows = [START]
    for index, step in enumerate(STEPS, start=1):
        rows.append({**rows[-1], **step, "transaction_id": f"t-{index}"})
    return rows


def test_each_added_fraud_signal_raises_the_score(predictor: Any) -> None:
    scores = [o["score"] for o in predictor.predict(riskier_and_riskier())]
    assert all(low < high for low, high in pairwise(scores)), scores
    assert scores[-1] < 1.0  # still a probability that can rank one more row above it


def test_the_riskiest_hold_out_transactions_get_distinct_scores(predictor: Any) -> None:
    scores = sorted((o["score"] for o in predictor.predict(read_holdout(DATASET))), reverse=True)
    top = scores[:200]  # the 1% a review team would work through first
    assert len(set(top)) == len(top), f"{len(top) - len(set(top))} ties among the top {len(top)}"
