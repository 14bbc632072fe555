"""Price and cost books: effective dating, lookup order, append-only refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from verticals.ledger import Ledger, LedgerError

from .conftest import Clock

ENGINES = ("duckdb", "postgres")  # every test taking `ledger` runs on both (conftest)


@pytest.fixture
def priced(ledger: Ledger) -> Ledger:
    ledger.create_customer("acme", "pro")
    ledger.create_customer("initech", "free")
    return ledger


def test_no_price_row_means_the_models_own_price(priced: Ledger) -> None:
    assert priced.price_per_unit("acme", "nlp/chat", "nlp", "chat", "tokens") is None


def test_lookup_order_model_then_plugin_task_then_plugin_then_task(priced: Ledger, clock: Clock) -> None:
    priced.set_price("pro", "tokens", "0.000004", task="chat")
    assert priced.price_per_unit("acme", "nlp/chat", "nlp", "chat", "tokens") == Decimal("0.000004")
    priced.set_price("pro", "tokens", "0.000003", plugin="nlp")
    assert priced.price_per_unit("acme", "nlp/chat", "nlp", "chat", "tokens") == Decimal("0.000003")
    priced.set_price("pro", "tokens", "0.000002", plugin="nlp", task="chat")
    assert priced.price_per_unit("acme", "nlp/chat", "nlp", "chat", "tokens") == Decimal("0.000002")
    priced.set_price("pro", "tokens", "0.000001", model="nlp/chat")
    assert priced.price_per_unit("acme", "nlp/chat", "nlp", "chat", "tokens") == Decimal("0.000001")
    # another model of the same plugin falls through to the plugin+task default
    assert priced.price_per_unit("acme", "nlp/other", "nlp", "chat", "tokens") == Decimal("0.000002")
    # another unit, another plan: nothing applies
    assert priced.price_per_unit("acme", "nlp/chat", "nlp", "chat", "images") is None
    assert priced.price_per_unit("initech", "nlp/chat", "nlp", "chat", "tokens") is None


def test_effective_dating_keeps_the_past(priced: Ledger, clock: Clock) -> None:
    start = clock.now
    priced.set_price("pro", "images", "0.01", model="vision/cls")
    change = start + timedelta(days=10)
    priced.set_price("pro", "images", "0.02", model="vision/cls", effective_from=change)
    lookup = ("acme", "vision/cls", "vision", "image-classification", "images")
    assert priced.price_per_unit(*lookup) == Decimal("0.01")
    assert priced.price_per_unit(*lookup, at=change - timedelta(seconds=1)) == Decimal("0.01")
    assert priced.price_per_unit(*lookup, at=change) == Decimal("0.02")
    assert priced.price_per_unit(*lookup, at=start - timedelta(seconds=1)) is None
    clock.advance(days=30)
    assert priced.price_per_unit(*lookup) == Decimal("0.02")
    assert len(priced.list_prices("pro")) == 2


def test_a_price_span_ends_at_the_next_effective_date_of_any_row_it_may_come_from(
    priced: Ledger, clock: Clock
) -> None:
    start = clock.now
    lookup = ("acme", "nlp/chat", "nlp", "chat", "tokens")
    empty = priced.price_span(*lookup)
    assert (empty.value, empty.since, empty.until) == (None, None, None)
    priced.set_price("pro", "tokens", "0.01", model="nlp/chat")
    model_change = start + timedelta(hours=2)
    priced.set_price("pro", "tokens", "0.02", model="nlp/chat", effective_from=model_change)
    # the span ends at the first effective date of any row on the lookup's path, even one that the
    # model's own row outranks: a cache expires a little early, never late
    default_change = start + timedelta(hours=1)
    priced.set_price("pro", "tokens", "0.05", plugin="nlp", effective_from=default_change)
    span = priced.price_span(*lookup)
    assert (span.value, span.since, span.until) == (Decimal("0.01"), start, default_change)
    assert span.covers(start) and not span.covers(default_change)
    later = priced.price_span(*lookup, at=model_change)
    assert (later.value, later.since, later.until) == (Decimal("0.02"), model_change, None)
    assert not later.covers(model_change - timedelta(microseconds=1)) and later.covers(
        start + timedelta(days=9)
    )


def test_a_cost_span_ends_at_the_next_rate(priced: Ledger, clock: Clock) -> None:
    assert priced.cost_span("rtx").value is None
    priced.set_cost("rtx", "1.50")
    change = clock.now + timedelta(minutes=5)
    priced.set_cost("rtx", "2.00", effective_from=change)
    span = priced.cost_span("rtx")
    assert (span.value, span.until) == (Decimal("1.50"), change)
    assert priced.cost_span("rtx", at=change).value == Decimal("2.00")


def test_a_change_in_the_past_is_refused_and_writes_nothing(priced: Ledger, clock: Clock) -> None:
    past = clock.now - timedelta(hours=1)
    with pytest.raises(LedgerError, match="in the past"):
        priced.set_price("pro", "tokens", "0.1", model="nlp/chat", effective_from=past)
    with pytest.raises(LedgerError, match="in the past"):
        priced.set_cost("h100", "2.5", effective_from=past)
    assert priced.list_prices() == []
    assert priced.cost_rate("h100") == Decimal("3.00")


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("gold", "tokens", "0.1"), {"model": "nlp/chat"}, "unknown plan 'gold'"),
        (("pro", "tokens", "-0.1"), {"model": "nlp/chat"}, "negative"),
        (("pro", "tokens", "abc"), {"model": "nlp/chat"}, "not a number"),
        (("pro", "tokens", "NaN"), {"model": "nlp/chat"}, "not a finite number"),
        (("pro", "tokens", "0.1"), {}, "needs a model"),
        (("pro", "tokens", "0.1"), {"model": "nlp/chat", "plugin": "nlp"}, "not both"),
    ],
)
def test_bad_prices_are_refused(
    priced: Ledger, args: tuple[str, ...], kwargs: dict[str, str], message: str
) -> None:
    with pytest.raises(LedgerError, match=message):
        priced.set_price(*args, **kwargs)  # type: ignore[arg-type]
    assert priced.connection.execute("SELECT count(*) FROM price_book").fetchone() == (0,)


def test_duplicate_start_is_refused(priced: Ledger, clock: Clock) -> None:
    when = clock.now + timedelta(days=1)
    priced.set_price("pro", "tokens", "0.1", model="nlp/chat", effective_from=when)
    with pytest.raises(LedgerError, match="already starts"):
        priced.set_price("pro", "tokens", "0.2", model="nlp/chat", effective_from=when)


def test_cost_book_supersedes_examples_from_now_on(priced: Ledger, clock: Clock) -> None:
    before = clock.now - timedelta(days=1)
    priced.set_cost("h100", "2.25", note="our reserved rate")
    assert priced.cost_rate("h100") == Decimal("2.25")
    assert priced.cost_rate("h100", at=before) == Decimal("3.00")
    priced.set_cost("tpu-v5", "1.20")
    assert priced.cost_rate("tpu-v5") == Decimal("1.20")
    with pytest.raises(LedgerError, match="verticals costs set mi300"):
        priced.cost_rate("mi300")
    with pytest.raises(LedgerError, match="not a number"):
        priced.set_cost("h100", "cheap")


def test_naive_datetimes_are_utc(priced: Ledger, clock: Clock) -> None:
    when = (clock.now + timedelta(days=1)).replace(tzinfo=None)
    priced.set_cost("l4", "0.5", effective_from=when)
    assert priced.cost_rate("l4", at=when.replace(tzinfo=UTC)) == Decimal("0.5")
    assert priced.cost_rate("l4", at=datetime(2026, 11, 16, 11, 59, 59)) == Decimal("0.80")
