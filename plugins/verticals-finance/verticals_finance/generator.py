"""A documented synthetic card-transaction generator (there is no public real fraud data to ship).

Each transaction is drawn on its own: first whether it is fraud (``fraud_rate``, 1% by default),
then every field from a distribution for its class. The distributions follow the patterns card
issuers publish about card-not-present fraud; the exact numbers are this generator's choices:

================  ================================================  ==================================
field             legitimate                                        fraud
================  ================================================  ==================================
category          grocery 24%, restaurant 18%, online retail 17%,   electronics 25%, online retail 25%,
                  fuel 12%, entertainment 11%, travel 6%,           travel 12%, gambling 10%, cash
                  electronics 6%, gambling 3%, cash advance 3%      advance 10%, others share 18%
amount            card's 30-day mean x lognormal(0, 0.45) x         card's mean x lognormal(0.7, 0.8)
                  category factor (travel 3x, electronics 2.5x,
                  fuel 0.8x, grocery 0.9x)
card mean         lognormal(ln 45, 0.6) USD                         the same
hour              mixture peaking at 12:00 and 18:00, few at night  uniform, plus a 01:00-05:00 bump
card present      70% (online retail: 5%)                           30%
foreign           4%                                                25%
distance          exponential, mean 8 km (foreign: 400-9,000 km)    exponential, mean 60 km
txn count 1h      Poisson(0.3)                                      Poisson(1.2)
txn count 24h     1h count + Poisson(3)                             1h count + Poisson(5)
new merchant      22%                                               60%
================  ================================================  ==================================

Every fraud signal also occurs in legitimate traffic and no fraud row has all of them, so the
classes overlap: a model reaches a high but imperfect ROC-AUC, as on real data. The same seed gives
the same rows (numpy's PCG64).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from verticals_finance.schema import LABEL, Category

LEGIT_CATEGORIES = {
    Category.GROCERY: 0.24, Category.RESTAURANT: 0.18, Category.ONLINE_RETAIL: 0.17, Category.FUEL: 0.12,
    Category.ENTERTAINMENT: 0.11, Category.TRAVEL: 0.06, Category.ELECTRONICS: 0.06, Category.GAMBLING: 0.03,
    Category.CASH_ADVANCE: 0.03,
}  # fmt: skip
FRAUD_CATEGORIES = {
    Category.ELECTRONICS: 0.25, Category.ONLINE_RETAIL: 0.25, Category.TRAVEL: 0.12, Category.GAMBLING: 0.10,
    Category.CASH_ADVANCE: 0.10, Category.GROCERY: 0.05, Category.RESTAURANT: 0.05, Category.FUEL: 0.04,
    Category.ENTERTAINMENT: 0.04,
}  # fmt: skip
AMOUNT_FACTOR = {Category.TRAVEL: 3.0, Category.ELECTRONICS: 2.5, Category.FUEL: 0.8, Category.GROCERY: 0.9}
LEGIT_HOURS = [0.5, 0.3, 0.2, 0.2, 0.2, 0.4, 1, 2, 3, 4, 5, 6, 7, 6, 5, 5, 6, 7, 8, 7, 5, 3, 2, 1]
FRAUD_HOURS = [4, 5, 5, 5, 5, 4, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3]


def generate(rows: int, *, seed: int, fraud_rate: float = 0.01) -> list[dict[str, Any]]:
    """``rows`` labelled transactions (the schema's fields plus ``is_fraud``)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    fraud = rng.random(rows) < fraud_rate
    n_fraud = int(fraud.sum())

    def pick(table: dict[Category, float], size: int) -> Any:
        keys = [str(key) for key in table]
        weights = np.asarray(list(table.values()))
        return rng.choice(keys, size=size, p=weights / weights.sum())

    def hours(weights: Sequence[float], size: int) -> Any:
        p = np.asarray(weights, dtype=float)
        return rng.choice(24, size=size, p=p / p.sum())

    category = np.empty(rows, dtype=object)
    category[~fraud] = pick(LEGIT_CATEGORIES, rows - n_fraud)
    category[fraud] = pick(FRAUD_CATEGORIES, n_fraud)
    card_mean = rng.lognormal(np.log(45.0), 0.6, rows)
    ratio = np.where(fraud, rng.lognormal(0.7, 0.8, rows), rng.lognormal(0.0, 0.45, rows))
    factor = np.asarray([AMOUNT_FACTOR.get(Category(c), 1.0) for c in category])
    ratio = np.where(fraud, ratio, ratio * factor)
    amount = np.round(card_mean * ratio, 2).clip(0.5, None)
    hour = np.where(fraud, hours(FRAUD_HOURS, rows), hours(LEGIT_HOURS, rows))
    online = category == str(Category.ONLINE_RETAIL)
    card_present = np.where(fraud, rng.random(rows) < 0.30, rng.random(rows) < np.where(online, 0.05, 0.70))
    foreign = rng.random(rows) < np.where(fraud, 0.25, 0.04)
    distance = np.where(
        foreign, rng.uniform(400, 9000, rows), rng.exponential(np.where(fraud, 60.0, 8.0), rows)
    )
    count_1h = rng.poisson(np.where(fraud, 1.2, 0.3))
    count_24h = count_1h + rng.poisson(np.where(fraud, 5.0, 3.0))
    new_merchant = rng.random(rows) < np.where(fraud, 0.60, 0.22)
    return [
        {
            "transaction_id": f"t{seed}-{i}",
            "amount": float(amount[i]),
            "merchant_category": str(category[i]),
            "hour": int(hour[i]),
            "card_present": bool(card_present[i]),
            "foreign": bool(foreign[i]),
            "distance_km": round(float(distance[i]), 2),
            "txn_count_1h": int(count_1h[i]),
            "txn_count_24h": int(count_24h[i]),
            "amount_to_avg_30d": round(float(amount[i] / card_mean[i]), 4),
            "new_merchant": bool(new_merchant[i]),
            LABEL: int(fraud[i]),
        }
        for i in range(rows)
    ]
