"""``RedisLimits`` under the same interleavings as ``InMemoryLimits``: ``test_limits_stateful``'s machine,
whose model of every admission decision, spend and token window is the in-process behaviour, run again
with the gateway's limits in the session's Redis.

Two things differ by design, so the machine here draws only what both count the same way: a customer
always has a budget (without one, ``RedisLimits`` makes no Redis call and so counts nothing), and token
windows are compared only for keys with a tpm (likewise). Holds never lapse here (the machine's clock runs
for hours; the deadline is tested in ``test_redis_limits``).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import initialize, invariant, rule, run_state_machine_as_test

from verticals.serving.limits import Limits
from verticals.serving.limits.redis import RedisLimits

from .test_limits_stateful import BUDGETS, PLANS, TPMS, MoneyAndLimits, shared_ledger


class RedisMoneyAndLimits(MoneyAndLimits):
    url: ClassVar[str] = ""
    loop: ClassVar[asyncio.AbstractEventLoop | None] = None

    def make_limits(self) -> Limits:
        return RedisLimits(self.url, clock=self.clock.seconds, month=lambda: self.month, deadline_s=1e9)

    def run(self, step: Any) -> Any:
        assert self.loop is not None
        return self.loop.run_until_complete(step)

    def counted(self, customer: str) -> tuple[Decimal, Decimal] | None:
        assert isinstance(self.limits, RedisLimits)
        found: tuple[Decimal, Decimal] | None = self.run(self.limits.account(customer, self.month))
        return found

    def usage(self, key: str) -> tuple[float, float]:
        assert isinstance(self.limits, RedisLimits)
        found: tuple[float, float] = self.run(self.limits.usage(key))
        return found

    def teardown(self) -> None:
        self.run(self.limits.close())

    @initialize(
        budgets=st.lists(BUDGETS, min_size=2, max_size=2),
        tpms=st.lists(TPMS, min_size=2, max_size=2),
    )
    def customers(self, budgets: list[Decimal | None], tpms: list[int | None]) -> None:
        super().customers(budgets, tpms)

    @rule(which=st.integers(0, 1), budget=BUDGETS, plan=st.sampled_from(PLANS))
    def edit_customer(self, which: int, budget: Decimal | None, plan: str) -> None:
        super().edit_customer(which, budget, plan)

    @invariant()
    def token_windows_hold(self) -> None:
        now = self.clock.seconds()
        for key, window in self.windows.items():
            if window.tpm is not None:
                used = window.used_now(now)
                assert self.usage(key) == (used, window.held)
                assert used + window.held <= window.tpm


def test_redis_limits_decide_and_count_as_the_in_process_ones(tmp_path: Path, redis_url: str) -> None:
    RedisMoneyAndLimits.url = redis_url
    RedisMoneyAndLimits.loop = asyncio.new_event_loop()
    try:
        with shared_ledger(tmp_path):
            run_state_machine_as_test(
                RedisMoneyAndLimits,
                settings=settings(
                    max_examples=40,
                    stateful_step_count=30,
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow],
                ),
            )
    finally:
        RedisMoneyAndLimits.loop.close()
        RedisMoneyAndLimits.loop = None
