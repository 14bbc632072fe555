"""Fixtures for the dashboard tests: a small hand-made ledger whose figures are easy to check, an
empty one, and an AppTest factory bound to either."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from verticals.dashboard.command import app_path

# The scripts `verticals dashboard` runs: the source tree's dashboard/ (verticals is installed editable).
APP = app_path()

# (customer, plan, monthly budget): plans without a monthly fee or allowances, so that billed revenue is the
# answered requests' list prices (the failed ones are not billed) whatever day the test runs; fees and
# invoices are tested in test_billing_pages.py
CUSTOMERS = (("acme", "payg", "40"), ("globex", "contract", "1000"), ("initech", "free", None))


def seed_ledger(home: Path, now: datetime) -> None:
    """Ten days of a few requests per customer, with errors, one cost spike, capacity and evaluations.

    Every figure follows from these loops, so tests can compute expectations by hand.
    """
    from verticals.ledger import Ledger, UsageEvent

    # customers exist from before the first request, as they would, so month-to-date run-rates are sane
    with Ledger.open(home, fsync_ms=0, clock=lambda: now - timedelta(days=12)) as ledger:
        ledger.create_plan("payg", "0", description="pay as you go: list prices, no fee")
        ledger.create_plan("contract", "0", description="negotiated: list prices, no fee")
        for name, plan, budget in CUSTOMERS:
            ledger.create_customer(name, plan, budget)
        n = 0

        def event(
            customer: str,
            model: str,
            ts: datetime,
            units_in: float,
            units_out: float,
            unit: str,
            revenue: str,
            cost: str,
            latency: float,
            status: int = 200,
        ) -> None:
            nonlocal n
            n += 1
            ledger.record(
                UsageEvent(
                    request_id=f"seed-{n}",
                    ts=ts,
                    customer=customer,
                    key_prefix="vk_seed",
                    plugin=model.split("/")[0],
                    model=model,
                    model_version="1",
                    endpoint="/v1/chat/completions",
                    status=status,
                    latency_ms=latency,
                    units_in=units_in,
                    units_out=units_out,
                    unit=unit,
                    compute_seconds=float(Decimal(cost) * 36000),
                    device_class="cpu",
                    revenue_usd=Decimal(revenue),
                    cost_usd=Decimal(cost),
                )
            )

        for day in range(10):
            ts = now - timedelta(days=day, hours=1)
            for i in range(5):
                event(
                    "acme",
                    "nlp/chat",
                    ts + timedelta(minutes=i),
                    100,
                    50,
                    "tokens",
                    "0.15",
                    "0.01",
                    200 + 10 * i,
                    status=500 if (i == 4 and day % 2 == 0) else 200,
                )
            for i in range(3):
                event(
                    "globex",
                    "tabular/linear",
                    ts + timedelta(minutes=10 + i),
                    10,
                    0,
                    "rows",
                    "0.05",
                    "0.002",
                    20 + i,
                )
            for i in range(2):
                event(
                    "initech",
                    "echo/chat",
                    ts + timedelta(minutes=20 + i),
                    20,
                    20,
                    "tokens",
                    "0",
                    "0.001",
                    5 + i,
                )
        # the cost spike: one expensive acme request yesterday
        event("acme", "nlp/chat", now - timedelta(days=1, hours=2), 1000, 1000, "tokens", "0.3", "1.5", 9000)
        ledger.flush()
        # one cpu device serving nlp/chat for the twelve days to now: 288 h at $0.10, closed so that the
        # figures do not move while a test runs
        ledger.record_device("nlp-1", "cpu", ["nlp/chat"], now - timedelta(days=12), now)
        thresholds = {"accuracy": {"min": 0.7, "max": None}}
        ledger.record_evaluation(
            "nlp/chat", "1", "qa", {"accuracy": 0.8}, thresholds, True, at=now - timedelta(days=9)
        )
        ledger.record_evaluation(
            "nlp/chat", "2", "qa", {"accuracy": 0.6}, thresholds, False, at=now - timedelta(days=2)
        )


@pytest.fixture(scope="session")
def seed_now() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


@pytest.fixture(scope="session")
def seeded_home(tmp_path_factory: pytest.TempPathFactory, seed_now: datetime) -> Path:
    home = tmp_path_factory.mktemp("seeded-home")
    seed_ledger(home, seed_now)
    return home


@pytest.fixture(scope="session")
def empty_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ledger with its starter plans and cost book and no usage, as on a first start."""
    from verticals.ledger import Ledger

    home = tmp_path_factory.mktemp("empty-home")
    Ledger.open(home, fsync_ms=0).close()
    return home


AppFactory = Callable[[Path], "object"]


@pytest.fixture
def app_test(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., object]]:
    """``app_test(home, page=None, address="127.0.0.1", source="ledger")``: the dashboard run once
    under AppTest."""
    from streamlit import config
    from streamlit.testing.v1 import AppTest

    previous = config.get_option("server.address")

    def make(
        home: Path, page: str | None = None, address: str | None = "127.0.0.1", source: str = "ledger"
    ) -> AppTest:
        monkeypatch.setenv("VERTICALS_HOME", str(home))
        monkeypatch.setenv("VERTICALS_DASHBOARD_SOURCE", source)
        monkeypatch.delenv("VERTICALS_ADMIN_TOKEN", raising=False)
        config.set_option("server.address", address)
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.run()
        if page is not None:
            at.switch_page(f"views/{page}.py").run()
        return at

    yield make
    config.set_option("server.address", previous)


@contextmanager
def running_dashboard(
    verticals: Path,
    port: int,
    env: dict[str, str],
    cwd: Path | None = None,
    source: tuple[str, ...] = ("--source", "ledger"),
) -> Iterator[str]:
    """``verticals dashboard --source ledger`` (or the ``source`` options, e.g. ``--source api
    --gateway-url URL``) on 127.0.0.1:``port``; yields its URL once Streamlit's health check answers 200
    (fails the test with the server's log if it exits or takes over 60 s), and stops the server on exit."""
    log = tempfile.TemporaryFile()  # noqa: SIM115 - the server outlives this block; closed below
    process = subprocess.Popen(
        [str(verticals), "dashboard", "--port", str(port), *source],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"the dashboard did not come up:\n{log.read().decode(errors='replace')}")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
