"""One business's data in both ledger engines, for the analytics parity test and its benchmark.

``build_duckdb`` fills a DuckDB ledger: the synthetic generator's events (``verticals.ledger.synthetic``)
over September to early November 2026, plus the control data every analytics function and invoice reads:
plans with fees and allowances, price rows of each charge model (per unit, package, graduated and volume
tiers, from a date on), a cost-book change, devices (one shared by several models, one never used),
subscription changes in mid-month and a cancellation, credit grants, evaluation runs, alerts and admin
audit rows. ``copy_to_postgres`` copies every row into a PostgreSQL ledger: events by ``COPY`` into a
staging table, then into ``usage_events`` (the engine's own tables behind it), control rows by ``COPY``
table by table. Both ledgers then hold the same rows, ids and sequences included.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from verticals.billing.model import Tier
from verticals.ledger import Ledger, UsageEvent
from verticals.ledger.alerts import AlertRow
from verticals.ledger.audit import AuditEntry
from verticals.ledger.events import EVENT_COLUMNS
from verticals.ledger.synthetic import generate_usage

START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 70  # to 2026-11-10: September (finalized), October (closed, drafts), November in progress
NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
CUSTOMERS = 24

# Control tables in an order that satisfies no foreign key (there are none) but reads well; the columns are
# copied by name, so the two engines' column orders need not agree.
CONTROL_TABLES = (
    "plans",
    "customers",
    "api_keys",
    "price_book",
    "price_tiers",
    "cost_book",
    "devices",
    "device_models",
    "evaluation_runs",
    "evaluation_metrics",
    "allowances",
    "subscriptions",
    "credit_grants",
    "invoices",
    "invoice_credits",
    "alerts",
    "admin_audit",
)
# PostgreSQL sequences and the (table, column) each numbers
SEQUENCES = {
    "book_row_id": (("price_book", "id"), ("cost_book", "id")),
    "subscription_id": (("subscriptions", "id"),),
    "credit_grant_id": (("credit_grants", "id"),),
    "admin_audit_id": (("admin_audit", "id"),),
}


class Clock:
    """A settable clock (aware UTC)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def at(text: str) -> datetime:
    """``YYYY-MM-DD[ HH:MM]`` as aware UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _prices(ledger: Ledger) -> None:
    ledger.create_plan("growth", "49", description="a fee, allowances, tiered tokens")
    ledger.create_plan("scale", "499.99", description="volume tiers, packages")
    ledger.set_allowance("growth", "tokens", "2000000")
    ledger.set_allowance("growth", "images", "100", model="vision/classify")
    ledger.set_allowance("pro", "audio-seconds", "500", model="speech/*")
    ledger.set_allowance("scale", "rows", "1000")
    tiers = [Tier(Decimal(1_000_000), Decimal("0.000003")), Tier(None, Decimal("0.0000015"), Decimal("5"))]
    ledger.set_price(
        "growth",
        "tokens",
        "0.000003",
        plugin="nlp",
        charge_model="graduated",
        tiers=tiers,
        effective_from=START,
    )
    ledger.set_price(
        "growth",
        "images",
        "0.5",
        model="vision/classify",
        charge_model="package",
        package_size="100",
        effective_from=START,
    )
    volume = [
        Tier(Decimal(500), Decimal("0.0004")),
        Tier(Decimal(5000), Decimal("0.0003"), Decimal("1")),
        Tier(None, Decimal("0.0002")),
    ]
    ledger.set_price(
        "scale",
        "rows",
        "0.0004",
        model="finance/score",
        charge_model="volume",
        tiers=volume,
        effective_from=START,
    )
    ledger.set_price("scale", "tokens", "0.0000012", plugin="nlp", effective_from=START)
    ledger.set_price("enterprise", "calls", "0.008", model="health/triage", effective_from=START)
    # a price change in the middle of October
    ledger.set_price("scale", "tokens", "0.000001", plugin="nlp", effective_from=at("2026-10-15"))
    ledger.set_price("pro", "images", "0.0015", plugin="vision", effective_from=at("2026-10-01"))
    ledger.set_cost("h100", "3.40", effective_from=at("2026-10-20"), note="new contract")


def _history(ledger: Ledger, clock: Clock) -> None:
    """Subscription changes, a cancellation, credits and keys, each dated."""
    for customer, plan, when in (
        ("customer-004", "growth", "2026-09-01"),
        ("customer-005", "scale", "2026-09-01"),
        ("customer-006", "growth", "2026-09-16 12:00"),
        ("customer-007", "scale", "2026-10-10"),
        ("customer-008", "growth", "2026-10-20 06:30"),
        ("customer-016", "pro", "2026-09-20"),
        ("customer-017", "growth", "2026-11-03"),
    ):
        ledger.set_subscription(customer, plan, at(when))
    ledger.cancel_subscription("customer-009", at("2026-10-05"))
    ledger.grant_credit("customer-004", "25", reason="onboarding", granted_at=at("2026-09-01"))
    ledger.grant_credit(
        "customer-005",
        "100",
        reason="committed use",
        granted_at=at("2026-09-01"),
        expires_at=at("2026-10-15"),
    )
    ledger.grant_credit("customer-001", "3.75", reason="outage", granted_at=at("2026-10-02"))
    ledger.grant_credit("customer-008", "1000", reason="prepaid", granted_at=at("2026-10-20"))
    for customer in ("customer-001", "customer-004", "customer-012"):
        ledger.create_key(customer, rpm=60, tpm=100_000)
    clock.now = NOW


def _facts(ledger: Ledger) -> None:
    """Devices beyond the generator's, evaluations, alerts and admin actions."""
    # a second h100 for part of October (replicas: requests then count 1/2 on each), and an l4 never used
    ledger.record_device("h100-extra", "h100", ["nlp/chat"], at("2026-10-05"), at("2026-10-12 08:00"))
    ledger.record_device("l4-spare", "l4", ["vision/detect"], at("2026-10-01"), None)
    thresholds = {"accuracy": {"min": 0.7, "max": None}, "latency_p95": {"min": None, "max": 900.0}}
    for day, version, accuracy, latency in (
        (3, "1", 0.81, 700.0),
        (12, "2", 0.66, 950.5),
        (40, "3", 0.9, 400.25),
    ):
        metrics = {"accuracy": accuracy, "latency_p95": latency}
        passed = accuracy >= 0.7 and latency <= 900.0
        ledger.record_evaluation(
            "nlp/chat", version, "qa", metrics, thresholds, passed, at=START + timedelta(days=day)
        )
    ledger.record_evaluation(
        "vision/classify",
        "1",
        "imagenet-mini",
        {"accuracy": 0.75},
        {"accuracy": {"min": 0.7, "max": None}},
        True,
        at=START + timedelta(days=12),
    )
    for index, (kind, subject) in enumerate(
        (("budget", "customer-010"), ("cost_anomaly", "customer-002"), ("backend_down", "nlp/chat"))
    ):
        raised = at("2026-10-01") + timedelta(days=3 * index, hours=index)
        alert = AlertRow(
            f"{kind}:{subject}:{index}",
            kind,
            "warning",
            subject,
            f"{kind} on {subject}",
            raised,
            {"index": index, "share": 0.8},
        )
        ledger.claim_alert(alert)
        if index != 1:
            ledger.finish_alert(
                alert.key, "sent" if index == 0 else "dead", 1 + index, None if index == 0 else "503"
            )
    actions: list[tuple[str, str | None, int]] = [
        ("create_customer", "customer-020", 200),
        ("set_budget", "customer-010", 200),
        ("revoke_key", None, 404),
    ]
    for index, (action, about, status) in enumerate(actions):
        ledger.record_admin_action(
            AuditEntry(
                "ops",
                action,
                "POST",
                f"/admin/{action}",
                status,
                about,
                {"n": index, "token": "secret"},
                None if status < 400 else "no key",
            )
        )


def _odd_events(ledger: Ledger) -> None:
    """Events the generator never makes: back-filled demo events, a stream the client left (499, billed),
    a request that named no model and one from no customer (a refused key), and a key prefix."""
    base: dict[str, Any] = {
        "plugin": "nlp",
        "model": "nlp/chat",
        "model_version": "1",
        "endpoint": "/v1/chat/completions",
        "status": 200,
        "latency_ms": 210.5,
        "units_in": 120,
        "units_out": 40,
        "unit": "tokens",
        "compute_seconds": 0.25,
        "device_class": "h100",
        "ttft_ms": 35.25,
    }
    rows: list[dict[str, Any]] = [
        *(
            {
                "request_id": f"backfill-{i}",
                "ts": at("2026-10-20 10:00") + timedelta(minutes=7 * i),
                "customer": f"customer-00{1 + i % 3}",
                "revenue_usd": Decimal("0.00032"),
                "cost_usd": Decimal("0.000236111"),
            }
            for i in range(6)
        ),
        {
            "request_id": "stream-left",
            "ts": at("2026-10-21 09:30"),
            "customer": "customer-004",
            "status": 499,
            "units_out": 17,
            "revenue_usd": Decimal("0.000274"),
            "cost_usd": Decimal("0.0001"),
        },
        {
            "request_id": "no-model",
            "ts": at("2026-10-22 11:00"),
            "customer": "customer-002",
            "plugin": "-",
            "model": "-",
            "status": 404,
            "units_in": 0,
            "units_out": 0,
            "compute_seconds": 0,
            "ttft_ms": None,
            "revenue_usd": Decimal(0),
            "cost_usd": Decimal(0),
            "device_class": "cpu",
        },
        {
            "request_id": "no-customer",
            "ts": at("2026-10-22 11:05"),
            "customer": "-",
            "status": 401,
            "units_in": 0,
            "units_out": 0,
            "compute_seconds": 0,
            "ttft_ms": None,
            "revenue_usd": Decimal(0),
            "cost_usd": Decimal(0),
        },
        {
            "request_id": "keyed",
            "ts": at("2026-11-02 08:00"),
            "customer": "customer-001",
            "key_prefix": "vk_c0000001",
            "revenue_usd": Decimal("0.00032"),
            "cost_usd": Decimal("0.000236111"),
        },
    ]
    for row in rows:
        ledger.record(UsageEvent(**{**base, **row}))


def build_duckdb(home: Path, events: int = 20_000, *, customers: int = CUSTOMERS) -> Ledger:
    """A DuckDB ledger at ``home`` holding the parity data set (see the module), its clock at ``NOW``;
    open, for the caller to close."""
    clock = Clock(START)
    ledger = Ledger.open(home, fsync_ms=0, clock=clock)
    try:
        _prices(ledger)
        generate_usage(ledger, events, start=START, days=DAYS, customers=customers)
        # the generator inserts customers without a history: give each its first subscription, as
        # create_customer does, so plan changes have something to end
        for customer in ledger.list_customers():
            if not ledger.subscriptions(customer.name):
                ledger._start_history(customer)
        _history(ledger, clock)
        _facts(ledger)
        _odd_events(ledger)
        ledger.flush()
    except BaseException:
        ledger.close()
        raise
    return ledger


def _copy_rows(
    raw: psycopg.Connection[Any], table: str, columns: list[str], rows: list[tuple[Any, ...]]
) -> None:
    names = ", ".join(columns)
    with raw.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def copy_control(duck: Any, raw: psycopg.Connection[Any]) -> None:
    """Replace every control table's rows in PostgreSQL (``raw``) by DuckDB's (``duck``), sequences set past
    the copied ids."""
    for table in CONTROL_TABLES:
        columns = [row[0] for row in duck.execute(f"DESCRIBE {table}").fetchall()]
        rows = duck.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()
        raw.execute(f"DELETE FROM {table}")
        _copy_rows(raw, table, columns, rows)
    for sequence, owners in SEQUENCES.items():
        top = max(
            raw.execute(f"SELECT coalesce(max({column}), 0) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table, column in owners
        )
        raw.execute("SELECT setval(%s, %s)", [sequence, max(top, 1)])


def load_staged(raw: psycopg.Connection[Any]) -> None:
    """Move the events of ``usage_stage`` into the PostgreSQL ledger as its ingest stores them (dims, day
    partitions, rows and the hourly rollup: ``ingest.load_event_table``), then refresh the statistics."""
    from verticals.ledger.postgres.ingest import load_event_table

    load_event_table(raw, "usage_stage")
    raw.execute("ANALYZE")


def copy_events(
    duck: Any, raw: psycopg.Connection[Any], load: Callable[[psycopg.Connection[Any]], None] = load_staged
) -> int:
    """COPY DuckDB's ``usage_events`` into the temporary table ``usage_stage`` (EVENT_COLUMNS) over ``raw``
    (autocommit), then ``load(raw)`` moves it into the PostgreSQL ledger; returns the number of events."""
    columns = list(EVENT_COLUMNS)
    types = {
        "VARCHAR": "text",
        "TIMESTAMP": "timestamp",
        "SMALLINT": "smallint",
        "DOUBLE": "double precision",
        "DECIMAL(18,9)": "numeric(18,9)",
    }
    raw.execute("DROP TABLE IF EXISTS usage_stage")
    raw.execute(
        "CREATE TEMPORARY TABLE usage_stage ("
        + ", ".join(f"{name} {types[kind]}" for name, kind in EVENT_COLUMNS.items())
        + ")"
    )
    cursor = duck.execute(f"SELECT {', '.join(columns)} FROM usage_events ORDER BY ts, request_id")
    count = 0
    with raw.cursor().copy(f"COPY usage_stage ({', '.join(columns)}) FROM STDIN") as copy:
        while batch := cursor.fetchmany(50_000):
            for row in batch:
                copy.write_row(row)
            count += len(batch)
    load(raw)
    raw.execute("DROP TABLE usage_stage")
    return count
