"""Money and limits under every interleaving: hypothesis's stateful testing on the admission layer.

The machine drives the gateway's own admission and metering (``Gateway.admit``, ``Meter.finish``,
``InMemoryLimits``) over a real ledger in a temporary home, on a clock it moves itself. (One ledger
serves every run, each run with names and a month of its own, so that a run costs milliseconds and
hypothesis can try many.) Its rules
start, admit, settle, fail and abandon requests (a backend may answer far past ``max_tokens``),
send bursts of concurrent admissions, move time, and make the admin edits the admin API makes
(budgets, plans, keys, effective-dated prices), each followed by the same ``Gateway.forget`` call.

It keeps its own model of what should happen and checks, after every step:
- each admission decision is the model's (tokens per minute first, then the budget);
- a customer's spend plus its open reservations never exceed the budget they were admitted under
  (the budget itself, unless an edit lowered it below what was already committed);
- the tokens a key used in the last minute plus the tokens its requests in flight hold never
  exceed its tpm;
- each request is billed at the price in force when it started, for at most its reserved worst case.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from verticals.models import ModelSpec
from verticals.serving.admission import admit
from verticals.serving.errors import APIError
from verticals.serving.limits import WINDOW_S, InMemoryLimits, Limits
from verticals.serving.metering import MICRO, RequestContext

from .stepped import at_once

MODEL = "echo/chat"
PLANS = ("basic", "premium")
PRICES = st.sampled_from([Decimal(p) for p in ("0", "0.001", "0.004", "0.01", "0.025")])
BUDGETS = st.sampled_from([Decimal(b) for b in ("0.05", "0.50", "2.00", "8.00")])
TPMS = st.sampled_from([None, 40, 150, 500])
# time that passes before a rule's event: requests arrive over time, across price changes and windows
LATER = st.sampled_from([0.0, 0.0, 0.001, 0.5, 1.0, 30.0, 60.0, 61.0])


@cache
def echo_spec() -> ModelSpec:
    from verticals.registry import Registry

    return Registry.load().model(MODEL)


class Clock:
    """The ledger's and the limits' clock; each run starts it on the first of a month of its own."""

    def __init__(self) -> None:
        self.start = self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def begin(self, run: int) -> None:
        self.start = self.now = datetime(2030 + run // 12, run % 12 + 1, 1, tzinfo=UTC)

    def utc(self) -> datetime:
        return self.now

    def seconds(self) -> float:
        return (self.now - self.start).total_seconds()


@contextmanager
def shared_ledger(home: Path) -> Iterator[None]:
    """One ledger for the machine's runs, on one clock."""
    from verticals.ledger import Ledger

    with Ledger.open(home, fsync_ms=1000, clock=MoneyAndLimits.clock.utc) as ledger:
        MoneyAndLimits.ledger = ledger
        try:
            yield
        finally:
            MoneyAndLimits.ledger = None


@dataclass
class Open:
    """A request the model follows from its start to its event."""

    ctx: RequestContext
    key: str
    customer: str
    worst: int = 0
    price: Decimal = Decimal(0)
    amount: Decimal = Decimal(0)


@dataclass
class Account:
    plan: str  # the plan it was created on
    budget: Decimal | None
    ceiling: Decimal | None  # what spend plus reservations may reach: the budget, unless lowered
    spent: Decimal = Decimal(0)
    reserved: Decimal = Decimal(0)
    # (from, plan): the subscription history a plan change writes, in order
    plans: list[tuple[datetime, str]] = field(default_factory=list)

    def plan_at(self, when: datetime) -> str:
        """The plan in force at ``when``: the last change at or before it (a change takes effect at its
        own instant, as ``Ledger.update_customer`` starts the new subscription), else the first plan."""
        return next((plan for start, plan in reversed(self.plans) if start <= when), self.plan)


@dataclass
class Window:
    tpm: int | None
    used: list[tuple[float, int]] = field(default_factory=list)  # (settled at, tokens counted)
    held: int = 0

    def used_now(self, now: float) -> int:
        return sum(tokens for when, tokens in self.used if when > now - WINDOW_S)


class MoneyAndLimits(RuleBasedStateMachine):
    ledger: ClassVar[Any] = None  # see shared_ledger
    clock: ClassVar[Clock] = Clock()
    runs: ClassVar[Iterator[int]] = itertools.count()

    def __init__(self) -> None:
        super().__init__()
        from verticals.config import load_settings
        from verticals.registry import Registry
        from verticals.serving.gateway import Gateway

        assert self.ledger is not None, "run the machine inside shared_ledger()"
        run = next(self.runs)
        self.clock.begin(run)
        self.month = f"{self.clock.now:%Y-%m}"
        # the model says "c0" and "basic"; the ledger holds this run's own "r7-c0" and "r7-basic"
        self.name = f"r{run}-{{}}".format
        self.limits: Limits = self.make_limits()
        self.gateway = Gateway(
            load_settings(home=self.ledger.path.parent), Registry(), self.ledger, "vadm_x", limits=self.limits
        )
        self.spec = echo_spec()
        self.ids = itertools.count()
        # (plan, target) -> [(effective from, price)], target "model" or "plugin": the two rows a
        # price may come from, the model's own first
        self.book: dict[tuple[str, str], list[tuple[datetime, Decimal]]] = {}
        self.accounts: dict[str, Account] = {}
        self.windows: dict[str, Window] = {}
        self.keys: list[tuple[str, str]] = []  # (plaintext, customer)
        self.pending: list[Open] = []
        self.open: list[Open] = []

    def make_limits(self) -> Limits:
        """The limits under test, on the machine's clock."""
        return InMemoryLimits(clock=self.clock.seconds)

    def run(self, step: Any) -> Any:
        """Run one coroutine of the gateway's: in process each is one event-loop step, so asserted as one."""
        return at_once(step)

    def counted(self, customer: str) -> tuple[Decimal, Decimal] | None:
        """(spent, reserved) of ``customer`` this month as the limits count them, or None."""
        assert isinstance(self.limits, InMemoryLimits)
        return self.limits.account(customer, self.month)

    def usage(self, key: str) -> tuple[float, float]:
        """(tokens used in the last minute, tokens held) of ``key`` as the limits count them."""
        assert isinstance(self.limits, InMemoryLimits)
        return self.limits.usage(key)

    @initialize(
        budgets=st.lists(st.one_of(st.none(), BUDGETS), min_size=2, max_size=2),
        tpms=st.lists(TPMS, min_size=2, max_size=2),
    )
    def customers(self, budgets: list[Decimal | None], tpms: list[int | None]) -> None:
        for plan in PLANS:
            self.ledger.create_plan(self.name(plan))
        for index, (budget, tpm) in enumerate(zip(budgets, tpms, strict=True)):
            name = f"c{index}"
            self.ledger.create_customer(self.name(name), self.name(PLANS[index % 2]), budget)
            self.accounts[name] = Account(PLANS[index % 2], budget, budget)
            self._new_key(name, tpm)

    # requests

    def _new_key(self, customer: str, tpm: int | None) -> None:
        plaintext, key = self.ledger.create_key(self.name(customer), tpm=tpm)
        self.windows[key.prefix] = Window(tpm)
        self.keys.append((plaintext, customer))
        self.gateway.forget()

    def _start(self, which: int) -> Open:
        plaintext, customer = self.keys[which % len(self.keys)]
        ctx = RequestContext(request_id=self.name(f"req{next(self.ids)}"), endpoint="/v1/chat/completions")
        ctx.ts = self.clock.now
        ctx.principal = self.gateway.auth.authenticate(f"Bearer {plaintext}")
        self.gateway.meter.start(ctx, self.spec)
        return Open(ctx, ctx.principal.key_prefix, customer)

    @rule(which=st.integers(0, 9), later=LATER)
    def start(self, which: int, later: float) -> None:
        self.wait(later)
        self.pending.append(self._start(which))

    @precondition(lambda self: self.pending)
    @rule(which=st.integers(0, 99), prompt=st.integers(1, 20), max_tokens=st.integers(1, 30), later=LATER)
    def admit(self, which: int, prompt: int, max_tokens: int, later: float) -> None:
        """A started request reaches admission, ``later`` seconds on (a price may have changed)."""
        self.wait(later)
        self._admit(self.pending.pop(which % len(self.pending)), prompt + max_tokens)

    @rule(
        which=st.integers(0, 9),
        arrivals=st.lists(st.tuples(st.integers(2, 40), LATER), min_size=1, max_size=6),
    )
    def burst(self, which: int, arrivals: list[tuple[int, float]]) -> None:
        """Requests of one key arriving ``later`` seconds apart (often 0: at once), each admitted
        (or not) on arrival, none finished: all of them are in flight together."""
        for worst, later in arrivals:
            self.wait(later)
            self._admit(self._start(which), worst)

    def _admit(self, request: Open, worst: int) -> None:
        ctx, window, account = request.ctx, self.windows[request.key], self.accounts[request.customer]
        # the plan in force when the request started prices it, as the price in force then does
        price = self._price(account.plan_at(ctx.ts), ctx.ts)
        amount = (price * worst).quantize(MICRO, rounding=ROUND_CEILING)
        now = self.clock.seconds()
        used = window.used_now(now)
        tpm = window.tpm
        rate_limited = tpm is not None and (worst > tpm or used + window.held + worst > tpm)
        over_budget = (
            account.budget is not None and account.spent + account.reserved + amount > account.budget
        )
        try:
            self.run(admit(self.gateway, ctx, worst))
        except APIError as error:
            expected = 429 if rate_limited else 402
            assert (rate_limited or over_budget) and error.status == expected, error.body()
            if error.status == 402:  # priced, then refused: the price is checked all the same
                assert ctx.price == price, f"priced {ctx.price}, in force at the start: {price}"
            self.run(self.gateway.meter.finish(ctx, error.status))  # what the middleware does with a refusal
            return
        assert not rate_limited and not over_budget, "admitted past a limit"
        assert ctx.price == price, f"priced {ctx.price}, in force at the start: {price}"
        window.held += worst
        account.reserved += amount
        request.worst, request.price, request.amount = worst, price, amount
        self.open.append(request)

    @precondition(lambda self: self.open)
    @rule(
        ends=st.lists(
            st.tuples(
                st.integers(0, 99),
                st.floats(0, 1),
                st.sampled_from([1, 1, 3, 20]),
                st.sampled_from([200, 200, 499, 500, 502]),
            ),
            min_size=1,
            max_size=6,
        )
    )
    def finish(self, ends: list[tuple[int, float, int, int]]) -> None:
        """Requests end, one after another: with an answer, or a stream the client left (499),
        both billed for the ``fraction`` of their worst case used (times ``overrun``: a backend
        that ignored max_tokens, billed no more than the worst case); or with an error, not billed."""
        for which, fraction, overrun, status in ends:
            if self.open:
                self._finish(self.open.pop(which % len(self.open)), fraction, overrun, status)

    def _finish(self, request: Open, fraction: float, overrun: int, status: int) -> None:
        units = round(request.worst * fraction) * overrun
        billed = status in (200, 499)
        revenue = self.run(
            self.gateway.meter.finish(
                request.ctx, status, units_in=units // 2, units_out=units - units // 2, bill=billed
            )
        )
        counted = min(units, request.worst) if billed else 0
        assert revenue == (request.price * counted).quantize(MICRO) <= request.amount
        account, window = self.accounts[request.customer], self.windows[request.key]
        account.reserved -= request.amount
        account.spent += revenue
        window.held -= request.worst
        window.used.append((self.clock.seconds(), counted))

    @rule(seconds=st.sampled_from([0.001, 0.5, 5.0, 30.0, 59.999, 60.0, 61.0]))
    def wait(self, seconds: float) -> None:
        """Time passes: windows slide, prices take effect, the ledger's writer commits."""
        self.clock.now += timedelta(seconds=seconds)
        if seconds >= 60:
            self.ledger.flush()

    # admin edits, each followed by what the admin API does after it

    @rule(which=st.integers(0, 1), budget=st.one_of(st.none(), BUDGETS), plan=st.sampled_from(PLANS))
    def edit_customer(self, which: int, budget: Decimal | None, plan: str) -> None:
        """A new budget (raised, kept, lowered or cleared) and plan, as ``PATCH /admin/customers``."""
        name = f"c{which}"
        self.ledger.update_customer(
            self.name(name), plan=self.name(plan), budget_usd=budget, clear_budget=budget is None
        )
        self.gateway.forget(customer=self.name(name))
        account = self.accounts[name]
        committed = account.spent + account.reserved
        account.plans.append((self.clock.now, plan))
        account.budget = budget
        account.ceiling = None if budget is None else max(budget, committed)

    @rule(which=st.integers(0, 1), tpm=TPMS)
    def new_key(self, which: int, tpm: int | None) -> None:
        self._new_key(f"c{which}", tpm)

    @rule(
        plan=st.sampled_from(PLANS),
        row=st.sampled_from(["model", "plugin"]),
        price=PRICES,
        delay=st.sampled_from([0.0, 0.001, 1.0, 30.0, 90.0]),
    )
    def set_price(self, plan: str, row: str, price: Decimal, delay: float) -> None:
        when = self.clock.now + timedelta(seconds=delay)
        rows = self.book.setdefault((plan, row), [])
        if any(start == when for start, _ in rows):
            return  # the book refuses two rows from the same instant
        where = {"model": MODEL} if row == "model" else {"plugin": "echo", "task": "chat"}
        self.ledger.set_price(self.name(plan), "tokens", price, effective_from=when, **where)
        self.gateway.forget()
        rows.append((when, price))
        rows.sort()

    # the model's price book

    def _price(self, plan: str, at: datetime) -> Decimal:
        for target in ("model", "plugin"):
            in_force = [price for start, price in self.book.get((plan, target), []) if start <= at]
            if in_force:
                return in_force[-1]
        return self.spec.price_per_unit_usd

    # invariants

    @invariant()
    def budgets_hold(self) -> None:
        for name, account in self.accounts.items():
            ledger_spend = self.ledger.month_spend(self.name(name), self.clock.now)
            assert ledger_spend == account.spent
            counted = self.counted(self.name(name))
            assert counted in (None, (account.spent, account.reserved))
            if account.ceiling is not None:
                assert account.spent + account.reserved <= account.ceiling
            if account.budget is not None and account.ceiling == account.budget:
                assert ledger_spend <= account.budget

    @invariant()
    def token_windows_hold(self) -> None:
        now = self.clock.seconds()
        for key, window in self.windows.items():
            used = window.used_now(now)
            assert self.usage(key) == (used, window.held)
            if window.tpm is not None:
                assert used + window.held <= window.tpm


def test_no_interleaving_breaks_a_budget_a_rate_limit_or_a_price(tmp_path: Path) -> None:
    with shared_ledger(tmp_path):
        run_state_machine_as_test(
            MoneyAndLimits,
            settings=settings(
                max_examples=60,
                stateful_step_count=30,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )


def test_the_machine_sees_a_backend_overrun_without_billing_it(tmp_path: Path) -> None:
    """One fixed run through the rules, so a failure here reads as a story, not a shrunk example."""
    with shared_ledger(tmp_path):
        machine = MoneyAndLimits()
        machine.customers([Decimal("1.00"), None], [40, None])
        machine.set_price("basic", "model", Decimal("0.01"), 0.0)
        machine.set_price("basic", "model", Decimal("0.02"), 1.0)
        machine.start(0, 0.0)  # starts before the new price ...
        machine.admit(0, 10, 10, 1.0)  # ... and is admitted after it: billed the old one
        machine.finish([(0, 1.0, 20, 200)])  # a backend 20 times past max_tokens
        machine.budgets_hold()
        machine.token_windows_hold()
        assert machine.accounts["c0"].spent == Decimal("0.20")  # 20 tokens at $0.01, no more
        # 20 used and 20 held: a third 20 would be over 40 tokens a minute
        machine.burst(0, [(20, 0.0), (20, 0.0)])
        assert len(machine.open) == 1
        # a minute on, the 20 used have left the window; the 20 held stay until settled
        machine.burst(0, [(20, 61.0), (20, 0.0)])
        assert len(machine.open) == 2
        machine.edit_customer(0, Decimal("0.05"), "basic")  # lowered below what is committed
        machine.burst(0, [(2, 0.0)])
        assert len(machine.open) == 2
        machine.budgets_hold()
