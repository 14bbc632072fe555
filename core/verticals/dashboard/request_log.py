"""The Request log page's figures: one page of requests as the ledger metered them (``request_log``).

The ledger keeps no prompt and no response, so neither does this page: a row is who called what, how it
went and what it was priced and cost. Price and cost stay exact decimal strings (a request costs
fractions of a cent, which floats would blur), so a support reply can quote them as the ledger has them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from verticals.dashboard.datasource import DataSource
from verticals.dashboard.filters import Filters
from verticals.money import plain_number

#: The status classes the page offers (the ledger's ``request_log`` accepts these).
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")
#: The columns of ``RequestLogFigures.request_log``'s frame, in the page's order.
COLUMNS = [
    "time",
    "request_id",
    "customer",
    "key_prefix",
    "model",
    "status",
    "latency_ms",
    "queue_ms",
    "units",
    "unit",
    "price_usd",
    "cost_usd",
    "endpoint",
    "model_version",
]


@dataclass(frozen=True)
class LogQuery:
    """What the page asks for beyond the sidebar's filters: a key prefix (keys starting with it), a status
    class (2xx, 3xx, 4xx, 5xx), a pasted request id, and the page of rows (``limit`` rows from ``offset``).
    None or "" means no filter.
    """

    key_prefix: str | None = None
    status_class: str | None = None
    request_id: str | None = None
    limit: int = 50
    offset: int = 0

    def params(self, filters: Filters) -> dict[str, Any]:
        """The keyword arguments of the ledger's ``request_log``: a request id is searched across every date,
        customer and model (a ticket's request may be older than the range shown, and an id is unique);
        otherwise the sidebar's ``filters`` with the key prefix and status class.
        """
        page = {"limit": self.limit, "offset": self.offset}
        request_id = (self.request_id or "").strip()
        if request_id:
            return {"request_id": request_id, **page}
        chosen = {"key_prefix": (self.key_prefix or "").strip() or None, "status_class": self.status_class}
        return {**filters.params(), **{k: v for k, v in chosen.items() if v}, **page}


class RequestLogFigures:
    """The Request log page's figures (a mixin of ``Figures``, which sets ``source``)."""

    source: DataSource

    def request_log(self, filters: Filters, query: LogQuery) -> pd.DataFrame:
        """One page of requests, newest first (see ``LogQuery.params`` for what is searched): columns
        ``COLUMNS``, time a UTC timestamp, latency_ms and queue_ms floats, units the billable units in plus
        out, price_usd (the list price in force for the request) and cost_usd (its compute) the ledger's
        exact amounts as fixed-point strings ("0.00015"). ``attrs["total"]`` counts every matching request.
        Raises DataSourceError when the source cannot be read (MissingAnalytics when its ledger predates the
        request log).
        """
        found = self.source.analytics("request_log", **query.params(filters))
        df = pd.DataFrame(found["rows"], columns=[c for c in COLUMNS if c != "time"] + ["ts"])
        df["time"] = pd.to_datetime(df["ts"], utc=True)
        for column in ("latency_ms", "queue_ms", "units"):
            df[column] = pd.to_numeric(df[column], errors="coerce")
        for column in ("price_usd", "cost_usd"):
            df[column] = [plain_number(Decimal(str(value))) for value in df[column]]
        df = df[COLUMNS].reset_index(drop=True)
        df.attrs["total"] = int(found["total"])
        return df
