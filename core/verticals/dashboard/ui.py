"""Shared pieces of every page: the context (data source + filters), cached reads, tables with CSV
download, plotly charts with units, and empty states that say how to get data.

Pages only draw: every number comes from a ``DataSource`` method, which calls a ledger analytics
function (directly, or through the gateway's admin API).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from verticals.dashboard import charts
from verticals.dashboard.datasource import DataSource, DataSourceError, open_source
from verticals.dashboard.figures import Figures
from verticals.dashboard.filters import Filters
from verticals.dashboard.frames import grain

CONTEXT_KEY = "_verticals_context"
HOW_TO_GET_DATA = (
    "Start the gateway (`verticals serve`) and send traffic with a customer key, or run "
    "`verticals demo --backfill-days 30` to load 30 days of synthetic history and live demo traffic."
)
# The mode bar sat on top of the legend; zoom, pan and hover still work without it.
PLOTLY_CONFIG = {"displayModeBar": False, "displaylogo": False}


@dataclass(frozen=True)
class Context:
    """What every page reads: the data source and the filters the sidebar chose."""

    source: DataSource
    filters: Filters


def set_context(context: Context) -> None:
    """Store ``context`` in the Streamlit session for the pages of this run (``context()`` reads it)."""
    st.session_state[CONTEXT_KEY] = context


def context() -> Context:
    """The data source and filters app.py chose for this run; a page opened any other way stops."""
    ctx = st.session_state.get(CONTEXT_KEY)
    if not isinstance(ctx, Context):
        st.error("Open the dashboard through its entry point: `verticals dashboard`.")
        st.stop()
    return ctx


# -- cached reads -------------------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def source_for(kind: str, home: str, gateway_url: str, token: str | None) -> DataSource:
    """One source object per (kind, place), shared by every session."""
    return open_source(kind, home, gateway_url, token)


@st.cache_data(ttl=30, show_spinner=False, max_entries=512)
def _read(
    source_id: str,
    method: str,
    filters_key: tuple[object, ...] | None,
    args: tuple[Any, ...],
    _source: DataSource,
    _filters: Filters | None,
) -> Any:
    # Keyed on the source, method, filters and arguments; the objects themselves ride along unhashed.
    call = getattr(Figures(_source), method)
    return call(_filters, *args) if _filters is not None else call(*args)


def read(method: str, filters: Filters | None = None, *args: Any) -> Any:
    """Call ``Figures(source).<method>(filters, *args)`` through Streamlit's cache (30 s)."""
    ctx = context()
    try:
        return _read(ctx.source.id, method, filters.key() if filters else None, args, ctx.source, filters)
    except DataSourceError as error:
        st.error(f"Could not read the data: {error}")
        st.stop()


# -- drawing ------------------------------------------------------------------------------------------


def page_header(title: str, caption: str) -> Context:
    """Write the page's title and a caption (``caption``, then the filters and the data source in words);
    returns the run's Context. Stops the page when it was not opened through ``verticals dashboard``.
    """
    ctx = context()
    st.title(title)
    st.caption(f"{caption}  \nShowing {ctx.filters.describe()}. Data: {ctx.source.describe()}.")
    notice = _demo_notice(ctx.source.id, ctx.source)
    if notice:
        st.info(notice)
    return ctx


@st.cache_data(ttl=30, show_spinner=False)
def _demo_notice(source_id: str, _source: DataSource) -> str | None:
    """One line saying the data includes back-filled demo history (``demo_history``), or None: none, or a
    source too old to tell (its own errors show on the page's first read).
    """
    try:
        found = _source.analytics("demo_history")
    except DataSourceError:
        return None
    if not found or not found.get("events"):
        return None
    first, last = str(found["first_at"])[:10], str(found["last_at"])[:10]
    return (
        f"Demo data: {found['events']:,} requests from {first} to {last} are synthetic history written by "
        "`verticals demo --backfill-days`, not real customers' traffic."
    )


def period(filters: Filters) -> tuple[str, str]:
    """The time axis' title and the unit of one period for ``filters``' grain: ("Hour (UTC)", "hour") for
    ranges of two days or less, ("Day (UTC)", "day") otherwise.
    """
    unit = grain(filters)
    return f"{unit.capitalize()} (UTC)", unit


def empty_state(what: str, how: str = HOW_TO_GET_DATA) -> None:
    """An info box saying there are no ``what`` yet for these filters, followed by ``how`` (default: how to
    get data).
    """
    st.info(f"**No {what} yet for these filters.** {how}", icon=":material/info:")


def usd(value: float | None, decimals: int = 2) -> str:
    """``value`` (USD) as ``$1,234.56`` (``-$`` when negative) with ``decimals`` places; ``n/a`` for None or
    NaN.
    """
    if value is None or pd.isna(value):
        return "n/a"
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.{decimals}f}"


def pct(value: float | None, decimals: int = 1) -> str:
    """A fraction as a percentage (0.123 as ``12.3%``) with ``decimals`` places; ``n/a`` for None or NaN."""
    return "n/a" if value is None or pd.isna(value) else f"{value * 100:.{decimals}f}%"


def delta_pct(now: float, before: float) -> str | None:
    """The change from ``before`` to ``now`` as ``+12.3% vs previous period``, relative to ``abs(before)``;
    None when ``before`` is 0 (no base to compare with).
    """
    if not before:
        return None
    return f"{(now - before) / abs(before) * 100:+.1f}% vs previous period"


# Labels for columns a page does not label itself; money and shares get units and formats.
LABELS: dict[str, str] = {
    "customer": "Customer",
    "plan": "Plan",
    "model": "Model",
    "plugin": "Plugin",
    "unit": "Unit",
    "day": "Day (UTC)",
    "requests": "Requests",
    "errors": "Errors (5xx)",
    "suite": "Suite",
    "metric": "Metric",
    "value": "Value",
    "version": "Version",
    "breach": "Breach",
    "trailing_days": "Days in window",
    "device_class": "Device class",
    "instances": "Instances",
    "min": "Pass at least",
    "max": "Pass at most",
}


def _column_config(df: pd.DataFrame, given: Mapping[str, Any]) -> dict[str, Any]:
    config = dict(given)
    for column in df.columns:
        if column in config:
            continue
        label = LABELS.get(column, column.replace("_", " ").capitalize())
        if column.endswith("_usd"):
            config[column] = money_column(label.replace(" usd", " (USD)"))
        else:
            config[column] = label
    return config


def table(
    df: pd.DataFrame, name: str, column_config: Mapping[str, Any] | None = None, height: int | None = None
) -> None:
    """Draw a table and offer it as CSV; the file name says what and which period."""
    ctx = context()
    st.dataframe(
        df,
        hide_index=True,
        column_config=_column_config(df, column_config or {}),
        height=height if height is not None else "auto",
    )
    stamp = f"{ctx.filters.start:%Y%m%d}-{ctx.filters.end:%Y%m%d}"
    st.download_button(
        f"Download {name} as CSV",
        df.to_csv(index=False).encode(),
        file_name=f"{name}-{stamp}.csv",
        mime="text/csv",
        key=f"csv-{name}",
        icon=":material/download:",
        on_click="ignore",
    )


def money_column(label: str, help: str | None = None) -> Any:
    """A Streamlit number column shown in dollars, titled ``label``, with an optional ``help`` tooltip."""
    return st.column_config.NumberColumn(label, format="dollar", help=help)


def percent_column(label: str, help: str | None = None) -> Any:
    """A Streamlit number column showing fractions as percentages, titled ``label``, with an optional ``help``
    tooltip.
    """
    return st.column_config.NumberColumn(label, format="percent", help=help)


def lines(
    df: pd.DataFrame, x: str, series: Mapping[str, str], x_title: str, y_title: str, **axes: Any
) -> None:
    """Draw ``charts.line_chart``: one line per column in ``series`` ({column: legend label}), styled so none
    hides another, with a caption on how the legend shows one line alone.
    """
    st.plotly_chart(charts.line_chart(df, x, series, x_title, y_title, **axes), config=PLOTLY_CONFIG)
    if len(series) > 1:
        st.caption(charts.LEGEND_HINT)


def bars(
    df: pd.DataFrame, x: str, series: Mapping[str, str], x_title: str, y_title: str, **options: Any
) -> None:
    """Draw ``charts.bar_chart``: bars per column in ``series``; ``options`` are its stacked, horizontal,
    reference and axis options.
    """
    st.plotly_chart(charts.bar_chart(df, x, series, x_title, y_title, **options), config=PLOTLY_CONFIG)


# -- sidebar ------------------------------------------------------------------------------------------


def sidebar_filters(source: DataSource) -> Filters:
    """The shared filters; widget keys keep their values as the user moves between pages.

    The plugin and model lists hold what had traffic in the chosen dates (one cheap query, cached per
    range), plus whatever is already selected, so a selection survives a change of dates."""
    today = datetime.now(UTC).date()
    with st.sidebar:
        st.subheader("Filters")
        picked = st.date_input(
            "Date range (UTC)",
            value=(today - timedelta(days=29), today),
            max_value=today,
            key="filter_dates",
            help="Both days included. Deltas compare with the same number of days before.",
        )
        start, end = _date_range(picked, today)
        options = filter_options(source, Filters(start, end))
        chosen = {}
        for key, label, everything in (
            ("customer", "Customer", "All customers"),
            ("plugin", "Plugin", "All plugins"),
            ("model", "Model", "All models"),
        ):
            current = st.session_state.get(f"filter_{key}")
            values = sorted(set(options.get(f"{key}s", [])) | ({current} if current else set()))
            chosen[key] = st.selectbox(label, values, index=None, key=f"filter_{key}", placeholder=everything)
    return Filters(start, end, chosen["customer"], chosen["plugin"], chosen["model"])


def _date_range(picked: Any, today: Any) -> tuple[Any, Any]:
    # While the user is between the two clicks of a range the widget holds one date.
    if isinstance(picked, tuple | list):
        if len(picked) == 2:
            return picked[0], picked[1]
        if len(picked) == 1:
            return picked[0], picked[0]
        return today - timedelta(days=29), today
    return picked, picked


@st.cache_data(ttl=5, show_spinner=False)
def resolve(
    requested: str, home: str, gateway_url: str | None, token: str | None
) -> tuple[str, str, str | None]:
    """(kind, gateway URL, token): the admin API while a gateway serves this home (it owns the ledger
    then), else the ledger file read-only. Rechecked every few seconds, so starting or stopping the
    gateway switches the source without restarting the dashboard. With ``database_url`` (PostgreSQL,
    which no gateway owns) ``auto`` reads the ledger directly, and the gateway serving this home, if
    any, carries the admin actions."""
    from verticals.client import running_server
    from verticals.config import load_settings

    settings = load_settings(home=Path(home))
    if requested == "ledger" and not settings.database_url:
        return "ledger", "", None
    server = running_server(settings)
    if requested != "api" and settings.database_url:
        return "ledger", server.base_url if server else "", server.token if server else None
    if requested == "api":
        return (
            "api",
            gateway_url or (server.base_url if server else ""),
            token or (server.token if server else None),
        )
    if server is not None:
        return "api", server.base_url, server.token
    return "ledger", "", None


def filter_options(source: DataSource, dates: Filters) -> dict[str, list[str]]:
    """The customers, plugins and models the sidebar offers for the dates (see ``Figures.filter_options``),
    cached for 60 s per source and dates; empty when the source cannot be read.
    """
    try:
        return dict(_options(source.id, dates.key(), source, dates))
    except DataSourceError:
        return {}


@st.cache_data(ttl=60, show_spinner=False)
def _options(
    source_id: str, dates_key: tuple[object, ...], _source: DataSource, _dates: Filters
) -> dict[str, list[str]]:
    return Figures(_source).filter_options(_dates)
