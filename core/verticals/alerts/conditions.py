"""What the gateway watches: each condition turns the ledger's and the backends' state into alerts.

A condition's ``check(now)`` returns every alert whose condition holds now, each with the dedup key of
its event (a customer's month and threshold, a customer-day, an evaluation run, a backend's down
episode); the service sends only the keys never claimed before, so returning an alert again is safe.
Checks that read the ledger run in a worker thread, off the event loop, through the ledger's own methods
(which hold its lock) or a cursor of their own; the backends' check reads the gateway on the loop.
"""

from __future__ import annotations

import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from verticals.config import AlertSettings
from verticals.ledger.alerts import AlertRow

log = logging.getLogger("verticals.alerts")

# Failed evaluation runs older than this when the gateway first looks are history, not news.
EVALUATION_LOOKBACK = timedelta(days=1)
# Cost anomalies are judged on whole UTC days: today's (so far) and yesterday's.
ANOMALY_LOOKBACK = timedelta(days=1)


def _usd(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def _cursor(ledger: Any) -> contextlib.closing[Any]:
    """A cursor of the ledger's DuckDB connection for this thread (a connection serves one at a time),
    closed when the ``with`` block ends."""
    return contextlib.closing(ledger.connection.cursor())


class Condition(ABC):
    """One kind of alert: ``check(now)`` (``now`` aware UTC) returns the alerts that hold now."""

    kind: str
    # True: check in a worker thread (it queries the ledger); False: on the event loop (it reads the
    # gateway's state, which the loop changes, and does no I/O)
    reads_ledger = True

    @abstractmethod
    def check(self, now: datetime) -> list[AlertRow]:
        """Every alert whose condition holds at ``now``; raises what reading the ledger raises."""


class BudgetThresholds(Condition):
    """A customer's spend this month (what credits do not cover, as budgets count it) passed a fraction of
    its monthly budget: one alert per customer, month and threshold (``budget:<customer>:<YYYY-MM>:<t>``).
    """

    kind = "budget"

    def __init__(self, ledger: Any, thresholds: Sequence[float]) -> None:
        self.ledger = ledger
        self.thresholds = [Decimal(str(t)) for t in thresholds]

    def check(self, now: datetime) -> list[AlertRow]:
        month = f"{now:%Y-%m}"
        out = []
        for customer in self.ledger.list_customers():
            budget = customer.budget_usd
            if budget is None or budget <= 0:
                continue
            spend = Decimal(self.ledger.month_spend(customer.name, now))
            credit = Decimal(self.ledger.credit_balance(customer.name, now))
            counted = max(Decimal(0), spend - credit)
            used = counted / budget
            for threshold in self.thresholds:
                if used < threshold:
                    continue
                covered = f" (credits cover {_usd(credit)})" if credit else ""
                out.append(
                    AlertRow(
                        key=f"budget:{customer.name}:{month}:{threshold}",
                        kind=self.kind,
                        severity="critical" if threshold >= 1 else "warning",
                        subject=customer.name,
                        text=(
                            f"Customer {customer.name} has used {used:.0%} of its {_usd(budget)} budget for "
                            f"{month} (passed {threshold:.0%}): {_usd(spend)} spent{covered}."
                        ),
                        raised_at=now,
                        fields={
                            "customer": customer.name,
                            "month": month,
                            "threshold": str(threshold),
                            "used": f"{used:.4f}",
                            "spend_usd": str(spend),
                            "credit_usd": str(credit),
                            "budget_usd": str(budget),
                        },
                    )
                )
        return out


class CostAnomalies(Condition):
    """A customer-day (UTC, today or yesterday) whose compute cost is ``k`` x its trailing median (the
    ledger's ``cost_anomalies``): one alert per customer-day (``cost_anomaly:<customer>:<day>``)."""

    kind = "cost_anomaly"

    def __init__(self, ledger: Any, settings: AlertSettings) -> None:
        self.ledger = ledger
        self.settings = settings

    def check(self, now: datetime) -> list[AlertRow]:
        from verticals.ledger.analytics import cost_anomalies

        since = (now - ANOMALY_LOOKBACK).replace(hour=0, minute=0, second=0, microsecond=0)
        with _cursor(self.ledger) as cursor:
            rows = cost_anomalies(
                cursor,
                k=self.settings.anomaly_k,
                window_days=self.settings.anomaly_window_days,
                min_excess_usd=self.settings.anomaly_min_excess_usd,
                since=since,
            )
        out = []
        for row in rows:
            ratio = f"{row['ratio']:.1f} x" if row["ratio"] is not None else "far above"
            out.append(
                AlertRow(
                    key=f"cost_anomaly:{row['customer']}:{row['day']}",
                    kind=self.kind,
                    severity="warning",
                    subject=row["customer"],
                    text=(
                        f"Customer {row['customer']} cost {_usd(row['cost_usd'])} of compute on "
                        f"{row['day']}, {ratio} the median of its previous {row['trailing_days']} days with "
                        f"usage ({_usd(row['trailing_median_usd'])})."
                    ),
                    raised_at=now,
                    fields={**row, "day": str(row["day"])},
                )
            )
        return out


class FailingEvaluations(Condition):
    """An evaluation run recorded in the ledger missed a threshold: one alert per run
    (``evaluation_failed:<run_id>``), for runs of the last ``EVALUATION_LOOKBACK``."""

    kind = "evaluation_failed"

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger

    def check(self, now: datetime) -> list[AlertRow]:
        from verticals.ledger.analytics import evaluation_history

        runs: dict[str, list[dict[str, Any]]] = {}
        with _cursor(self.ledger) as cursor:
            history = evaluation_history(cursor, since=now - EVALUATION_LOOKBACK)
        for row in history:
            if not row["run_passed"]:
                runs.setdefault(row["run_id"], []).append(row)
        out = []
        for run_id, rows in runs.items():
            first = rows[0]
            missed = [r for r in rows if not r["passed"]]
            detail = ", ".join(f"{r['metric']} {r['value']:.4g} ({_bounds(r)})" for r in missed)
            out.append(
                AlertRow(
                    key=f"evaluation_failed:{run_id}",
                    kind=self.kind,
                    severity="critical",
                    subject=first["model"],
                    text=(
                        f"Evaluation of {first['model']} (version {first['version']}, suite "
                        f"{first['suite']}) failed: {detail or 'the run did not pass'}."
                    ),
                    raised_at=now,
                    fields={
                        "run_id": run_id,
                        "model": first["model"],
                        "version": first["version"],
                        "suite": first["suite"],
                        "run_at": first["at"].isoformat(),
                        "failed_metrics": {r["metric"]: r["value"] for r in missed},
                    },
                )
            )
        return out


def _bounds(row: dict[str, Any]) -> str:
    parts = [
        f"min {row['min']:g}" if row["min"] is not None else "",
        f"max {row['max']:g}" if row["max"] else "",
    ]
    return ", ".join(p for p in parts if p) or "no bound"


@dataclass
class _Watch:
    down_since: datetime | None = None
    restarts: float = 0.0


class BackendsDown(Condition):
    """A model's backend stopped taking requests (it failed to start, or its server died), or the
    supervisor restarted it between two checks: one alert per down episode
    (``backend_down:<model>:<ISO time it was first seen down>``). Episodes live in this process: a gateway
    restarted with the backend still down raises it again, as news of the new process.
    """

    kind = "backend_down"
    reads_ledger = False

    def __init__(self, gateway: Any) -> None:
        self.gateway = gateway
        self._watches: dict[str, _Watch] = {}

    def _restarts(self) -> dict[str, float]:
        counts: dict[str, float] = {}
        for family in self.gateway.metrics.restarts.collect():
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    counts[sample.labels["model"]] = sample.value
        return counts

    def check(self, now: datetime) -> list[AlertRow]:
        if self.gateway.draining:  # shutting down: every backend stops on purpose
            return []
        restarts = self._restarts()
        out = []
        for name, backend in sorted(self.gateway.backends.items()):
            watch = self._watches.setdefault(name, _Watch(restarts=restarts.get(name, 0.0)))
            count = restarts.get(name, 0.0)
            restarted, watch.restarts = count > watch.restarts, count
            if not backend.ready:
                if watch.down_since is None:
                    watch.down_since = now
                    out.append(self._alert(name, now, "is down: requests for it are answered 503"))
            else:
                if watch.down_since is None and restarted:
                    out.append(self._alert(name, now, "went down and the supervisor restarted it"))
                watch.down_since = None
        return out

    def _alert(self, model: str, now: datetime, what: str) -> AlertRow:
        backend = self.gateway.backends[model]
        return AlertRow(
            key=f"backend_down:{model}:{now.isoformat()}",
            kind=self.kind,
            severity="critical",
            subject=model,
            text=f"The backend of {model} {what}.",
            raised_at=now,
            fields={
                "model": model,
                "backend": str(backend.spec.backend),
                "device_class": backend.device_class,
            },
        )
