"""``customer_usage``: one customer's answered requests summed per bucket of the UTC grid, exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from verticals.ledger import Ledger, LedgerError
from verticals.ledger.customer_usage import UsageQuery, customer_usage

from .conftest import make_event

T0 = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


def test_sums_per_hour_of_one_customers_answered_requests(ledger: Ledger) -> None:
    events = [
        make_event(request_id="a", ts=T0 + timedelta(minutes=5)),
        make_event(request_id="b", ts=T0 + timedelta(minutes=59, seconds=59), key_prefix="vk_b"),
        make_event(request_id="c", ts=T0 + timedelta(hours=1)),
        make_event(request_id="refused", ts=T0, status=429, units_in=0, units_out=0, revenue_usd="0"),
        make_event(request_id="failed", ts=T0, status=500),
        make_event(request_id="other", ts=T0, customer="globex", units_in=999),
        make_event(request_id="embed", ts=T0, endpoint="/v1/embeddings", units_out=0),
    ]
    for event in events:
        ledger.record(event)
    ledger.flush()
    query = UsageQuery("acme", T0, T0 + timedelta(hours=2), "hour", kind="completions")
    rows = customer_usage(ledger, query)
    assert [
        (row.bucket, row.requests, row.units_in, row.units_out, row.units, row.charged_usd) for row in rows
    ] == [
        (T0, 2, Decimal(20), Decimal(40), Decimal(60), Decimal("0.006")),
        (T0 + timedelta(hours=1), 1, Decimal(10), Decimal(20), Decimal(30), Decimal("0.003")),
    ]
    by_key = customer_usage(ledger, UsageQuery("acme", T0, T0 + timedelta(hours=1), "hour", by_key=True))
    assert [(row.key_prefix, row.requests) for row in by_key] == [("vk_b", 1), (None, 2)]


def test_audio_seconds_are_summed_exactly(ledger: Ledger) -> None:
    for n in range(30):
        ledger.record(
            make_event(
                request_id=f"s{n}",
                ts=T0 + timedelta(seconds=n),
                unit="audio-seconds",
                units_in=0.1,
                units_out=0,
                endpoint="/v1/audio/transcriptions",
                model="speech/transcribe",
            )
        )
    ledger.flush()
    query = UsageQuery("acme", T0, T0 + timedelta(days=1), "day", kind="audio_transcriptions", by_model=True)
    [row] = customer_usage(ledger, query)
    assert (row.model, row.unit, row.units, row.requests) == (
        "speech/transcribe",
        "audio-seconds",
        Decimal("3"),
        30,
    )


@pytest.mark.parametrize(
    ("query", "words"),
    [
        (UsageQuery("", T0, T0 + timedelta(days=1)), "one customer"),
        (UsageQuery("acme", T0, T0), "after its start"),
        (UsageQuery("acme", T0, T0 + timedelta(days=1), kind="speeches"), "unknown kind"),
        (UsageQuery("acme", T0, T0 + timedelta(days=1), "week"), "unknown bucket grid"),  # type: ignore[arg-type]
    ],
)
def test_refuses_what_it_cannot_answer(ledger: Ledger, query: UsageQuery, words: str) -> None:
    with pytest.raises(LedgerError, match=words):
        customer_usage(ledger, query)
