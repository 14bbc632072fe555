"""The case adapter's payload door reads the request only: a string is JSON, never a path."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import verticals_health
from verticals_health.cases import NOT_A_CASE, read_case_table, read_cases
from verticals_health.features import NAMES

from verticals.adapters import AdapterError
from verticals.testing import payload_reader_test

test_payload_readers_read_only_the_payload = payload_reader_test(verticals_health)


def test_a_table_named_by_its_path_is_refused_as_if_it_did_not_exist(tmp_path: Path) -> None:
    row = [float(i + 1) for i in range(len(NAMES))]
    pd.DataFrame([row], columns=NAMES).to_csv(tmp_path / "cases.csv", index=False)
    for payload in (
        str(tmp_path / "cases.csv"),
        str(tmp_path / "gone.csv"),
        "/etc/passwd",
        "file:///etc/passwd",
    ):
        with pytest.raises(AdapterError) as refused:
            read_cases(payload)
        assert str(refused.value) == NOT_A_CASE, payload
    # the same table, uploaded as bytes or sent as JSON, or named by the operator, is read
    table = read_case_table(tmp_path / "cases.csv")
    assert read_cases((tmp_path / "cases.csv").read_bytes()) == table
    assert read_cases(json.dumps(dict(zip(NAMES, row, strict=True)))) == table == [row]


def test_the_holdout_adapter_reads_operator_files_only(make_registry) -> None:  # type: ignore[no-untyped-def]
    registry = make_registry(verticals_health, defaults=False)
    assert registry.adapter("health/diagnosis-holdout").read_payload is None
    assert registry.adapter("health/cases").read_payload is read_cases
