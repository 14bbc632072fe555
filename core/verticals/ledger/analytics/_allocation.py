"""Compute spend: every device paid for once, its cost attributed to requests by busy share.

The rule (after OpenCost's allocation model; see its ``/allocation`` API's ``includeIdle``,
``shareIdle`` and ``idleByNode`` options):

- A device (a machine's CPUs, one GPU: a row of ``devices``) costs its device class's rate, in force
  when it came up, times the hours it was up inside the window: once, however many models it serves.
- Requests carry their own cost (``cost_usd``: their measured compute seconds at the rate), and are
  matched to the devices that serve their model on their device class at their time; a request that
  several such devices could have served (replicas) counts 1/n on each. A device's idle cost is its
  cost minus what its requests carried.
- Idle is computed per device and per time bucket, never pooled across devices (OpenCost's
  ``idleByNode``): a quiet GPU's idle is not charged to a busy CPU's models. Each device's idle is
  shared among the groups (models, customers, ...) whose requests it carried, in proportion to their
  busy seconds on it (OpenCost's ``shareIdle``, weighted by the one resource a device sells: busy
  time). Chosen because a gross margin must cover everything paid for, and the busy share is the only
  measured driver the ledger has: a customer that keeps a device 60% of its busy time pays 60% of its
  idle. The requests' own cost and the idle share are reported apart (``request_cost`` and
  ``idle_cost``), so what requests carried (the contribution margin) stays visible.
- A device (or a bucket of it) that carried no busy seconds has no weights to share by; its cost is
  the idle line of its own, ``IDLE`` (OpenCost's ``__idle__``), never dropped (as OpenCost fixed in
  its PR 883) and never charged to a customer.
- A request on no recorded device keeps its own cost (there is no capacity to share).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from verticals.ledger._time import to_db
from verticals.ledger.analytics._query import NANO, Filters, label
from verticals.ledger.errors import LedgerError

IDLE = "(idle)"
"""The dimension value of the idle line: capacity no request used (not a valid customer or model name)."""

_HOUR = Decimal(3600)
_MICRO = timedelta(microseconds=1)
_COLUMNS = ("customer", "plugin", "model", "device_class", "endpoint", "unit")
DeviceKey = tuple[str, datetime]


@dataclass
class Spend:
    """What one group was charged: ``request_cost`` (USD its requests carried), ``idle_cost`` (USD, its
    busy share of idle devices), ``busy_seconds``, ``device_seconds`` (its busy share of the device time
    it used, provisioned seconds), ``revenue`` (USD) and ``devices`` (the device keys involved).
    """

    request_cost: Decimal = Decimal(0)
    idle_cost: Decimal = Decimal(0)
    busy_seconds: float = 0.0
    device_seconds: Decimal = Decimal(0)
    revenue: Decimal = Decimal(0)
    devices: set[DeviceKey] = field(default_factory=set)

    @property
    def cost(self) -> Decimal:
        """Compute spend: the requests' cost plus the idle share, to the nano-dollar."""
        return (self.request_cost + self.idle_cost).quantize(NANO)


@dataclass
class Device:
    """One device in the window: class, the models it serves, up/down (naive UTC), provisioned
    ``seconds`` and ``cost`` (USD) inside the window, and what its requests used: ``busy_seconds``,
    ``request_cost`` and ``revenue`` (USD).
    """

    device_id: str
    device_class: str
    models: tuple[str, ...]
    up_at: datetime
    down_at: datetime | None
    seconds: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    busy_seconds: float = 0.0
    request_cost: Decimal = Decimal(0)
    revenue: Decimal = Decimal(0)


@dataclass
class Allocation:
    """``groups``: Spend per key (``(bucket?, *dimension values)``, the idle line's values ``IDLE`` except
    ``device_class``); ``devices``: every device up in the window, by ``(device_id, up_at)``.
    """

    groups: dict[tuple[Any, ...], Spend]
    devices: dict[DeviceKey, Device]


def _segments(
    conn: Any, since: datetime | None, end: datetime, bucket: str | None
) -> tuple[dict[DeviceKey, Device], dict[tuple[DeviceKey, Any], tuple[Decimal, Decimal]]]:
    """The devices up in ``[since, end)``, and per (device, bucket) its provisioned seconds and cost."""
    start = to_db(since) if since is not None else to_db(datetime.min)
    stop = to_db(end)
    bucket_sql = (
        f"generate_series(date_trunc('{bucket}', s), e, INTERVAL 1 {bucket})"  # a lateral table function
        if bucket
        else "unnest([NULL::TIMESTAMP])"
    )
    span = f"greatest(s, t.b), least(e, t.b + INTERVAL 1 {bucket})" if bucket else "s, e"
    rows = conn.execute(
        # the rate in force when the device came up (a class has one row per effective date): a correlated
        # subquery rather than DuckDB's ASOF join, so that PostgreSQL runs the same statement
        "WITH d AS (SELECT d.device_id, d.up_at, d.down_at, d.device_class, "  # noqa: S608
        "(SELECT b.usd_per_hour FROM cost_book b WHERE b.device_class = d.device_class "
        "AND b.effective_from <= d.up_at ORDER BY b.effective_from DESC LIMIT 1) AS rate, "
        "greatest(d.up_at, ?) AS s, least(coalesce(d.down_at, ?), ?) AS e "
        "FROM devices d WHERE d.up_at < ? AND (d.down_at IS NULL OR d.down_at > ?)) "
        "SELECT device_id, up_at, down_at, device_class, rate, "
        "(SELECT list(model ORDER BY model) FROM device_models m "
        " WHERE m.device_id = d.device_id AND m.up_at = d.up_at), "
        f"t.b, {span} FROM d, {bucket_sql} AS t(b)",
        [start, stop, stop, stop, start],
    ).fetchall()
    devices: dict[DeviceKey, Device] = {}
    segments: dict[tuple[DeviceKey, Any], tuple[Decimal, Decimal]] = {}
    for device_id, up, down, device_class, rate, models, part, begin, finish in rows:
        key = (device_id, up)
        device = devices.setdefault(key, Device(device_id, device_class, tuple(models or ()), up, down))
        seconds = Decimal((finish - begin) // _MICRO) / Decimal(1_000_000)
        if seconds <= 0:
            continue
        if rate is None:
            raise LedgerError(
                f"no cost rate for device class {device_class!r} when device {device_id} came up at {up}: "
                f"add one with `verticals costs set {device_class} USD_PER_HOUR`"
            )
        cost = (Decimal(rate) * seconds / _HOUR).quantize(NANO)
        segments[(key, part)] = (seconds, cost)
        device.seconds += seconds
        device.cost += cost
    return devices, segments


def allocate(
    conn: Any,
    dims: Sequence[str],
    *,
    bucket: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    end: datetime,
    customer: str | None = None,
    plugin: str | None = None,
    model: str | None = None,
) -> Allocation:
    """Compute spend per group of ``dims`` (usage_events columns; dimension values labelled by
    ``label``), per ``bucket`` (a ``date_trunc`` unit) when given, by the rule in this module's docstring.

    Requests count in ``[since, until)`` (None: unbounded); devices count up to ``end`` (aware UTC; the
    caller passes ``min(until, now)``, so a device still up costs nothing in the future). Only the
    requests the ``customer``/``plugin``/``model`` filters select are charged, but every request's busy
    time weighs in the idle shares. The idle line is charged only without a customer filter, and with a
    model (plugin) filter only for devices serving that model (a model of that plugin).
    """
    unknown = [name for name in dims if name not in _COLUMNS]
    if unknown:
        raise LedgerError(f"cannot allocate spend by {unknown}: use any of {', '.join(_COLUMNS)}")
    devices, segments = _segments(conn, since, end, bucket)
    selected, select_params = Filters(None, None, customer, plugin, model).where("e")
    window, window_params = Filters(since, until).where("e")
    rows = _request_rows(conn, dims, bucket, selected, select_params, window, window_params)
    # what each (device, bucket) carried, over every request, for the weights
    carried: dict[tuple[DeviceKey, Any], list[Any]] = {}
    for device_id, up, n, part, _sel, *rest in rows:
        if device_id is None:
            continue
        busy, cost, revenue = rest[len(dims) :]
        entry = carried.setdefault(((device_id, up), part), [0.0, Decimal(0)])
        entry[0] += (busy or 0.0) / n
        entry[1] += Decimal(cost or 0) / n
        device = devices.get((device_id, up))
        if device is not None:
            device.busy_seconds += (busy or 0.0) / n
            device.request_cost += Decimal(cost or 0) / n
            device.revenue += Decimal(revenue or 0) / n
    groups: dict[tuple[Any, ...], Spend] = {}
    for device_id, up, n, part, chosen, *rest in rows:
        if not chosen:
            continue
        values, (busy, cost, revenue) = rest[: len(dims)], rest[len(dims) :]
        key = ((part,) if bucket else ()) + tuple(
            label(name, v) for name, v in zip(dims, values, strict=True)
        )
        spend = groups.setdefault(key, Spend())
        share_busy = (busy or 0.0) / n
        spend.busy_seconds += share_busy
        spend.request_cost += Decimal(cost or 0) / n
        spend.revenue += Decimal(revenue or 0) / n
        if device_id is None:
            continue
        spend.devices.add((device_id, up))
        segment = segments.get(((device_id, up), part))
        total_busy, total_cost = carried[((device_id, up), part)]
        if segment is not None and total_busy > 0:
            weight = Decimal(share_busy) / Decimal(total_busy)
            spend.idle_cost += (segment[1] - total_cost) * weight
            spend.device_seconds += segment[0] * weight
    if customer is None:
        _idle_line(groups, devices, segments, carried, dims, bucket, plugin, model)
    for spend in groups.values():
        spend.idle_cost = spend.idle_cost.quantize(NANO)
        spend.request_cost = spend.request_cost.quantize(NANO)
        spend.revenue = spend.revenue.quantize(NANO)
    return Allocation(groups, devices)


def _idle_line(
    groups: dict[tuple[Any, ...], Spend],
    devices: dict[DeviceKey, Device],
    segments: dict[tuple[DeviceKey, Any], tuple[Decimal, Decimal]],
    carried: dict[tuple[DeviceKey, Any], list[Any]],
    dims: Sequence[str],
    bucket: str | None,
    plugin: str | None,
    model: str | None,
) -> None:
    """Add the (device, bucket)s no busy second was carried on to the idle line of their bucket."""
    for (device_key, part), (seconds, cost) in segments.items():
        if carried.get((device_key, part), [0.0])[0] > 0:
            continue
        device = devices[device_key]
        if model is not None and model not in device.models:
            continue
        if plugin is not None and not any(m.split("/", 1)[0] == plugin for m in device.models):
            continue
        values = tuple(device.device_class if name == "device_class" else IDLE for name in dims)
        spend = groups.setdefault(((part,) if bucket else ()) + values, Spend())
        spend.idle_cost += cost - Decimal(carried.get((device_key, part), [0.0, Decimal(0)])[1])
        spend.device_seconds += seconds
        spend.devices.add(device_key)


Interval = tuple[str, str, datetime, datetime | None, tuple[DeviceKey, ...]]


def _coverage(conn: Any) -> list[Interval]:
    """Which devices could serve a request, as intervals of constant coverage: ``(model, device_class,
    start, end or None, device keys)``, one per stretch between consecutive up/down times of the devices
    serving that model on that class during which at least one of them is up.

    A request at ``ts`` runs on the devices up at ``ts`` (``up_at <= ts < down_at``) that serve its model on
    its device class; between two consecutive up or down times that set cannot change, so matching a
    request to its interval is matching it to its devices, and the events can be summed per interval
    rather than joined one by one.
    """
    serving: dict[tuple[str, str], list[tuple[str, datetime, datetime | None]]] = {}
    for device_id, up, down, device_class, served in conn.execute(
        "SELECT d.device_id, d.up_at, d.down_at, d.device_class, m.model FROM devices d "
        "JOIN device_models m ON m.device_id = d.device_id AND m.up_at = d.up_at"
    ).fetchall():
        serving.setdefault((served, device_class), []).append((device_id, up, down))
    out: list[Interval] = []
    for (served, device_class), found in sorted(serving.items()):
        cuts = sorted({up for _, up, _ in found} | {down for _, _, down in found if down is not None})
        for begin, finish in zip(cuts, [*cuts[1:], None], strict=True):
            keys = tuple(
                sorted(
                    (device_id, up)
                    for device_id, up, down in found
                    if up <= begin and (down is None or (finish is not None and down >= finish))
                )
            )
            if keys:
                out.append((served, device_class, begin, finish, keys))
    return out


def _request_rows(
    conn: Any,
    dims: Sequence[str],
    bucket: str | None,
    selected: str,
    select_params: list[Any],
    window: str,
    window_params: list[Any],
) -> list[tuple[Any, ...]]:
    """What the requests in the window carried, per device: rows ``(device_id, up_at, n, bucket, selected,
    *dims, busy seconds, cost, revenue)``, the sums of the requests that ``n`` devices could have served
    (each counts 1/n on each; ``device_id`` None and n 1 for requests on no recorded device)."""
    intervals = _coverage(conn)
    bucket_sql = f"date_trunc('{bucket}', e.ts)" if bucket else "NULL::TIMESTAMP"
    keys = ", ".join([bucket_sql, f"({selected})", *(f"e.{name}" for name in dims)])
    sums = "sum(e.compute_seconds), sum(e.cost_usd), sum(e.revenue_usd)"
    if not intervals:
        found = conn.execute(
            f"SELECT NULL, {keys}, {sums} FROM usage_events e WHERE {window} GROUP BY ALL",  # noqa: S608
            [*select_params, *window_params],
        ).fetchall()
    else:
        params: list[Any] = []
        for index, (served, device_class, begin, finish, _) in enumerate(intervals):
            params += [index, served, device_class, begin, finish]
        values = ", ".join("(?, ?, ?, CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP))" for _ in intervals)
        # one pass over the events, each matched to the interval (so the devices) it ran in
        found = conn.execute(
            f"WITH iv(idx, i_model, i_class, i_since, i_until) AS (VALUES {values}) "  # noqa: S608
            f"SELECT iv.idx, {keys}, {sums} FROM usage_events e LEFT JOIN iv ON iv.i_model = e.model "
            "AND iv.i_class = e.device_class AND e.ts >= iv.i_since "
            f"AND (iv.i_until IS NULL OR e.ts < iv.i_until) WHERE {window} GROUP BY ALL",
            [*params, *select_params, *window_params],
        ).fetchall()
    rows: list[tuple[Any, ...]] = []
    for index, *rest in found:
        if index is None:
            rows.append((None, None, 1, *rest))
            continue
        devices = intervals[index][4]
        rows.extend((device_id, up, len(devices), *rest) for device_id, up in devices)
    return rows
