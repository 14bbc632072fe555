"""Figures for decisions: the Pricing lab's what-if, the Risk page, and evaluation results.

Like ``figures.py``: the ledger's analytics results, selected and labelled, nothing computed here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from verticals.dashboard.datasource import DataSource, MissingAnalytics
from verticals.dashboard.filters import Filters
from verticals.dashboard.frames import frame, number

EVALUATION_HISTORY = "evaluation_history"


class DecisionFigures:
    """Figures for the Pricing lab, Risk and Evaluation pages, read from ``source``'s ledger analytics:
    selected and labelled, nothing computed here. Money is USD as float.
    """

    source: DataSource

    # Risk
    def concentration(self, filters: Filters) -> dict[str, Any]:
        """Revenue concentration for the filters (all customers, whatever the customer filter): ``{customers,
        top1_share, top5_share, hhi, total_revenue_usd, shares}``, shares as fractions 0-1 and ``shares`` a
        DataFrame of customer, revenue_usd, share; figures from the ledger's ``concentration``. Raises
        DataSourceError when the source cannot be read (MissingAnalytics for a function the ledger lacks).
        """
        params = {k: v for k, v in filters.params().items() if k != "customer"}
        result = self.source.analytics("concentration", top=1_000_000, **params)
        shares = frame(result.get("top", []), ["customer", "revenue_usd", "share"])
        return {
            "customers": int(result.get("customers") or 0),
            "top1_share": number(result.get("top1_share")),
            "top5_share": number(result.get("top5_share")),
            "hhi": number(result.get("hhi")),
            "total_revenue_usd": number(result.get("total_revenue_usd")),
            "shares": shares,
        }

    def anomalies(
        self, filters: Filters, k: float, window_days: int, min_excess_usd: float = 1.0
    ) -> pd.DataFrame:
        """Customer-days whose compute cost (USD) exceeds ``k`` times the customer's median daily cost over
        the ``window_days`` days before, and that median by at least ``min_excess_usd`` (USD, so cents
        against a $0.00 median are not reported; the ledger's ``cost_anomalies``), highest ratio first:
        columns customer, day, cost_usd, trailing_median_usd, trailing_days, ratio. Raises DataSourceError
        when the source cannot be read (MissingAnalytics for a function the ledger lacks).
        """
        params = {
            "since": filters.since,
            "until": filters.until,
            **({"customer": filters.customer} if filters.customer else {}),
        }
        rows = self.source.analytics(
            "cost_anomalies", k=k, window_days=window_days, min_excess_usd=str(min_excess_usd), **params
        )
        df = frame(rows, ["customer", "day", "cost_usd", "trailing_median_usd", "trailing_days", "ratio"])
        df["ratio"] = pd.to_numeric(df["ratio"], errors="coerce")
        return df.sort_values("ratio", ascending=False)

    def alerts(self, filters: Filters, limit: int = 50) -> pd.DataFrame:
        """The latest ``limit`` alerts the gateway raised in the range, newest first (the ledger's
        ``recent_alerts``): columns time (UTC), kind, severity, subject, text, status (sent, dead, pending,
        recorded), attempts. Empty, with ``attrs['missing']`` saying why, when the ledger keeps no alerts.
        """
        columns = ["time", "kind", "severity", "subject", "text", "status", "attempts"]
        try:
            rows = self.source.analytics(
                "recent_alerts", since=filters.since, until=filters.until, limit=limit
            )
        except MissingAnalytics as error:
            empty = frame([], columns)
            empty.attrs["missing"] = str(error)
            return empty
        df = frame(rows, ["raised_at", *columns[1:]])
        df["time"] = pd.to_datetime(df["raised_at"], utc=True)
        return df[columns]

    # Pricing lab
    def current_prices(self, filters: Filters) -> pd.DataFrame:
        """What each model earned per unit in the period: the starting point of the alternative book."""
        rows = self.source.analytics("unit_economics", basis="list", **filters.params())
        df = frame(rows, ["model", "unit", "units_in", "units_out", "revenue_usd", "revenue_per_unit_usd"])
        df["units"] = df["units_in"].fillna(0) + df["units_out"].fillna(0)
        df = df[df["units"] > 0]
        return df[["model", "unit", "units", "revenue_usd", "revenue_per_unit_usd"]].reset_index(drop=True)

    def what_if(
        self, filters: Filters, prices: tuple[tuple[str, str, str], ...], plan: str | None = None
    ) -> dict[str, Any]:
        """``prices``: (model, unit, price per unit as a decimal string) rules, or ``plan``: all on it."""
        alternative: dict[str, Any] = (
            {"plan": plan}
            if plan
            else {
                "prices": [
                    {"model": model, "unit": unit, "price_per_unit_usd": price}
                    for model, unit, price in prices
                ]
            }
        )
        columns = [
            "requests",
            "repriced_requests",
            "actual_revenue_usd",
            "whatif_revenue_usd",
            "revenue_change_usd",
            "cost_usd",
            "actual_margin_usd",
            "whatif_margin_usd",
        ]
        result: dict[str, Any] = {}
        for by in ("customer", "model"):
            rows = self.source.analytics("pricing_what_if", by=by, **alternative, **filters.params())
            result[f"by_{by}"] = frame(rows, [by, *columns])[[by, *columns]]
        total = self.source.analytics("pricing_what_if", by=None, **alternative, **filters.params())
        result["total"] = {column: number(total[0][column]) if total else 0.0 for column in columns}
        return result

    def plans(self) -> list[dict[str, Any]]:
        """Every plan as a dict (name, monthly_fee_usd, included_units, ...). Raises DataSourceError when the
        source cannot be read (MissingAnalytics for a function the ledger lacks).
        """
        return self.source.control("plans")

    # Evaluations
    def evaluations(self, filters: Filters, up_to_end: bool = False) -> pd.DataFrame:
        """One row per run and metric in the range (``up_to_end``: any time before its end): time (UTC),
        model, version, suite, metric, value, min, max (thresholds), passed. Empty, with
        ``attrs['missing']`` saying why, when the ledger has no evaluation_history.
        """
        params = {
            **({} if up_to_end else {"since": filters.since}),  # the admin API takes no since=null
            "until": filters.until,
            **({"model": filters.model} if filters.model else {}),
        }
        try:
            rows = self.source.analytics(EVALUATION_HISTORY, **params)
        except MissingAnalytics as error:
            empty = frame(
                [], ["time", "model", "version", "suite", "metric", "value", "min", "max", "passed"]
            )
            empty.attrs["missing"] = str(error)
            return empty
        df = frame(rows, ["at", "model", "version", "suite", "metric", "value", "min", "max", "passed"])
        df["time"] = pd.to_datetime(df["at"], utc=True)
        if filters.plugin:
            df = df[df["model"].str.split("/", n=1).str[0] == filters.plugin]
        return df[["time", "model", "version", "suite", "metric", "value", "min", "max", "passed"]]

    def latest_evaluations(self, filters: Filters) -> pd.DataFrame:
        """The metrics of the latest run of each model x suite up to the range's end, whenever it ran (scores
        stay valid until the next run): the rows of ``evaluations``, with ``run_passed`` (every metric of
        that run within its thresholds). Empty, with ``attrs['missing']`` saying why, when the ledger has no
        evaluation_history.
        """
        runs = self.evaluations(filters, up_to_end=True)
        if runs.empty:
            return runs
        latest = runs.sort_values("time").groupby(["model", "suite"]).tail(1)[["model", "suite", "time"]]
        df = runs.merge(latest, on=["model", "suite", "time"])
        df["run_passed"] = df.groupby(["model", "suite", "time"])["passed"].transform(
            lambda passed: bool(passed.astype(bool).all())
        )
        return df

    def evaluation_scores(self, filters: Filters) -> pd.DataFrame:
        """One row per model with an evaluation: model, ``evaluation`` (each latest suite run's scores as
        ``suite: metric value, ...`` joined by ``; ``), ``evaluation_passed`` (every latest run passed),
        ``evaluated_at`` (the newest of those runs, UTC). The scores are the metrics with a threshold (a
        suite's gate; vision's also reports 100 confusion-matrix cells), or the first four of a suite
        without thresholds.
        """
        latest = self.latest_evaluations(filters)
        if latest.empty:
            return pd.DataFrame(columns=["model", "evaluation", "evaluation_passed", "evaluated_at"])
        rows = []
        for model, runs in latest.groupby("model", sort=True):
            text = "; ".join(
                f"{suite}: " + ", ".join(f"{m.metric} {m.value:.3g}" for m in _scores(metrics).itertuples())
                for suite, metrics in runs.groupby("suite", sort=True)
            )
            rows.append(
                {
                    "model": model,
                    "evaluation": text,
                    "evaluation_passed": bool(runs["run_passed"].all()),
                    "evaluated_at": runs["time"].max(),
                }
            )
        return pd.DataFrame(rows)

    def failing_evaluations(self, filters: Filters) -> pd.DataFrame:
        """The metrics out of their thresholds in the latest run of each model x suite up to the range's end;
        ``attrs['suites']`` counts the model x suite pairs judged (0: none ran), ``attrs['missing']`` says
        why nothing can be judged when the ledger has no evaluation_history.
        """
        latest = self.latest_evaluations(filters)
        if latest.empty:  # attrs say why when the ledger cannot tell
            latest.attrs["suites"] = 0
            return latest
        failed = latest[~latest["passed"].astype(bool)].drop(columns=["run_passed"])
        failed.attrs["suites"] = len(latest.groupby(["model", "suite"]))
        return failed


def _scores(metrics: pd.DataFrame) -> pd.DataFrame:
    gated = metrics[metrics["min"].notna() | metrics["max"].notna()]
    return gated if not gated.empty else metrics.head(4)
