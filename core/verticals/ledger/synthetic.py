"""Realistic synthetic usage, generated inside DuckDB, for benchmarks, demos and dashboard fixtures.

``generate_usage(ledger, 10_000_000, start=...)`` writes straight into ``usage_events`` with one
``INSERT ... SELECT`` over ``range(n)``; every random draw is a hash of the row number and the seed,
so the same arguments give the same rows, and no Python object is built per event. The shape:

- diurnal load: requests peak around 14:00 UTC and bottom out around 02:00, every day alike;
- skewed customers: customer k is drawn with probability about proportional to 1/k (log-uniform),
  so a few customers carry most of the traffic, as in real API businesses;
- six models over five plugins, each with its own unit, device class, list price, latency and
  compute time; LLM latency grows with output tokens;
- errors: about 1.5% server errors (500/503) and 1% client errors (400/429), which earn nothing.

Revenue is the model's list price x units and cost is compute seconds x the device's rate in the
starter cost book, both rounded to the nano-dollar, as the gateway records them. The events bypass
the spool: this is a bulk load into a ledger no server is using.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from verticals.ledger._time import to_db
from verticals.ledger.analytics._query import connection_of

# name, plugin, unit, device, list price per unit, rate USD/h, share of traffic, base latency ms,
# compute seconds per unit, mean units in, mean units out
MODELS: tuple[tuple[str, str, str, str, str, str, float, float, float, int, int], ...] = (
    ("nlp/chat", "nlp", "tokens", "h100", "0.000002", "3.00", 0.40, 350.0, 0.00004, 600, 250),
    ("nlp/embed", "nlp", "tokens", "cpu", "0.0000001", "0.10", 0.20, 25.0, 0.00002, 300, 0),
    ("vision/classify", "vision", "images", "l4", "0.002", "0.80", 0.15, 60.0, 0.03, 2, 0),
    ("speech/transcribe", "speech", "audio-seconds", "cpu", "0.0001", "0.10", 0.10, 900.0, 0.08, 40, 0),
    ("finance/score", "finance", "rows", "cpu", "0.0005", "0.10", 0.10, 15.0, 0.0005, 20, 0),
    ("health/triage", "health", "calls", "a100", "0.01", "1.80", 0.05, 120.0, 0.05, 1, 0),
)


def _models_sql() -> str:
    rows = []
    cumulative = 0.0
    for index, model in enumerate(MODELS):
        name, plugin, unit, device, price, rate, share, latency, cps, units_in, units_out = model
        low = cumulative
        cumulative += share
        rows.append(
            f"({index}, '{name}', '{plugin}', '{unit}', '{device}', {price}::DECIMAL(24,12), "
            f"{rate}::DECIMAL(18,6), {low}, {cumulative if index < len(MODELS) - 1 else 1.0001}, "
            f"{latency}, {cps}, {units_in}, {units_out})"
        )
    return ", ".join(rows)


_SQL = """
INSERT INTO usage_events
WITH models(idx, name, plugin, unit, device, price, rate, lo, hi, latency, cps, mean_in, mean_out) AS (
    VALUES {models}
),
draws AS (
    SELECT i,
        (hash(i, $seed, 1) % 1000003) / 1000003.0 AS u_day,
        (hash(i, $seed, 2) % 1000003) / 1000003.0 AS u_customer,
        (hash(i, $seed, 3) % 1000003) / 1000003.0 AS u_model,
        (hash(i, $seed, 4) % 1000003) / 1000003.0 AS u_status,
        (hash(i, $seed, 5) % 1000003 + 1) / 1000004.0 AS u_n1,
        (hash(i, $seed, 6) % 1000003) / 1000003.0 AS u_n2,
        (hash(i, $seed, 7) % 1000003) / 1000003.0 AS u_in,
        (hash(i, $seed, 8) % 1000003) / 1000003.0 AS u_out
    FROM range($n) r(i)
),
shaped AS (
    SELECT d.*, m.*,
        -- i * days // n keeps events in time order by day (DuckDB's zone maps then skip by date);
        -- within the day, u - A sin(2 pi u) / (2 pi) has density 1 / (1 - A cos(2 pi u)),
        -- peaking at the day's start, shifted here to 14:00 UTC
        $start::TIMESTAMP + to_days(CAST(floor(i * $days / $n) AS INTEGER))
            + to_microseconds(CAST(86400000000
                * (((u_day - 0.6 * sin(2 * pi() * u_day) / (2 * pi())) + 14.0 / 24) % 1) AS BIGINT)) AS ts,
        CAST(floor(pow($customers, u_customer)) AS INTEGER) AS customer_no,
        sqrt(-2 * ln(u_n1)) * cos(2 * pi() * u_n2) AS normal
    FROM draws d JOIN models m ON d.u_model >= m.lo AND d.u_model < m.hi
),
sized AS (
    SELECT *,
        CASE WHEN u_status < 0.01 THEN 500 WHEN u_status < 0.015 THEN 503
             WHEN u_status < 0.02 THEN 429 WHEN u_status < 0.025 THEN 400 ELSE 200 END AS status,
        greatest(1, round(mean_in * 2 * u_in)) AS units_in_all,
        round(mean_out * 2 * u_out) AS units_out_all
    FROM shaped
)
SELECT
    printf('req-%d-%016x', $seed, hash(i, $seed)) AS request_id,
    ts,
    printf('customer-%03d', customer_no) AS customer,
    printf('vk_c%07d', customer_no) AS key_prefix,
    plugin, name AS model, '1' AS model_version,
    CASE unit WHEN 'tokens' THEN CASE WHEN mean_out > 0 THEN '/v1/chat/completions' ELSE '/v1/embeddings' END
              WHEN 'audio-seconds' THEN '/v1/audio/transcriptions'
              ELSE '/v2/models/' || name || '/infer' END AS endpoint,
    status,
    CASE WHEN status IN (400, 429) THEN 2.0 + 3 * u_n2
         ELSE (latency + 8 * units_out_all) * exp(0.45 * normal) END AS latency_ms,
    CASE WHEN status = 200 THEN 40 * u_n2 * u_n2 ELSE 0 END AS queue_ms,
    CASE WHEN mean_out > 0 AND status = 200 THEN latency * 0.3 * exp(0.3 * normal) END AS ttft_ms,
    CASE WHEN status IN (400, 429) THEN 0 ELSE units_in_all END AS units_in,
    CASE WHEN status = 200 THEN units_out_all ELSE 0 END AS units_out,
    unit,
    CASE WHEN status IN (400, 429) THEN 0 ELSE cps * (units_in_all + units_out_all) END AS compute_seconds,
    device AS device_class,
    CASE WHEN status = 200 THEN round(price * CAST(units_in_all + units_out_all AS DECIMAL(18,6)), 9)
         ELSE 0 END::DECIMAL(18,9) AS revenue_usd,
    round(rate * CAST(CASE WHEN status IN (400, 429) THEN 0 ELSE cps * (units_in_all + units_out_all) END
          AS DECIMAL(18,6)) / 3600, 9)::DECIMAL(18,9) AS cost_usd
FROM sized
"""


def generate_usage(
    source: Any,
    events: int,
    *,
    start: datetime | None = None,
    days: int = 30,
    customers: int = 50,
    seed: int = 1,
    capacity: bool = True,
) -> None:
    """Insert ``events`` synthetic usage events spread over ``days`` days from ``start``.

    Also creates the customers (``customer-001`` ... on the starter plans, with budgets) and, with
    ``capacity``, one device per device class up for the whole period, serving that class's models
    (the three CPU models share one node), so utilization and idle cost have something to show. Small
    ``events`` (a few thousand) make dashboard and API fixtures.
    """
    conn = connection_of(source)
    begin = start if start is not None else datetime(2026, 10, 1, tzinfo=UTC)
    conn.execute(
        "INSERT INTO customers SELECT printf('customer-%03d', i), "
        "CASE WHEN i <= 3 THEN 'enterprise' WHEN i <= 15 THEN 'pro' ELSE 'free' END, "
        "CASE WHEN i <= 3 THEN NULL ELSE (2000 // i)::DECIMAL(18,6) END, 'active', ? "
        "FROM range(1, ? + 1) r(i) ON CONFLICT DO NOTHING",
        [to_db(begin), customers],
    )
    conn.execute(
        _SQL.format(models=_models_sql()),
        {"n": events, "seed": seed, "start": to_db(begin), "days": days, "customers": customers + 1},
    )
    if capacity:
        end = begin + timedelta(days=days)
        # one device per device class, shared by the models of that class (the CPU models on one node)
        for device in sorted({model[3] for model in MODELS}):
            device_id = f"{device}-{seed}"
            conn.execute(
                "INSERT INTO devices VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [device_id, device, to_db(begin), to_db(end)],
            )
            for name, *_ in (model for model in MODELS if model[3] == device):
                conn.execute(
                    "INSERT INTO device_models VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    [device_id, to_db(begin), name],
                )
    # refresh the ledger's caches of control data when given a Ledger
    reload = getattr(getattr(source, "_control", None), "reload", None)
    if reload is not None:
        reload()
