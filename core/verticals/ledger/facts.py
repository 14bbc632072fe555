"""Facts recorded beside usage: devices up and down with the models they serve, and evaluation runs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from verticals.ledger._time import as_utc, to_db
from verticals.ledger.errors import LedgerError


def record_device(
    conn: Any,
    device_id: str,
    device_class: str,
    models: Sequence[str],
    up_at: datetime,
    down_at: datetime | None,
) -> None:
    """Insert a device's up time and the models it serves, or close it with ``down_at``.

    A device is ``(device_id, up_at)``: a machine's CPUs, or one GPU, from the moment it came up.
    Calling again with the same ``up_at`` is an upsert: models not yet listed are added (a model loaded
    later on the same device), ``down_at`` closes it. Raises LedgerError for an empty id or model name,
    ``down_at`` before ``up_at``, a different device class than the one recorded, or a closed device.
    """
    if not device_id:
        raise LedgerError("a device needs an id, e.g. 'gpu0-myhost' or 'cpu-myhost-1234'")
    if any(not model for model in models):
        raise LedgerError(f"device {device_id!r}: model names must not be empty ({list(models)})")
    if down_at is not None and as_utc(down_at) < as_utc(up_at):
        raise LedgerError(f"device {device_id!r} cannot go down ({down_at}) before it came up ({up_at})")
    existing = conn.execute(
        "SELECT device_class, down_at FROM devices WHERE device_id = ? AND up_at = ?",
        [device_id, to_db(up_at)],
    ).fetchone()
    if existing is not None and existing[0] != device_class:
        raise LedgerError(
            f"device {device_id!r} up at {up_at} was recorded as {existing[0]}, not {device_class}: "
            "give the device a new id"
        )
    if existing is not None and existing[1] is not None:
        raise LedgerError(f"device {device_id!r} up at {up_at} was closed at {existing[1]}")
    conn.execute("BEGIN TRANSACTION")
    try:
        if existing is None:
            conn.execute(
                "INSERT INTO devices VALUES (?, ?, ?, ?)",
                [device_id, device_class, to_db(up_at), None if down_at is None else to_db(down_at)],
            )
        elif down_at is not None:
            conn.execute(
                "UPDATE devices SET down_at = ? WHERE device_id = ? AND up_at = ?",
                [to_db(down_at), device_id, to_db(up_at)],
            )
        for model in sorted(set(models)):
            conn.execute(
                "INSERT INTO device_models VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [device_id, to_db(up_at), model],
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def record_capacity(
    conn: Any, instance_id: str, model: str, device_class: str, up_at: datetime, down_at: datetime | None
) -> None:
    """A one-model device (see ``record_device``), as callers before schema v3 recorded capacity; raises
    LedgerError also when the device was recorded serving other models.
    """
    served = {
        row[0]
        for row in conn.execute(
            "SELECT model FROM device_models WHERE device_id = ? AND up_at = ?", [instance_id, to_db(up_at)]
        ).fetchall()
    }
    if served and served != {model}:
        raise LedgerError(
            f"instance {instance_id!r} up at {up_at} was recorded for {', '.join(sorted(served))}, not "
            f"{model}: give the instance a new id"
        )
    record_device(conn, instance_id, device_class, [model], up_at, down_at)


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
