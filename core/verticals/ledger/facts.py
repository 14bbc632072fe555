"""Facts recorded beside usage: backend instances up and down, and evaluation runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from verticals.ledger._time import as_utc, to_db
from verticals.ledger.errors import LedgerError


def record_capacity(
    conn: Any, instance_id: str, model: str, device_class: str, up_at: datetime, down_at: datetime | None
) -> None:
    """Insert an instance's up time, or close it with ``down_at``; an instance is (id, up_at)."""
    if down_at is not None and as_utc(down_at) < as_utc(up_at):
        raise LedgerError(f"instance {instance_id!r} cannot go down ({down_at}) before it came up ({up_at})")
    existing = conn.execute(
        "SELECT model, device_class, down_at FROM capacity WHERE instance_id = ? AND up_at = ?",
        [instance_id, to_db(up_at)],
    ).fetchone()
    if existing is None:
        conn.execute(
            "INSERT INTO capacity VALUES (?, ?, ?, ?, ?)",
            [instance_id, model, device_class, to_db(up_at), None if down_at is None else to_db(down_at)],
        )
        return
    if (existing[0], existing[1]) != (model, device_class):
        raise LedgerError(
            f"instance {instance_id!r} up at {up_at} was recorded for {existing[0]} on "
            f"{existing[1]}, not {model} on {device_class}: give the instance a new id"
        )
    if existing[2] is not None:
        raise LedgerError(f"instance {instance_id!r} up at {up_at} was closed at {existing[2]}")
    if down_at is not None:
        conn.execute(
            "UPDATE capacity SET down_at = ? WHERE instance_id = ? AND up_at = ?",
            [to_db(down_at), instance_id, to_db(up_at)],
        )


def record_evaluation(
    conn: Any,
    model: str,
    version: str,
    suite: str,
    metrics: dict[str, float],
    thresholds: dict[str, dict[str, float | None]],
    passed: bool,
    at: datetime,
) -> str:
    """One evaluation_runs row and one evaluation_metrics row per metric, in one transaction."""
    unknown = sorted(set(thresholds) - set(metrics))
    if unknown:
        raise LedgerError(f"thresholds for metrics the run did not report: {unknown}")
    run_id = uuid.uuid4().hex
    rows = []
    for metric, value in sorted(metrics.items()):
        bounds = thresholds.get(metric, {})
        low, high = bounds.get("min"), bounds.get("max")
        ok = (low is None or value >= low) and (high is None or value <= high)
        rows.append([run_id, metric, float(value), low, high, ok])
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(
            "INSERT INTO evaluation_runs VALUES (?, ?, ?, ?, ?, ?)",
            [run_id, model, version, suite, passed, to_db(at)],
        )
        if rows:
            conn.executemany("INSERT INTO evaluation_metrics VALUES (?, ?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return run_id
