"""The dashboard's charts as plotly figures, built without Streamlit so tests can read their specs.

Every chart titles both axes, with the unit on the value axis ("USD per day", "Device-hours (h)",
"Latency (ms, log scale)"). Percentage axes get as many decimals as their range needs for the tick
labels to differ (``percent_format``). Lines that may coincide (revenue and gross margin when compute
costs little) are drawn so none hides another (``line_chart``), and every legend entry hides its
series on a click and shows it alone on a double click.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go

CHART_HEIGHT = 340
PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04"]
# Line styles in drawing order: each later line is thinner and dashed differently, so a line drawn on top
# of an earlier one with the same values leaves the earlier one's colour visible on both sides of it.
LINE_WIDTHS = (5.0, 3.0, 1.6, 1.0)
LINE_DASHES = ("solid", "dash", "dot", "dashdot")
LEGEND = {
    "orientation": "h",
    "yanchor": "bottom",
    "y": 1.02,
    "x": 0,
    "itemclick": "toggle",
    "itemdoubleclick": "toggleothers",
}
LEGEND_HINT = "Click a legend entry to hide its series; double-click it to show that series alone."
# Plotly draws at most about this many ticks on an axis (more on a wide horizontal one): the smallest tick
# step percent_format allows for is the range over this.
MAX_TICKS = 20
MAX_PERCENT_DECIMALS = 6


def percent_format(values: Iterable[Any]) -> str:
    """A d3 tick format for fractions shown as percentages, with enough decimals that ticks spread over
    0..max(|values|) read apart: ``.0%`` for a range reaching 100%, ``.2~%`` for one topping out at 0.17%
    (ticks every 0.01 percentage point read 0.01%, 0.02%, ...), at most 6 decimals; ``~`` drops trailing
    zeros. NaN and None are ignored; ``.0%`` when nothing is left or all are 0.
    """
    numbers = pd.to_numeric(pd.Series(list(values), dtype="object"), errors="coerce").dropna().abs()
    top = float(numbers.max()) if not numbers.empty else 0.0
    if not top or not math.isfinite(top):
        return ".0%"
    smallest_step_points = top * 100 / MAX_TICKS
    # a 1-2-5 step of 10^-d percentage points needs d decimals to differ from its neighbours
    decimals = max(0, min(MAX_PERCENT_DECIMALS, math.ceil(-math.log10(smallest_step_points))))
    return f".{decimals}~%"


def layout(
    fig: go.Figure,
    x_title: str,
    y_title: str,
    *,
    money_axis: bool = False,
    percent_axis: bool = False,
    log_axis: bool = False,
    horizontal: bool = False,
    height: int = CHART_HEIGHT,
    also: Iterable[float] = (),
) -> go.Figure:
    """Lay ``fig`` out the same way everywhere and return it: ``x_title`` on the category or time axis,
    ``y_title`` (with its unit) on the value axis, which is the x axis when ``horizontal``; the value axis
    in dollars (``money_axis``), as percentages of a fraction (``percent_axis``, see ``percent_format``)
    or in powers of ten (``log_axis``); legend on top; ``height`` in pixels. ``also``: values beyond the
    traces' that the value axis shows (a reference line), for the percentage format.
    """
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend=LEGEND,
        colorway=PALETTE,
        hovermode="y unified" if horizontal else "x unified",
    )
    category = {"title_text": x_title}
    value: dict[str, Any] = {"title_text": y_title, "rangemode": "tozero"}
    if log_axis:
        # powers of ten only: plotly's default log ticks ("2", "5" between decades) read as noise
        value.update(type="log", dtick=1, tickformat=",")
    if money_axis:
        # d3's "$" puts the sign first (-$2); a "$" tickprefix read "$-2"
        value.update(tickformat="$,.2~f", hoverformat="$,.4~f")
    if percent_axis:
        shown = [*also, *(v for trace in fig.data for v in _values(trace, horizontal))]
        value.update(tickformat=percent_format(shown), hoverformat=".2~%")
    if horizontal:
        fig.update_xaxes(**value)
        fig.update_yaxes(**category, autorange="reversed")
    else:
        fig.update_xaxes(**category)
        fig.update_yaxes(**value)
    return fig


def _values(trace: Any, horizontal: bool) -> list[Any]:
    values = trace.x if horizontal else trace.y
    return list(values) if values is not None else []


def line_chart(
    df: pd.DataFrame, x: str, series: Mapping[str, str], x_title: str, y_title: str, **axes: Any
) -> go.Figure:
    """One line per column in ``series`` ({column: legend label}) over ``df[x]``, in ``LINE_WIDTHS`` and
    ``LINE_DASHES`` order so that coinciding lines stay visible; a series with a single value (one
    evaluation run of a version) is drawn as a marker, which a line cannot show. ``axes`` as for
    ``layout``.
    """
    fig = go.Figure()
    for n, (column, label) in enumerate(series.items()):
        style = {"width": LINE_WIDTHS[n % len(LINE_WIDTHS)], "dash": LINE_DASHES[n % len(LINE_DASHES)]}
        mode = "lines" if df[column].notna().sum() > 1 else "markers"
        marker = {"size": 10, "symbol": n % 8}
        fig.add_trace(go.Scatter(x=df[x], y=df[column], name=label, mode=mode, line=style, marker=marker))
    return layout(fig, x_title, y_title, **axes)


def bar_chart(
    df: pd.DataFrame,
    x: str,
    series: Mapping[str, str],
    x_title: str,
    y_title: str,
    *,
    stacked: bool = False,
    horizontal: bool = False,
    reference: tuple[float, str] | None = None,
    **axes: Any,
) -> go.Figure:
    """Bars per column in ``series`` ({column: legend label}) for each ``df[x]``, grouped or ``stacked``,
    ``horizontal`` ones listed top-down; ``reference`` (value, label) draws a dashed line across the value
    axis; ``axes`` as for ``layout``.
    """
    fig = go.Figure()
    for column, label in series.items():
        if horizontal:
            fig.add_trace(go.Bar(y=df[x], x=df[column], name=label, orientation="h"))
        else:
            fig.add_trace(go.Bar(x=df[x], y=df[column], name=label))
    fig.update_layout(barmode="stack" if stacked else "group")
    if reference is not None:
        line = {"line_dash": "dash", "line_color": "#111827", "annotation_text": reference[1]}
        if horizontal:
            fig.add_vline(x=reference[0], annotation_position="top", **line)
        else:
            fig.add_hline(y=reference[0], annotation_position="right", **line)
        # the reference line counts toward the axis range, so the tick format must cover it too
        axes["also"] = [reference[0]]
    return layout(fig, x_title, y_title, horizontal=horizontal, **axes)
