"""The transaction adapter's payload door reads the request only: no path, table or URL in it is opened."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import verticals_finance
from verticals_finance.generator import generate
from verticals_finance.schema import NOT_A_RECORD, read_transaction_payload

from verticals.adapters import AdapterError
from verticals.testing import payload_reader_test

test_payload_readers_read_only_the_payload = payload_reader_test(verticals_finance)


def test_a_path_or_table_in_a_request_gets_one_refusal_whatever_exists(tmp_path: Path) -> None:
    row = {**generate(1, seed=2)[0], "merchant_category": "SECRET-VALUE"}
    (tmp_path / "t.csv").write_text(",".join(row) + "\n" + ",".join(map(str, row.values())) + "\n")
    with duckdb.connect(str(tmp_path / "db.duckdb")) as db:
        db.execute("CREATE TABLE payments AS SELECT * FROM read_csv_auto(?)", [str(tmp_path / "t.csv")])
    for payload in (
        str(tmp_path / "t.csv"),
        str(tmp_path / "missing.csv"),
        f"duckdb:{tmp_path / 'db.duckdb'}:payments",
        f"duckdb:{tmp_path / 'none.duckdb'}:payments",
        "/etc/passwd",
        "/etc/no-such-file",
        f"file://{tmp_path / 't.csv'}",
    ):
        with pytest.raises(AdapterError) as refused:
            read_transaction_payload(payload)
        assert str(refused.value) == NOT_A_RECORD, payload
    assert "send the data itself, not a path or a URL" in NOT_A_RECORD


def test_the_holdout_adapter_reads_operator_files_only(make_registry) -> None:  # type: ignore[no-untyped-def]
    registry = make_registry(verticals_finance, defaults=False)
    assert registry.adapter("finance/fraud-holdout").read_payload is None
    assert registry.adapter("finance/transactions").read_payload is read_transaction_payload
