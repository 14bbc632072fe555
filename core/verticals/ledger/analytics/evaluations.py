"""Evaluation results over time: every run's metrics against its thresholds, per model version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from verticals.ledger._time import to_db
from verticals.ledger.analytics._query import connection_of, utc

_COLUMNS = (
    "at",
    "run_id",
    "model",
    "version",
    "suite",
    "metric",
    "value",
    "min",
    "max",
    "passed",
    "run_passed",
)


def evaluation_history(
    source: Any,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    model: str | None = None,
) -> list[dict[str, Any]]:
    """One row per evaluation run and metric, oldest run first.

    Keys: ``at`` (UTC), ``run_id``, ``model``, ``version``, ``suite``, ``metric``, ``value``, ``min``
    and ``max`` (the thresholds, None where unbounded), ``passed`` (this metric within its
    thresholds) and ``run_passed`` (the whole run). ``since`` inclusive, ``until`` exclusive, on the
    run's time.
    """
    clauses: list[str] = []
    params: list[Any] = []
    if since is not None:
        clauses.append("r.run_at >= ?")
        params.append(to_db(since))
    if until is not None:
        clauses.append("r.run_at < ?")
        params.append(to_db(until))
    if model is not None:
        clauses.append("r.model = ?")
        params.append(model)
    where = " AND ".join(clauses) or "true"
    sql = (
        "SELECT r.run_at, r.run_id, r.model, r.version, r.suite, m.metric, m.value, m.min, m.max, "  # noqa: S608
        "m.passed, r.passed FROM evaluation_runs r JOIN evaluation_metrics m USING (run_id) "
        f"WHERE {where} ORDER BY r.run_at, r.model, r.suite, m.metric"
    )
    rows = connection_of(source).execute(sql, params).fetchall()
    return [{**dict(zip(_COLUMNS, row, strict=True)), "at": utc(row[0])} for row in rows]
