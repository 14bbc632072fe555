"""The ``health/cases`` adapter's two doors: request payloads, and the operator's tables.

``read_cases`` (the payload door) reads what a request carries: a FHIR R4 Bundle, a JSON record of
the 30 features, a list of records or of 30 numbers, JSON text of any of these, or the bytes of an
uploaded CSV/Parquet table. A string is never a path: any string that is not JSON gets the same
refusal, whatever exists on the server. ``read_case_table`` (the operator door) reads a CSV/Parquet
file the operator names. Both keep only the 30 numbers, so identifiers go no further.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from verticals.adapters import NOT_DATA_HINT, AdapterError
from verticals_health.features import NAMES, read_table, record_features
from verticals_health.fhir import bundle_rows, is_bundle

NOT_A_CASE = (
    f"the case is not a FHIR Bundle or a JSON record; {NOT_DATA_HINT}: a FHIR R4 Bundle of Observations, "
    "a JSON record of the 30 features (or a list of them), or the bytes of a CSV or Parquet table"
)


def read_cases(payload: Any) -> list[list[float]]:
    """``health/cases``' payload door -> one row of 30 floats per case; never opens a file."""
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            raise AdapterError(NOT_A_CASE) from None
        if isinstance(payload, str):  # JSON text of a string: still not a case
            raise AdapterError(NOT_A_CASE)
        return read_cases(payload)
    if isinstance(payload, bytes | bytearray):
        return _table_rows(_rows_from_bytes(bytes(payload)))
    if is_bundle(payload):
        return bundle_rows(payload)
    if isinstance(payload, list) and payload and all(is_bundle(item) for item in payload):
        return [row for bundle in payload for row in bundle_rows(bundle)]
    if isinstance(payload, dict):
        if "resourceType" in payload:
            raise AdapterError(
                f"expected a FHIR R4 Bundle of Observations, got a {payload['resourceType']!r}"
            )
        return [record_features(payload, "the record")]
    if isinstance(payload, list):
        if payload and all(isinstance(v, int | float) for v in payload) and len(payload) == len(NAMES):
            return [[float(v) for v in payload]]
        return [record_features(_record(item, i), f"row {i}") for i, item in enumerate(payload)]
    raise AdapterError(NOT_A_CASE)


def read_case_table(source: Any, **_: Any) -> list[list[float]]:
    """``health/cases``' operator door: a CSV/Parquet path -> rows; anything else as a payload."""
    if isinstance(source, str | Path):
        return _table_rows(read_table(source))
    return read_cases(source)


def _table_rows(rows: list[dict[str, Any]]) -> list[list[float]]:
    if not rows:
        raise AdapterError("the table holds no rows; send a header row and one row per case")
    return [record_features(row, f"row {i}") for i, row in enumerate(rows)]


def _rows_from_bytes(data: bytes) -> list[dict[str, Any]]:
    import pandas as pd

    try:
        frame = pd.read_parquet(io.BytesIO(data)) if data[:4] == b"PAR1" else pd.read_csv(io.BytesIO(data))
    except Exception:  # pandas/pyarrow raise many types; their messages may quote PHI from the upload
        raise AdapterError(
            "the uploaded table is neither valid Parquet nor CSV; send a CSV with a header row"
        ) from None
    rows: list[dict[str, Any]] = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return rows


def _record(item: Any, index: int) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    if isinstance(item, list) and len(item) == len(NAMES):
        return dict(zip(NAMES, item, strict=True))
    raise AdapterError(f"row {index}: expected a record of the 30 features or a list of 30 numbers")
