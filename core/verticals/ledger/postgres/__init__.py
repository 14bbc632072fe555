"""The ledger on PostgreSQL, for many gateway replicas (``database_url`` set; README, "Scaling out").

The ledger's SQL is written once, in DuckDB's dialect; ``dialect`` turns each statement into
PostgreSQL's with sqlglot (once per distinct statement), and ``connection`` gives the ledger a
connection with DuckDB's shape over psycopg, so ``Control``, ``Books``, billing and every analytics
function run unchanged on either engine. ``schema`` holds PostgreSQL's own versioned migrations.
"""
