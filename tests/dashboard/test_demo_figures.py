"""A test that looks: the demo company's dashboard in headless Chromium, every page rendered, a screenshot of
each kept under the test's tmp folder (``<basetemp>/dashboard-screenshots*/overview.png``, ...), and the
key figures each page shows (revenue, compute cost, gross margin, utilization, idle cost) checked against
the ledger's analytics functions called here with the dates the page says it shows.

The comparison rules are in ``figures_match``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from . import chromium
from .conftest import running_dashboard
from .figures_match import (
    Analytics,
    Figures,
    check_metrics,
    check_rows,
    default_dates,
    dollars_near,
    money,
    rows_of,
    visit,
)

pytestmark = pytest.mark.slow

BACKFILL_DAYS = 3  # enough for every page to have data; small, to stay fast on a 2-core machine
VERTICALS = Path(sys.executable).with_name("verticals")


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
    "billing": "Billing",
    "pricing": "Pricing lab",
    "risk": "Risk",
    "requests": "Request log",
    "admin": "Admin",
}


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
        "Gross margin (% of revenue)": "margin_ratio",
    }

    def expected(analytics: Analytics) -> Figures:
        rows = analytics("usage_summary", by=["customer"], **analytics.range())
        return rows_of(
            [(row["customer"], {label: money(row[key]) for label, key in columns.items()}) for row in rows]
        )

    def budgets(analytics: Analytics) -> Figures:
        # spend and forecast as of now (the range reaches today); the forecast falls as the month goes on
        rows = [
            row for row in analytics("budget_status", at=datetime.now(UTC)) if row["budget_usd"] is not None
        ]
        return rows_of([(row["customer"], {
            "Monthly budget (USD)": money(row["budget_usd"]),
            "Spent this month (USD)": money(row["spend_usd"]),
            "Forecast month end (USD)": money(row["forecast_usd"]),
        }) for row in rows])  # fmt: skip

    def both(analytics: Analytics) -> Figures:
        return {f"usage {name}": value for name, value in expected(analytics).items()} | {
            f"budget {name}": value for name, value in budgets(analytics).items()
        }

    page, before, after = visit(
        browser, f"{dashboard}/customers", "Customers", shots / "customers.png", demo_home, both
    )

    def part(prefix: str, figures: Figures) -> Figures:
        return {name[len(prefix) :]: value for name, value in figures.items() if name.startswith(prefix)}

    usage = chromium.table(page, "Gross margin (USD)")
    check_rows(usage, "Customer", part("usage ", before), part("usage ", after), list(columns))
    budget_columns = ["Monthly budget (USD)", "Spent this month (USD)", "Forecast month end (USD)"]
    budget = chromium.table(page, "Forecast month end (USD)")
    check_rows(budget, "Customer", part("budget ", before), part("budget ", after), budget_columns)


def test_models_page_shows_each_models_revenue_and_cost(
    dashboard: str, browser: Any, shots: Path, demo_home: Path
) -> None:
    columns = {
        "Revenue (USD)": "revenue_usd",
        "Compute cost, idle share included (USD)": "cost_usd",
        "Cost per 1k units, idle share included (USD)": "cost_per_1k_units_usd",
        "Revenue per 1k units (USD)": "revenue_per_1k_units_usd",
    }

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
        models = analytics("utilization", **analytics.as_of())
        return figures | rows_of([(device["device_id"], {
            "Utilization": money(device["utilization"]),
            "Idle cost (USD)": money(device["idle_cost_usd"]),
        }) for device in devices]) | rows_of([(f"model {row['model']}", {
            "Utilization": money(row["utilization"]),
            "Compute cost (USD)": money(row["provisioned_cost_usd"]),
            "Idle share (USD)": money(row["idle_cost_usd"]),
        }) for row in models])  # fmt: skip

    page, before, after = visit(
        browser, f"{dashboard}/compute", "Compute", shots / "compute.png", demo_home, expected
    )
    tiles = {name: value for name, value in before.items() if "|" not in name}
    tolerances = {name: Decimal("0.05") if name.startswith("Device-hours") else Decimal("0.0005")
                  for name in tiles if not name.startswith("Idle")}  # fmt: skip
    check_metrics(page, tiles, after, tolerances)
    devices = {k: v for k, v in before.items() if "|" in k and not k.startswith("model ")}
    check_rows(chromium.table(page, "Device"), "Device", devices, after, ["Utilization", "Idle cost (USD)"])
    models = {k[len("model ") :]: v for k, v in before.items() if k.startswith("model ")}
    models_after = {k[len("model ") :]: v for k, v in after.items() if k.startswith("model ")}
    columns = ["Utilization", "Compute cost (USD)", "Idle share (USD)"]
    check_rows(chromium.table(page, "Idle share (USD)"), "Model", models, models_after, columns)


def test_pricing_lab_shows_the_ledgers_actual_revenue_and_gross_margin(
    dashboard: str, browser: Any, shots: Path, demo_home: Path
) -> None:
    # nothing edited yet, so the edited invoices equal the invoices, and the what-if the actual
    month = last_month()

    def expected(analytics: Analytics) -> Figures:
        (total,) = analytics("pricing_what_if", by=None, prices=[], **analytics.range())
        lab = analytics("pricing_lab", month=month)[-1]
        return {
            "Usage at list price": money(total["actual_revenue_usd"]),
            "What-if usage at list price": money(total["actual_revenue_usd"]),
            "Margin on usage at list price": money(total["actual_margin_usd"]),
            "What-if margin on usage at list price": money(total["actual_margin_usd"]),
            f"Revenue {month}, as billed": money(lab["revenue_before_usd"]),
            "Revenue with the edits": money(lab["revenue_before_usd"]),
            "Gross margin, as billed": money(lab["margin_before_usd"]),
            "Gross margin with the edits": money(lab["margin_before_usd"]),
        }

    page, before, after = visit(
        browser, f"{dashboard}/pricing", "Pricing lab", shots / "pricing.png", demo_home, expected
    )
    check_metrics(page, before, after, {})


def last_month() -> str:
    """The month before this one (UTC), ``YYYY-MM``: the Pricing lab's default."""
    first = datetime.now(UTC).date().replace(day=1)
    return f"{first - timedelta(days=1):%Y-%m}"


def test_billing_page_shows_the_ledgers_mrr_and_arpu(
    dashboard: str, browser: Any, shots: Path, demo_home: Path
) -> None:
    def expected(analytics: Analytics) -> Figures:
        end = analytics.until - timedelta(days=1)
        year, month = (end.year, end.month - 11) if end.month > 11 else (end.year - 1, end.month + 1)
        rows = analytics("mrr", since=datetime(year, month, 1, tzinfo=UTC), until=analytics.until)
        latest = rows[-1]
        return {f"MRR ({latest['month']})": money(latest["mrr_usd"]), "ARPU": money(latest["arpu_usd"])}

    page, before, after = visit(
        browser, f"{dashboard}/billing", "Billing", shots / "billing.png", demo_home, expected
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


def test_request_log_shows_the_ledgers_requests(
    dashboard: str, browser: Any, shots: Path, demo_home: Path
) -> None:
    columns = {
        "Status": "status",
        "Latency (ms)": "latency_ms",
        "Units": "units",
        "Price (USD)": "price_usd",
        "Cost (USD)": "cost_usd",
    }

    def expected(analytics: Analytics) -> Figures:
        rows = analytics("request_log", limit=50, **analytics.range())["rows"]
        return rows_of(
            [(row["request_id"], {label: money(row[key]) for label, key in columns.items()}) for row in rows]
        )

    page, before, after = visit(
        browser, f"{dashboard}/requests", "Request log", shots / "requests.png", demo_home, expected
    )
    check_rows(chromium.table(page, "Request id"), "Request id", before, after, list(columns))


def test_admin_page_shows_the_ledgers_audit_log(
    dashboard: str, browser: Any, shots: Path, demo_home: Path
) -> None:
    def expected(analytics: Analytics) -> Figures:
        rows = analytics("admin_audit", since=analytics.since, until=analytics.until)
        return {"changes": Decimal(len(rows))}

    page, before, after = visit(
        browser, f"{dashboard}/admin", "Admin", shots / "admin.png", demo_home, expected
    )
    text = chromium.main_text(page)
    # no gateway serves the demo home: no action to offer, the audit log read from the ledger file
    assert "none is running for this data directory" in text and "Create a customer" not in text
    assert before == after
    if before["changes"] == 0:
        assert "The audit log is empty for these dates" in text
    else:
        assert len(chromium.table(page, "What")) == before["changes"]


def test_every_page_of_the_dashboard_is_checked(dashboard: str, browser: Any) -> None:
    # a page added to the dashboard fails here until a test above renders it and checks its figures
    chromium.open_page(browser, dashboard, "Overview")
    assert chromium.navigation(browser) == CHECKED
