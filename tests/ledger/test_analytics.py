"""Every analytics function against figures worked out by hand from a small fixture.

Revenue here is usage at list price (``basis="list"``), the figure these events carry; billed revenue (fees,
allowances, tiers, credits) is tested in tests/billing/test_billed_revenue.py.

The fixture (all times UTC; rates from the starter cost book: cpu $0.10/h, l4 $0.80/h):

    id  ts                customer plugin model      status lat  in   out  unit   cs   dev revenue cost
    e1  2026-11-10 09:15  acme     nlp    nlp/chat   200    100  100  50   tokens 2.0  cpu 0.30    0.05
    e2  2026-11-10 09:45  acme     nlp    nlp/chat   200    200  200  100  tokens 4.0  cpu 0.60    0.10
    e3  2026-11-10 10:05  globex   nlp    nlp/chat   500    300  50   0    tokens 1.0  cpu 0.00    0.02
    e4  2026-11-11 14:00  globex   vision vision/cls 200    40   4    0    images 0.5  l4  0.04    0.01
    e5  2026-11-11 15:00  initech  vision vision/cls 200    60   6    0    images 1.5  l4  0.06    0.03
    e6  2026-11-12 08:00  acme     vision vision/cls 404    10   0    0    images 0.0  l4  0.00    0.00
    e7  2026-11-12 08:30  initech  nlp    nlp/chat   200    400  1000 500  tokens 10.0 cpu 3.00    0.40
    e8  2026-10-31 23:59  acme     nlp    nlp/chat   200    50   10   10   tokens 0.2  cpu 0.04    0.01

Capacity: i1 nlp/chat on cpu up 11-10 00:00, down 11-12 00:00; i2 vision/cls on l4 up 11-11 00:00, still up.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from verticals.ledger import Ledger, LedgerError
from verticals.ledger.analytics import (
    break_even,
    budget_status,
    concentration,
    cost_anomalies,
    latency_by_model,
    pricing_what_if,
    unit_economics,
    usage_summary,
    utilization,
)

from .conftest import Clock, make_event

D = Decimal
NOV = datetime(2026, 11, 1, tzinfo=UTC)
ROWS = [  # id, ts, customer, model (plugin/...), status, latency, in, out, unit, cs, device, revenue, cost
    ("e1", "2026-11-10 09:15", "acme", "nlp/chat", 200, 100, 100, 50, "tokens", 2.0, "cpu", "0.30", "0.05"),
    ("e2", "2026-11-10 09:45", "acme", "nlp/chat", 200, 200, 200, 100, "tokens", 4.0, "cpu", "0.60", "0.10"),
    ("e3", "2026-11-10 10:05", "globex", "nlp/chat", 500, 300, 50, 0, "tokens", 1.0, "cpu", "0", "0.02"),
    ("e4", "2026-11-11 14:00", "globex", "vision/cls", 200, 40, 4, 0, "images", 0.5, "l4", "0.04", "0.01"),
    ("e5", "2026-11-11 15:00", "initech", "vision/cls", 200, 60, 6, 0, "images", 1.5, "l4", "0.06", "0.03"),
    ("e6", "2026-11-12 08:00", "acme", "vision/cls", 404, 10, 0, 0, "images", 0.0, "l4", "0", "0"),
    ("e7", "2026-11-12 08:30", "initech", "nlp/chat", 200, 400, 1000, 500, "tokens", 10, "cpu", "3", "0.40"),
    ("e8", "2026-10-31 23:59", "acme", "nlp/chat", 200, 50, 10, 10, "tokens", 0.2, "cpu", "0.04", "0.01"),
]  # fmt: skip


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    clock = Clock(at("2026-10-01 00:00"))
    ledger = Ledger.open(tmp_path_factory.mktemp("analytics"), fsync_ms=20, clock=clock)
    ledger.create_customer("acme", "pro", "100")
    ledger.create_customer("globex", "free")
    ledger.create_customer("initech", "enterprise", "5")
    ledger.set_price("enterprise", "images", "0.02", plugin="vision")
    ledger.set_price("enterprise", "tokens", "0.002", plugin="nlp", task="chat")
    for rid, ts, customer, model, status, lat, units_in, units_out, unit, cs, dev, rev, cost in ROWS:
        fields = {"units_in": units_in, "units_out": units_out, "unit": unit, "compute_seconds": cs}
        ledger.record(
            make_event(
                request_id=rid,
                ts=at(ts),
                customer=customer,
                plugin=model.split("/")[0],
                model=model,
                status=status,
                latency_ms=lat,
                device_class=dev,
                revenue_usd=D(rev),
                cost_usd=D(cost),
                **fields,
            )
        )
    ledger.record_capacity("i1", "nlp/chat", "cpu", at("2026-11-10 00:00"))
    ledger.record_capacity("i1", "nlp/chat", "cpu", at("2026-11-10 00:00"), at("2026-11-12 00:00"))
    ledger.record_capacity("i2", "vision/cls", "l4", at("2026-11-11 00:00"))
    ledger.flush()
    clock.now = at("2026-11-15 12:00")
    yield ledger
    ledger.close()


def test_usage_by_day_and_customer(books: Ledger) -> None:
    """Gross margin is revenue minus compute spend, idle included: each day's device cost is shared by
    busy seconds among the customers whose requests it carried; a device no request used that day is
    the "(idle)" row. What the requests carried alone is the contribution margin."""
    rows = usage_summary(books, by=["day", "customer"], since=NOV, until=at("2026-11-13 00:00"), basis="list")
    got = [
        (
            r["bucket"].date(),
            r["customer"],
            r["requests"],
            r["errors"],
            r["revenue_usd"],
            r["cost_usd"],
            r["margin_usd"],
        )
        for r in rows
    ]
    # 11-10: i1 (cpu) 24 h = $2.40, requests carried $0.17 in 7 busy s: idle $2.23, acme 6/7, globex 1/7
    # 11-11: i2 (l4) 24 h = $19.20, $0.04 carried in 2 s: idle $19.16, globex 1/4, initech 3/4; i1 unused
    # 11-12: i1 down; e7 on no recorded device keeps its $0.40; i2 carried no busy second: idle row
    assert got == [
        (date(2026, 11, 10), "acme", 2, 0, D("0.90"), D("2.061428571"), D("-1.161428571")),
        (date(2026, 11, 10), "globex", 1, 1, D("0"), D("0.338571429"), D("-0.338571429")),
        (date(2026, 11, 11), "initech", 1, 0, D("0.06"), D("14.40"), D("-14.34")),
        (date(2026, 11, 11), "globex", 1, 0, D("0.04"), D("4.80"), D("-4.76")),
        (date(2026, 11, 11), "(idle)", 0, 0, D("0"), D("2.40"), D("-2.40")),
        (date(2026, 11, 12), "initech", 1, 0, D("3.00"), D("0.40"), D("2.60")),
        (date(2026, 11, 12), "(idle)", 0, 0, D("0"), D("19.20"), D("-19.20")),
        (date(2026, 11, 12), "acme", 1, 0, D("0"), D("0"), D("0")),
    ]
    acme = rows[0]
    assert (acme["request_cost_usd"], acme["idle_cost_usd"]) == (D("0.15"), D("1.911428571"))
    assert acme["contribution_margin_usd"] == D("0.75")  # what the old figure called margin
    assert acme["contribution_margin_ratio"] == pytest.approx(0.75 / 0.90)
    assert acme["margin_ratio"] == pytest.approx(-1.161428571 / 0.90)
    assert rows[1]["margin_ratio"] is None
    assert rows[0]["bucket"] == at("2026-11-10 00:00")
    # without filters the rows add up to revenue minus everything provisioned: 48 h cpu + 48 h l4 + e7
    total = usage_summary(books, by=[], since=NOV, until=at("2026-11-13 00:00"), basis="list")[0]
    assert total["cost_usd"] == sum(r["cost_usd"] for r in rows) == D("4.80") + D("38.40") + D("0.40")


def test_usage_by_hour_model_and_filters(books: Ledger) -> None:
    rows = usage_summary(books, by=["hour", "model"], customer="acme", since=NOV, basis="list")
    assert [(r["bucket"], r["model"], r["requests"], r["units"]) for r in rows] == [
        (at("2026-11-10 09:00"), "nlp/chat", 2, 450.0),
        (at("2026-11-12 08:00"), "vision/cls", 1, 0.0),
    ]
    total = usage_summary(books, by=[], basis="list")
    assert len(total) == 1 and total[0]["requests"] == 8 and total[0]["revenue_usd"] == D("4.04")
    plugin = usage_summary(books, by=["plugin"], until=NOV, basis="list")
    assert [(r["plugin"], r["revenue_usd"]) for r in plugin] == [("nlp", D("0.04"))]
    with pytest.raises(LedgerError, match="cannot group usage"):
        usage_summary(books, by=["day", "hour"])
    with pytest.raises(LedgerError, match="cannot group usage"):
        usage_summary(books, by=["colour"])


def test_unit_economics(books: Ledger) -> None:
    rows = {r["model"]: r for r in unit_economics(books, until=at("2026-11-13 00:00"), basis="list")}
    chat = rows["nlp/chat"]
    # units 150 + 300 + 50 + 1500 + 20 = 2020; revenue 3.94; requests carried 0.58, and i1 (48 h, $4.80,
    # serving nlp/chat only) was idle for 4.80 - 0.17: compute spend 5.21
    assert (chat["unit"], chat["requests"], chat["revenue_usd"], chat["request_cost_usd"]) == (
        "tokens",
        5,
        D("3.94"),
        D("0.58"),
    )
    assert (chat["idle_cost_usd"], chat["cost_usd"]) == (D("4.63"), D("5.21"))
    assert round(chat["revenue_per_1k_units_usd"], 9) == D("1.950495050")  # 3940 / 2020
    assert round(chat["cost_per_1k_units_usd"], 9) == D("2.579207921")  # 5210 / 2020
    vision = rows["vision/cls"]  # i2: 48 h of l4 at $0.80 = $38.40 over 10 images
    assert vision["revenue_per_unit_usd"] == D("0.01") and vision["cost_per_unit_usd"] == D("3.84")
    assert vision["margin_per_1k_units_usd"] == D("-3830")


def test_latency_and_errors(books: Ledger) -> None:
    rows = {r["model"]: r for r in latency_by_model(books)}
    chat = rows["nlp/chat"]  # latencies 50, 100, 200, 300, 400
    assert (chat["p50_ms"], chat["p95_ms"], chat["p99_ms"]) == pytest.approx((200, 380, 396))
    assert chat["error_rate"] == pytest.approx(0.2) and chat["client_error_rate"] == 0
    vision = rows["vision/cls"]  # latencies 10, 40, 60
    assert (vision["p50_ms"], vision["p95_ms"], vision["p99_ms"]) == pytest.approx((40, 58, 59.6))
    assert vision["error_rate"] == 0 and vision["client_error_rate"] == pytest.approx(1 / 3)
    assert chat["ttft_p50_ms"] is None


def test_utilization_and_idle_cost(books: Ledger) -> None:
    rows = utilization(books, since=at("2026-11-10 00:00"), until=at("2026-11-12 00:00"), basis="list")
    got = {(r["model"], r["device_class"]): r for r in rows}
    chat = got[("nlp/chat", "cpu")]  # 48 h at $0.10; 7 busy seconds
    assert chat["provisioned_hours"] == 48 and chat["provisioned_cost_usd"] == D("4.80")
    assert chat["busy_hours"] == pytest.approx(7 / 3600)
    assert chat["utilization"] == pytest.approx(7 / 172800)
    assert (chat["allocated_cost_usd"], chat["idle_cost_usd"], chat["revenue_usd"]) == (
        D("0.17"),
        D("4.63"),
        D("0.90"),
    )
    vision = got[("vision/cls", "l4")]  # still up: 24 h of the window at $0.80
    assert (vision["provisioned_cost_usd"], vision["allocated_cost_usd"], vision["idle_cost_usd"]) == (
        D("19.20"),
        D("0.04"),
        D("19.16"),
    )
    by_device = utilization(
        books, since=at("2026-11-11 00:00"), until=at("2026-11-12 00:00"), by="device_class"
    )
    cpu = next(r for r in by_device if r["device_class"] == "cpu")
    assert cpu["provisioned_cost_usd"] == D("2.40") and cpu["allocated_cost_usd"] == 0


def test_break_even(books: Ledger) -> None:
    rows = {
        r["device_class"]: r for r in break_even(books, since=NOV, until=at("2026-11-13 00:00"), basis="list")
    }
    cpu = rows["cpu"]  # revenue 3.90 over 17 busy seconds; rate 0.10/h
    assert round(cpu["revenue_per_busy_hour_usd"], 6) == D("825.882353")
    assert cpu["break_even_utilization"] == pytest.approx(0.10 * 17 / (3.90 * 3600))
    l4 = rows["l4"]  # revenue 0.10 over 2 busy seconds; rate 0.80/h -> 180/h earned, 0.8/180
    assert l4["revenue_per_busy_hour_usd"] == D("180") and l4["break_even_utilization"] == pytest.approx(
        0.8 / 180
    )
    assert rows["h100"]["break_even_utilization"] is None and rows["h100"]["usd_per_hour"] == D("3")


def test_budget_status_and_forecast(books: Ledger) -> None:
    rows = {r["customer"]: r for r in budget_status(books, at=at("2026-11-15 12:00"))}
    acme = rows["acme"]  # November spend 0.90 in 14.5 days; 30-day month
    assert acme["spend_usd"] == D("0.90") and acme["budget_used"] == pytest.approx(0.009)
    assert acme["forecast_usd"] == D("1.862069") and acme["run_rate_usd_per_day"] == D("0.062069")
    assert not acme["over_budget_forecast"]
    initech = rows["initech"]  # 3.06 x 30 / 14.5 = 6.331034 > budget 5
    assert initech["forecast_usd"] == D("6.331034") and initech["over_budget_forecast"]
    assert rows["globex"]["budget_used"] is None and rows["globex"]["spend_usd"] == D("0.04")
    assert books.month_spend("initech", at=at("2026-11-15 12:00")) == D("3.06")


def test_concentration(books: Ledger) -> None:
    result = concentration(books, since=NOV, basis="list")
    # revenue initech 3.06, acme 0.90, globex 0.04 of 4.00
    assert result["total_revenue_usd"] == D("4.00") and result["customers"] == 3
    assert result["top1_share"] == pytest.approx(0.765) and result["top5_share"] == pytest.approx(1.0)
    assert result["hhi"] == pytest.approx(76.5**2 + 22.5**2 + 1**2)  # 6359.5
    assert [t["customer"] for t in result["top"]] == ["initech", "acme", "globex"]
    assert concentration(books, until=datetime(2020, 1, 1, tzinfo=UTC))["hhi"] is None


def test_what_if_alternative_prices(books: Ledger) -> None:
    rows = {
        r["model"]: r
        for r in pricing_what_if(
            books, prices=[{"model": "nlp/chat", "unit": "tokens", "price_per_unit_usd": "0.001"}]
        )
    }
    chat = rows["nlp/chat"]  # 2020 tokens x 0.001; compute spend: 0.58 carried + 4.63 idle of i1
    assert (chat["actual_revenue_usd"], chat["whatif_revenue_usd"], chat["cost_usd"]) == (
        D("3.94"),
        D("2.02"),
        D("5.21"),
    )
    assert (chat["actual_margin_usd"], chat["whatif_margin_usd"]) == (D("-1.27"), D("-3.19"))
    assert chat["repriced_requests"] == 5 and chat["revenue_change_usd"] == D("-1.92")
    vision = rows["vision/cls"]
    assert (
        vision["whatif_revenue_usd"] == vision["actual_revenue_usd"] == D("0.10")
        and vision["repriced_requests"] == 0
    )


def test_what_if_under_a_plan(books: Ledger) -> None:
    by_model = {r["model"]: r for r in pricing_what_if(books, plan="enterprise")}
    assert by_model["vision/cls"]["whatif_revenue_usd"] == D("0.20")  # 10 images x 0.02
    assert by_model["nlp/chat"]["whatif_revenue_usd"] == D("3.94")  # task unknown: no plugin+task match
    tasks = {"nlp/chat": "chat", "vision/cls": "image-classification"}
    total = pricing_what_if(books, plan="enterprise", model_tasks=tasks, by=None)
    assert total[0]["whatif_revenue_usd"] == D("4.24")  # 2020 x 0.002 + 0.20
    per_customer = {
        r["customer"]: r
        for r in pricing_what_if(books, plan="enterprise", model_tasks=tasks, by="customer", since=NOV)
    }
    assert per_customer["initech"]["whatif_revenue_usd"] == D("3.12")  # 1500 x 0.002 + 6 x 0.02
    with pytest.raises(LedgerError, match="either prices"):
        pricing_what_if(books)
    with pytest.raises(LedgerError, match="unknown plan"):
        pricing_what_if(books, plan="gold")
    with pytest.raises(LedgerError, match="negative"):
        pricing_what_if(books, prices=[{"model": "nlp/chat", "unit": "tokens", "price_per_unit_usd": "-1"}])


def test_cost_anomalies(tmp_path: Path) -> None:
    daily = {1: "1.00", 2: "2.00", 3: "1.00", 4: "3.00", 5: "10.00", 6: "1.00", 8: "5.00"}
    with Ledger.open(tmp_path, fsync_ms=20) as ledger:
        for day, cost in daily.items():
            # two requests a day, so the daily sum is what is compared
            half = D(cost) / 2
            for part in range(2):
                ledger.record(
                    make_event(
                        request_id=f"a{day}-{part}",
                        customer="acme",
                        ts=datetime(2026, 9, day, 10 + part, tzinfo=UTC),
                        cost_usd=half,
                    )
                )
            ledger.record(
                make_event(
                    request_id=f"s{day}",
                    customer="steady",
                    ts=datetime(2026, 9, day, 12, tzinfo=UTC),
                    cost_usd=D("2"),
                )
            )
        ledger.flush()
        rows = cost_anomalies(ledger, k=3, window_days=7, min_days=3)
        # 9-05: window 1, 2, 1, 3 -> median 1.5, 10 > 4.5; 9-08: window 1, 2, 1, 3, 10, 1 -> 1.5, 5 > 4.5
        # 9-04: window 1, 2, 1 -> median 1, 3 is not > 3; 9-03 has only two days before it
        assert [
            (r["customer"], r["day"], r["cost_usd"], r["trailing_median_usd"], r["trailing_days"])
            for r in rows
        ] == [
            ("acme", date(2026, 9, 5), D("10"), D("1.5"), 4),
            ("acme", date(2026, 9, 8), D("5"), D("1.5"), 6),
        ]
        assert rows[0]["ratio"] == pytest.approx(10 / 1.5)
        later = cost_anomalies(ledger, since=datetime(2026, 9, 6, tzinfo=UTC))
        assert [r["day"] for r in later] == [date(2026, 9, 8)]
        assert cost_anomalies(ledger, k=3, window_days=2, min_days=3) == []
        with pytest.raises(LedgerError, match="k > 0"):
            cost_anomalies(ledger, k=0)


def test_forecast_does_not_extrapolate_a_new_customers_first_hour(ledger: Ledger, clock: Clock) -> None:
    """A customer created an hour ago with $0.18 spent, 13.5 days before month end: the run-rate's basis
    is at least a day (MIN_FORECAST_HISTORY), so the forecast is 0.18 + 0.18 x 13.5 = $2.61, not
    0.18 x (1 + 324) = $58.50 from extrapolating one hour over 324."""
    clock.now = at("2026-11-02 00:00")
    ledger.create_customer("oldco", "pro", "10")
    clock.now = at("2026-11-17 11:00")
    ledger.create_customer("newco", "pro", "10")
    for n, (customer, ts) in enumerate((("newco", "2026-11-17 11:30"), ("oldco", "2026-11-03 12:00"))):
        ledger.record(make_event(request_id=f"f{n}", customer=customer, ts=at(ts), revenue_usd=D("0.18")))
    ledger.flush()
    rows = {r["customer"]: r for r in budget_status(ledger, at=at("2026-11-17 12:00"))}
    new = rows["newco"]
    assert new["spend_usd"] == D("0.18") and new["history_days"] == pytest.approx(1 / 24)
    assert new["run_rate_usd_per_day"] == D("0.18") and new["forecast_usd"] == D("2.61")
    assert not new["over_budget_forecast"]
    # a customer with more than a day of history keeps the plain run-rate: 0.18 over its 15.5 days
    old = rows["oldco"]
    assert old["history_days"] == pytest.approx(15.5)
    assert old["forecast_usd"] == (D("0.18") + D("0.18") / D("15.5") * D("13.5")).quantize(D("0.000001"))


def test_cost_anomalies_ignore_cents_above_a_zero_median(tmp_path: Path) -> None:
    """Free days ($0.00) then a $0.03 day: k x $0 is $0, but three cents is no risk. A day must also cost
    at least ``min_excess_usd`` (default $1.00) more than its trailing median; $5.00 against $0.00 does."""
    daily = {1: "0", 2: "0", 3: "0", 4: "0.03", 5: "0", 6: "0", 7: "5.00"}
    with Ledger.open(tmp_path, fsync_ms=20) as ledger:
        for day, cost in daily.items():
            ledger.record(
                make_event(
                    request_id=f"z{day}",
                    customer="acme",
                    ts=datetime(2026, 9, day, 10, tzinfo=UTC),
                    cost_usd=D(cost),
                )
            )
        ledger.flush()
        rows = cost_anomalies(ledger, k=3, window_days=7, min_days=3)
        assert [(r["day"], r["cost_usd"], r["trailing_median_usd"]) for r in rows] == [
            (date(2026, 9, 7), D("5.00"), D("0"))
        ]
        assert [r["day"] for r in cost_anomalies(ledger, k=3, min_days=3, min_excess_usd="0.01")] == [
            date(2026, 9, 4),
            date(2026, 9, 7),
        ]
        with pytest.raises(LedgerError, match="min_excess_usd"):
            cost_anomalies(ledger, min_excess_usd="-1")
