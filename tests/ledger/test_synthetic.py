"""The synthetic usage generator: deterministic, realistic in shape, and consistent with the books."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from verticals.ledger import Ledger
from verticals.ledger.analytics import concentration, latency_by_model, usage_summary
from verticals.ledger.synthetic import MODELS, generate_usage


def test_small_generator_shape(tmp_path: Path) -> None:
    start = datetime(2026, 10, 1, tzinfo=UTC)
    with Ledger.open(tmp_path / "a", fsync_ms=20) as ledger:
        generate_usage(ledger, 20_000, start=start, days=10, customers=30, seed=7)
        conn = ledger.connection
        assert conn.execute("SELECT count(*), count(DISTINCT request_id) FROM usage_events").fetchone() == (
            20_000,
            20_000,
        )
        assert len(ledger.list_customers()) == 30
        first, last = conn.execute("SELECT min(ts), max(ts) FROM usage_events").fetchone()
        assert first >= datetime(2026, 10, 1) and last < datetime(2026, 10, 11)
        # diurnal: the busiest hour carries several times the quietest
        hours = dict(conn.execute("SELECT hour(ts), count(*) FROM usage_events GROUP BY 1").fetchall())
        assert max(hours, key=hours.__getitem__) in (12, 13, 14, 15) and max(hours.values()) > 2.5 * min(
            hours.values()
        )
        # skewed customers
        shares = concentration(ledger, basis="list")  # the usage the generator skewed, at list price
        assert shares["top5_share"] > 0.35 and shares["customers"] <= 30
        # every model appears; errors around 2.5 %; failed requests earn nothing
        assert {row["model"] for row in latency_by_model(ledger)} == {m[0] for m in MODELS}
        errors = conn.execute(
            "SELECT avg(CASE WHEN status >= 400 THEN 1 ELSE 0 END) FROM usage_events"
        ).fetchone()[0]
        assert 0.015 < errors < 0.035
        assert (
            conn.execute("SELECT sum(revenue_usd) FROM usage_events WHERE status <> 200").fetchone()[0] == 0
        )
        # revenue is list price x units, cost is compute seconds x rate / 3600, to the nano-dollar
        price, rate = Decimal(MODELS[0][4]), Decimal(MODELS[0][5])
        row = conn.execute(
            "SELECT units_in + units_out, compute_seconds, revenue_usd, cost_usd FROM usage_events "
            "WHERE model = ? AND status = 200 LIMIT 1",
            [MODELS[0][0]],
        ).fetchone()
        assert row[2] == (price * Decimal(str(row[0]))).quantize(Decimal("1e-9"))
        assert abs(row[3] - rate * Decimal(str(row[1])) / 3600) < Decimal("1e-9")
        total = usage_summary(ledger, by=[])[0]["revenue_usd"]
    with Ledger.open(tmp_path / "b", fsync_ms=20) as again:
        generate_usage(again, 20_000, start=start, days=10, customers=30, seed=7)
        assert usage_summary(again, by=[])[0]["revenue_usd"] == total
