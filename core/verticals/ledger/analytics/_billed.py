"""Billed revenue: what customers are invoiced, spread over time buckets and dimensions.

Revenue in the analytics is billed revenue, the invoices' amounts, not usage at list price:

- **Which invoices.** For each calendar month (UTC) the range touches, a customer's finalized invoice
  when it has one (a voided invoice counts through the one that replaced it), else its draft
  (``verticals.billing.invoices.preview_all``: recomputed from the ledger now, as ``verticals invoices
  preview`` shows it). A closed month not finalized yet is therefore what finalizing it would issue.
- **Fees are recognised daily** (ratably, by second, as the engine prorates them): a fee line covering
  ``[start, end)`` counts ``amount x seconds in the bucket / seconds of the line``, and only up to now:
  the month in progress has recognised its fee up to this moment, not the whole month's.
- **Usage charges** (after allowances and tiers) and **credits** (which cover usage only) are recognised
  with the usage: each usage line's amount, less its share of the invoice's credits (shared by line
  amount), is spread over the line's billed events by their billed units (tokens in + out; units in for
  the rest; by request where a line has no units). For the month in progress this is the draft's usage so
  far, with the month's whole (prorated) allowance available: what the customer owes if it used nothing
  more this month.
- Every split is exact to the nano-dollar (``_apportion``): the buckets of a whole closed month add up to
  the sum of its invoices.

A fee has no model, plugin, unit, endpoint or device: under those dimensions it is the row ``FEE``; a
model or plugin filter leaves fees out. Billing is read through ``Ledger``'s interface (the engine's
``BillingLedger``); the one query here splits usage lines over events.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from verticals.ledger._time import as_utc, to_db
from verticals.ledger.analytics._apportion import apportion
from verticals.ledger.analytics._query import connection_of, label, now_of
from verticals.ledger.events import billed_status, billed_units

if TYPE_CHECKING:
    from verticals.billing.model import Invoice
    from verticals.ledger.ledger import Ledger

FEE = "(plan fee)"
"""The dimension value of plan fees under model, plugin, unit, endpoint or device_class."""

ZERO = Decimal(0)


@dataclass
class Billed:
    """Billed revenue of one group (USD, exact): ``fee`` (plan fees recognised), ``usage`` (usage charges
    after allowances and tiers), ``credits`` (credit applied, positive); ``revenue`` = fee + usage -
    credits."""

    fee: Decimal = ZERO
    usage: Decimal = ZERO
    credits: Decimal = ZERO

    @property
    def revenue(self) -> Decimal:
        """``fee + usage - credits``."""
        return self.fee + self.usage - self.credits


def billing_ledger(source: Any) -> Ledger:
    """``source`` as a ``Ledger`` the billing engine can read: itself, or a read-only ``Ledger`` over the
    DuckDB connection (or cursor) the analytics were given."""
    from verticals.ledger.ledger import Ledger

    if isinstance(source, Ledger):
        return source
    from pathlib import Path

    from verticals.ledger._time import utc_now

    return Ledger(Path(":analytics:"), connection_of(source), None, utc_now)


def months(since: datetime, until: datetime) -> list[str]:
    """The ``YYYY-MM`` months (UTC) ``[since, until)`` touches, in order."""
    first, last = as_utc(since), as_utc(until) - timedelta(microseconds=1)
    out, year, month = [], first.year, first.month
    while (year, month) <= (last.year, last.month):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def invoices_in(
    source: Any, since: datetime | None, until: datetime | None, customer: str | None = None
) -> list[Invoice]:
    """The invoices billed revenue is read from for the months ``[since, until)`` touches (see the module):
    finalized where issued, else drafts, by month then customer. ``since`` None: from the first
    subscription; ``until`` None: now."""
    from verticals.billing.invoices import preview, preview_all
    from verticals.billing.model import InvoiceStatus

    ledger = billing_ledger(source)
    now = now_of(source)
    end = min(as_utc(until), now) if until is not None else now
    # nothing is billed before the first subscription: start there (a range from 2000 reads no empty months)
    starts = [s.starts_at for s in ledger.subscriptions(customer)]
    if not starts:
        return []
    since = min(starts) if since is None else max(as_utc(since), min(starts))
    out: list[Invoice] = []
    if as_utc(since) >= end:
        return out
    for month in months(since, end):
        issued = {
            invoice.customer: invoice
            for invoice in ledger.list_invoices(month=month, status=InvoiceStatus.FINALIZED)
            if customer is None or invoice.customer == customer
        }
        if customer is not None:
            drafts = [] if customer in issued else [preview(ledger, customer, month)]
        elif all(found.name in issued for found in ledger.list_customers()):
            drafts = []  # a closed month finalized for everyone: no draft to compute (a scan of the month)
        else:
            drafts = [draft for draft in preview_all(ledger, month) if draft.customer not in issued]
        out.extend(sorted([*issued.values(), *drafts], key=lambda invoice: invoice.customer))
    return out


def _trunc(moment: datetime, bucket: str) -> datetime:
    """``date_trunc(bucket, moment)`` as DuckDB computes it (weeks start on Monday), naive UTC."""
    moment = to_db(moment)
    if bucket == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if bucket == "day":
        return day
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next(start: datetime, bucket: str) -> datetime:
    if bucket == "hour":
        return start + timedelta(hours=1)
    if bucket == "day":
        return start + timedelta(days=1)
    if bucket == "week":
        return start + timedelta(weeks=1)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


def _pieces(
    start: datetime, end: datetime, bucket: str | None, cuts: Sequence[datetime]
) -> Iterator[tuple[datetime, datetime, Any]]:
    """``[start, end)`` (naive UTC) cut at bucket boundaries and at ``cuts``: (from, to, bucket start)."""
    points = {start, end, *(c for c in cuts if start < c < end)}
    if bucket is not None:
        mark = _next(_trunc(start, bucket), bucket)
        while mark < end:
            points.add(mark)
            mark = _next(mark, bucket)
    ordered = sorted(points)
    for left, right in pairwise(ordered):
        yield left, right, (_trunc(left, bucket) if bucket else None)


def _seconds(start: datetime, end: datetime) -> Decimal:
    delta = end - start
    return Decimal((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds) / 1_000_000


def billed_groups(
    source: Any,
    dims: Sequence[str],
    *,
    bucket: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    customer: str | None = None,
    plugin: str | None = None,
    model: str | None = None,
) -> dict[tuple[Any, ...], Billed]:
    """Billed revenue recognised in ``[since, until)`` (and up to now) per group: keys are
    ``(bucket?, *dimension values)`` exactly as ``usage_summary``'s SQL groups (naive UTC bucket starts,
    dimension values labelled), values ``Billed``. See the module for the rules."""
    invoices = invoices_in(source, since, until, customer)
    now = to_db(now_of(source))
    low = to_db(since) if since is not None else datetime.min
    high = min(to_db(until), now) if until is not None else now
    groups: dict[tuple[Any, ...], Billed] = {}
    lines: list[tuple[str, Any, Decimal]] = []  # (customer, usage line, its credit share)
    for invoice in invoices:
        shares = apportion(invoice.credits_usd, [line.amount_usd for line in invoice.usage])
        for line, share in zip(invoice.usage, shares, strict=True):
            if (model is None or line.model == model) and (
                plugin is None or line.model.split("/", 1)[0] == plugin
            ):
                lines.append((invoice.customer, line, share))
        if plugin is not None or model is not None:
            continue  # a fee is no model's or plugin's revenue
        for fee in invoice.fees:
            _add_fee(groups, invoice.customer, fee, dims, bucket, low, high)
    _add_usage(groups, connection_of(source), lines, dims, bucket, low, high)
    return groups


def _add_fee(
    groups: dict[tuple[Any, ...], Billed],
    customer: str,
    fee: Any,
    dims: Sequence[str],
    bucket: str | None,
    low: datetime,
    high: datetime,
) -> None:
    pieces = list(_pieces(to_db(fee.period_start), to_db(fee.period_end), bucket, (low, high)))
    parts = apportion(fee.amount_usd, [_seconds(a, b) for a, b, _ in pieces])
    values = tuple(customer if name == "customer" else FEE for name in dims)
    for (start, end, part_bucket), part in zip(pieces, parts, strict=True):
        if start >= low and end <= high:
            key = ((part_bucket,) if bucket else ()) + values
            groups.setdefault(key, Billed()).fee += part


def _stretch_start(cuts: Sequence[datetime], low: int, high: int) -> tuple[str, list[Any]]:
    """SQL of the start of the stretch ``[cuts[i], cuts[i + 1])`` holding ``ts``, for ``low <= i < high``
    (``cuts`` sorted, ``ts`` in ``[cuts[low], cuts[high])``), and its parameters in order: CASEs nested
    as a binary search, so an event takes log2(len(cuts)) comparisons however many lines there are."""
    if high - low == 1:
        return "CAST(? AS TIMESTAMP)", [cuts[low]]
    middle = (low + high) // 2
    below, below_params = _stretch_start(cuts, low, middle)
    above, above_params = _stretch_start(cuts, middle, high)
    return (
        f"CASE WHEN ts < CAST(? AS TIMESTAMP) THEN {below} ELSE {above} END",
        [cuts[middle], *below_params, *above_params],
    )


def _add_usage(
    groups: dict[tuple[Any, ...], Billed],
    conn: Any,
    lines: Sequence[tuple[str, Any, Decimal]],
    dims: Sequence[str],
    bucket: str | None,
    low: datetime,
    high: datetime,
) -> None:
    """Spread each usage line (and its credit share) over its events by billed units (see the module)."""
    if not lines:
        return
    # The lines as parallel lists unnested side by side (both engines zip several unnests in one SELECT),
    # not a VALUES list of placeholders: all the lines are one statement of constant text, one pass over
    # the events (a query per 500 lines rescanned the span each time), and no parse of a statement with
    # tens of thousands of placeholders (0.8 s in sqlglot for 4,000 lines).
    columns_of_lines: list[list[Any]] = [[], [], [], [], [], []]
    for index, (customer, line, _) in enumerate(lines):
        for column, value in zip(
            columns_of_lines,
            (index, customer, line.model, line.unit, to_db(line.period_start), to_db(line.period_end)),
            strict=True,
        ):
            column.append(value)
    first = min(to_db(line.period_start) for _, line, _ in lines)
    last = max(to_db(line.period_end) for _, line, _ in lines)
    # The events are summed per stretch between consecutive cuts (every line's start and end, and the
    # range's bounds) before they meet the lines: a line starts and ends on cuts, so an event is in a
    # line exactly when its stretch's start is, and in the range likewise. Joined event by event instead,
    # PostgreSQL sorted a million joined rows to group them (2.7 s for 1M events, 0.5 s for this).
    # Billed units are DECIMAL, so summing the stretches' sums gives the same figure to the last digit.
    bounds = {to_db(c) for _, line, _ in lines for c in (line.period_start, line.period_end)}
    cuts = sorted(bounds | {c for c in (low, high) if first < c < last})
    stretch, stretch_params = _stretch_start(cuts, 0, len(cuts) - 1)
    bucket_sql = f"date_trunc('{bucket}', ts)" if bucket else "NULL::TIMESTAMP"
    kept = ", ".join(dict.fromkeys(["customer", "model", "unit", *dims]))
    dim_sql = "".join(f", e.{name}" for name in dims)
    rows = conn.execute(
        f"WITH ev AS MATERIALIZED (SELECT {kept}, {stretch} AS stretch, {bucket_sql} AS b, "  # noqa: S608
        f"sum({billed_units()}) AS units, count(*) AS n FROM usage_events "
        f"WHERE ts >= ? AND ts < ? AND {billed_status()} GROUP BY ALL), "
        "w AS (SELECT unnest(CAST(? AS INTEGER[])) AS idx, unnest(CAST(? AS VARCHAR[])) AS w_customer, "
        "unnest(CAST(? AS VARCHAR[])) AS w_model, unnest(CAST(? AS VARCHAR[])) AS w_unit, "
        "unnest(CAST(? AS TIMESTAMP[])) AS w_since, unnest(CAST(? AS TIMESTAMP[])) AS w_until) "
        f"SELECT w.idx, e.b, (e.stretch >= ? AND e.stretch < ?){dim_sql}, sum(e.units), sum(e.n) "
        "FROM ev e JOIN w ON e.customer = w.w_customer AND e.model = w.w_model "
        "AND e.unit = w.w_unit AND e.stretch >= w.w_since AND e.stretch < w.w_until "
        "GROUP BY ALL ORDER BY ALL",
        [*stretch_params, first, last, *columns_of_lines, low, high],
    ).fetchall()
    by_line: dict[int, list[Any]] = {}
    for row in rows:
        by_line.setdefault(row[0], []).append(row)
    for index, parts in by_line.items():
        _, line, credit = lines[index]
        weights = [Decimal(row[-2] or 0) for row in parts]
        if not any(weights):
            weights = [Decimal(row[-1]) for row in parts]
        for row, charge, credited in zip(
            parts, apportion(line.amount_usd, weights), apportion(credit, weights), strict=True
        ):
            if not row[2]:
                continue  # the line's events outside the range weigh in, but count elsewhere
            key = ((row[1],) if bucket else ()) + tuple(
                label(name, value) for name, value in zip(dims, row[3 : 3 + len(dims)], strict=True)
            )
            entry = groups.setdefault(key, Billed())
            entry.usage += charge
            entry.credits += credited
