"""A test that looks: the demo company's dashboard in headless Chromium, every page rendered, a screenshot of
each kept under the test's tmp folder (``<basetemp>/dashboard-screenshots*/overview.png``, ...), and the
key figures each page shows (revenue, compute cost, gross margin, utilization, idle cost) checked against
the ledger's analytics functions called here with the dates the page says it shows.

How "equal" is decided: a metric tile shows formatted text (``$1,234.56``, ``12.3%``, ``648.0 h``); it
must lie within half a unit of its last digit of the exact analytics value. Table cells hold the value
before formatting and must match to 1e-6. Devices still up count until now, so a figure can move while
a page renders: each check brackets the page between the analytics values computed just before loading
it and just after reading it (without live traffic every figure only moves one way with time).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from . import chromium
from .conftest import running_dashboard

pytestmark = pytest.mark.slow

BACKFILL_DAYS = 3  # enough for every page to have data; small, to stay fast on a 2-core machine
VERTICALS = Path(sys.executable).with_name("verticals")
CENT = Decimal("0.005")  # half a cent: what a $x.xx figure may differ from the exact value
EXACT = Decimal("0.000001")  # table cells: float repr of an exact Decimal


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding the demo company's back-filled history, written by the CLI a user runs."""
    home = tmp_path_factory.mktemp("demo-home")
    env = {**os.environ, "VERTICALS_HOME": str(home)}
    env.pop("VERTICALS_ADMIN_TOKEN", None)
    done = subprocess.run(
        [str(VERTICALS), "demo", "--backfill-days", str(BACKFILL_DAYS), "--duration", "0", "--seed", "16"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        pytest.fail(f"verticals demo --backfill-days failed:\n{done.stdout}\n{done.stderr}")
    return home


@pytest.fixture(scope="module")
def dashboard(demo_home: Path) -> Iterator[str]:
    env = {**os.environ, "VERTICALS_HOME": str(demo_home)}
    env.pop("VERTICALS_ADMIN_TOKEN", None)
    with running_dashboard(VERTICALS, free_port(), env) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium.chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dashboard-screenshots")


# Every page the tests below check: {URL path: title}.
CHECKED = {
    "": "Overview",
    "customers": "Customers",
    "models": "Models and plugins",
    "compute": "Compute",
    "pricing": "Pricing lab",
    "risk": "Risk",
}


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
    assert chromium.shown_filters(browser) == (start, end, chosen), "the day changed while the page loaded"
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


@pytest.fixture(scope="module")
def least_profitable(demo_home: Path) -> str:
    """The customer with the lowest gross margin in the default range (the demo has one losing money)."""
    analytics = Analytics(demo_home, *default_dates())
    rows = [
        row for row in analytics("usage_summary", by=["customer"], **analytics.range()) if row["requests"]
    ]
    customer: str = min(rows, key=lambda row: row["margin_usd"])["customer"]
    return customer


@pytest.mark.parametrize("filtered", [False, True], ids=["all-customers", "least-profitable-customer"])
def test_overview_shows_the_ledgers_revenue_cost_and_margin(
    dashboard: str, browser: Any, shots: Path, demo_home: Path, least_profitable: str, filtered: bool
) -> None:
    customer = least_profitable if filtered else None

    def expected(analytics: Analytics) -> Figures:
        (total,) = analytics("usage_summary", by=[], **analytics.range())
        rows = analytics("usage_summary", by=["day"], **analytics.range())
        return {
            "Revenue": money(total["revenue_usd"]),
            "Compute cost": money(total["cost_usd"]),
            "Gross margin": money(total["margin_usd"]),
            "idle": money(total["idle_cost_usd"]),
        } | rows_of([(f"{row['bucket']:%Y-%m-%d}", {
            "Revenue (USD)": money(row["revenue_usd"]),
            "Compute cost, idle included (USD)": money(row["cost_usd"]),
            "Gross margin (USD)": money(row["margin_usd"]),
        }) for row in rows])  # fmt: skip

    shot = shots / ("overview-one-customer.png" if filtered else "overview.png")
    page, before, after = visit(browser, dashboard, "Overview", shot, demo_home, expected, customer)
    tiles = {name: value for name, value in before.items() if "|" not in name and name != "idle"}
    check_metrics(page, tiles, after, {})
    # the idle cost inside the compute cost is said in words, not in a tile of its own
    idle = sorted(value for value in (before["idle"], after["idle"]) if value is not None)
    said = dollars_near(idle[0], idle[-1])
    text = chromium.main_text(page)
    assert any(amount in text for amount in said), f"the Overview does not say the idle cost {said}"
    days = {name: value for name, value in before.items() if "|" in name}
    rows = [{**row, "Day": row["Day (UTC)"][:10]} for row in chromium.table(page, "Day (UTC)")]
    columns = ["Revenue (USD)", "Compute cost, idle included (USD)", "Gross margin (USD)"]
    check_rows(rows, "Day", days, after, columns)


def test_customers_page_shows_each_customers_revenue_cost_and_margin(
    dashboard: str, browser: Any, shots: Path, demo_home: Path
) -> None:
    columns = {
        "Revenue (USD)": "revenue_usd",
        "Compute cost, idle included (USD)": "cost_usd",
        "of which idle share (USD)": "idle_cost_usd",
        "Gross margin (USD)": "margin_usd",
        "Gross margin (% of revenue)": "margin_pct",
    }

    def expected(analytics: Analytics) -> Figures:
        rows = analytics("usage_summary", by=["customer"], **analytics.range())
        return rows_of(
            [(row["customer"], {label: money(row[key]) for label, key in columns.items()}) for row in rows]
        )

    page, before, after = visit(
        browser, f"{dashboard}/customers", "Customers", shots / "customers.png", demo_home, expected
    )
    check_rows(chromium.table(page, "Customer"), "Customer", before, after, list(columns))


def test_models_page_shows_each_models_revenue_and_cost(
    dashboard: str, browser: Any, shots: Path, demo_home: Path
) -> None:
    columns = {"Revenue (USD)": "revenue_usd", "Compute cost, idle share included (USD)": "cost_usd"}

    def expected(analytics: Analytics) -> Figures:
        rows = analytics("unit_economics", **analytics.range())
        return rows_of(
            [(row["model"], {label: money(row[key]) for label, key in columns.items()}) for row in rows]
        )

    page, before, after = visit(
        browser, f"{dashboard}/models", "Models and plugins", shots / "models.png", demo_home, expected
    )
    check_rows(chromium.table(page, "Model"), "Model", before, after, list(columns))


def test_compute_page_shows_the_ledgers_utilization_and_idle_cost(
    dashboard: str, browser: Any, shots: Path, demo_home: Path
) -> None:
    def expected(analytics: Analytics) -> Figures:
        devices = analytics("utilization", by="device", **analytics.as_of())
        classes = analytics("utilization", by="device_class", **analytics.as_of())
        main = max(classes, key=lambda row: row["provisioned_hours"])
        figures: Figures = {
            "Device-hours provisioned": sum(
                (Decimal(str(d["provisioned_hours"])) for d in devices), Decimal(0)
            ),
            f"Utilization ({main['device_class']})": money(main["utilization"]),
            "Idle cost": sum((Decimal(str(d["idle_cost_usd"])) for d in devices), Decimal(0)),
        }
        return figures | rows_of([(device["device_id"], {
            "Utilization": money(device["utilization"]),
            "Idle cost (USD)": money(device["idle_cost_usd"]),
        }) for device in devices])  # fmt: skip

    page, before, after = visit(
        browser, f"{dashboard}/compute", "Compute", shots / "compute.png", demo_home, expected
    )
    tiles = {name: value for name, value in before.items() if "|" not in name}
    tolerances = {name: Decimal("0.05") if name.startswith("Device-hours") else Decimal("0.0005")
                  for name in tiles if not name.startswith("Idle")}  # fmt: skip
    check_metrics(page, tiles, after, tolerances)
    rows = {name: value for name, value in before.items() if "|" in name}
    check_rows(chromium.table(page, "Device"), "Device", rows, after, ["Utilization", "Idle cost (USD)"])


def test_pricing_lab_shows_the_same_revenue_and_gross_margin_as_the_ledger(
    dashboard: str, browser: Any, shots: Path, demo_home: Path
) -> None:
    # the usage as recorded, through usage_summary: the Pricing lab's actual margin is the gross margin
    # the Overview shows, idle included
    def expected(analytics: Analytics) -> Figures:
        (total,) = analytics("usage_summary", by=[], **analytics.range())
        return {
            "Actual revenue": money(total["revenue_usd"]),
            "What-if revenue": money(total["revenue_usd"]),  # no price edited yet
            "Actual gross margin": money(total["margin_usd"]),
            "What-if gross margin": money(total["margin_usd"]),
        }

    page, before, after = visit(
        browser, f"{dashboard}/pricing", "Pricing lab", shots / "pricing.png", demo_home, expected
    )
    check_metrics(page, before, after, {})


def test_risk_page_shows_the_ledgers_revenue_concentration(
    dashboard: str, browser: Any, shots: Path, demo_home: Path
) -> None:
    def expected(analytics: Analytics) -> Figures:
        result = analytics("concentration", **analytics.range())
        return {
            "Top-1 customer share": money(result["top1_share"]),
            "Top-5 customers share": money(result["top5_share"]),
        }

    page, before, after = visit(browser, f"{dashboard}/risk", "Risk", shots / "risk.png", demo_home, expected)
    check_metrics(page, before, after, dict.fromkeys(before, Decimal("0.0005")))


def test_every_page_of_the_dashboard_is_checked(dashboard: str, browser: Any) -> None:
    # a page added to the dashboard fails here until a test above renders it and checks its figures
    chromium.open_page(browser, dashboard, "Overview")
    assert chromium.navigation(browser) == CHECKED
