-- Version 1: everything but usage events, the shape of DuckDB's schema version 6 (ledger/schema.py).
-- Timestamps are naive UTC (timestamp without time zone), as in DuckDB; money is numeric, never float.
CREATE TABLE ledger_meta (key text PRIMARY KEY, value text NOT NULL);

CREATE TABLE plans (
    name text PRIMARY KEY,
    monthly_fee_usd numeric(18,6) NOT NULL,
    included_units double precision NOT NULL DEFAULT 0,
    description text NOT NULL DEFAULT '',
    example boolean NOT NULL DEFAULT false,
    created_at timestamp NOT NULL
);
CREATE TABLE customers (
    name text PRIMARY KEY,
    plan text NOT NULL,
    budget_usd numeric(18,6),
    status text NOT NULL DEFAULT 'active',
    created_at timestamp NOT NULL
);
CREATE TABLE api_keys (
    prefix text PRIMARY KEY,
    key_sha256 text NOT NULL UNIQUE,
    customer text NOT NULL,
    rpm integer,
    tpm integer,
    created_at timestamp NOT NULL,
    revoked_at timestamp
);

CREATE SEQUENCE book_row_id;
CREATE TABLE price_book (
    id bigint PRIMARY KEY DEFAULT nextval('book_row_id'),
    plan text NOT NULL,
    model text,
    plugin text,
    task text,
    unit text NOT NULL,
    price_per_unit_usd numeric(24,12) NOT NULL,
    effective_from timestamp NOT NULL,
    created_at timestamp NOT NULL,
    note text NOT NULL DEFAULT '',
    charge_model text NOT NULL DEFAULT 'per_unit',
    package_size numeric(24,6)
);
CREATE TABLE price_tiers (
    price_id bigint,
    position integer,
    up_to numeric(24,6),
    unit_price_usd numeric(24,12) NOT NULL,
    flat_fee_usd numeric(18,6) NOT NULL DEFAULT 0,
    PRIMARY KEY (price_id, position)
);
CREATE TABLE cost_book (
    id bigint PRIMARY KEY DEFAULT nextval('book_row_id'),
    device_class text NOT NULL,
    usd_per_hour numeric(18,6) NOT NULL,
    effective_from timestamp NOT NULL,
    created_at timestamp NOT NULL,
    example boolean NOT NULL DEFAULT false,
    note text NOT NULL DEFAULT ''
);

CREATE TABLE devices (
    device_id text,
    device_class text NOT NULL,
    up_at timestamp,
    down_at timestamp,
    PRIMARY KEY (device_id, up_at)
);
CREATE TABLE device_models (
    device_id text,
    up_at timestamp,
    model text,
    PRIMARY KEY (device_id, up_at, model)
);
CREATE VIEW capacity AS
SELECT d.device_id AS instance_id, m.model, d.device_class, d.up_at, d.down_at
FROM devices d LEFT JOIN device_models m ON m.device_id = d.device_id AND m.up_at = d.up_at;

CREATE TABLE evaluation_runs (
    run_id text PRIMARY KEY,
    model text NOT NULL,
    version text NOT NULL,
    suite text NOT NULL,
    passed boolean NOT NULL,
    run_at timestamp NOT NULL
);
CREATE TABLE evaluation_metrics (
    run_id text,
    metric text,
    value double precision NOT NULL,
    min double precision,
    max double precision,
    passed boolean NOT NULL,
    PRIMARY KEY (run_id, metric)
);

CREATE TABLE allowances (
    plan text,
    unit text,
    model text DEFAULT '',
    quantity numeric(24,6) NOT NULL,
    created_at timestamp NOT NULL,
    PRIMARY KEY (plan, unit, model)
);
CREATE SEQUENCE subscription_id;
CREATE TABLE subscriptions (
    id bigint PRIMARY KEY DEFAULT nextval('subscription_id'),
    customer text NOT NULL,
    plan text NOT NULL,
    starts_at timestamp NOT NULL,
    ends_at timestamp,
    created_at timestamp NOT NULL
);
CREATE SEQUENCE credit_grant_id;
CREATE TABLE credit_grants (
    id bigint PRIMARY KEY DEFAULT nextval('credit_grant_id'),
    customer text NOT NULL,
    amount_usd numeric(18,6) NOT NULL,
    reason text NOT NULL DEFAULT '',
    granted_at timestamp NOT NULL,
    expires_at timestamp,
    created_at timestamp NOT NULL
);
CREATE TABLE invoices (
    id bigint PRIMARY KEY,
    number text NOT NULL UNIQUE,
    customer text NOT NULL,
    month text NOT NULL,
    total_usd numeric(18,2) NOT NULL,
    issued_at timestamp NOT NULL,
    replaces text,
    voided_at timestamp,
    snapshot text NOT NULL
);
CREATE TABLE invoice_credits (
    invoice_id bigint,
    grant_id bigint,
    amount_usd numeric(18,6) NOT NULL,
    PRIMARY KEY (invoice_id, grant_id)
);

CREATE TABLE alerts (
    key text PRIMARY KEY,
    kind text NOT NULL,
    severity text NOT NULL,
    subject text NOT NULL,
    text text NOT NULL,
    fields text NOT NULL,
    raised_at timestamp NOT NULL,
    status text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    delivered_at timestamp
);
CREATE SEQUENCE admin_audit_id;
CREATE TABLE admin_audit (
    id bigint PRIMARY KEY DEFAULT nextval('admin_audit_id'),
    acted_at timestamp NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    method text NOT NULL,
    path text NOT NULL,
    subject text,
    detail text NOT NULL,
    status integer NOT NULL,
    error text
);
