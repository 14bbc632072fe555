"""UsageEvent: one metered request, as the gateway hands it to ``Ledger.record``."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from verticals.ledger._time import as_utc

#: The status a usage event is billed at: a client closing a stream early (nginx's 499) still got, and
#: is billed for, the tokens it received (``verticals.serving.backends.vllm.stream.CLIENT_CLOSED``).
CLIENT_CLOSED = 499


def billed_status(column: str = "status") -> str:
    """The SQL condition on ``column`` (a status column name from code, never from a request) that selects
    billed events: answered (below 400) or streams the client left (499), as the gateway bills them."""
    return f"({column} < 400 OR {column} = {CLIENT_CLOSED})"


def billed_units(table: str = "") -> str:
    """The SQL expression of an event's billed units, as metering bills them (``metering.billable``): prompt
    plus completion for ``tokens``, the units sent in for every other unit; a DECIMAL(38,6), so a month of
    0.1 s audio sums exactly (units are stored as DOUBLE). ``table`` is the alias to qualify the columns
    with (``"e"``), from code, never from a request."""
    at = f"{table}." if table else ""
    return (
        f"CAST(CASE WHEN {at}unit = 'tokens' THEN {at}units_in + {at}units_out ELSE {at}units_in END "
        "AS DECIMAL(38,6))"
    )


# Money in events is kept to the nano-dollar: a 20-token request at $0.20 per million tokens earns
# $0.000004, which micro-dollars would round to nothing over many calls.
MONEY_PLACES = Decimal("0.000000001")

# The usage_events columns in storage order; the spool's JSON keys are the same names.
EVENT_COLUMNS: dict[str, str] = {
    "request_id": "VARCHAR",
    "ts": "TIMESTAMP",
    "customer": "VARCHAR",
    "key_prefix": "VARCHAR",
    "plugin": "VARCHAR",
    "model": "VARCHAR",
    "model_version": "VARCHAR",
    "endpoint": "VARCHAR",
    "status": "SMALLINT",
    "latency_ms": "DOUBLE",
    "queue_ms": "DOUBLE",
    "ttft_ms": "DOUBLE",
    "units_in": "DOUBLE",
    "units_out": "DOUBLE",
    "unit": "VARCHAR",
    "compute_seconds": "DOUBLE",
    "device_class": "VARCHAR",
    "revenue_usd": "DECIMAL(18,9)",
    "cost_usd": "DECIMAL(18,9)",
}


class UsageEvent(BaseModel):
    """One request: who called what, how it went, what it consumed, earned and cost.

    ``revenue_usd`` is the price in force times the billable units; ``cost_usd`` is the compute
    seconds times the device rate in force. Both are exact Decimals kept to 9 places.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str = Field(min_length=1, max_length=200)
    ts: datetime
    customer: str = Field(min_length=1)
    key_prefix: str | None = None
    plugin: str = Field(min_length=1)
    model: str = Field(min_length=1)
    model_version: str
    endpoint: str
    status: int = Field(ge=100, le=599)
    latency_ms: float = Field(ge=0)
    queue_ms: float = Field(0, ge=0)
    ttft_ms: float | None = Field(None, ge=0)
    units_in: float = Field(0, ge=0)
    units_out: float = Field(0, ge=0)
    unit: str
    compute_seconds: float = Field(0, ge=0)
    device_class: str = "cpu"
    revenue_usd: Decimal = Field(ge=0, max_digits=18, decimal_places=9)
    cost_usd: Decimal = Field(ge=0, max_digits=18, decimal_places=9)

    @field_validator("ts")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)

    @field_validator("revenue_usd", "cost_usd", mode="before")
    @classmethod
    def _money(cls, value: Any) -> Any:
        if isinstance(value, float):
            raise ValueError("money must be a Decimal or a string such as '0.0012', never a float")
        if isinstance(value, Decimal | int | str):
            try:
                return Decimal(value).quantize(MONEY_PLACES, rounding=ROUND_HALF_EVEN)
            except ArithmeticError:
                raise ValueError(f"{value!r} is not an amount of money") from None
        return value

    @property
    def units(self) -> float:
        """Billable units: units in plus units out."""
        return self.units_in + self.units_out
