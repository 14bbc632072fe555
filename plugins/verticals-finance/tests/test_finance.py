"""finance/fraud: the generator, the transaction adapter, scores with reason codes, the evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from verticals_finance.evaluation import DATASET, SUITE, read_holdout
from verticals_finance.generator import generate
from verticals_finance.model import BASELINE, DECISION_THRESHOLD, REASON_CODES
from verticals_finance.schema import (
    LABEL,
    json_schema,
    read_transaction_payload,
    read_transaction_source,
)

from verticals.adapters import AdapterError

RISKY = {
    "transaction_id": "t-risky", "amount": 1890.0, "merchant_category": "electronics", "hour": 3,
    "card_present": False, "foreign": True, "distance_km": 5200.0, "txn_count_1h": 4, "txn_count_24h": 11,
    "amount_to_avg_30d": 9.5, "new_merchant": True,
}  # fmt: skip


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return generate(400, seed=5)


def test_generator_is_seeded_and_about_one_percent_fraud() -> None:
    assert generate(50, seed=3) == generate(50, seed=3)
    assert generate(50, seed=3) != generate(50, seed=4)
    sample = generate(20_000, seed=11)
    rate = sum(r[LABEL] for r in sample) / len(sample)
    assert 0.007 < rate < 0.013
    assert read_transaction_payload(sample[:100])  # every generated row meets the schema


def test_records_csv_parquet_bytes_and_duckdb_tables_read_the_same(rows: list[Any], tmp_path: Path) -> None:
    frame = pd.DataFrame(rows)
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    with duckdb.connect(str(tmp_path / "t.duckdb")) as db:
        db.register("frame", frame)
        db.execute("CREATE TABLE payments AS SELECT * FROM frame")
    expected = read_transaction_payload(rows)
    assert len(expected) == 400 and LABEL not in expected[0]
    for source in (
        str(tmp_path / "t.csv"),
        tmp_path / "t.parquet",
        f"duckdb:{tmp_path / 't.duckdb'}:payments",
    ):
        assert read_transaction_source(source) == expected, source  # the operator's files and tables
    for payload in ((tmp_path / "t.parquet").read_bytes(), (tmp_path / "t.csv").read_bytes()):
        assert read_transaction_payload(payload) == expected  # the same tables uploaded in a request
    assert read_transaction_payload(rows[0]) == expected[:1]
    assert read_transaction_payload(json.dumps(rows[:2])) == expected[:2]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hour": 25}, r"row 0: field 'hour' = 25: Input should be less than or equal to 23"),
        ({"amount": -3}, r"field 'amount' = -3"),
        ({"merchant_category": "casino"}, r"field 'merchant_category' = 'casino'"),
        ({"card_present": "maybe"}, r"field 'card_present'"),
        ({"foreign": None}, r"field 'foreign'"),
    ],
)
def test_invalid_records_name_row_field_and_rule(change: dict[str, Any], message: str) -> None:
    with pytest.raises(AdapterError, match=message):
        read_transaction_payload([{**RISKY, **change}])


def test_missing_fields_unreadable_files_and_unsafe_table_names_are_refused(tmp_path: Path) -> None:
    record = dict(RISKY)
    del record["amount"]
    with pytest.raises(AdapterError, match="field 'amount' is missing"):
        read_transaction_payload([RISKY, record])
    with pytest.raises(AdapterError, match="row 1"):
        read_transaction_payload([RISKY, "oops"])
    with pytest.raises(AdapterError, match="no file at"):
        read_transaction_source(str(tmp_path / "nope.csv"))
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(AdapterError, match="cannot read"):
        read_transaction_source(str(tmp_path / "bad.parquet"))
    with duckdb.connect(str(tmp_path / "x.duckdb")) as db:
        db.execute("CREATE TABLE t (a INT)")
    with pytest.raises(AdapterError, match="name a DuckDB table"):
        read_transaction_source(f"duckdb:{tmp_path / 'x.duckdb'}:t; DROP TABLE t")
    with pytest.raises(AdapterError, match="cannot read table 'missing'"):
        read_transaction_source(f"duckdb:{tmp_path / 'x.duckdb'}:missing")
    assert "amount" in json_schema()["properties"]


def test_scores_carry_reason_codes_that_explain_them(predictor: Any) -> None:
    risky, ordinary = predictor.predict([RISKY, {**BASELINE, "transaction_id": "t-ok"}])
    assert risky["transaction_id"] == "t-risky" and risky["flagged"] and risky["score"] > 0.5
    assert ordinary["score"] < DECISION_THRESHOLD and not ordinary["flagged"]
    assert ordinary["reason_codes"] == []  # nothing differs from the reference transaction
    reasons = risky["reason_codes"]
    assert 1 <= len(reasons) <= 3
    assert all(r["contribution"] > 0 for r in reasons)
    assert [r["contribution"] for r in reasons] == sorted((r["contribution"] for r in reasons), reverse=True)
    assert all(REASON_CODES[r["feature"]] == r["code"] and r["value"] == RISKY[r["feature"]] for r in reasons)


def test_making_the_top_reason_ordinary_lowers_the_score(predictor: Any) -> None:
    risky = predictor.predict([RISKY])[0]
    top = risky["reason_codes"][0]["feature"]
    calmer = predictor.predict([{**RISKY, top: BASELINE[top]}])[0]
    assert calmer["score"] < risky["score"]


def test_evaluation_suite_passes_on_fresh_generator_rows(predictor: Any) -> None:
    records = read_holdout(DATASET)
    assert len(records) == 20_000
    metrics = SUITE.score(records, predictor.predict)
    failed = {k: metrics[k] for k, t in SUITE.thresholds.items() if not t.passes(metrics[k])}
    assert not failed, failed
    assert metrics["expected_loss_per_1k_usd"] > 0
