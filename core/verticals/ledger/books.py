"""The price book and the cost book: effective-dated, append-only, served from memory.

A change is a new row from a moment on, never an edit, so revenue and cost already recorded never
change. A row dated before now is refused: it would reprice the past. Both books are small (plans x
models, device classes), so they live in dicts of time-sorted rows; ``price_for_plan`` and
``cost_rate`` sit on the gateway's request path and never touch DuckDB.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from verticals.billing.model import ChargeModel, Tier
from verticals.ledger import price_models
from verticals.ledger._time import as_utc, from_db, to_db
from verticals.ledger._values import check_name, parse_money
from verticals.ledger.errors import LedgerError

V = TypeVar("V")

PriceKey = tuple[str, str | None, str | None, str | None, str]  # plan, model, plugin, task, unit


@dataclass(frozen=True)
class PriceRow:
    """One row of the price book: from ``effective_from`` on, ``plan`` pays ``price_per_unit_usd`` (Decimal
    USD, up to 12 places) per ``unit`` (tokens, requests, ...).

    ``model`` / ``plugin`` / ``task`` narrow the row (None: any); ``id`` is the row's key, ``created_at`` when
    it was written (UTC), ``note`` free text.

    ``charge_model`` says how an invoice charges the month's quantity (see ``verticals.ledger.price_models``
    for each with an example): for ``package`` ``price_per_unit_usd`` is the price of one package of
    ``package_size`` units; for ``graduated`` and ``volume`` ``tiers`` carry the prices and
    ``price_per_unit_usd`` is the first tier's.
    """

    id: int
    plan: str
    model: str | None
    plugin: str | None
    task: str | None
    unit: str
    price_per_unit_usd: Decimal
    effective_from: datetime
    created_at: datetime
    note: str
    charge_model: ChargeModel = ChargeModel.PER_UNIT
    package_size: Decimal | None = None
    tiers: tuple[Tier, ...] = ()

    @property
    def unit_price_usd(self) -> Decimal:
        """USD per unit for pricing one request as it goes (the gateway): the package price over its size
        for a package row, else ``price_per_unit_usd``."""
        return price_models.per_request_price(self.charge_model, self.price_per_unit_usd, self.package_size)


@dataclass(frozen=True)
class CostRow:
    """One row of the cost book: from ``effective_from`` on (UTC), a device of ``device_class`` costs
    ``usd_per_hour`` (Decimal USD per device-hour, up to 6 places).

    ``example`` marks the rates a fresh ledger is seeded with, to be replaced by real ones; ``created_at`` is
    when the row was written (UTC).
    """

    id: int
    device_class: str
    usd_per_hour: Decimal
    effective_from: datetime
    created_at: datetime
    example: bool
    note: str


@dataclass(frozen=True)
class Span:
    """A value from a book and the interval ``[since, until)`` over which it stays in force.

    ``until`` is the next effective date the book knows of after the lookup time (None: none yet),
    ``since`` the last one at or before it (None: none); a cache may serve ``value`` for any time in
    between, and must not past ``until``. ``value`` is None where the book has no row in force.
    """

    value: Decimal | None
    since: datetime | None
    until: datetime | None

    def covers(self, when: datetime) -> bool:
        """Whether ``when`` (aware UTC) lies in ``[since, until)``, a None end being open; a cache may serve
        ``value`` for such a time.
        """
        return (self.since is None or self.since <= when) and (self.until is None or when < self.until)


class _Timeline(Generic[V]):
    """Values keyed by effective time; ``at(t)`` is the one in force at t."""

    def __init__(self) -> None:
        self.times: list[datetime] = []
        self.values: list[V] = []

    def add(self, when: datetime, value: V) -> None:
        index = bisect.bisect_right(self.times, when)
        self.times.insert(index, when)
        self.values.insert(index, value)

    def at(self, when: datetime) -> V | None:
        index = bisect.bisect_right(self.times, when)
        return self.values[index - 1] if index else None

    def bounds(self, when: datetime) -> tuple[datetime | None, datetime | None]:
        """The effective dates around ``when``: the last at or before it, the first after it."""
        index = bisect.bisect_right(self.times, when)
        return (
            self.times[index - 1] if index else None,
            self.times[index] if index < len(self.times) else None,
        )


def _span(value: Decimal | None, timelines: Sequence[_Timeline[Any]], when: datetime) -> Span:
    """``value`` with the interval over which none of ``timelines`` changes around ``when``."""
    since: datetime | None = None
    until: datetime | None = None
    for timeline in timelines:
        last, following = timeline.bounds(when)
        if last is not None and (since is None or last > since):
            since = last
        if following is not None and (until is None or following < until):
            until = following
    return Span(value, since, until)


class Books:
    """The price book and cost book over one DuckDB connection, with in-memory timelines for lookups.

    ``conn`` is a DuckDB connection shared with the ledger under ``lock``; ``clock`` returns aware UTC and
    decides what "now" is for effective dates; ``shared``: other processes write the books too (PostgreSQL),
    so a write reads them first. Reads the books at construction (``reload``).
    """

    def __init__(
        self, conn: Any, lock: threading.RLock, clock: Callable[[], datetime], *, shared: bool = False
    ) -> None:
        self._conn = conn
        self._lock = lock
        self._clock = clock
        self._shared = shared
        self._prices: dict[PriceKey, _Timeline[PriceRow]] = {}
        self._costs: dict[str, _Timeline[Decimal]] = {}
        self.reload()

    def reload(self) -> None:
        """Rebuild the in-memory price and cost timelines from the ``price_book`` and ``cost_book`` tables;
        called after every write here.
        """
        prices: dict[PriceKey, _Timeline[PriceRow]] = {}
        costs: dict[str, _Timeline[Decimal]] = {}
        for row in self.list_prices():
            key = (row.plan, row.model, row.plugin, row.task, row.unit)
            prices.setdefault(key, _Timeline()).add(row.effective_from, row)
        for cost in self.list_costs():
            costs.setdefault(cost.device_class, _Timeline()).add(cost.effective_from, cost.usd_per_hour)
        self._prices, self._costs = prices, costs

    def _effective(self, effective_from: datetime | None) -> datetime:
        now = as_utc(self._clock())
        if effective_from is None:
            return now
        when = as_utc(effective_from)
        if when < now:
            raise LedgerError(
                f"effective date {when.isoformat()} is in the past: the books are append-only so that "
                "recorded revenue and cost never change; give a date from now on, or leave it out for now"
            )
        return when

    # prices

    def set_price(
        self,
        plan: str,
        unit: str,
        price_per_unit_usd: Decimal | str | int,
        *,
        model: str | None = None,
        plugin: str | None = None,
        task: str | None = None,
        effective_from: datetime | None = None,
        note: str = "",
        charge_model: ChargeModel | str = ChargeModel.PER_UNIT,
        package_size: Decimal | str | int | None = None,
        tiers: Sequence[Tier] | None = None,
    ) -> PriceRow:
        """Append a price for ``plan`` x (``model`` | ``plugin``/``task`` default) x ``unit``, charged by
        ``charge_model`` (a package price needs ``package_size``, a graduated or volume one ``tiers``; see
        ``price_models.check_charge``). Raises LedgerError for a bad price, target, charge model, date in the
        past, or a row for the same target starting at the same moment.
        """
        price = parse_money(price_per_unit_usd, "price per unit", places=12)
        model_kind, size, checked_tiers = price_models.check_charge(charge_model, price, package_size, tiers)
        if not unit:
            raise LedgerError("a price needs a unit, such as tokens, images, audio-seconds, rows or calls")
        if model is None and plugin is None and task is None:
            raise LedgerError(
                "a price needs a model (e.g. nlp/chat) or a plugin and/or task default (e.g. plugin nlp, "
                "task chat); a model with no price row is charged its own list price"
            )
        if model is not None and (plugin is not None or task is not None):
            raise LedgerError("give either a model, or a plugin/task default, not both")
        when = self._effective(effective_from)
        if self._shared:
            self.reload()
        key = (plan, model, plugin, task, unit)
        timeline = self._prices.get(key)
        if timeline is not None and when in timeline.times:
            raise LedgerError(f"a price for this plan, target and unit already starts at {when.isoformat()}")
        with self._lock:
            self._conn.execute("BEGIN TRANSACTION")
            try:
                row_id = self._conn.execute(
                    "INSERT INTO price_book (plan, model, plugin, task, unit, price_per_unit_usd, "
                    "effective_from, created_at, note, charge_model, package_size) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    [
                        plan,
                        model,
                        plugin,
                        task,
                        unit,
                        price,
                        to_db(when),
                        to_db(self._clock()),
                        note,
                        model_kind.value,
                        size,
                    ],
                ).fetchone()[0]
                price_models.insert_tiers(self._conn, row_id, checked_tiers)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        self.reload()
        return next(row for row in self.list_prices() if row.id == row_id)

    def list_prices(self, plan: str | None = None) -> list[PriceRow]:
        """Every price row, of ``plan`` only when given (an unknown plan gives an empty list), ordered by
        plan, model, plugin, task, unit and effective date.
        """
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, plan, model, plugin, task, unit, price_per_unit_usd, effective_from, "
                "created_at, note, charge_model, package_size FROM price_book WHERE ? IS NULL OR plan = ? "
                "ORDER BY plan, model, plugin, task, unit, effective_from",
                [plan, plan],
            ).fetchall()
            tiers = price_models.load_tiers(self._conn)
        return [
            PriceRow(
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                row[5],
                row[6],
                from_db(row[7]),
                from_db(row[8]),
                row[9],
                ChargeModel(row[10]),
                row[11],
                tiers.get(row[0], ()),
            )
            for row in rows
        ]

    def price_row(
        self, plan: str, model: str, plugin: str, task: str, unit: str, at: datetime | None = None
    ) -> PriceRow | None:
        """The price row in force at ``at`` (UTC; None: now): plan x model, then plan x plugin+task, plan x
        plugin, plan x task; None when none is (the model's list price applies)."""
        when = as_utc(at) if at is not None else as_utc(self._clock())
        for key in (
            (plan, model, None, None, unit),
            (plan, None, plugin, task, unit),
            (plan, None, plugin, None, unit),
            (plan, None, None, task, unit),
        ):
            timeline = self._prices.get(key)
            if timeline is not None:
                row = timeline.at(when)
                if row is not None:
                    return row
        return None

    def price_for_plan(
        self, plan: str, model: str, plugin: str, task: str, unit: str, at: datetime | None = None
    ) -> Decimal | None:
        """USD per unit for pricing a request, of the row ``price_row`` finds (its ``unit_price_usd``: a
        package row's package price over its size); None when no row is in force."""
        row = self.price_row(plan, model, plugin, task, unit, at)
        return None if row is None else row.unit_price_usd

    def price_span(
        self, plan: str, model: str, plugin: str, task: str, unit: str, at: datetime | None = None
    ) -> Span:
        """``price_for_plan`` and the interval it stays in force: a cache of it expires at ``until``.

        Any of the four rows a price may come from can change it, so the interval is the one over
        which none of them has an effective date.
        """
        when = as_utc(at) if at is not None else as_utc(self._clock())
        keys = (
            (plan, model, None, None, unit),
            (plan, None, plugin, task, unit),
            (plan, None, plugin, None, unit),
            (plan, None, None, task, unit),
        )
        timelines = [t for t in (self._prices.get(key) for key in keys) if t is not None]
        return _span(self.price_for_plan(plan, model, plugin, task, unit, when), timelines, when)

    # costs

    def set_cost(
        self,
        device_class: str,
        usd_per_hour: Decimal | str | int,
        *,
        effective_from: datetime | None = None,
        note: str = "",
    ) -> CostRow:
        """Append a rate of ``usd_per_hour`` (USD per device-hour, a Decimal, str or int; up to 6 places) for
        ``device_class`` from ``effective_from`` (UTC; None: now) on, and return the new row.

        Raises LedgerError for a bad device-class name, a float / negative / non-numeric rate, an effective
        date in the past, or a second rate for the class starting at the same moment.
        """
        check_name(device_class, "device class")
        rate = parse_money(usd_per_hour, "USD per device-hour", places=6)
        when = self._effective(effective_from)
        if self._shared:
            self.reload()
        timeline = self._costs.get(device_class)
        if timeline is not None and when in timeline.times:
            raise LedgerError(f"a rate for {device_class!r} already starts at {when.isoformat()}")
        with self._lock:
            row_id = self._conn.execute(
                "INSERT INTO cost_book (device_class, usd_per_hour, effective_from, created_at, example, "
                "note) VALUES (?, ?, ?, ?, false, ?) RETURNING id",
                [device_class, rate, to_db(when), to_db(self._clock()), note],
            ).fetchone()[0]
        self.reload()
        return next(row for row in self.list_costs() if row.id == row_id)

    def list_costs(self) -> list[CostRow]:
        """Every cost-book row, ordered by device class and effective date."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, device_class, usd_per_hour, effective_from, created_at, example, note "
                "FROM cost_book ORDER BY device_class, effective_from"
            ).fetchall()
        return [
            CostRow(row[0], row[1], row[2], from_db(row[3]), from_db(row[4]), row[5], row[6]) for row in rows
        ]

    def cost_rate(self, device_class: str, at: datetime | None = None) -> Decimal:
        """The USD per device-hour (Decimal) in force for ``device_class`` at ``at`` (UTC; None: now), served
        from memory.

        Raises LedgerError, naming the ``verticals costs set`` command to run, when no rate for the class is
        in force then.
        """
        when = as_utc(at) if at is not None else as_utc(self._clock())
        timeline = self._costs.get(device_class)
        rate = timeline.at(when) if timeline is not None else None
        if rate is None:
            raise LedgerError(
                f"no cost rate for device class {device_class!r} at {when.isoformat()}: "
                f"add one with `verticals costs set {device_class} USD_PER_HOUR`"
            )
        return rate

    def cost_span(self, device_class: str, at: datetime | None = None) -> Span:
        """The rate in force for ``device_class`` (None: no row) and the interval it stays in force."""
        when = as_utc(at) if at is not None else as_utc(self._clock())
        timeline = self._costs.get(device_class)
        if timeline is None:
            return Span(None, None, None)
        return _span(timeline.at(when), [timeline], when)
