-- Usage events on PostgreSQL: partitioned by UTC day, the repeated strings kept once, an hourly rollup.
--
-- usage_events is a VIEW with DuckDB's column names and types (verticals.ledger.events.EVENT_COLUMNS:
-- VARCHAR -> text, DOUBLE -> double precision, DECIMAL(18,9) -> numeric(18,9), TIMESTAMP -> timestamp
-- without time zone holding UTC, SMALLINT -> smallint), so the analytics read it as they read DuckDB's
-- table. Behind it:
--   usage_dims        one row per distinct (customer, key_prefix, plugin, model, model_version, endpoint,
--                     unit, device_class): a few thousand rows for millions of events;
--   usage_event_rows  one row per request: the numbers, the request id and a usage_dims id.
-- A row of the plain table took 311-341 B with its primary key (measured with pg_total_relation_size
-- over 120,000 events from three interleaved replicas); the strings moved to usage_dims bring it to about
-- 260 B, under the 300 B goal (tests/bench/bench_postgres_ingest.py). Fixed-width columns come first so
-- that no alignment padding sits between them.
--
-- Writes go through verticals.ledger.postgres.ingest (the spool's PostgresSink), which adds the dims, the
-- rows and the rollup in one transaction; the view takes no INSERT.

CREATE TABLE usage_dims (
    dim integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer text NOT NULL,
    key_prefix text,
    plugin text NOT NULL,
    model text NOT NULL,
    model_version text NOT NULL,
    endpoint text NOT NULL,
    unit text NOT NULL,
    device_class text NOT NULL,
    -- NULLS NOT DISTINCT (PostgreSQL 15+): events without a key share one dims row
    UNIQUE NULLS NOT DISTINCT (customer, key_prefix, plugin, model, model_version, endpoint, unit, device_class)
);

-- One partition per UTC day, named usage_events_pYYYYMMDD, created by ingest before it writes a day
-- (partitions.ensure_partitions); retention drops whole partitions (partitions.drop_partitions_before), never
-- DELETE. No default partition: a default holding rows of a day would stop that day's partition from
-- being created.
-- The primary key holds ts because PostgreSQL requires the partition key in unique constraints; a
-- replayed spool line carries the same ts, so (request_id, ts) drops replays exactly.
CREATE TABLE usage_event_rows (
    ts timestamp without time zone NOT NULL,
    latency_ms double precision NOT NULL,
    queue_ms double precision NOT NULL,
    ttft_ms double precision,
    units_in double precision NOT NULL,
    units_out double precision NOT NULL,
    compute_seconds double precision NOT NULL,
    dim integer NOT NULL,
    status smallint NOT NULL,
    request_id text NOT NULL,
    revenue_usd numeric(18,9) NOT NULL,
    cost_usd numeric(18,9) NOT NULL,
    PRIMARY KEY (request_id, ts)
) PARTITION BY RANGE (ts);

CREATE VIEW usage_events AS
SELECT e.request_id, e.ts, d.customer, d.key_prefix, d.plugin, d.model, d.model_version, d.endpoint,
       e.status, e.latency_ms, e.queue_ms, e.ttft_ms, e.units_in, e.units_out, d.unit, e.compute_seconds,
       d.device_class, e.revenue_usd, e.cost_usd
FROM usage_event_rows e JOIN usage_dims d ON d.dim = e.dim;

-- The hourly rollup, added to in the transaction that inserts the events, from exactly the rows that
-- insert returned (a replayed event adds nothing). Sums, so any group of hours, dims and statuses adds up:
-- billed events are status < 400 or 499 (events.billed_status); billed_units is events.billed_units()
-- summed; the mean latency is latency_ms / requests and the mean ttft ttft_ms / ttft_count. Rollup rows
-- are kept when retention drops the events' partitions.
CREATE TABLE usage_hourly_rows (
    hour timestamp without time zone NOT NULL,
    dim integer NOT NULL,
    status smallint NOT NULL,
    requests bigint NOT NULL,
    units_in double precision NOT NULL,
    units_out double precision NOT NULL,
    compute_seconds double precision NOT NULL,
    latency_ms double precision NOT NULL,
    queue_ms double precision NOT NULL,
    ttft_ms double precision NOT NULL,
    ttft_count bigint NOT NULL,
    billed_units numeric(38,6) NOT NULL,
    revenue_usd numeric(38,9) NOT NULL,
    cost_usd numeric(38,9) NOT NULL,
    PRIMARY KEY (hour, dim, status)
);

CREATE VIEW usage_hourly AS
SELECT h.hour, d.customer, d.key_prefix, d.plugin, d.model, d.model_version, d.endpoint, d.unit,
       d.device_class, h.status, h.requests, h.units_in, h.units_out, h.compute_seconds, h.latency_ms,
       h.queue_ms, h.ttft_ms, h.ttft_count, h.billed_units, h.revenue_usd, h.cost_usd
FROM usage_hourly_rows h JOIN usage_dims d ON d.dim = h.dim;
