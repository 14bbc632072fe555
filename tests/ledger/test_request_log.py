"""The request log (``request_log``): requests one by one, newest first, filtered and paged, found by id."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from verticals.ledger import Ledger
from verticals.ledger.analytics import request_log

from .conftest import Clock, make_event

T0 = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
# (request id, minutes after T0, customer, key prefix, model, status, units in, units out, price, cost)
EVENTS = [
    ("r1", 0, "acme", "vk_acme0001", "nlp/chat", 200, 100, 50, "0.000150000", "0.000020000"),
    ("r2", 5, "acme", "vk_acme0002", "nlp/chat", 500, 30, 0, "0", "0.000001000"),
    ("r3", 10, "globex", "vk_globex01", "vision/cls", 200, 4, 0, "0.04", "0.01"),
    ("r4", 15, "acme", "vk_acme0001", "vision/cls", 429, 0, 0, "0", "0"),
    ("r5", 20, "acme", "vk_acme0001", "nlp/chat", 200, 10, 10, "0.000020000", "0.000003000"),
    ("r6", 25, "-", None, "-", 401, 0, 0, "0", "0"),
]


@pytest.fixture(scope="module")
def log_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    ledger = Ledger.open(tmp_path_factory.mktemp("request-log"), fsync_ms=20, clock=Clock(T0))
    for rid, minutes, customer, prefix, model, status, units_in, units_out, price, cost in EVENTS:
        ledger.record(
            make_event(
                request_id=rid,
                ts=T0 + timedelta(minutes=minutes),
                customer=customer,
                key_prefix=prefix,
                plugin=model.split("/")[0],
                model=model,
                status=status,
                latency_ms=100.0 + minutes,
                queue_ms=float(minutes) / 10,
                units_in=units_in,
                units_out=units_out,
                unit="images" if model == "vision/cls" else "tokens",
                revenue_usd=Decimal(price),
                cost_usd=Decimal(cost),
            )
        )
    ledger.flush()
    yield ledger
    ledger.close()


def ids(found: dict[str, object]) -> list[str]:
    return [row["request_id"] for row in found["rows"]]  # type: ignore[attr-defined]


def test_newest_first_with_a_total(log_ledger: Ledger) -> None:
    found = request_log(log_ledger)
    assert ids(found) == ["r6", "r5", "r4", "r3", "r2", "r1"]
    assert (found["total"], found["limit"], found["offset"]) == (6, 50, 0)


def test_a_row_holds_the_ledgers_values_and_no_content(log_ledger: Ledger) -> None:
    (row,) = request_log(log_ledger, request_id="r1")["rows"]
    assert row == {
        "request_id": "r1",
        "ts": T0,
        "customer": "acme",
        "key_prefix": "vk_acme0001",
        "plugin": "nlp",
        "model": "nlp/chat",
        "model_version": "1",
        "endpoint": "/v1/chat/completions",
        "status": 200,
        "latency_ms": 100.0,
        "queue_ms": 0.0,
        "ttft_ms": None,
        "units_in": 100.0,
        "units_out": 50.0,
        "unit": "tokens",
        "device_class": "cpu",
        "units": 150.0,
        "price_usd": Decimal("0.000150000"),
        "cost_usd": Decimal("0.000020000"),
    }


def test_a_pasted_request_id_finds_its_row(log_ledger: Ledger) -> None:
    # pasted from a ticket, with the spaces around it; any other filters still apply
    assert ids(request_log(log_ledger, request_id="  r3\n")) == ["r3"]
    assert ids(request_log(log_ledger, request_id="r3", customer="acme")) == []
    assert ids(request_log(log_ledger, request_id="r")) == []  # exact, not a prefix


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"customer": "acme"}, ["r5", "r4", "r2", "r1"]),
        ({"customer": "acme", "model": "nlp/chat"}, ["r5", "r2", "r1"]),
        ({"key_prefix": "vk_acme0001"}, ["r5", "r4", "r1"]),
        ({"key_prefix": "vk_acme"}, ["r5", "r4", "r2", "r1"]),
        ({"plugin": "vision"}, ["r4", "r3"]),
        ({"status_class": "2xx"}, ["r5", "r3", "r1"]),
        ({"status_class": "4xx"}, ["r6", "r4"]),
        ({"status_class": "5xx"}, ["r2"]),
        ({"since": T0 + timedelta(minutes=5), "until": T0 + timedelta(minutes=20)}, ["r4", "r3", "r2"]),
        ({"customer": "no customer", "model": "no model"}, ["r6"]),
    ],
)
def test_filters(log_ledger: Ledger, filters: dict[str, object], expected: list[str]) -> None:
    found = request_log(log_ledger, **filters)  # type: ignore[arg-type]
    assert ids(found) == expected and found["total"] == len(expected)


def test_pages(log_ledger: Ledger) -> None:
    pages = [request_log(log_ledger, limit=4, offset=offset) for offset in (0, 4, 8)]
    assert [ids(page) for page in pages] == [["r6", "r5", "r4", "r3"], ["r2", "r1"], []]
    assert {page["total"] for page in pages} == {6}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"status_class": "500"}, "use one of 2xx, 3xx, 4xx, 5xx"),
        ({"limit": 0}, "1 to 1000 rows"),
        ({"limit": 5000}, "1 to 1000 rows"),
        ({"offset": -1}, "negative"),
    ],
)
def test_bad_parameters_say_what_is_allowed(log_ledger: Ledger, bad: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        request_log(log_ledger, **bad)  # type: ignore[arg-type]


def test_an_empty_ledger_has_no_rows(tmp_path: Path) -> None:
    with Ledger.open(tmp_path, fsync_ms=20) as ledger:
        assert request_log(ledger) == {"rows": [], "total": 0, "limit": 50, "offset": 0}
