"""Utilization and idle cost per backend and device class, and break-even utilization.

Provisioned cost is the device rate in force when an instance came up times the hours it was up
(clipped to the window; an instance still up counts until ``now``). Allocated cost is what the
requests carried (their compute seconds at the rate in force). Idle cost is the difference: the
capacity paid for and not sold. It is always reported, never netted away.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from verticals.ledger._time import as_utc, to_db, utc_now
from verticals.ledger.analytics._query import NANO, Filters, connection_of, money
from verticals.ledger.errors import LedgerError

_HOUR = Decimal(3600)
_MICRO = timedelta(microseconds=1)


def _provisioned(
    conn: Any, since: datetime | None, until: datetime, model: str | None
) -> dict[tuple[str, str], dict[str, Any]]:
    rows = conn.execute(
        "SELECT c.model, c.device_class, c.up_at, coalesce(c.down_at, ?), b.usd_per_hour "
        "FROM capacity c ASOF LEFT JOIN cost_book b "
        "ON c.device_class = b.device_class AND c.up_at >= b.effective_from "
        "WHERE (? IS NULL OR c.model = ?) AND c.up_at < ? AND (c.down_at IS NULL OR c.down_at > ?)",
        [to_db(until), model, model, to_db(until), to_db(since) if since else to_db(datetime.min)],
    ).fetchall()
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for model_name, device, up, down, rate in rows:
        start = max(up, to_db(since)) if since else up
        seconds = Decimal((min(down, to_db(until)) - start) // _MICRO) / Decimal(1_000_000)
        if seconds <= 0:
            continue
        if rate is None:
            raise LedgerError(
                f"no cost rate for device class {device!r} when {model_name} came up at {up}: "
                f"add one with `verticals costs set {device} USD_PER_HOUR`"
            )
        entry = out.setdefault(
            (model_name, device), {"instances": 0, "seconds": Decimal(0), "cost": Decimal(0)}
        )
        entry["instances"] += 1
        entry["seconds"] += seconds
        entry["cost"] += (Decimal(rate) * seconds / _HOUR).quantize(NANO)
    return out


def utilization(
    source: Any,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    model: str | None = None,
    by: str = "backend",
) -> list[dict[str, Any]]:
    """Per backend (model x device class; ``by="backend"``) or per device class (``by="device_class"``):
    ``instances``, ``provisioned_hours``, ``busy_hours`` (requests' compute seconds / 3600),
    ``utilization`` (busy / provisioned, None without capacity), ``provisioned_cost_usd``,
    ``allocated_cost_usd``, ``idle_cost_usd`` (provisioned - allocated) and ``revenue_usd``.

    ``until`` defaults to now; instances still up count until then.
    """
    if by not in ("backend", "device_class"):
        raise LedgerError(f"utilization by {by!r}: use 'backend' or 'device_class'")
    end = as_utc(until) if until is not None else utc_now()
    conn = connection_of(source)
    provisioned = _provisioned(conn, since, end, model)
    where, params = Filters(since, end, None, None, model).where()
    used = conn.execute(
        "SELECT model, device_class, sum(compute_seconds), sum(cost_usd), sum(revenue_usd) "  # noqa: S608
        f"FROM usage_events WHERE {where} GROUP BY model, device_class",
        params,
    ).fetchall()
    usage = {(row[0], row[1]): row[2:] for row in used}
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for key in sorted(set(provisioned) | set(usage)):
        group_key: tuple[str, ...] = key if by == "backend" else (key[1],)
        entry = groups.setdefault(
            group_key,
            {"instances": 0, "seconds": Decimal(0), "cost": Decimal(0), "busy": 0.0,
             "allocated": Decimal(0), "revenue": Decimal(0)},
        )  # fmt: skip
        cap = provisioned.get(key)
        if cap is not None:
            entry["instances"] += cap["instances"]
            entry["seconds"] += cap["seconds"]
            entry["cost"] += cap["cost"]
        busy, allocated, revenue = usage.get(key, (0.0, None, None))
        entry["busy"] += busy or 0.0
        entry["allocated"] += money(allocated)
        entry["revenue"] += money(revenue)
    out = []
    for group_key, entry in groups.items():
        names = (
            {"model": group_key[0], "device_class": group_key[1]}
            if by == "backend"
            else {"device_class": group_key[0]}
        )
        provisioned_hours = float(entry["seconds"] / _HOUR)
        busy_hours = entry["busy"] / 3600
        out.append(
            {
                **names,
                "instances": entry["instances"],
                "provisioned_hours": provisioned_hours,
                "busy_hours": busy_hours,
                "utilization": busy_hours / provisioned_hours if provisioned_hours else None,
                "provisioned_cost_usd": entry["cost"],
                "allocated_cost_usd": entry["allocated"],
                "idle_cost_usd": entry["cost"] - entry["allocated"],
                "revenue_usd": entry["revenue"],
            }
        )
    return out


def break_even(
    source: Any,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    at: datetime | None = None,
) -> list[dict[str, Any]]:
    """Per device class: the utilization at which revenue pays for the provisioned device.

    Revenue per busy device-hour is observed over the window (revenue / (compute seconds / 3600));
    at utilization u a device earns u x that per hour and costs its rate, so break-even is
    ``rate / revenue_per_busy_hour`` (above 1: cannot break even at current prices; None without
    busy time). The rate is the one in force at ``at`` (default: ``until`` or now). ``utilization``
    is the measured one over the window (None without capacity records).
    """
    end = as_utc(until) if until is not None else utc_now()
    when = as_utc(at) if at is not None else end
    conn = connection_of(source)
    rates = dict(
        conn.execute(
            "SELECT device_class, arg_max(usd_per_hour, effective_from) FROM cost_book "
            "WHERE effective_from <= ? GROUP BY device_class",
            [to_db(when)],
        ).fetchall()
    )
    where, params = Filters(since, end).where()
    observed = {
        row[0]: row[1:]
        for row in conn.execute(
            "SELECT device_class, sum(revenue_usd), sum(compute_seconds) "  # noqa: S608
            f"FROM usage_events WHERE {where} GROUP BY device_class",
            params,
        ).fetchall()
    }
    by_device = utilization(conn, since=since, until=end, by="device_class")
    measured = {row["device_class"]: row["utilization"] for row in by_device}
    out = []
    for device in sorted(set(rates) | set(observed)):
        revenue, seconds = observed.get(device, (None, 0.0))
        revenue = money(revenue)
        busy_hours = Decimal(str(seconds or 0.0)) / _HOUR
        per_hour = revenue / busy_hours if busy_hours else None
        rate = rates.get(device)
        out.append(
            {
                "device_class": device,
                "usd_per_hour": rate,
                "revenue_usd": revenue,
                "busy_hours": float(busy_hours),
                "revenue_per_busy_hour_usd": per_hour,
                "break_even_utilization": float(rate / per_hour) if rate is not None and per_hour else None,
                "utilization": measured.get(device),
            }
        )
    return out
