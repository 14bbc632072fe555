"""With a real gateway running: the dashboard reads through its admin API and gets exactly what the
ledger file gives; `verticals demo` drives real traffic through it; the back-fill refuses to write
under it. Without one: the back-fill writes realistic synthetic history, spike included."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from verticals.dashboard.datasource import ApiSource, LedgerSource
from verticals.dashboard.figures import Figures
from verticals.dashboard.filters import Filters

pytestmark = pytest.mark.slow
PORT = 18510
VERTICALS = str(Path(sys.executable).with_name("verticals"))
# every figure but utilization, which changes as soon as the gateway records its own backends as capacity
COMPARED: tuple[tuple[str, tuple[Any, ...]], ...] = (
    ("summary", ()),
    ("timeseries", ()),
    ("by_customer", ()),
    ("budgets", ()),
    ("by_model", ()),
    ("model_timeseries", ()),
    ("break_even", ()),
    ("concentration", ()),
    ("anomalies", (3.0, 7)),
    ("current_prices", ()),
    ("what_if", ((("tabular/linear", "rows", "0.01"),), None)),
    ("sla_breaches", (100.0, 0.01)),
)


def default_filters() -> Filters:
    # ends yesterday, so the "as of" figures (budgets, rates in force) are pinned to midnight, not now
    today = datetime.now(UTC).date()
    return Filters(today - timedelta(days=29), today - timedelta(days=1))


@pytest.fixture(scope="module")
def gateway(seeded_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("gateway-home")
    shutil.copy(seeded_home / "ledger.duckdb", home / "ledger.duckdb")
    local = Figures(LedgerSource(home))
    expected = {name: getattr(local, name)(default_filters(), *args) for name, args in COMPARED}
    env = {**os.environ, "VERTICALS_HOME": str(home), "VERTICALS_LOAD_PLUGINS": ""}
    env.pop("VERTICALS_ADMIN_TOKEN", None)
    log = (home / "serve.log").open("w")
    process = subprocess.Popen(
        [
            VERTICALS,
            "serve",
            "--port",
            str(PORT),
            "--model",
            "echo/chat",
            "--model",
            "tabular/linear",
            "--no-pull",
            "--no-access-log",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{PORT}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the gateway did not come up:\n{(home / 'serve.log').read_text()}")
            time.sleep(0.3)
        token = (home / "admin_token").read_text().strip()
        yield {"home": home, "url": url, "token": token, "expected": expected, "env": env}
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_admin_api_gives_the_same_figures_as_the_ledger_file(gateway: dict[str, Any]) -> None:
    api = Figures(ApiSource(gateway["url"], gateway["token"]))
    for name, args in COMPARED:
        got, expected = getattr(api, name)(default_filters(), *args), gateway["expected"][name]
        if isinstance(expected, pd.DataFrame):
            pd.testing.assert_frame_equal(
                got.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False, obj=name
            )
        elif isinstance(expected, dict) and "by_customer" in expected:
            for key in ("by_customer", "by_model"):
                pd.testing.assert_frame_equal(got[key], expected[key], check_dtype=False, obj=f"{name} {key}")
            assert got["total"] == expected["total"]
        elif isinstance(expected, dict) and "shares" in expected:
            pd.testing.assert_frame_equal(got.pop("shares"), expected.pop("shares"), check_dtype=False)
            assert got == expected
        else:
            assert got == expected, name


def test_dashboard_reads_through_the_running_gateway(
    gateway: dict[str, Any], app_test: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app_test(gateway["home"], source="auto")
    assert not at.exception and not at.error
    assert any("gateway admin API" in c.value for c in at.caption)
    # billed revenue, as over the ledger file (conftest's seed: the answered requests, no plan fee)
    assert {m.label: m.value for m in at.metric}["Revenue"] == "$8.55"
    for page in ("billing", "pricing"):  # the billing analytics answer through the admin API too
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception and not at.error, (page, [e.value for e in [*at.exception, *at.error]])


def test_backfill_refuses_while_the_gateway_owns_the_ledger(gateway: dict[str, Any]) -> None:
    result = subprocess.run(
        [VERTICALS, "demo", "--backfill-days", "2", "--duration", "0"],
        env=gateway["env"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "stop `verticals serve`" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_drives_real_traffic_through_the_gateway(gateway: dict[str, Any]) -> None:
    def admin(path: str) -> Any:
        response = httpx.get(gateway["url"] + path, headers={"Authorization": f"Bearer {gateway['token']}"})
        response.raise_for_status()
        return response.json()

    before = {
        row["customer"]: row["requests"] for row in admin('/admin/analytics/usage_summary?by=["customer"]')
    }
    result = subprocess.run(
        [VERTICALS, "demo", "--duration", "6", "--rps", "25", "--seed", "7", "--day-seconds", "12"],
        env=gateway["env"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    sent = int(result.stdout.split("sent ")[1].split(" requests")[0].replace(",", ""))
    assert sent >= 40
    customers = {row["name"]: row for row in admin("/admin/customers")}
    assert {"demo-northwind", "demo-tailspin"} <= set(customers)
    # one plan per business model (verticals.demo.plans), created through the admin API with allowances
    plans = {row["plan"] for name, row in customers.items() if name.startswith("demo-")}
    assert plans == {"payg", "team", "scale", "commit"}
    assert {row["plan"] for row in admin("/admin/allowances")} == {"team", "scale", "commit"}
    httpx.post(gateway["url"] + "/admin/flush", headers={"Authorization": f"Bearer {gateway['token']}"})
    after = {
        row["customer"]: row["requests"] for row in admin('/admin/analytics/usage_summary?by=["customer"]')
    }
    demo_requests = sum(n for name, n in after.items() if name.startswith("demo-") and name not in before)
    # every request the demo sent was metered, refused ones included (a 401 never is: none was sent)
    assert demo_requests == sent
    assert len([name for name in after if name.startswith("demo-")]) >= 4  # skewed, but spread
    keys = [k for k in admin("/admin/keys") if k["customer"].startswith("demo-")]
    assert keys and all(k["revoked_at"] for k in keys)  # demo keys do not outlive the run


def test_backfill_writes_synthetic_history_with_a_cost_spike(tmp_path: Path) -> None:
    from verticals.ledger import Ledger
    from verticals.ledger.analytics import budget_status, cost_anomalies, usage_summary

    # the nlp plugin's LLM runs on the demo company's GPUs, where the spike costs real dollars
    env = {**os.environ, "VERTICALS_HOME": str(tmp_path), "VERTICALS_LOAD_PLUGINS": "nlp"}
    result = subprocess.run(
        [VERTICALS, "demo", "--backfill-days", "14", "--duration", "0", "--seed", "5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    with Ledger.open(tmp_path, read_only=True) as ledger:
        days = usage_summary(ledger, by=["day"])
        customers = {row["customer"]: row for row in usage_summary(ledger, by=["customer"])}
        # min_excess_usd=0: this demo's spike costs cents (its fleet is priced as one $0.10/h CPU), below
        # the $1.00 the Risk page asks of an anomaly by default
        anomalies = cost_anomalies(ledger, k=3.0, window_days=7, min_excess_usd=0)
        budgets = {row["customer"]: row for row in budget_status(ledger)}
        statuses = {
            row[0] for row in ledger.connection.execute("SELECT DISTINCT status FROM usage_events").fetchall()
        }
    assert 14 <= len(days) <= 15
    hourly = [row["requests"] for row in days[1:-1]]
    assert min(hourly) > 1_500  # the LLM's 2,800 requests a day and four small models', 55% at weekends
    assert customers["demo-northwind"]["requests"] > 3 * customers["demo-adatum"]["requests"]  # skewed
    assert {200, 400, 500} <= statuses
    # the injected spike is found and is the costliest anomaly; a small customer's quiet week can make
    # an ordinary day look unusual too (its median is tiny), which depends on the date the test runs
    assert "demo-contoso" in {row["customer"] for row in anomalies}
    assert max(anomalies, key=lambda row: row["cost_usd"])["customer"] == "demo-contoso"
    assert json.loads(json.dumps(budgets["demo-tailspin"]["over_budget_forecast"])) is True


def test_reading_the_file_under_a_gateway_says_to_read_through_it(
    gateway: dict[str, Any], app_test: Callable[..., Any]
) -> None:
    at = app_test(gateway["home"], source="ledger")
    assert not at.exception  # an error box that says what to do, not a traceback
    assert any("read through it" in e.value for e in at.error), [e.value for e in at.error]


def test_a_request_sent_through_the_gateway_is_found_by_its_id(
    gateway: dict[str, Any], app_test: Callable[..., Any]
) -> None:
    """A real request's ``x-request-id`` finds its row on the Request log, read through the admin API: the
    status and units the client saw and the price the gateway charged (``x-verticals-cost-usd``)."""
    from decimal import Decimal

    from verticals.dashboard.request_log import LogQuery

    auth = {"Authorization": f"Bearer {gateway['token']}"}
    created = httpx.post(
        f"{gateway['url']}/admin/customers", headers=auth, json={"name": "ticket-co", "plan": "free"}
    )
    assert created.status_code == 201, created.text
    key = httpx.post(f"{gateway['url']}/admin/keys", headers=auth, json={"customer": "ticket-co"}).json()
    answer = httpx.post(
        f"{gateway['url']}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key['key']}"},
        json={"model": "echo/chat", "messages": [{"role": "user", "content": "where is my invoice?"}]},
    )
    assert answer.status_code == 200, answer.text
    request_id, usage = answer.headers["x-request-id"], answer.json()["usage"]
    missing = httpx.post(
        f"{gateway['url']}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key['key']}"},
        json={"model": "echo/nosuch", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert missing.status_code == 404

    api = Figures(ApiSource(gateway["url"], gateway["token"]))
    (row,) = api.request_log(default_filters(), LogQuery(request_id=request_id)).to_dict("records")
    assert (row["customer"], row["key_prefix"], row["model"], row["status"]) == (
        "ticket-co",
        key["prefix"],
        "echo/chat",
        200,
    )
    assert row["units"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert Decimal(row["price_usd"]) == Decimal(answer.headers["x-verticals-cost-usd"]) > 0
    refused_id = missing.headers["x-request-id"]
    (refused,) = api.request_log(default_filters(), LogQuery(request_id=refused_id)).to_dict("records")
    assert (refused["customer"], refused["status"]) == ("ticket-co", 404)
    # the customer's key prefix and the 4xx class list the refused request alone, today included
    today = datetime.now(UTC).date()
    listed = api.request_log(Filters(today, today), LogQuery(key_prefix=key["prefix"], status_class="4xx"))
    assert list(listed["request_id"]) == [refused_id]

    bad = httpx.get(
        f"{gateway['url']}/admin/analytics/request_log", headers=auth, params={"status_class": "500"}
    )
    assert bad.status_code == 400 and "use one of 2xx, 3xx, 4xx, 5xx" in bad.json()["error"]["message"]
    digits = httpx.get(
        f"{gateway['url']}/admin/analytics/request_log", headers=auth, params={"key_prefix": "123"}
    )
    assert digits.status_code == 200 and digits.json()["total"] == 0

    at = app_test(gateway["home"], "requests", source="auto")
    at.text_input(key="requests_id").input(request_id).run()
    assert not at.exception and not at.error
    (shown,) = at.dataframe[0].value.to_dict("records")
    assert shown["request_id"] == request_id and shown["price_usd"] == row["price_usd"]
