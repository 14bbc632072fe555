"""Utilization and idle cost per device, model and device class, and break-even utilization.

Capacity is recorded per device (a machine's CPUs, one GPU) with the models it serves, so a device
shared by nine models is provisioned, and paid for, once: its class's rate in force when it came up
times the hours it was up (clipped to the window; a device still up counts until ``until`` or now,
whichever is earlier). Allocated cost is what the requests carried (their compute seconds at the
rate in force). Idle cost is the difference: the capacity paid for and not sold. It is always
reported, never netted away; how a shared device's cost and idle are attributed to models is the rule
in ``verticals.ledger.analytics._allocation`` (busy share per device, unused devices as an idle line).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from verticals.ledger._time import as_utc, to_db, utc_now
from verticals.ledger.analytics._allocation import IDLE, Allocation, Spend, allocate
from verticals.ledger.analytics._billed import FEE, Billed, billed_groups
from verticals.ledger.analytics._query import NANO, Filters, connection_of, end_of, money, utc
from verticals.ledger.errors import LedgerError

_HOUR = Decimal(3600)
_BY = {
    "backend": ["model", "device_class"],
    "model": ["model", "device_class"],
    "device_class": ["device_class"],
}


def _row(names: dict[str, Any], spend: Spend, billed: Billed | None) -> dict[str, Any]:
    provisioned_hours = float(spend.device_seconds / _HOUR)
    busy_hours = spend.busy_seconds / 3600
    return {
        **names,
        "instances": len(spend.devices),
        "provisioned_hours": provisioned_hours,
        "busy_hours": busy_hours,
        "utilization": busy_hours / provisioned_hours if provisioned_hours else None,
        "provisioned_cost_usd": spend.cost,
        "allocated_cost_usd": spend.request_cost,
        "idle_cost_usd": spend.idle_cost,
        "revenue_usd": spend.revenue if billed is None else (billed.usage - billed.credits).quantize(NANO),
        "list_revenue_usd": spend.revenue,
    }


def _by_device(allocation: Allocation) -> list[dict[str, Any]]:
    out = []
    for (device_id, up), device in sorted(
        allocation.devices.items(), key=lambda item: (item[0][1], item[0][0])
    ):
        hours = float(device.seconds / _HOUR)
        busy_hours = device.busy_seconds / 3600
        allocated = device.request_cost.quantize(NANO)
        out.append(
            {
                "device_id": device_id,
                "device_class": device.device_class,
                "models": list(device.models),
                "up_at": utc(up),
                "down_at": utc(device.down_at),
                "provisioned_hours": hours,
                "busy_hours": busy_hours,
                "utilization": busy_hours / hours if hours else None,
                "provisioned_cost_usd": device.cost,
                "allocated_cost_usd": allocated,
                "idle_cost_usd": device.cost - allocated,
                "revenue_usd": device.revenue.quantize(NANO),
                "list_revenue_usd": device.revenue.quantize(NANO),
            }
        )
    return out


def utilization(
    source: Any,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    model: str | None = None,
    by: str = "backend",
    basis: str = "billed",
) -> list[dict[str, Any]]:
    """Capacity and what requests used of it, one row per group.

    ``by``: ``"backend"`` (or ``"model"``: per model x device class), ``"device_class"``, or ``"device"``
    (per device: ``device_id``, ``models`` it serves, ``up_at``/``down_at``). Each row holds
    ``instances`` (distinct devices), ``provisioned_hours`` (device-hours; per model, its busy share of
    the devices it ran on, so rows sum to the device-hours paid for), ``busy_hours`` (requests' compute
    seconds / 3600), ``utilization`` (busy / provisioned, None without capacity),
    ``provisioned_cost_usd`` (what the group is charged: requests' cost plus idle share),
    ``allocated_cost_usd`` (what its requests carried), ``idle_cost_usd``, ``revenue_usd`` and
    ``list_revenue_usd``. Revenue is billed usage revenue (``basis="billed"``: usage charges after
    allowances and tiers less credits, spread over the requests as in ``usage_summary``; plan fees run on
    no device and are left out), ``list_revenue_usd`` the usage at list price; per device, requests are
    shared among replicas at list price, so there ``revenue_usd`` is the usage at list price too.

    Per model, devices that carried no request in the window are the idle line: ``model`` is ``IDLE``
    ("(idle)"); per device class they count in their class. A request for no model is "no model".
    ``until`` defaults to now; devices still up count until then. Money is exact Decimal.
    """
    if by not in (*_BY, "device"):
        raise LedgerError(f"utilization by {by!r}: use 'backend', 'model', 'device_class' or 'device'")
    if basis not in ("billed", "list"):
        raise LedgerError(
            f"revenue basis {basis!r}: use billed (invoiced revenue) or list (usage at list price)"
        )
    conn = connection_of(source)
    end = end_of(source, until)
    dims = _BY.get(by, [])
    allocation = allocate(conn, dims, since=since, until=end, end=end, model=model)
    if by == "device":
        return _by_device(allocation)
    billed = billed_groups(source, dims, since=since, until=end, model=model) if basis == "billed" else None
    out = []
    for key, spend in sorted(allocation.groups.items(), key=lambda item: (item[0][0] == IDLE, item[0])):
        parts = None if billed is None else billed.get(key, Billed())
        out.append(_row(dict(zip(dims, key, strict=True)), spend, parts))
    return out


def break_even(
    source: Any,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    at: datetime | None = None,
    basis: str = "billed",
) -> list[dict[str, Any]]:
    """Per device class: the utilization at which revenue pays for the provisioned device.

    Revenue is billed usage revenue (``basis="billed"``: usage charges after allowances and tiers less
    credits, as ``utilization`` counts it; plan fees pay for no device-hour and are left out);
    ``basis="list"``: usage at list price.

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
            # busy seconds summed exactly to the microsecond (as billed units are), not as floats: a float
            # sum's last bits depend on the order rows are added in, which differs between engines and runs
            "SELECT device_class, sum(revenue_usd), sum(CAST(compute_seconds AS DECIMAL(38,6))) "  # noqa: S608
            f"FROM usage_events WHERE {where} GROUP BY device_class",
            params,
        ).fetchall()
    }
    if basis not in ("billed", "list"):
        raise LedgerError(
            f"revenue basis {basis!r}: use billed (invoiced revenue) or list (usage at list price)"
        )
    if basis == "billed":
        billed = billed_groups(source, ["device_class"], since=since, until=end)
        observed = {
            device: (
                (billed.get((device,), Billed()).usage - billed.get((device,), Billed()).credits),
                seconds,
            )
            for device, (_, seconds) in observed.items()
            if device != FEE
        }
    # the measured utilization only (busy over provisioned hours), which no revenue basis changes: "list"
    # spares a second reading of the invoices and their spread over the events
    by_device = utilization(source, since=since, until=end, by="device_class", basis="list")
    measured = {row["device_class"]: row["utilization"] for row in by_device}
    out = []
    for device in sorted(set(rates) | set(observed)):
        revenue, seconds = observed.get(device, (None, 0))
        revenue = money(revenue)
        busy_hours = Decimal(seconds or 0) / _HOUR
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
