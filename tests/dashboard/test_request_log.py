"""The Request log page: requests one by one over the seeded ledger, filtered, and found by a pasted id.

The AppTest tests run the page's script; the browser test drives the running dashboard in headless Chromium
as a support person would: filter by customer and model, paste a request id, read the one row it finds and
compare it with the ledger's own values.
"""

from __future__ import annotations

import os
import socket
import sys
import time as clock
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from . import chromium
from .conftest import running_dashboard

Run = Callable[..., Any]
NO_CONTENT = "Prompts and responses are not stored."


def ledger_log(home: Path, **filters: Any) -> dict[str, Any]:
    """The ledger's ``request_log`` on ``home``, opened read-only as the dashboard opens it."""
    from verticals.ledger import Ledger
    from verticals.ledger.analytics import request_log

    ledger = Ledger.open(home, read_only=True)
    try:
        return request_log(ledger.connection, **filters)
    finally:
        ledger.close()


def test_the_page_lists_requests_and_says_no_content_is_stored(app_test: Run, seeded_home: Path) -> None:
    at = app_test(seeded_home, "requests")
    assert not at.exception and not at.error
    assert any(NO_CONTENT in box.value for box in at.info)
    shown = at.dataframe[0].value
    ledger = ledger_log(seeded_home, limit=50)
    assert list(shown["request_id"]) == [row["request_id"] for row in ledger["rows"]]
    assert any(f"of {ledger['total']:,}, newest first" in caption.value for caption in at.caption)


def test_key_prefix_and_status_class_filter_the_rows(app_test: Run, seeded_home: Path) -> None:
    at = app_test(seeded_home, "requests")
    at.text_input(key="requests_key").input("vk_se").run()
    at.selectbox(key="requests_status").select("5xx").run()
    shown = at.dataframe[0].value
    assert len(shown) and set(shown["status"]) == {500} and set(shown["key_prefix"]) == {"vk_seed"}
    at.text_input(key="requests_key").input("vk_nobody").run()
    assert not at.dataframe and any("No requests yet" in box.value for box in at.info)


def test_a_pasted_request_id_finds_its_row_and_an_unknown_one_says_so(
    app_test: Run, seeded_home: Path
) -> None:
    oldest = ledger_log(seeded_home, limit=1000)["rows"][-1]
    at = app_test(seeded_home, "requests")
    at.text_input(key="requests_id").input(f"  {oldest['request_id']} ").run()
    (row,) = at.dataframe[0].value.to_dict("records")
    assert row["request_id"] == oldest["request_id"] and Decimal(row["price_usd"]) == oldest["price_usd"]
    at.text_input(key="requests_id").input("req_0000000000000000ffffffffffffffff").run()
    assert not at.dataframe
    assert any("No request has the id `req_0000000000000000ffffffffffffffff`" in w.value for w in at.warning)


# -- in the browser -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def dashboard(seeded_home: Path) -> Iterator[str]:
    env = {**os.environ, "VERTICALS_HOME": str(seeded_home)}
    env.pop("VERTICALS_ADMIN_TOKEN", None)
    with running_dashboard(Path(sys.executable).with_name("verticals"), free_port(), env) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium.chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


def paste_request_id(driver: Any, request_id: str) -> None:
    """Paste ``request_id`` into the page's "Request id" box, press Enter, and wait until the page has run
    again with it (its caption says which id it searched)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    boxes = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMain"] [data-testid="stTextInput"]')
    box = next((b for b in boxes if b.text.splitlines()[:1] == ["Request id"]), None)
    assert box is not None, f"no 'Request id' box on the page: {[b.text for b in boxes]}"
    field = box.find_element(By.CSS_SELECTOR, "input")
    field.click()
    field.send_keys(request_id, Keys.ENTER)
    deadline = clock.monotonic() + 90
    while f"Searching every request for id {request_id}" not in chromium.main_text(driver):
        assert clock.monotonic() < deadline, f"the page did not search for {request_id!r}"
        clock.sleep(0.2)
    chromium.wait_finished(driver, "Request log")


@pytest.mark.slow
def test_support_finds_a_tickets_request_in_the_browser(
    dashboard: str, browser: Any, seeded_home: Path, tmp_path: Path
) -> None:
    chromium.open_page(browser, f"{dashboard}/requests", "Request log")
    assert NO_CONTENT in chromium.main_text(browser)
    chromium.choose(browser, "Customer", "acme", "Request log")
    chromium.choose(browser, "Model", "nlp/chat", "Request log")
    start, end, chosen = chromium.shown_filters(browser)
    assert chosen == {"customer": "acme", "model": "nlp/chat"}
    from .figures_match import Analytics

    dates = Analytics(seeded_home, start, end).range()
    expected = ledger_log(seeded_home, customer="acme", model="nlp/chat", **dates)
    assert f"of {expected['total']:,}, newest first" in chromium.main_text(browser)
    listed = chromium.table(browser, "Request id")
    assert [row["Request id"] for row in listed] == [row["request_id"] for row in expected["rows"]]
    assert {(row["Customer"], row["Model"]) for row in listed} == {("acme", "nlp/chat")}

    # the ticket's request: the oldest failed one
    failed = ledger_log(seeded_home, customer="acme", model="nlp/chat", status_class="5xx", limit=1000)
    ticket = failed["rows"][-1]
    paste_request_id(browser, ticket["request_id"])
    (row,) = chromium.table(browser, "Request id")
    assert chromium.errors(browser) == []
    assert row["Request id"] == ticket["request_id"]
    assert (row["Customer"], row["Key prefix"], row["Model"]) == ("acme", "vk_seed", "nlp/chat")
    assert int(row["Status"]) == ticket["status"] == 500
    assert float(row["Latency (ms)"]) == ticket["latency_ms"]
    assert float(row["Queue time (ms)"]) == ticket["queue_ms"]
    assert float(row["Units"]) == ticket["units"] and row["Unit"] == ticket["unit"]
    assert Decimal(row["Price (USD)"]) == ticket["price_usd"]
    assert Decimal(row["Cost (USD)"]) == ticket["cost_usd"]
    chromium.screenshot(browser, tmp_path / "request-log.png", "Request log")
