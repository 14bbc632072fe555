"""The charts read right: percentage ticks that differ, lines that do not hide each other, a unit on
every value axis, and the month-end forecast rule said where the forecast is shown."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from verticals.dashboard import charts

Run = Callable[..., Any]
PAGES = ("overview", "customers", "models", "compute", "billing", "pricing", "risk", "requests")


@pytest.fixture(scope="module")
def idle_home(tmp_path_factory: pytest.TempPathFactory, seed_now: datetime) -> Path:
    """One cpu instance up for 20 days whose requests kept it busy 6 minutes (0.02% utilization) and
    earned $5: break-even at $0.10/h is 0.2%. Every percentage on the break-even chart is under 1%."""
    from verticals.ledger import Ledger, UsageEvent

    home = tmp_path_factory.mktemp("idle-home")
    up = seed_now - timedelta(days=20)
    with Ledger.open(home, fsync_ms=0, clock=lambda: up) as ledger:
        ledger.create_customer("acme", "pro")
        for n in range(10):
            ledger.record(
                UsageEvent(
                    request_id=f"idle-{n}",
                    ts=seed_now - timedelta(hours=n + 1),
                    customer="acme",
                    key_prefix=None,
                    plugin="nlp",
                    model="nlp/chat",
                    model_version="1",
                    endpoint="/v1/chat/completions",
                    status=200,
                    latency_ms=100.0,
                    units_in=100,
                    units_out=100,
                    unit="tokens",
                    compute_seconds=36.0,
                    device_class="cpu",
                    revenue_usd=Decimal("0.5"),
                    cost_usd=Decimal("0.001"),
                )
            )
        ledger.flush()
        ledger.record_capacity("cpu-1", "nlp/chat", "cpu", up)
    return home


def specs(at: Any) -> list[dict[str, Any]]:
    """The plotly figures a page drew, as JSON specs."""
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def value_axis(spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(value axis, category axis) of a chart: x and y swap for horizontal bars."""
    layout = spec["layout"]
    horizontal = any(trace.get("orientation") == "h" for trace in spec["data"])
    x, y = layout.get("xaxis", {}), layout.get("yaxis", {})
    return (x, y) if horizontal else (y, x)


def numbers(values: Any) -> list[float]:
    """A trace's values from its JSON spec: a list, or plotly's typed array ``{"dtype", "bdata"}``."""
    if isinstance(values, dict):
        import base64

        import numpy as np

        return [float(v) for v in np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])]
    return [float(v) for v in values if v is not None]


def title(axis: dict[str, Any]) -> str:
    return str(axis.get("title", {}).get("text") or "")


def nice_ticks(top: float, count: int) -> list[float]:
    """Ticks from 0 to ``top`` at a 1-2-5 step for about ``count`` ticks, as plotly picks them."""
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [n * step for n in range(int(top / step) + 2)]


def d3_percent(value: float, tickformat: str) -> str:
    """What d3's ``.N%`` or ``.N~%`` prints for ``value`` (trailing zeros do not make labels differ)."""
    match = re.fullmatch(r"\.(\d+)~?%", tickformat)
    assert match, tickformat
    return f"{value * 100:.{int(match.group(1))}f}%"


def assert_ticks_differ(values: list[float], tickformat: str) -> None:
    top = max(abs(v) for v in values if v == v)
    for count in (4, 6, 10, 20):  # whatever number of ticks plotly draws for the chart's size
        labels = [d3_percent(t, tickformat) for t in nice_ticks(top, count)]
        assert len(set(labels)) == len(labels), (tickformat, labels)


@pytest.mark.parametrize("top", [1.0, 0.37, 0.0523, 0.0017, 0.000123])
def test_percent_format_tells_ticks_apart(top: float) -> None:
    assert_ticks_differ([0.0, top], charts.percent_format([0.0, top, None, float("nan")]))


def test_break_even_chart_ticks_read_apart(app_test: Run, idle_home: Path) -> None:
    """A cpu class busy a fraction of a percent of its hours: the old ``.0%`` format labelled every tick
    "0%"."""
    at = app_test(idle_home, "compute")
    chart = next(s for s in specs(at) if title(value_axis(s)[0]).startswith("Utilization"))
    values = [v for trace in chart["data"] for v in numbers(trace["y"])]
    assert max(values) < 0.01  # the case the old format could not show
    assert_ticks_differ(values, value_axis(chart)[0]["tickformat"])


def test_revenue_and_margin_lines_stay_visible(app_test: Run, seeded_home: Path) -> None:
    """Where compute costs little, gross margin nearly equals revenue: the margin line is thinner and
    dashed over a wider revenue line, and the legend shows one line alone on a double click."""
    at = app_test(seeded_home)
    chart = next(s for s in specs(at) if all(t.get("mode") == "lines" for t in s["data"]))
    lines = {t["name"]: t["line"] for t in chart["data"]}
    assert list(lines) == ["Revenue", "Compute cost", "Gross margin"]
    widths = [line["width"] for line in lines.values()]
    assert widths == sorted(widths, reverse=True) and len(set(widths)) == 3
    assert len({line["dash"] for line in lines.values()}) == 3
    assert chart["layout"]["legend"]["itemdoubleclick"] == "toggleothers"
    assert any(charts.LEGEND_HINT in c.value for c in at.caption)


@pytest.mark.parametrize("page", PAGES)
def test_every_axis_is_titled_and_values_carry_units(app_test: Run, seeded_home: Path, page: str) -> None:
    at = app_test(seeded_home, page)
    drawn = specs(at)
    assert drawn
    unit = re.compile(r"\([^)]+\)|USD|per (hour|day)")
    for spec in drawn:
        value, category = value_axis(spec)
        assert unit.search(title(value)), title(value)
        assert title(category), spec["layout"]
        if category.get("type") == "date" or title(category).startswith(("Hour", "Day", "Run time")):
            assert "(UTC)" in title(category)


def test_line_chart_styles_each_series_apart() -> None:
    df = pd.DataFrame({"t": [1, 2], "a": [1.0, 2.0], "b": [1.0, 2.0]})
    fig = charts.line_chart(df, "t", {"a": "A", "b": "B"}, "Day (UTC)", "USD per day", money_axis=True)
    first, second = fig.data
    assert first.line.width > second.line.width and first.line.dash != second.line.dash
    assert fig.layout.yaxis.title.text == "USD per day"
    # in dollars, the sign before the dollar sign: -$2, not $-2 as a "$" tick prefix drew it
    assert fig.layout.yaxis.tickformat.startswith("$") and fig.layout.yaxis.tickprefix is None


def test_a_series_with_one_value_is_a_marker() -> None:
    """One evaluation run per version: a line through a single point draws nothing."""
    df = pd.DataFrame({"t": [1, 2], "v1": [0.8, None], "v2": [None, 0.6]})
    fig = charts.line_chart(df, "t", {"v1": "version 1", "v2": "version 2"}, "Run time (UTC)", "score")
    assert [trace.mode for trace in fig.data] == ["markers", "markers"]


def test_customers_page_says_how_the_forecast_is_made(app_test: Run, seeded_home: Path) -> None:
    at = app_test(seeded_home, "customers")
    said = " ".join(c.value for c in at.caption)
    assert "at least one day" in said, said
