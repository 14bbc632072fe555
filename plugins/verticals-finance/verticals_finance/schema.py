"""The transaction schema every scored row must meet, and readers for the places rows come from.

A record is a JSON object (or a table row) with the fields of :class:`Transaction`; other fields
(``is_fraud`` in labelled data, a customer's own columns) are ignored. ``json_schema()`` gives the
same schema as JSON Schema for API clients.

Two readers, one per door of the ``finance/transactions`` adapter: ``read_transaction_payload``
reads what a request carries (records, JSON text, the bytes of a CSV/Parquet upload) and never a
path; ``read_transaction_source`` reads the operator's CSV/Parquet files and DuckDB tables.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from verticals.adapters import NOT_DATA_HINT, AdapterError

LABEL = "is_fraud"
MAX_ROWS = 1_000_000  # one request or file; bigger jobs go in chunks
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
NOT_A_RECORD = (
    f"the transaction is not a JSON record; {NOT_DATA_HINT}: a JSON object with the transaction fields, "
    "a list of them, or the bytes of a CSV or Parquet file"
)


class Category(StrEnum):
    GROCERY = "grocery"
    RESTAURANT = "restaurant"
    FUEL = "fuel"
    ONLINE_RETAIL = "online_retail"
    ELECTRONICS = "electronics"
    TRAVEL = "travel"
    ENTERTAINMENT = "entertainment"
    GAMBLING = "gambling"
    CASH_ADVANCE = "cash_advance"


class Transaction(BaseModel):
    """One card transaction with the card's recent history (velocity) already joined in."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    transaction_id: str | None = Field(None, max_length=128, description="echoed back with the score")
    amount: float = Field(gt=0, le=1_000_000, description="USD")
    merchant_category: Category
    hour: int = Field(ge=0, le=23, description="local hour of day, 0-23")
    card_present: bool = Field(description="chip/swipe at a terminal (false: online or keyed)")
    foreign: bool = Field(description="merchant country differs from the card's")
    distance_km: float = Field(ge=0, le=40_000, description="from the cardholder's home")
    txn_count_1h: int = Field(ge=0, le=10_000, description="the card's transactions in the previous hour")
    txn_count_24h: int = Field(
        ge=0, le=100_000, description="the card's transactions in the previous 24 hours"
    )
    amount_to_avg_30d: float = Field(gt=0, le=100_000, description="amount / the card's 30-day mean amount")
    new_merchant: bool = Field(description="first transaction of this card at this merchant")


def json_schema() -> dict[str, Any]:
    return Transaction.model_json_schema()


def validate_records(records: list[Any], *, single: bool = False) -> list[dict[str, Any]]:
    """Check every record; the first bad one raises an ``AdapterError`` naming its row and field.

    ``single``: the records are one record sent on its own, so there is no row to name (a caller that
    knows where the record sat, such as the gateway's tensor element, says so itself).
    """
    if len(records) > MAX_ROWS:
        raise AdapterError(
            f"{len(records):,} rows is over the {MAX_ROWS:,} allowed at once; send smaller chunks"
        )
    valid = []
    for index, record in enumerate(records):
        where = "" if single else f"row {index}: "
        if not isinstance(record, dict):
            raise AdapterError(
                f"{where}expected a JSON object with the transaction fields, got {type(record).__name__}"
            )
        try:
            valid.append(Transaction.model_validate(record).model_dump(mode="json"))
        except ValidationError as error:
            raise AdapterError(f"{where}{_explain(error)}") from None
    return valid


def _explain(error: ValidationError) -> str:
    problems = []
    for item in error.errors()[:3]:
        field = ".".join(str(part) for part in item["loc"])
        if item["type"] == "missing":
            problems.append(f"field {field!r} is missing")
        else:
            problems.append(f"field {field!r} = {item.get('input')!r}: {item['msg']}")
    return "; ".join(problems) + " (see the transaction schema in the verticals-finance README)"


def read_transaction_payload(payload: Any) -> list[dict[str, Any]]:
    """``finance/transactions``' payload door: a record, a list of them, JSON text or CSV/Parquet bytes.

    A string is JSON text, never a path or a table name: it comes from a request, and any string
    that is not a JSON record or list of them gets the same refusal, whatever exists on the server.
    """
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            raise AdapterError(NOT_A_RECORD) from None
    if isinstance(payload, dict):
        return validate_records([payload], single=True)
    if isinstance(payload, list):
        return validate_records(payload)
    if isinstance(payload, bytes | bytearray):
        records = frame_records(_frame_from_bytes(bytes(payload)))
        if not records:
            raise AdapterError(
                "the uploaded table holds no rows; send a header row and one row per transaction"
            )
        return validate_records(records)
    raise AdapterError(NOT_A_RECORD)


def read_transaction_source(source: Any, **_: Any) -> list[dict[str, Any]]:
    """``finance/transactions``' operator door: a CSV/Parquet path, ``'duckdb:PATH:TABLE'``, or records."""
    if isinstance(source, str | Path):
        return validate_records(read_table(str(source)))
    return read_transaction_payload(source)


def read_table(source: str) -> list[dict[str, Any]]:
    """Rows of a CSV/Parquet file or of ``duckdb:PATH:TABLE`` as dicts, with any extra columns."""
    if source.startswith("duckdb:"):
        return _duckdb_rows(source)
    path = Path(source)
    if not path.is_file():
        raise AdapterError(
            f"no file at {source}; give a .csv or .parquet file, or 'duckdb:PATH.duckdb:TABLE'"
        )
    import pandas as pd

    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        elif path.suffix.lower() == ".csv":
            frame = pd.read_csv(path)
        else:
            raise AdapterError(
                f"{path.name}: only .csv and .parquet files are read; convert it or load it into DuckDB"
            )
    except AdapterError:
        raise
    except Exception as error:  # pandas/pyarrow raise many types for malformed files
        raise AdapterError(
            f"cannot read {path}: {error}; check that the file is valid {path.suffix[1:]}"
        ) from None
    return frame_records(frame)


def frame_records(frame: Any) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return records


def _frame_from_bytes(data: bytes) -> Any:
    import io

    import pandas as pd

    try:
        return pd.read_parquet(io.BytesIO(data)) if data[:4] == b"PAR1" else pd.read_csv(io.BytesIO(data))
    except Exception as error:  # as above
        raise AdapterError(f"the uploaded file is neither valid Parquet nor CSV ({error})") from None


def _duckdb_rows(source: str) -> list[dict[str, Any]]:
    import duckdb

    _, _, rest = source.partition(":")
    path, _, table = rest.rpartition(":")
    if not path or not _TABLE.match(table):
        raise AdapterError(
            f"{source!r}: name a DuckDB table as 'duckdb:PATH.duckdb:TABLE' (TABLE: letters, digits, '_', "
            "optionally schema.table)"
        )
    if not Path(path).is_file():
        raise AdapterError(f"no DuckDB database at {path}; check the path")
    try:
        with duckdb.connect(path, read_only=True) as db:
            # the table name cannot be a bound parameter: it is checked against _TABLE and quoted instead
            quoted = ".".join(f'"{part}"' for part in table.split("."))
            frame = db.execute(f"SELECT * FROM {quoted} LIMIT ?", [MAX_ROWS + 1]).df()  # noqa: S608
    except duckdb.Error as error:
        raise AdapterError(f"cannot read table {table!r} from {path}: {error}") from None
    return frame_records(frame)
