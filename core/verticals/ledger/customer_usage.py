"""One customer's usage and charges by time bucket: the figures behind the OpenAI-shaped Usage and Costs
APIs that a customer reads with its own key (``verticals.serving.openai.usage``).

Counted events are the ones the customer is billed for (``events.billed_status``: answered requests,
and streams the client left, billed for the tokens they received); a refused or failed request is
neither usage nor a charge. ``charged_usd`` is the billed revenue those
events carry (the price in force times the billable units, exact to 9 places): usage charges before
the plan's fee, allowances, tiers and credits, which invoices apply.

Every query is parameterised: the customer, times, models and keys are parameters, and the few SQL
fragments chosen by the caller (the kind of usage, the bucket width) come from this module's own tables,
never from the text of a request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from verticals.ledger._time import from_db, to_db
from verticals.ledger.analytics._query import connection_of
from verticals.ledger.errors import LedgerError
from verticals.ledger.events import billed_status, billed_units

Truncation = Literal["minute", "hour", "day"]
TRUNCATIONS: dict[Truncation, int] = {"minute": 60, "hour": 3600, "day": 86400}

# Which events each kind of usage covers, by what the gateway records: OpenAI's completions are the
# token models answered on the chat and completion routes, embeddings those on the embeddings route;
# audio transcriptions and images are every event billed in audio seconds or images, whichever route
# (OpenAI or v2) served them. Rows and calls have no OpenAI usage kind: the costs show them.
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "completions": ("unit = ? AND endpoint IN (?, ?)", ("tokens", "/v1/chat/completions", "/v1/completions")),
    "embeddings": ("unit = ? AND endpoint = ?", ("tokens", "/v1/embeddings")),
    "audio_transcriptions": ("unit = ?", ("audio-seconds",)),
    "images": ("unit = ?", ("images",)),
}


@dataclass(frozen=True)
class UsageQuery:
    """Which of ``customer``'s events to sum, and how to group them.

    ``since`` inclusive, ``until`` exclusive (aware or naive UTC); ``truncation`` names the UTC grid of the
    buckets (minute, hour, day); ``kind`` one of ``KINDS``, None for every charged event (the costs).
    ``by_model`` groups by model and unit, ``by_key`` by API key prefix; ``models`` and ``keys``, when not
    empty, keep only those models and key prefixes.
    """

    customer: str
    since: datetime
    until: datetime
    truncation: Truncation = "day"
    kind: str | None = None
    by_model: bool = False
    by_key: bool = False
    models: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class UsageRow:
    """One group's sums in one bucket.

    ``bucket`` is the start of its grid cell (aware UTC); ``model``, ``unit`` (with ``by_model``) and
    ``key_prefix`` (with ``by_key``) are None when not grouped by. ``requests`` counts answered requests;
    ``units_in``/``units_out`` are the units read and written (tokens in and out, audio seconds,
    images, rows, calls) and ``units`` the billable ones (tokens in plus out, else units in), as Decimals
    to the micro-unit;
    ``charged_usd`` the billed revenue, exact Decimal USD.
    """

    bucket: datetime
    model: str | None
    unit: str | None
    key_prefix: str | None
    requests: int
    units_in: Decimal
    units_out: Decimal
    units: Decimal
    charged_usd: Decimal


def _decimal(column: str) -> str:
    # Units are stored as DOUBLE; summed as decimals to the micro-unit, a month of 0.1 s audio stays exact.
    return f"CAST({column} AS DECIMAL(38,6))"


def _placeholders(values: Sequence[str]) -> str:
    return ", ".join("?" for _ in values)


def customer_usage(source: Any, query: UsageQuery) -> list[UsageRow]:
    """``query``'s sums per bucket and group, ordered by bucket, model, unit and key; buckets and groups
    without events are left out.

    ``source`` is a ``Ledger`` or a DuckDB connection. Raises LedgerError for an empty customer, an unknown
    kind or truncation, or ``until`` not after ``since``.
    """
    if not query.customer:
        raise LedgerError("usage is read for one customer: name it")
    if query.truncation not in TRUNCATIONS:
        raise LedgerError(f"unknown bucket grid {query.truncation!r}; use one of {', '.join(TRUNCATIONS)}")
    if query.until <= query.since:
        raise LedgerError("the end of the period must come after its start")
    model = "model" if query.by_model else "CAST(NULL AS VARCHAR)"
    unit = "unit" if query.by_model else "CAST(NULL AS VARCHAR)"
    key = "key_prefix" if query.by_key else "CAST(NULL AS VARCHAR)"
    clauses = ["customer = ?", "ts >= ?", "ts < ?", billed_status()]
    params: list[Any] = [query.truncation, query.customer, to_db(query.since), to_db(query.until)]
    if query.kind is not None:
        if query.kind not in KINDS:
            raise LedgerError(f"unknown kind of usage {query.kind!r}; known: {', '.join(KINDS)}")
        condition, values = KINDS[query.kind]
        clauses.append(condition)
        params.extend(values)
    if query.models:
        clauses.append(f"model IN ({_placeholders(query.models)})")
        params.extend(query.models)
    if query.keys:
        clauses.append(f"key_prefix IN ({_placeholders(query.keys)})")
        params.extend(query.keys)
    # The fragments put into the text are this module's constants; every value is a parameter.
    sql = (
        f"SELECT date_trunc(?, ts), {model}, {unit}, {key}, count(*), "  # noqa: S608
        f"sum({_decimal('units_in')}), sum({_decimal('units_out')}), sum({billed_units()}), "
        "sum(revenue_usd) "
        f"FROM usage_events WHERE {' AND '.join(clauses)} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    )
    rows = connection_of(source).execute(sql, params).fetchall()
    return [
        UsageRow(
            bucket=from_db(bucket),
            model=model_name,
            unit=unit_name,
            key_prefix=prefix,
            requests=int(requests),
            units_in=Decimal(units_in or 0),
            units_out=Decimal(units_out or 0),
            units=Decimal(units or 0),
            charged_usd=Decimal(charged or 0),
        )
        for bucket, model_name, unit_name, prefix, requests, units_in, units_out, units, charged in rows
    ]
