"""What a dashboard page shows, against the ledger's analytics functions for the same filters.

How "equal" is decided: a metric tile shows formatted text (``$1,234.56``, ``12.3%``, ``648.0 h``); it
must lie within half a unit of its last digit of the exact analytics value. Table cells hold the value
before formatting and must match to 1e-6. Devices still up count until now, so a figure can move while
a page renders: each check brackets the page between the analytics values computed just before loading
it and just after reading it (without live traffic every figure only moves one way with time).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from . import chromium

CENT = Decimal("0.005")  # half a cent: what a $x.xx figure may differ from the exact value
EXACT = Decimal("0.000001")  # table cells: float repr of an exact Decimal


def default_dates() -> tuple[date, date]:
    """The sidebar's default range: the last 30 days, today included (UTC)."""
    today = datetime.now(UTC).date()
    return today - timedelta(days=29), today


class Analytics:
    """The ledger's analytics functions on the demo ledger, opened read-only per call as the dashboard
    does, for the dates ``start``..``end`` (both included) and optionally one ``customer``."""

    def __init__(self, home: Path, start: date, end: date, customer: str | None = None) -> None:
        self.home = home
        self.since = datetime.combine(start, time.min, tzinfo=UTC)
        self.until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
        self.customer = customer

    def __call__(self, name: str, **params: Any) -> Any:
        from verticals.ledger import Ledger, analytics

        ledger = Ledger.open(self.home, read_only=True)
        try:
            return getattr(analytics, name)(ledger.connection, **params)
        finally:
            ledger.close()

    def range(self) -> dict[str, Any]:
        """The filters as the usage analytics take them."""
        chosen = {"customer": self.customer} if self.customer else {}
        return {"since": self.since, "until": self.until, **chosen}

    def as_of(self) -> dict[str, datetime]:
        """The range for capacity: to its end or now, whichever is earlier."""
        return {"since": self.since, "until": min(self.until, datetime.now(UTC))}


Figures = dict[str, Decimal | None]


def visit(
    browser: Any,
    url: str,
    title: str,
    shot: Path,
    demo_home: Path,
    expected: Callable[[Analytics], Figures],
    customer: str | None = None,
) -> tuple[Any, Figures, Figures]:
    """Open the page (and pick ``customer`` in the sidebar), screenshot it at ``shot``, check that it
    shows no error and the default dates; returns (browser, expected figures before, after)."""
    start, end = default_dates()
    before = expected(Analytics(demo_home, start, end, customer))
    chromium.open_page(browser, url, title)
    if customer is not None:
        chromium.choose(browser, "Customer", customer, title)
    chosen = {"customer": customer} if customer else {}
    shown = chromium.shown_filters(browser)
    # differs only if the UTC day changed while the page loaded, or the page ignores its filters
    assert shown == (start, end, chosen), f"the page shows {shown}, the test computed {(start, end, chosen)}"
    chromium.screenshot(browser, shot, title)
    assert shot.stat().st_size > 10_000
    assert not chromium.errors(browser), f"{title} shows an error: {chromium.errors(browser)}"
    after = expected(Analytics(demo_home, start, end, customer))
    return browser, before, after


def parse(text: str) -> Decimal:
    """A displayed figure as a Decimal: ``-$1,234.56`` -> -1234.56, ``12.3%`` -> 0.123, ``648.0 h`` ->
    648.0."""
    cleaned = text.replace("$", "").replace(",", "").replace(" h", "").strip()
    if cleaned.endswith("%"):
        return Decimal(cleaned[:-1]) / 100
    return Decimal(cleaned)


def check(what: str, shown: str, before: Decimal | None, after: Decimal | None, tolerance: Decimal) -> None:
    """``shown`` (displayed text) must lie within ``tolerance`` of the analytics value, which moved from
    ``before`` to ``after`` while the page rendered; a value the analytics leave out (None, a margin
    without revenue) must be shown as none."""
    if before is None or after is None:
        assert before is None and after is None, f"{what}: the analytics moved from {before} to {after}"
        assert shown in ("", "None", "null", "n/a"), f"{what}: the page shows {shown}, the analytics none"
        return
    value = parse(shown)
    low, high = min(before, after), max(before, after)
    assert low - tolerance <= value <= high + tolerance, (
        f"{what}: the page shows {shown}, the analytics say {before}"
        + (f" (then {after})" if after != before else "")
    )


def dollars_near(low: Decimal, high: Decimal) -> set[str]:
    """Every ``$1,234.56`` text within half a cent of [low, high] (two at a tie, when rounding may go
    either way)."""
    cent = Decimal("0.01")
    first = (low - CENT).quantize(cent, rounding="ROUND_CEILING")
    count = int(((high + CENT) - first) / cent) + 1
    amounts = (first + cent * n for n in range(count))
    return {f"{'-' if a < 0 else ''}${abs(a):,.2f}" for a in amounts}


def check_metrics(page: Any, before: Figures, after: Figures, tolerances: dict[str, Decimal]) -> None:
    """Every figure in ``before`` names a metric tile's label; its displayed value must match."""
    tiles = chromium.metrics(page)
    for label in before:
        assert label in tiles, f"no metric {label!r} on the page; it shows {tiles}"
        check(label, tiles[label], before[label], after[label], tolerances.get(label, CENT))


def rows_of(table: list[tuple[str, Figures]]) -> Figures:
    """Expected table rows, (row key, {column header: exact value}) in the analytics' order, as Figures
    keyed "row key#n|column": n numbers repeats of a key (a device up twice in the range is two rows)."""
    out: Figures = {}
    seen: dict[str, int] = {}
    for key, values in table:
        seen[key] = seen.get(key, 0) + 1
        out.update({f"{key}#{seen[key]}|{column}": value for column, value in values.items()})
    return out


def check_rows(
    rows: list[dict[str, str]], key: str, before: Figures, after: Figures, columns: list[str]
) -> None:
    """The table ``rows`` (as ``chromium.table`` reads them), keyed by their column ``key``, against
    ``before``/``after`` (see ``rows_of``): every row the analytics return must be shown, nothing else, and
    each of ``columns`` must hold the analytics value."""
    seen: dict[str, int] = {}
    shown: dict[str, dict[str, str]] = {}
    for row in rows:
        seen[row[key]] = seen.get(row[key], 0) + 1
        shown[f"{row[key]}#{seen[row[key]]}"] = row
    expected = {name.split("|")[0] for name in before}
    assert set(shown) == expected, f"rows shown {sorted(shown)}, the analytics give {sorted(expected)}"
    for row_key, row in shown.items():
        for column in columns:
            assert column in row, f"no column {column!r} in the table; columns {sorted(row)}"
            name = f"{row_key}|{column}"
            check(name, row[column], before[name], after[name], EXACT)


def money(value: Any) -> Decimal | None:
    """An analytics value (Decimal, float or None) as a Decimal, None kept."""
    return Decimal(str(value)) if value is not None else None
