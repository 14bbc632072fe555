"""The ledger's tables and their versioned migrations.

``MIGRATIONS[i]`` turns a schema at version ``i`` into version ``i + 1``. A migration is only ever
appended, never edited, because ledgers in the field were created by the earlier ones. The version
lives in ``ledger_meta``; a ledger newer than this code is refused before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from verticals.ledger.errors import LedgerError
from verticals.ledger.events import EVENT_COLUMNS

_NULLABLE_EVENT_COLUMNS = {"key_prefix", "ttft_ms"}
_EVENT_COLUMN_DEFS = ", ".join(
    f"{name} {kind}" + ("" if name in _NULLABLE_EVENT_COLUMNS else " NOT NULL")
    for name, kind in EVENT_COLUMNS.items()
)

_V1 = f"""
CREATE TABLE ledger_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE plans (
    name VARCHAR PRIMARY KEY,
    monthly_fee_usd DECIMAL(18,6) NOT NULL,
    included_units DOUBLE NOT NULL DEFAULT 0,
    description VARCHAR NOT NULL DEFAULT '',
    example BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE customers (
    name VARCHAR PRIMARY KEY,
    plan VARCHAR NOT NULL,
    budget_usd DECIMAL(18,6),
    status VARCHAR NOT NULL DEFAULT 'active',
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE api_keys (
    prefix VARCHAR PRIMARY KEY,
    key_sha256 VARCHAR NOT NULL UNIQUE,
    customer VARCHAR NOT NULL,
    rpm INTEGER,
    tpm INTEGER,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE SEQUENCE book_row_id;
CREATE TABLE price_book (
    id BIGINT PRIMARY KEY DEFAULT nextval('book_row_id'),
    plan VARCHAR NOT NULL,
    model VARCHAR,
    plugin VARCHAR,
    task VARCHAR,
    unit VARCHAR NOT NULL,
    price_per_unit_usd DECIMAL(24,12) NOT NULL,
    effective_from TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    note VARCHAR NOT NULL DEFAULT ''
);
CREATE TABLE cost_book (
    id BIGINT PRIMARY KEY DEFAULT nextval('book_row_id'),
    device_class VARCHAR NOT NULL,
    usd_per_hour DECIMAL(18,6) NOT NULL,
    effective_from TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    example BOOLEAN NOT NULL DEFAULT false,
    note VARCHAR NOT NULL DEFAULT ''
);
CREATE TABLE usage_events (
    {_EVENT_COLUMN_DEFS},
    PRIMARY KEY (request_id)
);
"""

# Starter rows: a fresh ledger must price and cost requests before anyone configures it. They are
# flagged example=true and effective from 1970, so an operator's own rows (from now) supersede them
# without rewriting the past.
_STARTER_PLANS: Sequence[tuple[str, str, float, str]] = (
    ("free", "0", 0.0, "example starter plan: no fee, model list prices"),
    ("pro", "49", 0.0, "example starter plan: monthly fee, model list prices"),
    ("enterprise", "999", 0.0, "example starter plan: negotiated prices go in its price book"),
)
# On-demand cloud list prices late 2026, rounded; replace them with your own with `verticals costs set`.
_STARTER_COSTS: Sequence[tuple[str, str]] = (
    ("cpu", "0.10"),
    ("l4", "0.80"),
    ("a100", "1.80"),
    ("h100", "3.00"),
    ("h200", "3.80"),
)

_V2 = """
CREATE TABLE capacity (
    instance_id VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    device_class VARCHAR NOT NULL,
    up_at TIMESTAMP NOT NULL,
    down_at TIMESTAMP,
    PRIMARY KEY (instance_id, up_at)
);
CREATE TABLE evaluation_runs (
    run_id VARCHAR PRIMARY KEY,
    model VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    suite VARCHAR NOT NULL,
    passed BOOLEAN NOT NULL,
    run_at TIMESTAMP NOT NULL
);
CREATE TABLE evaluation_metrics (
    run_id VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    value DOUBLE NOT NULL,
    min DOUBLE,
    max DOUBLE,
    passed BOOLEAN NOT NULL,
    PRIMARY KEY (run_id, metric)
);
"""


def _v1(conn: Any) -> None:
    conn.execute(_V1)


def _v2(conn: Any) -> None:
    conn.execute(_V2)
    insert_starter_rows(conn)


def insert_starter_rows(conn: Any) -> None:
    """The starter plans and device costs of every new ledger (DuckDB's v2; PostgreSQL's first migration)."""
    for name, fee, units, description in _STARTER_PLANS:
        conn.execute(
            "INSERT INTO plans VALUES (?, ?, ?, ?, true, now()::TIMESTAMP)", [name, fee, units, description]
        )
    for device, rate in _STARTER_COSTS:
        conn.execute(
            "INSERT INTO cost_book (device_class, usd_per_hour, effective_from, created_at, example, note) "
            "VALUES (?, ?, TIMESTAMP '1970-01-01', now()::TIMESTAMP, true, ?)",
            [device, rate, "example rate: set yours with `verticals costs set`"],
        )


# v3: capacity per device, not per model. One machine's CPUs (or one GPU) serving nine models is one
# device row and nine device_models rows, so it is paid for once. Each v2 capacity row becomes one device
# serving its one model; the gateway's pseudo-model "torch" (one row for every in-process model) becomes
# a device serving the models whose requests it carried: those on its device class while it was up that
# no other capacity row served. ``capacity`` stays readable as a view, one row per device and model.
_V3 = """
CREATE TABLE devices (
    device_id VARCHAR NOT NULL,
    device_class VARCHAR NOT NULL,
    up_at TIMESTAMP NOT NULL,
    down_at TIMESTAMP,
    PRIMARY KEY (device_id, up_at)
);
CREATE TABLE device_models (
    device_id VARCHAR NOT NULL,
    up_at TIMESTAMP NOT NULL,
    model VARCHAR NOT NULL,
    PRIMARY KEY (device_id, up_at, model)
);
INSERT INTO devices SELECT instance_id, device_class, up_at, down_at FROM capacity;
INSERT INTO device_models SELECT instance_id, up_at, model FROM capacity WHERE model <> 'torch';
INSERT INTO device_models
SELECT DISTINCT c.instance_id, c.up_at, e.model
FROM capacity c JOIN usage_events e
  ON e.device_class = c.device_class AND e.ts >= c.up_at AND (c.down_at IS NULL OR e.ts < c.down_at)
WHERE c.model = 'torch' AND e.model <> '-'
  AND e.model NOT IN (SELECT model FROM capacity WHERE model <> 'torch');
DROP TABLE capacity;
CREATE VIEW capacity AS
SELECT d.device_id AS instance_id, m.model, d.device_class, d.up_at, d.down_at
FROM devices d LEFT JOIN device_models m ON m.device_id = d.device_id AND m.up_at = d.up_at;
"""


def _v3(conn: Any) -> None:
    conn.execute(_V3)


# v4: billing. Allowances per plan and unit (optionally per model or plugin pattern; '' in ``model`` is
# unit-wide, since a key column cannot be NULL); a charge model for each price row, with its package size
# or its tiers in ``price_tiers``; subscriptions, the customers' plan history, each existing customer
# getting one from its created_at on its current plan; credit grants; finalized invoices, stored as the
# JSON snapshot they were issued with (never edited: voiding sets ``voided_at`` beside it), and the credit
# each applied, so balances are a sum. ``plans.included_units`` stays, readable, but billing uses allowances.
_V4 = """
ALTER TABLE price_book ADD COLUMN charge_model VARCHAR NOT NULL DEFAULT 'per_unit';
ALTER TABLE price_book ADD COLUMN package_size DECIMAL(24,6);
CREATE TABLE price_tiers (
    price_id BIGINT NOT NULL,
    position INTEGER NOT NULL,
    up_to DECIMAL(24,6),
    unit_price_usd DECIMAL(24,12) NOT NULL,
    flat_fee_usd DECIMAL(18,6) NOT NULL DEFAULT 0,
    PRIMARY KEY (price_id, position)
);
CREATE TABLE allowances (
    plan VARCHAR NOT NULL,
    unit VARCHAR NOT NULL,
    model VARCHAR NOT NULL DEFAULT '',
    quantity DECIMAL(24,6) NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (plan, unit, model)
);
CREATE SEQUENCE subscription_id;
CREATE TABLE subscriptions (
    id BIGINT PRIMARY KEY DEFAULT nextval('subscription_id'),
    customer VARCHAR NOT NULL,
    plan VARCHAR NOT NULL,
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO subscriptions (customer, plan, starts_at, created_at)
SELECT name, plan, created_at, created_at FROM customers ORDER BY created_at, name;
CREATE SEQUENCE credit_grant_id;
CREATE TABLE credit_grants (
    id BIGINT PRIMARY KEY DEFAULT nextval('credit_grant_id'),
    customer VARCHAR NOT NULL,
    amount_usd DECIMAL(18,6) NOT NULL,
    reason VARCHAR NOT NULL DEFAULT '',
    granted_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE invoices (
    id BIGINT PRIMARY KEY,
    number VARCHAR NOT NULL UNIQUE,
    customer VARCHAR NOT NULL,
    month VARCHAR NOT NULL,
    total_usd DECIMAL(18,2) NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    replaces VARCHAR,
    voided_at TIMESTAMP,
    snapshot VARCHAR NOT NULL
);
CREATE TABLE invoice_credits (
    invoice_id BIGINT NOT NULL,
    grant_id BIGINT NOT NULL,
    amount_usd DECIMAL(18,6) NOT NULL,
    PRIMARY KEY (invoice_id, grant_id)
);
"""


def _v4(conn: Any) -> None:
    conn.execute(_V4)


# Alerts the gateway raised (verticals.alerts): one row per event, keyed by the event's dedup key so that
# an alert is sent once even across restarts. status: pending (claimed, not yet delivered), sent, dead
# (every webhook attempt failed) or recorded (no webhook configured).
_V5 = """
CREATE TABLE alerts (
    key VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    subject VARCHAR NOT NULL,
    text VARCHAR NOT NULL,
    fields VARCHAR NOT NULL,
    raised_at TIMESTAMP NOT NULL,
    status VARCHAR NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error VARCHAR,
    delivered_at TIMESTAMP
);
"""


def _v5(conn: Any) -> None:
    conn.execute(_V5)


# v6: the admin audit log (verticals.ledger.audit): one row per mutating admin API call, written by the
# gateway, never edited. ``actor`` is who the caller said it was (the dashboard user, or "admin token"),
# recorded for people to read and never used to decide access; ``detail`` is the request's JSON body with
# secrets masked; ``status`` the HTTP status answered and ``error`` the refusal's message.
_V6 = """
CREATE SEQUENCE admin_audit_id;
CREATE TABLE admin_audit (
    id BIGINT PRIMARY KEY DEFAULT nextval('admin_audit_id'),
    acted_at TIMESTAMP NOT NULL,
    actor VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    method VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    subject VARCHAR,
    detail VARCHAR NOT NULL,
    status INTEGER NOT NULL,
    error VARCHAR
);
"""


def _v6(conn: Any) -> None:
    conn.execute(_V6)


MIGRATIONS: tuple[Any, ...] = (_v1, _v2, _v3, _v4, _v5, _v6)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: Any) -> int:
    """The version a ledger is at; 0 for an empty database."""
    exists = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'ledger_meta'"
    ).fetchone()[0]
    if not exists:
        return 0
    row = conn.execute("SELECT value FROM ledger_meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def check_not_newer(version: int, where: str, latest: int | None = None) -> None:
    """Raise LedgerError, telling the user to upgrade verticals, when the ledger at ``where`` has a schema
    ``version`` newer than ``latest`` (default DuckDB's ``SCHEMA_VERSION``); the ledger is not touched.
    """
    latest = SCHEMA_VERSION if latest is None else latest
    if version > latest:
        raise LedgerError(
            f"the ledger at {where} has schema version {version}, newer than this verticals understands "
            f"({latest}); upgrade verticals (pip install -U verticals); the ledger was left as it was"
        )


def migrate(conn: Any, where: str, target: int = SCHEMA_VERSION) -> int:
    """Bring the ledger up to ``target``, each step in its own transaction; returns the old version."""
    current = schema_version(conn)
    check_not_newer(current, where)
    for version in range(current, target):
        conn.execute("BEGIN TRANSACTION")
        try:
            MIGRATIONS[version](conn)
            conn.execute(
                "INSERT INTO ledger_meta VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [str(version + 1)],
            )
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
    return current
