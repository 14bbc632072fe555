"""Every page under Streamlit's AppTest, over an empty ledger, a missing one and a seeded one; the
Overview's figures against the ledger analytics and a hand count; the Pricing lab's what-if by hand."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

PAGES = ("overview", "customers", "models", "compute", "billing", "pricing", "risk", "admin", "requests")

Run = Callable[..., Any]


def problems(at: Any) -> list[str]:
    return [f"exception: {e.value}" for e in at.exception] + [f"error box: {e.value}" for e in at.error]


@pytest.mark.parametrize("page", PAGES)
def test_page_runs_over_seeded_ledger(app_test: Run, seeded_home: Path, page: str) -> None:
    at = app_test(seeded_home, page)
    assert not problems(at), problems(at)
    assert len(at.title) == 1
    assert not [i for i in at.info if "No " in i.value], [i.value for i in at.info]


@pytest.mark.parametrize("page", PAGES)
def test_page_shows_empty_state_over_empty_ledger(app_test: Run, empty_home: Path, page: str) -> None:
    at = app_test(empty_home, page)
    assert not problems(at), problems(at)
    if page in ("overview", "customers", "models", "pricing"):
        # the empty state says how to get data
        assert any("verticals" in i.value for i in at.info), [i.value for i in at.info]


@pytest.mark.parametrize("page", PAGES)
def test_page_runs_without_any_ledger_file(app_test: Run, tmp_path: Path, page: str) -> None:
    at = app_test(tmp_path, page)  # a fresh install: no ledger.duckdb yet
    assert not problems(at), problems(at)


def metrics(at: Any) -> dict[str, Any]:
    return {m.label: m for m in at.metric}


def test_overview_equals_ledger_analytics(app_test: Run, seeded_home: Path) -> None:
    from verticals.ledger import Ledger
    from verticals.ledger.analytics import usage_summary

    at = app_test(seeded_home)
    shown = metrics(at)
    today = datetime.now(UTC).date()
    since = datetime.combine(today - timedelta(days=29), datetime.min.time(), tzinfo=UTC)
    until = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    with Ledger.open(seeded_home, read_only=True) as ledger:
        total = usage_summary(ledger, by=[], since=since, until=until)[0]
        per_customer = usage_summary(ledger, by=["customer"], since=since, until=until)
    assert shown["Revenue"].value == f"${total['revenue_usd']:,.2f}"
    assert shown["Compute cost"].value == f"${total['cost_usd']:,.2f}"
    margin = total["margin_usd"]
    assert shown["Gross margin"].value == f"{'-' if margin < 0 else ''}${abs(margin):,.2f}"
    assert shown["Requests"].value == f"{total['requests']:,}"
    assert shown["Active customers"].value == str(len(per_customer))
    # and by hand from the seed: acme 45 answered x $0.15 (its 5 failed requests are not billed) + the
    # $0.30 spike, globex 30 x $0.05, initech free; no plan has a fee
    assert total["revenue_usd"] == Decimal("6.75") + Decimal("0.3") + Decimal("1.5")
    assert shown["Revenue"].value == "$8.55"
    assert total["list_revenue_usd"] == Decimal("9.30")  # usage at list price, failed requests included
    # compute spend, idle included: the nlp/chat device's 288 h x $0.10 (its requests' $2.00 inside it)
    # + what tabular/linear and echo/chat requests on no recorded device carried, 30 x 0.002 + 20 x 0.001
    assert shown["Compute cost"].value == "$28.88"
    assert shown["Gross margin"].value == "-$20.33"
    contribution = next(c.value for c in at.caption if "Contribution margin" in c.value)
    assert "$6.47" in contribution  # 8.55 - 2.08 carried by requests
    assert shown["Requests"].value == "101"
    # the period before holds no usage, so there is no delta to show
    assert not shown["Revenue"].delta


def test_customers_gross_margin_carries_their_idle_share(app_test: Run, seeded_home: Path) -> None:
    """acme is the only customer of the nlp/chat device, so it pays all of its idle time: its gross margin
    is revenue minus the whole device; what its requests carried alone is its contribution margin."""
    at = app_test(seeded_home, "customers")
    assert not problems(at), problems(at)
    table = next(d.value for d in at.dataframe if "contribution_margin_usd" in d.value.columns)
    acme = table[table["customer"] == "acme"].iloc[0]
    assert float(acme["cost_usd"]) == pytest.approx(28.80)  # 288 h x $0.10
    assert float(acme["idle_cost_usd"]) == pytest.approx(26.80)  # 28.80 - 2.00 carried
    assert float(acme["margin_usd"]) == pytest.approx(7.05 - 28.80)  # 45 x 0.15 + 0.30 billed
    assert float(acme["contribution_margin_usd"]) == pytest.approx(7.05 - 2.00)
    assert float(table["cost_usd"].sum()) == pytest.approx(28.88)  # equals the Overview's compute cost


def test_compute_counts_each_device_once(app_test: Run, seeded_home: Path) -> None:
    at = app_test(seeded_home, "compute")
    assert not problems(at), problems(at)
    assert metrics(at)["Device-hours provisioned"].value == "288.0 h"
    devices = next(d.value for d in at.dataframe if "device_id" in d.value.columns)
    assert devices[["device_id", "models"]].values.tolist() == [["nlp-1", "nlp/chat"]]


def test_overview_follows_the_customer_filter(app_test: Run, seeded_home: Path) -> None:
    at = app_test(seeded_home)
    at.sidebar.selectbox(key="filter_customer").select("globex").run()
    shown = metrics(at)
    assert shown["Revenue"].value == "$1.50"
    assert shown["Requests"].value == "30"
    assert shown["Active customers"].value == "1"
    table = at.dataframe[0].value
    assert float(table["revenue_usd"].sum()) == pytest.approx(1.5)


def test_overview_delta_against_previous_period(app_test: Run, seeded_home: Path) -> None:
    """Two days against the two before: the spike day lies in the current one."""
    at = app_test(seeded_home)
    today = datetime.now(UTC).date()
    at.sidebar.date_input(key="filter_dates").set_value((today - timedelta(days=1), today)).run()
    shown = metrics(at)
    assert not problems(at)
    assert shown["Requests"].value  # a value is drawn for the short range too
    assert "vs previous period" in (shown["Requests"].delta or "")


def test_pricing_lab_what_if_matches_hand_computation(app_test: Run, seeded_home: Path) -> None:
    at = app_test(seeded_home, "pricing")
    shown = metrics(at)
    assert shown["Usage at list price"].value == "$9.30"
    assert shown["What-if usage at list price"].value == "$9.30"
    editor = next(d.value for d in at.dataframe if d.key == "pricing_editor")
    row = editor.index[editor["model"] == "tabular/linear"][0]
    assert float(editor.loc[row, "units"]) == 300  # 30 requests x 10 rows, earning $1.50
    # $0.01 per row instead of $0.005: the 300 rows earn $3.00, so revenue rises by $1.50
    at.session_state["pricing_editor"] = {
        "edited_rows": {int(row): {"alt_price_usd": 0.01}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert not problems(at), problems(at)
    shown = metrics(at)
    assert shown["Usage at list price"].value == "$9.30"
    assert shown["What-if usage at list price"].value == "$10.80"
    assert shown["What-if usage at list price"].delta == "$1.50"
    assert shown["What-if margin on usage at list price"].value == "-$18.08"  # 10.80 - 28.88, idle included
    per_customer = next(
        d.value for d in at.dataframe if {"customer", "whatif_revenue_usd"} <= set(d.value.columns)
    )
    globex = per_customer[per_customer["customer"] == "globex"].iloc[0]
    assert float(globex["whatif_revenue_usd"]) == pytest.approx(3.0)
    assert float(globex["actual_revenue_usd"]) == pytest.approx(1.5)


def test_pricing_lab_quotes_token_prices_per_million(app_test: Run, seeded_home: Path) -> None:
    """Token prices are shown per 1M tokens (stored per token): $0.00000002 a token reads $0.02."""
    at = app_test(seeded_home, "pricing")
    editor = next(d.value for d in at.dataframe if d.key == "pricing_editor")
    row = editor.index[editor["unit"] == "tokens"][0]
    tokens = editor.loc[row]
    assert tokens["per"] == "1M tokens"
    per_token = float(tokens["revenue_usd"]) / float(tokens["units"])
    assert float(tokens["now_price_usd"]) == pytest.approx(per_token * 1_000_000)
    # twice the price per 1M tokens: that model's revenue doubles, so the what-if rises by it
    at.session_state["pricing_editor"] = {
        "edited_rows": {int(row): {"alt_price_usd": 2 * float(tokens["now_price_usd"])}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert not problems(at), problems(at)
    shown = metrics(at)
    assert shown["What-if usage at list price"].delta == f"${float(tokens['revenue_usd']):,.2f}"


def test_pricing_lab_prices_everyone_as_one_plan(app_test: Run, seeded_home: Path) -> None:
    at = app_test(seeded_home, "pricing")
    at.radio(key="pricing_mode").set_value("Move every customer to one plan").run()
    at.selectbox(key="pricing_plan").select("pro").run()
    assert not problems(at), problems(at)
    # the starter plans carry no price rows, so no request is repriced and the what-if equals the actual
    assert metrics(at)["What-if usage at list price"].value == "$9.30"


def test_risk_page_flags_what_the_seed_holds(app_test: Run, seeded_home: Path) -> None:
    at = app_test(seeded_home, "risk")
    shown = metrics(at)
    # acme is billed $7.05 of $8.55
    assert shown["Top-1 customer share"].value == f"{7.05 / 8.55 * 100:.1f}%"
    assert shown["Top-1 customer share"].delta == "above limit"
    tables = {tuple(d.value.columns): d.value for d in at.dataframe}
    anomalies = next(t for cols, t in tables.items() if "trailing_median_usd" in cols)
    assert list(anomalies["customer"]) == ["acme"]  # the $1.50 spike day against $0.05 days
    sla = next(t for cols, t in tables.items() if "breach" in cols)
    assert list(sla["model"]) == ["nlp/chat"]  # 5 of 51 requests failed: 9.8% > 1%


def test_every_table_offers_csv(app_test: Run, seeded_home: Path) -> None:
    for page in PAGES:
        at = app_test(seeded_home, page)
        # the Pricing lab's editors are inputs, not tables to download
        tables = [d for d in at.dataframe if d.key != "pricing_editor" and not str(d.key).startswith("lab_")]
        buttons = at.get("download_button")
        assert len(buttons) >= len(tables), (page, len(buttons), len(tables))


def test_evaluation_results_over_time(app_test: Run, seeded_home: Path) -> None:
    """The seed ran suite qa on nlp/chat twice: version 1 passed (0.8), version 2 failed (0.6 < 0.7)."""
    from verticals.ledger import analytics

    models = app_test(seeded_home, "models")
    risk = app_test(seeded_home, "risk")
    assert not problems(models) and not problems(risk)
    if not hasattr(analytics, "evaluation_history"):
        # an older ledger: both pages say why they cannot show evaluations, never fail
        assert any("evaluation_history" in w.value for w in models.warning)
        assert any("evaluation_history" in w.value for w in risk.warning)
        return
    runs = next(d.value for d in models.dataframe if "suite" in d.value.columns)
    assert list(runs["version"]) == ["1", "2"]
    assert list(runs["value"]) == [0.8, 0.6]
    failing = next(d.value for d in risk.dataframe if "suite" in d.value.columns)
    assert list(zip(failing["model"], failing["version"], failing["metric"], strict=True)) == [
        ("nlp/chat", "2", "accuracy")
    ]
